package cim

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/droverha/drover/internal/snmptest"
)

// typeOK reports whether v is a Go value of the declared CIM type.
func typeOK(p PropertyDecl, v Value) bool {
	if v == nil {
		return true
	}
	if p.Array {
		switch p.Type {
		case TypeString:
			_, ok := v.([]string)
			return ok
		case TypeUint16:
			_, ok := v.([]uint16)
			return ok
		}
		return false
	}
	var ok bool
	switch p.Type {
	case TypeString:
		_, ok = v.(string)
	case TypeBoolean:
		_, ok = v.(bool)
	case TypeUint16:
		_, ok = v.(uint16)
	case TypeUint32:
		_, ok = v.(uint32)
	case TypeUint64:
		_, ok = v.(uint64)
	case TypeSint64:
		_, ok = v.(int64)
	case TypeDatetime:
		_, ok = v.(time.Time)
	case TypeRef:
		_, ok = v.(ObjectPath)
	}
	return ok
}

// Every instance has its class's properties, in order, of the declared
// types, with every key set; value-mapped values are in the map.
func TestCIMBuildInstancesMatchClasses(t *testing.T) {
	s := Build(snmptest.ThreeNodeView())
	seen := map[string]bool{}
	for _, i := range s.all {
		c, ok := s.Class(i.Class)
		if !ok {
			t.Fatalf("instance of undeclared class %s", i.Class)
		}
		if len(i.Properties) != len(c.Properties) {
			t.Fatalf("%s: %d properties, class declares %d", i.Class, len(i.Properties), len(c.Properties))
		}
		for j, p := range c.Properties {
			v := i.Properties[j].Value
			if i.Properties[j].Name != p.Name {
				t.Errorf("%s property %d is %s, want %s", i.Class, j, i.Properties[j].Name, p.Name)
			}
			if !typeOK(p, v) {
				t.Errorf("%s.%s = %#v, not a %s (array %v)", i.Class, p.Name, v, p.Type, p.Array)
			}
			if p.Key && v == nil {
				t.Errorf("%s.%s: key is NULL", i.Class, p.Name)
			}
			if p.ValueMap != nil && v != nil {
				var codes []uint16
				switch x := v.(type) {
				case uint16:
					codes = []uint16{x}
				case []uint16:
					codes = x
				}
				for _, code := range codes {
					found := false
					for _, m := range p.ValueMap {
						found = found || m == strconv.Itoa(int(code))
					}
					if !found {
						t.Errorf("%s.%s = %d, not in its value map", i.Class, p.Name, code)
					}
				}
			}
		}
		k := FormatPath(s.Path(i))
		if seen[k] {
			t.Errorf("two instances named %s", k)
		}
		seen[k] = true
		if _, err := s.Get(s.Path(i)); err != nil {
			t.Errorf("Get(%s): %v", k, err)
		}
	}
	for _, c := range Classes() {
		if c.Super != "" {
			if _, ok := classes.class(c.Super); !ok {
				t.Errorf("%s: superclass %s undeclared", c.Name, c.Super)
			}
		}
		for _, p := range c.Properties {
			if p.Type == TypeRef {
				if _, ok := classes.class(p.RefClass); !ok {
					t.Errorf("%s.%s refers to undeclared %s", c.Name, p.Name, p.RefClass)
				}
			}
		}
	}
}

func nodePathOf(name string) ObjectPath {
	return ObjectPath{Namespace: Namespace, Class: "DRV_Node", Keys: []KeyBinding{
		{Name: "CreationClassName", Value: "DRV_Node"}, {Name: "Name", Value: name}}}
}

// What a sysadmin reads off the fixture: dir2 is drained and holds
// nothing (Enabled but Offline), web1 is dead, the web group's set is
// degraded (dir2 is drained), the real server that is down is offline.
func TestCIMBuildStates(t *testing.T) {
	s := Build(snmptest.ThreeNodeView())
	get := func(p ObjectPath, prop string) Value {
		t.Helper()
		i, err := s.Get(p)
		if err != nil {
			t.Fatal(err)
		}
		return i.Get(prop)
	}
	if got := get(nodePathOf("dir2"), "EnabledState"); got != EnabledButOffline {
		t.Errorf("dir2 EnabledState = %v, want 6", got)
	}
	if got := get(nodePathOf("dir2"), "RequestedState"); got != ReqOffline {
		t.Errorf("dir2 RequestedState = %v, want 6", got)
	}
	if got := get(nodePathOf("dir1"), "EnabledState"); got != Enabled {
		t.Errorf("dir1 EnabledState = %v, want 2", got)
	}
	if got := get(nodePathOf("web1"), "HealthState"); got != HealthCritical {
		t.Errorf("web1 HealthState = %v, want 25", got)
	}
	set := ObjectPath{Class: "DRV_VIPRedundancySet", Keys: []KeyBinding{{Name: "InstanceID", Value: "Drover:farm:vipgroup:web"}}}
	if got := get(set, "RedundancyStatus"); got != RedundancyLost {
		t.Errorf("web set RedundancyStatus = %v, want 4 (dir2 drained)", got)
	}
	ms, err := s.Associators(set, "CIM_MemberOfCollection", "", "Collection", "Member")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Get("Name").(string))
	}
	if diff := cmp.Diff([]string{"dir1", "dir2"}, names); diff != "" {
		t.Errorf("web set members (-want +got):\n%s", diff)
	}
	rs := ObjectPath{Class: "DRV_RealServer", Keys: keysOf("DRV_Cluster", "farm", "DRV_RealServer", "web-http/198.51.100.23:80")}
	if got := get(rs, "EnabledState"); got != EnabledQuiesce {
		t.Errorf("down real server EnabledState = %v, want 9 (weight 0)", got)
	}
	// The VIP 192.0.2.10 reaches web-http through CIM_ServiceAccessBySAP.
	vip := ObjectPath{Class: "CIM_IPProtocolEndpoint", Keys: keysOf("DRV_Cluster", "farm", "DRV_VIP", "web/192.0.2.10")}
	svcs, err := s.Associators(vip, "CIM_ServiceAccessBySAP", "CIM_Service", "", "")
	if err != nil || len(svcs) != 1 || svcs[0].Get("Name") != "web-http" {
		t.Errorf("services of 192.0.2.10 = %v, %v; want web-http", svcs, err)
	}
	// Errors.
	if _, err := s.Instances("CIM_Nothing"); code(err) != ErrInvalidClass {
		t.Errorf("Instances(CIM_Nothing) = %v, want CIM_ERR_INVALID_CLASS", err)
	}
	if _, err := s.Get(ObjectPath{Namespace: "root/cimv2", Class: "DRV_Node", Keys: nodePathOf("dir1").Keys}); code(err) != ErrInvalidNamespace {
		t.Errorf("Get in root/cimv2 = %v, want CIM_ERR_INVALID_NAMESPACE", err)
	}
	if _, err := s.Get(nodePathOf("nope")); code(err) != ErrNotFound {
		t.Errorf("Get(nope) = %v, want CIM_ERR_NOT_FOUND", err)
	}
	// Superclass enumeration finds subclasses; a superclass path finds the instance.
	cs, _ := s.Instances("CIM_ComputerSystem")
	if len(cs) != 4 {
		t.Errorf("CIM_ComputerSystem has %d instances, want 4 (cluster + 3 nodes)", len(cs))
	}
	if _, err := s.Get(ObjectPath{Class: "cim_computersystem", Keys: nodePathOf("dir1").Keys}); err != nil {
		t.Errorf("Get via superclass: %v", err)
	}
}

func code(err error) int {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return -1
}

// Names come from names: dropping a real server leaves every other path
// as it was.
func TestCIMBuildNamesAreStable(t *testing.T) {
	v := snmptest.ThreeNodeView()
	before := map[string]bool{}
	for _, p := range Build(v).paths {
		before[FormatPath(p)] = true
	}
	v.Services[0].RealServers = v.Services[0].RealServers[1:]
	v.Nodes = v.Nodes[1:]
	for _, p := range Build(v).paths {
		if !before[FormatPath(p)] {
			t.Errorf("new path %s after removing elements", FormatPath(p))
		}
	}
}
