package bus

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func startTestServer(t *testing.T, dir string) (*Server, jetstream.JetStream) {
	t.Helper()
	srv, err := StartServer(ServerConfig{Name: "t1", Cluster: "test", Listen: "127.0.0.1:0", StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := Connect(ClientConfig{InProcess: srv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close(); srv.Shutdown() })
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return srv, js
}

func openTestStores(t *testing.T, js jetstream.JetStream) *Stores {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := OpenStores(ctx, js, Subjects{Cluster: "test"}, StoreConfig{Replicas: 1, LeaseTTL: 2 * time.Second,
		EventsMaxAge: time.Hour, EventsMaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func publishN(t *testing.T, p *Publisher, from, n int) []string {
	t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		e, err := NewEvent("test", "t1", EventNodeJoined, fmt.Sprintf("n%d", i), 0, EventData{Node: fmt.Sprintf("n%d", i)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p.Publish(e)
		ids = append(ids, e.ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return ids
}

// A subscriber that stops and resumes after the last sequence it saw sees
// every event exactly once, in order, and the events survive a restart of
// the server.
func TestEventsResumeExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	srv, js := startTestServer(t, dir)
	openTestStores(t, js)
	s := Subjects{Cluster: "test"}
	p := NewPublisher(js, s, 1000, slog.New(slog.DiscardHandler))
	defer p.Close()

	want := publishN(t, p, 0, 50)
	var (
		got     []string
		lastSeq uint64
		drops   Drops
	)
	// The subscriber follows and stops after 20 events.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := ReadEvents(ctx, js, s, ReadOptions{Follow: true}, &drops, func(e Event) error {
		got = append(got, e.ID)
		lastSeq = e.Seq
		if len(got) == 20 {
			return ErrStopReading
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Events continue while it is away.
	want = append(want, publishN(t, p, 50, 50)...)
	// It resumes after the last sequence it saw.
	err = ReadEvents(ctx, js, s, ReadOptions{FromSeq: lastSeq + 1}, &drops, func(e Event) error {
		if e.Seq <= lastSeq {
			t.Errorf("sequence went back: %d after %d", e.Seq, lastSeq)
		}
		got = append(got, e.ID)
		lastSeq = e.Seq
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	assertSameIDs(t, got, want)

	// Restart the server on the same store: everything is still there.
	srv.Shutdown()
	_, js2 := startTestServer(t, dir)
	openTestStores(t, js2)
	var after []string
	if err := ReadEvents(ctx, js2, s, ReadOptions{}, &drops, func(e Event) error {
		after = append(after, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	assertSameIDs(t, after, want)
	if d := drops.Snapshot(); d.Total() != 0 {
		t.Errorf("drops = %+v, want none", d)
	}
}

func assertSameIDs(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d is %s, want %s (order or duplicates wrong)", i, got[i], want[i])
		}
	}
}

// Events published while the stream cannot store them wait in the outbox
// and are stored once each when it can.
func TestPublisherRetriesUntilStored(t *testing.T) {
	_, js := startTestServer(t, t.TempDir())
	s := Subjects{Cluster: "test"}
	p := NewPublisher(js, s, 1000, slog.New(slog.DiscardHandler))
	defer p.Close()
	var ids []string
	for i := range 5 {
		e, _ := NewEvent("test", "t1", EventQuorumLost, "t1", 0, EventData{Present: i}, time.Now())
		p.Publish(e)
		ids = append(ids, e.ID)
	}
	time.Sleep(300 * time.Millisecond) // several failed attempts: no stream yet
	if n, _ := p.Pending(); n != 5 {
		t.Fatalf("pending = %d before the stream exists, want 5", n)
	}
	openTestStores(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	var drops Drops
	if err := ReadEvents(ctx, js, s, ReadOptions{}, &drops, func(e Event) error {
		got = append(got, e.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	assertSameIDs(t, got, ids)
}

func TestReadEventsSinceAndTypes(t *testing.T) {
	_, js := startTestServer(t, t.TempDir())
	openTestStores(t, js)
	s := Subjects{Cluster: "test"}
	p := NewPublisher(js, s, 1000, slog.New(slog.DiscardHandler))
	defer p.Close()
	publishN(t, p, 0, 3)
	mid := time.Now()
	time.Sleep(10 * time.Millisecond)
	e, _ := NewEvent("test", "t1", EventNodeDead, "n9", 7, EventData{Node: "n9"}, time.Now())
	p.Publish(e)
	want := publishN(t, p, 3, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var drops Drops
	var since, dead []string
	_ = ReadEvents(ctx, js, s, ReadOptions{Since: mid}, &drops, func(e Event) error { since = append(since, e.ID); return nil })
	assertSameIDs(t, since, append([]string{e.ID}, want...))
	_ = ReadEvents(ctx, js, s, ReadOptions{Types: []string{EventNodeDead}}, &drops, func(e Event) error { dead = append(dead, e.ID); return nil })
	assertSameIDs(t, dead, []string{e.ID})
}
