package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// PutDesired records an operator request d in the cluster's desired
// bucket under key ("drain.<node>" or "move.<group>"), where the manager
// (any future one too) finds it. It stamps d with the schema version and
// the time; d.By is the caller's to fill.
//
// The bucket's Raft group may be electing a leader (after a node died), so
// it keeps trying until ctx ends. The write goes straight to the bucket's
// stream (what a KV put is), without asking the JetStream meta leader for
// the bucket first, which can take long after a partition.
func PutDesired(ctx context.Context, js jetstream.JetStream, cluster, key string, d Desired) error {
	subject := "$KV." + Subjects{Cluster: cluster}.DesiredBucket() + "." + key
	d.V, d.At = Version, time.Now().UTC()
	b, err := Encode(d)
	if err != nil {
		return fmt.Errorf("encoding the request: %w", err)
	}
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = js.Publish(pctx, subject, b)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("recording the request: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
