package agent

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/droverha/drover/bus"
	"github.com/droverha/drover/model"
)

func readAllEvents(t *testing.T, url, cluster string, from uint64) []bus.Event {
	t.Helper()
	nc, err := bus.Connect(bus.ClientConfig{URLs: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []bus.Event
	var drops bus.Drops
	err = bus.ReadEvents(ctx, js, bus.Subjects{Cluster: cluster}, bus.ReadOptions{FromSeq: from}, &drops, func(e bus.Event) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func eventTypes(es []bus.Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.DroverType())
	}
	return out
}

// The embedded default: one node is a whole cluster, manages itself, and a
// restart on the same data dir is the same cluster at a newer epoch.
func TestSingleNodeRestartMovesEpochOn(t *testing.T) {
	cfg := testConfig(t, "solo")
	a := startAgent(t, cfg)
	var first model.View
	waitFor(t, 10*time.Second, "solo to be manager", func() bool {
		first = a.View()
		return first.Manager == "solo" && first.Quorum.Have
	})
	if got := nodeState(first, "solo"); got != model.NodeAlive {
		t.Errorf("solo state = %v, want alive", got)
	}
	url := a.ClientURL()
	// Wait until the manager has recorded itself, then stop.
	waitFor(t, 5*time.Second, "node.joined event", func() bool {
		for _, e := range readAllEvents(t, url, "test", 0) {
			if e.DroverType() == bus.EventNodeJoined {
				return true
			}
		}
		return false
	})
	if took := a.stop(t); took > 2*time.Second {
		t.Errorf("graceful stop took %v, want < 2s", took)
	}

	b := startAgent(t, cfg)
	var second model.View
	waitFor(t, 10*time.Second, "solo to be manager again", func() bool {
		second = b.View()
		return second.Manager == "solo"
	})
	if second.Epoch <= first.Epoch {
		t.Errorf("epoch after restart = %d, want > %d", second.Epoch, first.Epoch)
	}
	evs := readAllEvents(t, b.ClientURL(), "test", 0)
	waitFor(t, 5*time.Second, "second node.joined", func() bool {
		evs = readAllEvents(t, b.ClientURL(), "test", 0)
		n := 0
		for _, e := range evs {
			if e.DroverType() == bus.EventNodeJoined {
				n++
			}
		}
		return n == 2
	})
	// The first run's events survived the restart, in order, with its goodbye.
	want := []string{"config.applied", "manager.elected", "node.joined", "node.left", "manager.resigned",
		"config.applied", "manager.elected", "node.joined"}
	got := eventTypes(evs)
	if len(got) != len(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events = %v, want %v", got, want)
		}
	}
}
