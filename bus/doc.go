// Package bus is Drover's NATS layer: the embedded nats-server, client
// connections, subject names, the versioned message types and their
// decoders, the JetStream KV buckets, the manager election lease and the
// durable event stream.
//
// Subjects, KV keys and message schemas are a contract between versions of
// the agent; docs/bus.md describes them. Every message carries a "v" field;
// a decoder rejects versions it does not speak with ErrUnknownVersion and
// anything else it cannot read with ErrMalformed, so callers can count and
// drop bad input without ever panicking.
package bus
