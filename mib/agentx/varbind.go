package agentx

import (
	"fmt"
	"net/netip"
)

// VarType is v.type of a VarBind (RFC 2741 §5.4).
type VarType uint16

// Value types of RFC 2741 §5.4.
const (
	TypeInteger        VarType = 2
	TypeOctetString    VarType = 4
	TypeNull           VarType = 5
	TypeObjectID       VarType = 6
	TypeIPAddress      VarType = 64
	TypeCounter32      VarType = 65
	TypeGauge32        VarType = 66
	TypeTimeTicks      VarType = 67
	TypeOpaque         VarType = 68
	TypeCounter64      VarType = 70
	TypeNoSuchObject   VarType = 128
	TypeNoSuchInstance VarType = 129
	TypeEndOfMibView   VarType = 130
)

var varTypeNames = map[VarType]string{
	TypeInteger: "Integer", TypeOctetString: "OctetString", TypeNull: "Null",
	TypeObjectID: "ObjectIdentifier", TypeIPAddress: "IpAddress",
	TypeCounter32: "Counter32", TypeGauge32: "Gauge32", TypeTimeTicks: "TimeTicks",
	TypeOpaque: "Opaque", TypeCounter64: "Counter64",
	TypeNoSuchObject: "noSuchObject", TypeNoSuchInstance: "noSuchInstance",
	TypeEndOfMibView: "endOfMibView",
}

func (t VarType) String() string {
	if s, ok := varTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("VarType(%d)", uint16(t))
}

// IsException reports whether t is noSuchObject, noSuchInstance or
// endOfMibView.
func (t VarType) IsException() bool {
	return t == TypeNoSuchObject || t == TypeNoSuchInstance || t == TypeEndOfMibView
}

// VarBind is one variable binding. Value's Go type follows Type:
//
//	Integer                       int32
//	OctetString, Opaque           []byte
//	ObjectIdentifier              OID
//	IpAddress                     netip.Addr (IPv4)
//	Counter32, Gauge32, TimeTicks uint32
//	Counter64                     uint64
//	Null and the exceptions       nil
type VarBind struct {
	Type  VarType
	Name  OID
	Value any
}

// Integer returns an Integer VarBind.
func Integer(name OID, v int32) VarBind { return VarBind{TypeInteger, name, v} }

// OctetString returns an OctetString VarBind.
func OctetString(name OID, v []byte) VarBind { return VarBind{TypeOctetString, name, v} }

// String returns an OctetString VarBind holding s.
func String(name OID, s string) VarBind { return VarBind{TypeOctetString, name, []byte(s)} }

// Null returns a Null VarBind.
func Null(name OID) VarBind { return VarBind{TypeNull, name, nil} }

// ObjectID returns an ObjectIdentifier VarBind.
func ObjectID(name OID, v OID) VarBind { return VarBind{TypeObjectID, name, v} }

// IPAddress returns an IpAddress VarBind; a must be IPv4.
func IPAddress(name OID, a netip.Addr) VarBind { return VarBind{TypeIPAddress, name, a} }

// Counter32 returns a Counter32 VarBind.
func Counter32(name OID, v uint32) VarBind { return VarBind{TypeCounter32, name, v} }

// Gauge32 returns a Gauge32 VarBind.
func Gauge32(name OID, v uint32) VarBind { return VarBind{TypeGauge32, name, v} }

// TimeTicks returns a TimeTicks VarBind (hundredths of a second).
func TimeTicks(name OID, v uint32) VarBind { return VarBind{TypeTimeTicks, name, v} }

// Opaque returns an Opaque VarBind.
func Opaque(name OID, v []byte) VarBind { return VarBind{TypeOpaque, name, v} }

// Counter64 returns a Counter64 VarBind.
func Counter64(name OID, v uint64) VarBind { return VarBind{TypeCounter64, name, v} }

// NoSuchObject returns a noSuchObject exception.
func NoSuchObject(name OID) VarBind { return VarBind{TypeNoSuchObject, name, nil} }

// NoSuchInstance returns a noSuchInstance exception.
func NoSuchInstance(name OID) VarBind { return VarBind{TypeNoSuchInstance, name, nil} }

// EndOfMibView returns an endOfMibView exception.
func EndOfMibView(name OID) VarBind { return VarBind{TypeEndOfMibView, name, nil} }

func appendVarBind(b []byte, vb VarBind) ([]byte, error) {
	b = appendU16(b, uint16(vb.Type))
	b = appendU16(b, 0)
	b, err := appendOID(b, vb.Name, false)
	if err != nil {
		return nil, err
	}
	bad := func() ([]byte, error) {
		return nil, fmt.Errorf("encoding %s %s: value of Go type %T", vb.Type, vb.Name, vb.Value)
	}
	switch vb.Type {
	case TypeInteger:
		v, ok := vb.Value.(int32)
		if !ok {
			return bad()
		}
		return appendU32(b, uint32(v)), nil
	case TypeOctetString, TypeOpaque:
		v, ok := vb.Value.([]byte)
		if !ok && vb.Value != nil {
			return bad()
		}
		return appendOctets(b, v), nil
	case TypeNull, TypeNoSuchObject, TypeNoSuchInstance, TypeEndOfMibView:
		return b, nil
	case TypeObjectID:
		v, ok := vb.Value.(OID)
		if !ok && vb.Value != nil {
			return bad()
		}
		return appendOID(b, v, false)
	case TypeIPAddress:
		v, ok := vb.Value.(netip.Addr)
		if !ok || !v.Is4() {
			return bad()
		}
		a := v.As4()
		return appendOctets(b, a[:]), nil
	case TypeCounter32, TypeGauge32, TypeTimeTicks:
		v, ok := vb.Value.(uint32)
		if !ok {
			return bad()
		}
		return appendU32(b, v), nil
	case TypeCounter64:
		v, ok := vb.Value.(uint64)
		if !ok {
			return bad()
		}
		return appendU64(b, v), nil
	}
	return nil, fmt.Errorf("encoding %s: unknown value type %d", vb.Name, uint16(vb.Type))
}

func (d *decoder) varBind() VarBind {
	t := VarType(d.u16())
	d.skip(2)
	name := d.oid(nil)
	vb := VarBind{Type: t, Name: name}
	if d.err != nil {
		return vb
	}
	switch t {
	case TypeInteger:
		vb.Value = int32(d.u32())
	case TypeOctetString, TypeOpaque:
		vb.Value = d.octets()
	case TypeNull, TypeNoSuchObject, TypeNoSuchInstance, TypeEndOfMibView:
	case TypeObjectID:
		vb.Value = d.oid(nil)
	case TypeIPAddress:
		s := d.octets()
		if d.err == nil && len(s) != 4 {
			d.fail("IpAddress of %d octets", len(s))
		}
		if d.err == nil {
			vb.Value = netip.AddrFrom4([4]byte(s))
		}
	case TypeCounter32, TypeGauge32, TypeTimeTicks:
		vb.Value = d.u32()
	case TypeCounter64:
		vb.Value = d.u64()
	default:
		d.fail("unknown value type %d", uint16(t))
	}
	return vb
}
