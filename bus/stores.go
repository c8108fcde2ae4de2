package bus

import (
	"context"
	"fmt"
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

// Stores are the cluster's JetStream buckets and stream.
type Stores struct {
	JS       jetstream.JetStream
	Election jetstream.KeyValue
	Nodes    jetstream.KeyValue
	Events   jetstream.Stream
}

// OpenStores creates or updates the buckets and the event stream. Every agent
// calls it at start with the same configuration, so it is idempotent; it
// retries while JetStream is not available yet (a cluster still electing
// its meta leader) until ctx ends.
func OpenStores(ctx context.Context, js jetstream.JetStream, s Subjects, cfg StoreConfig) (*Stores, error) {
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	var (
		st   = &Stores{JS: js}
		err  error
		wait = 100 * time.Millisecond
	)
	for {
		err = st.open(ctx, s, cfg)
		if err == nil {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("opening JetStream state: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		if wait < time.Second {
			wait *= 2
		}
	}
}

func (st *Stores) open(ctx context.Context, s Subjects, cfg StoreConfig) error {
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var err error
	if st.Election == nil {
		st.Election, err = st.JS.CreateOrUpdateKeyValue(actx, jetstream.KeyValueConfig{
			Bucket:      s.ElectionBucket(),
			Description: "Drover manager lease",
			History:     1,
			TTL:         cfg.LeaseTTL,
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
		})
		if err != nil {
			return fmt.Errorf("election bucket: %w", err)
		}
	}
	if st.Nodes == nil {
		st.Nodes, err = st.JS.CreateOrUpdateKeyValue(actx, jetstream.KeyValueConfig{
			Bucket:      s.NodesBucket(),
			Description: "Drover membership records",
			History:     5,
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
		})
		if err != nil {
			return fmt.Errorf("nodes bucket: %w", err)
		}
	}
	if st.Events == nil {
		st.Events, err = st.JS.CreateOrUpdateStream(actx, jetstream.StreamConfig{
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
		if err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
	}
	return nil
}
