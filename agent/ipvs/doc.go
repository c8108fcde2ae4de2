// Package ipvs programs the Linux Virtual Server table (IPVS) of a host: the
// virtual services a director balances and the real servers (destinations)
// behind each of them.
//
// It speaks the kernel's generic netlink family "IPVS" directly (the
// commands and attributes of include/uapi/linux/ip_vs.h; netlink itself is
// RFC 3549) over github.com/mdlayher/genetlink, in pure Go: neither libnl
// nor ipvsadm is needed, and github.com/cloudflare/ipvs is not available to
// this project's build.
//
// The package has three layers:
//
//   - [Client], five reads and writes of single services and destinations,
//     implemented for Linux by [New] and in memory by [Fake];
//   - [Diff], a pure function from the observed and the desired [Table] to
//     the minimal list of [Op]s that turns one into the other;
//   - [Reconcile] and [Reconciler], which read the kernel, diff and apply.
//
// Design choices, and why:
//
//   - One netlink socket per [Client]. Reading a table is one dump of the
//     services and one dump of destinations per service; netlink refuses a
//     second dump on a socket while one is running, so these cannot be
//     pipelined and are done one after the other.
//   - Writes are pipelined (see [Applier]): up to 128 requests go to the
//     kernel in one sendmsg, and only the last asks for an acknowledgement.
//     The kernel handles the messages of a datagram in order and answers
//     every failing one with an error carrying its sequence number, so one
//     read per batch tells which operations failed. Applying 40,000
//     operations costs a few hundred system calls, where ipvsadm -R opens a
//     socket and resolves the family for every line.
//   - [Reconciler] keeps the table it read and the changes it made, and the
//     desired table it last applied. A weight change on a 10,000-service
//     table then costs a comparison with that table, a diff of the one
//     entry that changed and one request, not 10,001 dumps and a full
//     diff. It reads the kernel again after any error and when told to
//     ([Reconciler.Invalidate]); the agent does that periodically, which
//     is how a change made by hand is noticed and undone. The stateless
//     [Reconcile] reads the whole table every time.
//   - The values read back are normalised as they are compared: a
//     fwmark service has no protocol, address or port; an empty scheduler
//     is "wlc" (ipvsadm's default); a zero netmask is a host mask (/32 or
//     /128); the kernel-internal [FlagHashed] is dropped. So a table built
//     by hand with ipvsadm and the same table built here compare equal.
//   - Services the desired table does not name are removed only when the
//     caller's owned function says so: what an operator or another program
//     created is left alone.
//
// Not modelled (yet): persistence engines (--pe sip), GUE/GRE tunnel
// types (tunnel destinations are IPIP), the sync daemon, global timeouts.
package ipvs
