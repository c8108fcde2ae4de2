package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Event types. The CloudEvents "type" attribute is "drover." + the type, and
// the NATS subject is Subjects.Event(type).
const (
	EventNodeJoined      = "node.joined"
	EventNodeLeft        = "node.left"
	EventNodeSuspect     = "node.suspect"
	EventNodeAlive       = "node.alive"
	EventNodeDead        = "node.dead"
	EventManagerElected  = "manager.elected"
	EventManagerResigned = "manager.resigned"
	EventQuorumLost      = "quorum.lost"
	EventQuorumRegained  = "quorum.regained"
	EventConfigApplied   = "config.applied"
	EventVIPAcquired     = "vip.acquired"
	EventVIPReleased     = "vip.released"
	EventVIPMoved        = "vip.moved"
	EventNodeDrained     = "node.drained"
	EventNodeUndrained   = "node.undrained"

	EventRealServerUp      = "realserver.up"
	EventRealServerDown    = "realserver.down"
	EventQuorumLostService = "service.quorum.lost"
	EventQuorumRegainedSvc = "service.quorum.regained"
	EventRealServerAdmin   = "realserver.admin"
)

// CloudEventsVersion is the CloudEvents specification version of Event.
const CloudEventsVersion = "1.0"

// Event is a CloudEvents 1.0 event in the JSON format (structured mode).
// Data always carries a "v" schema version.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	// Epoch (extension "droverepoch") is the epoch of the manager that made
	// the decision this event reports, when a manager made it.
	Epoch uint64 `json:"droverepoch,omitempty"`
	// Seq (extension "droverseq") is the event's sequence in the stream. It
	// is not stored in the message; readers fill it in.
	Seq  uint64          `json:"droverseq,omitempty"`
	Data json.RawMessage `json:"data"`
}

// EventData is the payload of every Drover event; fields that do not apply
// to a type are omitted.
type EventData struct {
	V        int    `json:"v"`
	Cluster  string `json:"cluster"`
	Node     string `json:"node,omitempty"`     // the node the event is about
	Reporter string `json:"reporter,omitempty"` // the node that published it
	State    string `json:"state,omitempty"`
	Previous string `json:"previous,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Epoch    uint64 `json:"epoch,omitempty"`
	Boot     string `json:"boot,omitempty"`
	// Quorum details for quorum.* events.
	Present int `json:"present,omitempty"`
	Voters  int `json:"voters,omitempty"`
	// Digest identifies an applied configuration for config.applied.
	Digest string `json:"digest,omitempty"`
	// VIP events: the group, its owners and addresses.
	Group     string   `json:"group,omitempty"`
	From      string   `json:"from,omitempty"`
	To        string   `json:"to,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	// Load-balancing events: the virtual service and the real server.
	Service    string `json:"service,omitempty"`
	RealServer string `json:"real_server,omitempty"`
	// By is who made an operator's request (node.drained, node.undrained,
	// realserver.admin), as the request names them.
	By string `json:"by,omitempty"`
}

// DroverType returns the Drover event type ("node.joined") of e, or "" for
// a type that is not Drover's.
func (e Event) DroverType() string {
	if len(e.Type) > len("drover.") && e.Type[:len("drover.")] == "drover." {
		return e.Type[len("drover."):]
	}
	return ""
}

// NewEvent builds an event of type typ about subject, published by reporter.
func NewEvent(cluster, reporter, typ, subject string, epoch uint64, data EventData, now time.Time) (Event, error) {
	data.V = Version
	data.Cluster = cluster
	data.Reporter = reporter
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("encoding %s event: %w", typ, err)
	}
	return Event{
		SpecVersion:     CloudEventsVersion,
		ID:              newID(),
		Source:          "/drover/" + cluster + "/nodes/" + reporter,
		Type:            "drover." + typ,
		Subject:         subject,
		Time:            now.UTC(),
		DataContentType: "application/json",
		Epoch:           epoch,
		Data:            raw,
	}, nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DecodeEvent parses a CloudEvent and checks the attributes CloudEvents
// requires and Drover's data version.
func DecodeEvent(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.SpecVersion != CloudEventsVersion {
		return Event{}, fmt.Errorf("%w: specversion %q", ErrUnknownVersion, e.SpecVersion)
	}
	for _, f := range []struct{ name, v string }{{"id", e.ID}, {"source", e.Source}, {"type", e.Type}} {
		if f.v == "" {
			return Event{}, missing(f.name)
		}
	}
	if e.DroverType() == "" {
		return Event{}, fmt.Errorf("%w: type %q is not a drover event", ErrMalformed, e.Type)
	}
	if len(e.Data) == 0 {
		return Event{}, missing("data")
	}
	if _, err := e.Payload(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// Payload decodes the event's data.
func (e Event) Payload() (EventData, error) {
	var d EventData
	if err := decodeInto(e.Data, &d); err != nil {
		return EventData{}, err
	}
	return d, nil
}

// Publisher sends events to the event stream from an outbox: Publish never
// blocks on the bus, events go out in order, and an event that could not be
// stored (JetStream unavailable, no quorum) is retried until it is. Retries
// carry the event id as Nats-Msg-Id, so the stream stores each event once.
type Publisher struct {
	js       jetstream.JetStream
	subjects Subjects
	log      *slog.Logger
	max      int

	mu      sync.Mutex // guards queue, dropped, closed
	queue   []Event
	dropped uint64
	closed  bool
	wake    chan struct{}
	idle    chan struct{} // closed and replaced whenever the queue drains
	done    chan struct{}
}

// NewPublisher starts a publisher that keeps at most max unsent events,
// dropping the oldest beyond that.
func NewPublisher(js jetstream.JetStream, s Subjects, max int, log *slog.Logger) *Publisher {
	p := &Publisher{js: js, subjects: s, log: log, max: max,
		wake: make(chan struct{}, 1), idle: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// Publish queues e.
func (p *Publisher) Publish(e Event) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.queue = append(p.queue, e)
	if len(p.queue) > p.max {
		p.queue = p.queue[1:]
		p.dropped++
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Pending returns the number of unsent events and how many were dropped
// because the outbox was full.
func (p *Publisher) Pending() (queued int, dropped uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue), p.dropped
}

// Flush waits until every queued event is stored or ctx ends.
func (p *Publisher) Flush(ctx context.Context) error {
	for {
		p.mu.Lock()
		n, idle := len(p.queue), p.idle
		p.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("flushing %d events: %w", n, ctx.Err())
		}
	}
}

// Close stops the publisher; unsent events are lost. Call Flush first.
func (p *Publisher) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.mu.Unlock()
}

func (p *Publisher) run() {
	backoff := 50 * time.Millisecond
	for {
		p.mu.Lock()
		var head *Event
		if len(p.queue) > 0 {
			e := p.queue[0]
			head = &e
		}
		p.mu.Unlock()
		if head == nil {
			select {
			case <-p.wake:
				continue
			case <-p.done:
				return
			}
		}
		if err := p.send(*head); err != nil {
			p.log.Debug("event not stored yet, will retry", "event", head.Type, "err", err)
			select {
			case <-time.After(backoff):
			case <-p.done:
				return
			}
			if backoff < time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 50 * time.Millisecond
		p.mu.Lock()
		if len(p.queue) > 0 && p.queue[0].ID == head.ID {
			p.queue = p.queue[1:]
		}
		if len(p.queue) == 0 {
			close(p.idle)
			p.idle = make(chan struct{})
		}
		p.mu.Unlock()
	}
}

func (p *Publisher) send(e Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m := &nats.Msg{Subject: p.subjects.Event(e.DroverType()), Data: b, Header: nats.Header{}}
	m.Header.Set("Content-Type", "application/cloudevents+json")
	_, err = p.js.PublishMsg(ctx, m, jetstream.WithMsgID(e.ID))
	return err
}

// ReadOptions choose where reading the event stream starts.
type ReadOptions struct {
	// FromSeq starts at this stream sequence (inclusive); a subscriber that
	// saw sequence N resumes with FromSeq N+1.
	FromSeq uint64
	// Since starts at the first event stored at or after this time.
	Since time.Time
	// Follow keeps reading new events until ctx ends; without it reading
	// stops at the end of the stream.
	Follow bool
	// Types limits the events to these types ("node.joined"); empty means all.
	Types []string
}

// ErrStopReading may be returned by a ReadEvents callback to stop early.
var ErrStopReading = errors.New("stop reading")

// ReadEvents calls fn for every event from the start chosen by o, in stream
// order, each exactly once. Malformed messages in the stream are counted in
// drops and skipped.
func ReadEvents(ctx context.Context, js jetstream.JetStream, s Subjects, o ReadOptions, drops *Drops, fn func(Event) error) error {
	stream, err := js.Stream(ctx, s.EventStream())
	if err != nil {
		return fmt.Errorf("opening event stream: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("reading event stream info: %w", err)
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	for _, t := range o.Types {
		cfg.FilterSubjects = append(cfg.FilterSubjects, s.Event(t))
	}
	switch {
	case o.FromSeq > 0:
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = o.FromSeq
	case !o.Since.IsZero():
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		t := o.Since
		cfg.OptStartTime = &t
	}
	if !o.Follow && (info.State.Msgs == 0 || info.State.LastSeq < o.FromSeq) {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, s.EventStream(), cfg)
	if err != nil {
		return fmt.Errorf("creating event reader: %w", err)
	}
	last := info.State.LastSeq
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("reading events: %w", err)
	}
	defer it.Stop()
	for {
		var m jetstream.Msg
		if o.Follow {
			m, err = it.Next(jetstream.NextContext(ctx))
		} else {
			// Without follow, a second of silence means we reached the end
			// (events may be filtered out between here and last).
			m, err = it.Next(jetstream.NextMaxWait(time.Second))
		}
		if err != nil {
			if ctx.Err() != nil {
				if o.Follow {
					return nil
				}
				return ctx.Err()
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
				if o.Follow {
					continue
				}
				return nil
			}
			return fmt.Errorf("reading events: %w", err)
		}
		md, err := m.Metadata()
		if err != nil {
			drops.Count(fmt.Errorf("%w: %v", ErrMalformed, err))
			continue
		}
		e, err := DecodeEvent(m.Data())
		if err != nil {
			drops.Count(err)
		} else {
			e.Seq = md.Sequence.Stream
			if err := fn(e); err != nil {
				if errors.Is(err, ErrStopReading) {
					return nil
				}
				return err
			}
		}
		if !o.Follow && (md.NumPending == 0 || md.Sequence.Stream >= last) {
			return nil
		}
	}
}
