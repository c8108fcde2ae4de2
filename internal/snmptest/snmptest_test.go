package snmptest

import (
	"context"
	"testing"
	"time"
)

// TestTrapd sends a v2c trap with net-snmp's snmptrap and finds it.
func TestTrapd(t *testing.T) {
	Need(t, "snmptrap")
	dir := t.TempDir()
	td := StartTrapd(t, dir, TrapdConfig{Community: "public"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := Tool(ctx, dir, "snmptrap", "-v2c", "-c", "public", td.Addr, "", "1.3.6.1.4.1.99999.0.2",
		"1.3.6.1.4.1.99999.1.2.1.2.7", "s", "node-a"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	tr, ok := td.Wait(t, "1.3.6.1.4.1.99999.0.2", 5*time.Second)
	if !ok {
		t.Fatalf("no trap:\n%s", td.Log())
	}
	if len(tr.VarBinds) != 3 || tr.VarBinds[2] != `.1.3.6.1.4.1.99999.1.2.1.2.7 = STRING: "node-a"` {
		t.Errorf("varbinds %q", tr.VarBinds)
	}
}
