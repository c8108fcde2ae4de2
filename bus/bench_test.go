package bus

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p*float64(len(s)))) - 1 // nearest rank
	return s[min(max(i, 0), len(s)-1)]
}

// BenchmarkEventLatency measures publish (Publisher.Publish) to delivery
// (a following ReadEvents subscriber) on the embedded single-node bus, one
// event every 2 ms, and the sustained rate when publishing flat out.
func BenchmarkEventLatency(b *testing.B) {
	dir := b.TempDir()
	srv, err := StartServer(ServerConfig{Name: "b1", Cluster: "bench", Listen: "127.0.0.1:0", StoreDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	pubConn, _ := Connect(ClientConfig{InProcess: srv})
	subConn, _ := Connect(ClientConfig{URLs: []string{srv.ClientURL()}})
	defer pubConn.Close()
	defer subConn.Close()
	pjs, sjs := mustJS(b, pubConn), mustJS(b, subConn)
	s := Subjects{Cluster: "bench"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := OpenStores(ctx, pjs, s, StoreConfig{Replicas: 1, LeaseTTL: 3 * time.Second, EventsMaxAge: time.Hour, EventsMaxBytes: 1 << 30}); err != nil {
		b.Fatal(err)
	}
	p := NewPublisher(pjs, s, 1<<20, slog.New(slog.DiscardHandler))
	defer p.Close()

	var (
		mu       sync.Mutex // guards sent, lat, received
		sent     = map[string]time.Time{}
		lat      []time.Duration
		received int
	)
	gotAll := make(chan struct{})
	const paced, flat = 2000, 50000
	subCtx, subCancel := context.WithCancel(ctx)
	defer subCancel()
	var drops Drops
	go func() {
		_ = ReadEvents(subCtx, sjs, s, ReadOptions{Follow: true}, &drops, func(e Event) error {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if t0, ok := sent[e.ID]; ok {
				lat = append(lat, now.Sub(t0))
			}
			received++
			if received == paced+flat {
				close(gotAll)
			}
			return nil
		})
	}()
	time.Sleep(200 * time.Millisecond) // let the subscriber start
	b.ResetTimer()
	for i := range paced {
		e, _ := NewEvent("bench", "b1", EventNodeAlive, "n", 0, EventData{Present: i}, time.Now())
		mu.Lock()
		sent[e.ID] = time.Now()
		mu.Unlock()
		p.Publish(e)
		time.Sleep(2 * time.Millisecond)
	}
	start := time.Now()
	for i := range flat {
		e, _ := NewEvent("bench", "b1", EventNodeAlive, "n", 0, EventData{Present: i}, time.Now())
		p.Publish(e)
	}
	select {
	case <-gotAll:
	case <-ctx.Done():
		b.Fatalf("subscriber got %d of %d events", received, paced+flat)
	}
	rate := float64(flat) / time.Since(start).Seconds()
	mu.Lock()
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	mu.Unlock()
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(rate, "events/s")
	fmt.Printf("event latency (embedded bus, 1 node): p50 %v p99 %v over %d events; sustained %.0f events/s over %d events\n",
		p50.Round(time.Microsecond), p99.Round(time.Microsecond), len(lat), rate, flat)
}

func mustJS(b *testing.B, nc *nats.Conn) jetstream.JetStream {
	b.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	return js
}
