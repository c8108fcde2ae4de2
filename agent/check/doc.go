// Package check probes real servers and decides whether each is healthy,
// as ldirectord does for an Ultra Monkey director: a connect, a request, or
// a short protocol conversation per probe, and rise/fall hysteresis over
// the results.
//
// Probe runs one probe: tcp (a connect), http and https (RFC 9112, one
// request per fresh connection, status and optional body regex, no
// redirects followed), smtp (RFC 5321: 220 greeting, EHLO, QUIT), ftp
// (RFC 959), imap (RFC 9051), pop3 (RFC 1939), nntp (RFC 3977), ldap (an
// anonymous LDAPv3 simple bind, RFC 4511, in hand-written BER, X.690), dns
// (RFC 1035 over UDP, again over TCP when truncated, RFC 7766), exec (a
// command, exit 0 is healthy) and none. A real server that answers, but not
// as a healthy one of its kind would, is unhealthy with a Reason that
// quotes what it said.
//
// A Checker runs one probe loop per distinct (address, check) — services
// that share a real server and a check share its loop — and is told the
// whole wanted set at every Set, as the agent reconciles its drivers. The
// defaults (probe every 500 ms with a 500 ms timeout, rise 2, fall 2) take
// a dead real server out of the IPVS table within 2 s; see DefaultInterval.
//
// Probes are plain sockets and processes and need no privilege, so unlike
// the kernel drivers the package has no Linux-only half: only the killing
// of a check command's process group is Unix-specific. Fake stands in for
// a Checker in the agent's tests.
//
// The checker reports; it never decides. What an unhealthy real server
// becomes (weight 0 or removed, the sorry server) is the manager's policy.
package check
