// Package bustest helps tests build real multi-server NATS clusters in one
// process and break them: every route link goes through a Link that the
// test can cut and heal, which is how partitions are made without root.
package bustest
