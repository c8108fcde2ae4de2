package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StoreConfig sizes the JetStream state of one cluster.
type StoreConfig struct {
	// Replicas is the replication factor of every bucket and stream:
	// min(3, voters) for a clustered bus.
	Replicas int
	// LeaseTTL is how long the manager lease lives without renewal.
	LeaseTTL time.Duration
	// EventsMaxAge and EventsMaxBytes bound the event stream.
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
}

// LeaseKeepFactor is how many lease TTLs the server keeps an unrenewed
// lease before it expires it. Nothing waits for that expiry: a candidate
// takes over a lease it has seen unrenewed for one TTL by compare-and-swap
// (see Elector). Keeping it longer lets a manager whose renewals stalled
// while the lease's stream elected a Raft leader (4–9 s in nats-server,
// longer than the TTL) renew the same lease afterwards, at the same epoch,
// instead of finding it expired and the managership up for grabs.
const LeaseKeepFactor = 3

// Stores are the cluster's JetStream buckets and stream.
type Stores struct {
	JS       jetstream.JetStream
	Election jetstream.KeyValue
	Nodes    jetstream.KeyValue
	Events   jetstream.Stream
	VIPs     jetstream.KeyValue
	Desired  jetstream.KeyValue
}

// OpenStores creates or updates the buckets and the event stream. Every agent
// calls it at start with the same configuration, so it is idempotent. The
// three are opened concurrently, because a new replicated stream waits for
// its Raft group to elect a leader (seconds), and each is retried while
// JetStream is not available yet (a cluster still electing its meta leader)
// until ctx ends.
func OpenStores(ctx context.Context, js jetstream.JetStream, s Subjects, cfg StoreConfig) (*Stores, error) {
	if cfg.Replicas < 1 || js.Conn().ConnectedClusterName() == "" {
		// A lone server (the single-node default, or an external one that
		// is not clustered) can only keep one replica.
		cfg.Replicas = 1
	}
	st := &Stores{JS: js}
	buckets := []struct {
		dst *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&st.Election, jetstream.KeyValueConfig{Bucket: s.ElectionBucket(), Description: "Drover manager lease", History: 1, TTL: LeaseKeepFactor * cfg.LeaseTTL}},
		{&st.Nodes, jetstream.KeyValueConfig{Bucket: s.NodesBucket(), Description: "Drover membership records", History: 5}},
		{&st.VIPs, jetstream.KeyValueConfig{Bucket: s.VIPsBucket(), Description: "Drover VIP group assignments", History: 5}},
		{&st.Desired, jetstream.KeyValueConfig{Bucket: s.DesiredBucket(), Description: "Drover operator requests (drains, moves)", History: 5}},
	}
	var (
		wg   sync.WaitGroup
		errs = make([]error, len(buckets)+1)
	)
	for i, b := range buckets {
		b.cfg.Storage, b.cfg.Replicas = jetstream.FileStorage, cfg.Replicas
		wg.Go(func() {
			*b.dst, errs[i] = retry(ctx, b.cfg.Bucket+" bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
				return js.CreateOrUpdateKeyValue(ctx, b.cfg)
			})
		})
	}
	wg.Go(func() {
		st.Events, errs[len(buckets)] = retry(ctx, "event stream", func(ctx context.Context) (jetstream.Stream, error) {
			return js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
				Name:        s.EventStream(),
				Description: "Drover events (CloudEvents 1.0 JSON)",
				Subjects:    []string{s.Events()},
				Retention:   jetstream.LimitsPolicy,
				Discard:     jetstream.DiscardOld,
				MaxAge:      cfg.EventsMaxAge,
				MaxBytes:    cfg.EventsMaxBytes,
				Storage:     jetstream.FileStorage,
				Replicas:    cfg.Replicas,
				Duplicates:  2 * time.Minute,
			})
		})
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return st, nil
}

func retry[T any](ctx context.Context, what string, f func(context.Context) (T, error)) (T, error) {
	wait := 100 * time.Millisecond
	for {
		// A request sent before the meta leader exists may never be answered,
		// so attempts are short; creating the same thing again is harmless.
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		v, err := f(actx)
		cancel()
		if err == nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, fmt.Errorf("opening %s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
		if wait < time.Second {
			wait *= 2
		}
	}
}

// LeaseStreamLeader names the server leading the Raft group of the lease's
// stream, "" when it is not replicated.
func (st *Stores) LeaseStreamLeader(ctx context.Context) (string, error) {
	info, err := st.Election.Status(ctx)
	if err != nil {
		return "", err
	}
	si, ok := info.(*jetstream.KeyValueBucketStatus)
	if !ok || si.StreamInfo() == nil || si.StreamInfo().Cluster == nil || si.StreamInfo().Config.Replicas < 2 {
		return "", nil
	}
	return si.StreamInfo().Cluster.Leader, nil
}

// MoveLeaseStreamLeader asks the lease stream's Raft leader to hand
// leadership to the server named preferred. The manager keeps that
// leadership on itself: otherwise the death of whichever node led the
// lease's Raft group would stall renewals for a Raft election (4–9 s in
// nats-server) and cost the cluster its manager, although the manager is
// fine.
func (st *Stores) MoveLeaseStreamLeader(ctx context.Context, bucket, preferred string) error {
	nc := st.JS.Conn()
	req, err := json.Marshal(map[string]any{"placement": map[string]string{"preferred": preferred}})
	if err != nil {
		return err
	}
	resp, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN.KV_"+bucket, req)
	if err != nil {
		return fmt.Errorf("asking the lease stream leader to step down: %w", err)
	}
	var r struct {
		Success bool `json:"success"`
		Error   *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return fmt.Errorf("lease stream step-down reply: %w", err)
	}
	if !r.Success {
		desc := "refused"
		if r.Error != nil {
			desc = r.Error.Description
		}
		return fmt.Errorf("lease stream step-down: %s", desc)
	}
	return nil
}
