package agent

import (
	"strconv"
	"testing"
	"time"

	"github.com/droverha/drover/bus"
)

// Malformed, unknown-version and stale-epoch messages on the bus are
// counted, dropped, and change nothing.
func TestBadBusInputIsCountedAndDropped(t *testing.T) {
	a := startAgent(t, testConfig(t, "solo"))
	waitFor(t, 10*time.Second, "solo to be manager", func() bool { return a.View().Manager == "solo" })
	nc, err := bus.Connect(bus.ClientConfig{URLs: []string{a.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s := bus.Subjects{Cluster: "test"}
	send := func(subj, body string) {
		if err := nc.Publish(subj, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	send(s.Heartbeat("x"), `not json`)
	send(s.Heartbeat("x"), `{"v":1,"node":"x"}`)                                                           // no boot
	send(s.Heartbeat("y"), `{"v":1,"node":"x","boot":"b","interval_ms":100}`)                              // subject and node disagree
	send(s.Heartbeat("x"), `{"v":7,"node":"x","boot":"b","interval_ms":100}`)                              // from the future
	send(s.Leave("x"), `{"v":1}`)                                                                          // malformed
	send(s.Status(), `{"v":3}`)                                                                            // unknown version
	send(s.Heartbeat("old"), `{"v":1,"node":"old","boot":"b","interval_ms":100,"manager":true,"epoch":0}`) // malformed: manager without epoch
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	epoch := a.View().Epoch
	// Once a newer epoch has been seen, a claim from an older one is stale.
	send(s.Heartbeat("new"), `{"v":1,"node":"new","boot":"n","seq":1,"interval_ms":100,"manager":true,"epoch":`+
		strconv.FormatUint(epoch+5, 10)+`}`)
	send(s.Heartbeat("old"), `{"v":1,"node":"old","boot":"b","seq":1,"interval_ms":100,"manager":true,"epoch":`+
		strconv.FormatUint(epoch+3, 10)+`}`)
	_ = nc.Flush()
	waitFor(t, 5*time.Second, "drops to be counted", func() bool {
		d := a.View().Dropped
		return d.Malformed == 5 && d.UnknownVersion == 2 && d.StaleEpoch == 1
	})
	v := a.View()
	if v.Manager != "solo" || v.Epoch != epoch {
		t.Errorf("manager %s@%d after bad input, want solo@%d", v.Manager, v.Epoch, epoch)
	}
	for _, n := range v.Nodes {
		if n.Name == "x" || n.Name == "y" {
			t.Errorf("malformed heartbeat created node %s", n.Name)
		}
		if n.Name == "old" && n.Manager {
			t.Errorf("stale manager claim accepted: %+v", n)
		}
	}
}
