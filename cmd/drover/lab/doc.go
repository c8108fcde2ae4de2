// Package lab builds a virtual LAN of network namespaces on one Linux host
// and runs drover agents in it, for tests and for people trying drover.
//
// A lab is described by a small YAML topology (see LoadTopology and
// docs/lab.md). Up builds a switch namespace holding a Linux bridge and one
// namespace per host, joined to the bridge by a veth pair, and starts
// `drover agent` in the namespaces of the hosts marked agent: true. Every
// kernel object and process it creates is named after the lab
// (drl-<lab>-...), so Down finds and removes them from the name alone, even
// after the process that built the lab has died.
//
// The lab drives iproute2's ip command rather than netlink: each step is
// a command an operator can read in the progress log and repeat by hand,
// and `ip netns` is what people use to look inside a lab. InNS is the
// exception: sockets a test opens inside a namespace need the calling
// thread switched into it (github.com/vishvananda/netns).
package lab
