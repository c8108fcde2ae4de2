package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/droverha/drover/model"
)

// compareAddrPorts lets cmp compare netip.AddrPort, whose fields are
// unexported.
var compareAddrPorts = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// wantServices is what testdata/services.yaml gives: every key set in the
// first service, the defaults in the second, a firewall mark in the third.
func wantServices() []model.VirtualService {
	webCheck := model.Check{
		Kind:     "http",
		Port:     8080,
		Interval: 2 * time.Second,
		Timeout:  time.Second,
		Rise:     3,
		Fall:     1,
		Method:   "HEAD",
		Path:     "/health",
		Host:     "www.example.com",
		Status:   []int{200, 204},
	}
	webOther := webCheck
	webOther.Path, webOther.Rise = "/other", 1
	dnsCheck := model.Check{
		Kind:      "dns",
		Interval:  500 * time.Millisecond,
		Timeout:   500 * time.Millisecond,
		Rise:      2,
		Fall:      2,
		QueryName: "example.com.",
		QueryType: "AAAA",
		Expect:    "2001:db8::1",
	}
	dnsFast := dnsCheck
	dnsFast.Interval, dnsFast.Timeout = 200*time.Millisecond, 200*time.Millisecond
	markCheck := model.Check{
		Kind:      "https",
		Port:      443,
		Interval:  500 * time.Millisecond,
		Timeout:   500 * time.Millisecond,
		Rise:      2,
		Fall:      2,
		Method:    "GET",
		Path:      "/",
		BodyRegex: "^ok$",
		SNI:       "www.example.com",
		CAFile:    "testdata/external/ca.pem",
	}
	markSkip := markCheck
	markSkip.TLSSkipVerify, markSkip.CAFile, markSkip.SNI = true, "", "alt.example.com"
	return []model.VirtualService{{
		Name:           "web",
		Protocol:       "tcp",
		Address:        ap("192.0.2.10:80"),
		Family:         "inet",
		Scheduler:      "sh",
		SchedulerFlags: []string{"sh-fallback"},
		Persistence:    &model.Persistence{Timeout: 300 * time.Second, Netmask: 24},
		OnFailure:      model.OnFailureQuiescent,
		Quorum:         2,
		Hysteresis:     1,
		Sorry:          &model.RealServer{Address: ap("198.51.100.99:8080"), Weight: 1, Forward: model.ForwardNAT},
		Check:          webCheck,
		RealServers: []model.RealServer{
			{Address: ap("198.51.100.11:80"), Weight: 2, Forward: model.ForwardDR, Node: "rs1"},
			{Address: ap("198.51.100.12:80"), Weight: 1, Forward: model.ForwardTunnel, Check: &webOther},
			{Address: ap("198.51.100.13:8080"), Weight: 0, Forward: model.ForwardNAT, Check: &model.Check{
				Kind: "tcp", Port: 8081, Interval: 2 * time.Second, Timeout: time.Second, Rise: 3, Fall: 1,
			}},
		},
	}, {
		Name:        "dns",
		Protocol:    "udp",
		Address:     ap("[2001:db8::53]:53"),
		Family:      "inet6",
		Scheduler:   "wlc",
		Persistence: &model.Persistence{Timeout: time.Hour, Netmask: 128},
		OnFailure:   model.OnFailureRemove,
		Check:       dnsCheck,
		RealServers: []model.RealServer{
			{Address: ap("[2001:db8::11]:53"), Weight: 1, Forward: model.ForwardDR},
			{Address: ap("[2001:db8::12]:53"), Weight: 1, Forward: model.ForwardDR, Check: &dnsFast},
		},
	}, {
		Name:           "mark",
		FWMark:         5,
		Family:         "inet6",
		Scheduler:      "mh",
		SchedulerFlags: []string{"mh-port", "mh-fallback"},
		OnFailure:      model.OnFailureRemove,
		Sorry:          &model.RealServer{Address: ap("[2001:db8::99]:0"), Weight: 1, Forward: model.ForwardDR},
		Check:          markCheck,
		RealServers: []model.RealServer{
			{Address: ap("[2001:db8::21]:0"), Weight: 1, Forward: model.ForwardNAT},
			{Address: ap("[2001:db8::22]:8443"), Weight: 1, Forward: model.ForwardNAT, Check: &markSkip},
			{Address: ap("192.0.2.23:0"), Weight: 1, Forward: model.ForwardTunnel, Check: &model.Check{
				Kind: "exec", Interval: 500 * time.Millisecond, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2,
				Command: []string{"/usr/local/bin/check", "--fast"},
			}},
		},
	}}
}

func TestLoadServices(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []model.VirtualService
	}{
		{"testdata/services.yaml", wantServices()},
		{"testdata/services.toml", []model.VirtualService{{
			Name:        "web",
			Protocol:    "tcp",
			Address:     ap("192.0.2.10:443"),
			Family:      "inet",
			Scheduler:   "wlc",
			Persistence: &model.Persistence{Timeout: 10 * time.Minute, Netmask: 16},
			OnFailure:   model.OnFailureRemove,
			Check: model.Check{Kind: "https", Interval: 500 * time.Millisecond, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2,
				Method: "GET", Path: "/", TLSSkipVerify: true},
			RealServers: []model.RealServer{
				{Address: ap("198.51.100.11:443"), Weight: 3, Forward: model.ForwardDR},
				{Address: ap("198.51.100.12:443"), Weight: 1, Forward: model.ForwardDR, Check: &model.Check{
					Kind: "https", Interval: 500 * time.Millisecond, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2,
					Method: "GET", Path: "/", Status: []int{200}, TLSSkipVerify: true,
				}},
			},
		}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := testLoad{file: tc.file}.load(t)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tc.want, c.Services, compareAddrPorts); diff != "" {
				t.Errorf("Services (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServiceProblems(t *testing.T) {
	const nameRule = `use 1 to 63 letters, digits, '-' or '_', starting with a letter or digit`
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"shapes and types", "testdata/svc_shapes.yaml", []string{
			`testdata/svc_shapes.yaml:3: services[0]: expected a mapping with name, address or fwmark, and real_servers, got a string`,
			`testdata/svc_shapes.yaml:5: services[1].address: expected an address such as 192.0.2.10:80, got a list`,
			`testdata/svc_shapes.yaml:6: services[1].fwmark: expected a whole number, got a string`,
			`testdata/svc_shapes.yaml:7: services[1].scheduler_flags: expected a list, got a string`,
			`testdata/svc_shapes.yaml:8: services[1].persistence: expected a mapping with timeout and netmask, got a string`,
			`testdata/svc_shapes.yaml:9: services[1].sorry_server: expected an address such as 198.51.100.99:80, or a mapping with address and forward, got a list`,
			`testdata/svc_shapes.yaml:10: services[1].check: expected a mapping, got a string`,
			`testdata/svc_shapes.yaml:11: services[1].real_servers: expected a list of real servers, got a string`,
			`testdata/svc_shapes.yaml:14: services[2].quorum: expected a whole number, got a string`,
			`testdata/svc_shapes.yaml:16: services[2].check.status: expected a list of status codes such as [200, 204], got a number`,
			`testdata/svc_shapes.yaml:17: services[2].check.command: expected a list, got a string`,
			`testdata/svc_shapes.yaml:18: services[2].check.port: 70000 is out of range (0..65535; 0 probes the real server's port)`,
			`testdata/svc_shapes.yaml:19: services[2].check.tls_skip_verify: expected true or false, got a string`,
			`testdata/svc_shapes.yaml:21: services[2].real_servers[0]: expected a mapping with address, weight, forward, node and check, got a string`,
			`testdata/svc_shapes.yaml:23: services[2].real_servers[1].weight: expected a whole number, got a string`,
			`testdata/svc_shapes.yaml:24: services[2].real_servers[1].check: expected a mapping, got a string`,
			`testdata/svc_shapes.yaml:25: services[3].name: missing`,
			`testdata/svc_shapes.yaml:25: services[3].address: missing: give the service an address (VIP:port) or a fwmark`,
			`testdata/svc_shapes.yaml:26: services[3].real_servers: needs at least one real server, or a sorry_server`,
		}},
		{"unknown keys", "testdata/svc_unknown.yaml", []string{
			`testdata/svc_unknown.yaml:5: services[0].schedular: unknown key; did you mean services[0].scheduler?`,
			`testdata/svc_unknown.yaml:6: services[0].persistence.timout: unknown key; did you mean services[0].persistence.timeout?`,
			`testdata/svc_unknown.yaml:7: services[0].sorry_server.weight: unknown key`,
			`testdata/svc_unknown.yaml:9: services[0].check.intervall: unknown key; did you mean services[0].check.interval?`,
			`testdata/svc_unknown.yaml:11: services[0].real_servers[0].adress: unknown key; did you mean services[0].real_servers[0].address?`,
			`testdata/svc_unknown.yaml:13: services[0].real_servers[1].wieght: unknown key; did you mean services[0].real_servers[1].weight?`,
			`testdata/svc_unknown.yaml:14: services[0].real_servers[1].check.paht: unknown key; did you mean services[0].real_servers[1].check.path?`,
			`testdata/svc_unknown.yaml:15: service: unknown key; did you mean services?`,
		}},
		{"addresses", "testdata/svc_address.yaml", []string{
			`testdata/svc_address.yaml:4: services[0].address: "192.0.2.10:70000": port 70000 is out of range (1..65535)`,
			`testdata/svc_address.yaml:5: services[0].real_servers[0].address: "198.51.100.11:0": port 0 is out of range (1..65535)`,
			`testdata/svc_address.yaml:7: services[1].address: "192.0.2.10" needs a port, e.g. 192.0.2.10:80`,
			`testdata/svc_address.yaml:8: services[1].real_servers[0].address: "198.51.100.11:99999": port 99999 is out of range (1..65535)`,
			`testdata/svc_address.yaml:10: services[2].address: "www.example.com:80": "www.example.com" is not an IP address (e.g. 192.0.2.10:80, [2001:db8::10]:80)`,
			`testdata/svc_address.yaml:11: services[2].real_servers[0].address: "rs1.example.com" is not IP:port (e.g. 192.0.2.10:80, [2001:db8::10]:80)`,
			`testdata/svc_address.yaml:13: services[3].address: "192.0.2.10:http": port "http" is not a number`,
			`testdata/svc_address.yaml:16: services[4].address: "[fe80::1%eth0]:80": leave out the zone; IPVS addresses have none`,
			`testdata/svc_address.yaml:19: services[5].address: "0.0.0.0:80": 0.0.0.0 is the unspecified address`,
			`testdata/svc_address.yaml:20: services[5].real_servers[0].address: "224.0.0.1": 224.0.0.1 is a multicast address`,
			`testdata/svc_address.yaml:22: services[6].address: "[::ffff:192.0.2.1]:80": write an IPv4 address as IPv4, e.g. 192.0.2.1:80`,
			`testdata/svc_address.yaml:26: services[7].fwmark: cannot be combined with address: a service matches an address or a firewall mark`,
			`testdata/svc_address.yaml:28: services[8].address: missing: give the service an address (VIP:port) or a fwmark`,
			`testdata/svc_address.yaml:31: services[9].fwmark: 0 is out of range (1..4294967295)`,
			`testdata/svc_address.yaml:34: services[10].fwmark: 4294967296 is out of range (1..4294967295)`,
			`testdata/svc_address.yaml:38: services[11].protocol: only applies with address; a firewall mark matches packets of any protocol`,
			`testdata/svc_address.yaml:39: services[11].family: "ipx" is not one of inet, inet6`,
			`testdata/svc_address.yaml:43: services[12].protocol: "icmp" is not one of tcp, udp, sctp`,
			`testdata/svc_address.yaml:44: services[12].family: only applies with fwmark; a service with an address has that address's family`,
			`testdata/svc_address.yaml:48: services[13].real_servers[0].address: "192.0.2.14:": the port is empty`,
			`testdata/svc_address.yaml:48: services[13].real_servers[1].address: missing`,
		}},
		{"duplicates", "testdata/svc_dup.yaml", []string{
			`testdata/svc_dup.yaml:8: services[0].real_servers[2].address: 198.51.100.11:80 is already services[0].real_servers[0]`,
			`testdata/svc_dup.yaml:9: services[1].name: "web" is already the name of services[0]`,
			`testdata/svc_dup.yaml:14: services[2].address: 192.0.2.10:80 (tcp) is already the address of service "web" (services[0])`,
			`testdata/svc_dup.yaml:17: services[2].sorry_server: 198.51.100.11:80 is already services[2].real_servers[0]; a sorry server answers when the real servers cannot`,
			`testdata/svc_dup.yaml:26: services[5].fwmark: 5 (inet) is already the fwmark of service "mark" (services[3])`,
			`testdata/svc_dup.yaml:28: services[5].real_servers[1].address: 198.51.100.11:80 is already services[5].real_servers[0]`,
			`testdata/svc_dup.yaml:29: services[5].sorry_server.address: 198.51.100.11:80 is already services[5].real_servers[0]; a sorry server answers when the real servers cannot`,
		}},
		{"schedulers and flags", "testdata/svc_sched.yaml", []string{
			`testdata/svc_sched.yaml:5: services[0].scheduler: "round-robin" is not one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh, fo, ovf, twos`,
			`testdata/svc_sched.yaml:6: services[0].on_failure: "drain" is not one of remove, quiescent`,
			`testdata/svc_sched.yaml:11: services[1].scheduler_flags[0]: "sh-port" only applies with scheduler sh, not wlc`,
			`testdata/svc_sched.yaml:11: services[1].scheduler_flags[1]: "flag-1" is not one of sh-port, sh-fallback, mh-port, mh-fallback`,
			`testdata/svc_sched.yaml:16: services[2].scheduler_flags[0]: "sh-port" spreads a client's connections over the real servers by source port, but persistence keeps them on one; drop one of the two`,
			`testdata/svc_sched.yaml:16: services[2].scheduler_flags[2]: "sh-port" is already services[2].scheduler_flags[0]`,
			`testdata/svc_sched.yaml:22: services[3].scheduler_flags[1]: "sh-fallback" only applies with scheduler sh, not mh`,
		}},
		{"persistence", "testdata/svc_persistence.yaml", []string{
			`testdata/svc_persistence.yaml:5: services[0].persistence.netmask: needs persistence.timeout: without a timeout there is no persistence to group clients for`,
			`testdata/svc_persistence.yaml:9: services[1].persistence.timeout: missing`,
			`testdata/svc_persistence.yaml:14: services[2].persistence.timeout: 500ms is out of range (1s..2147483647s)`,
			`testdata/svc_persistence.yaml:15: services[2].persistence.netmask: 33 is out of range for an IPv4 service (1..32)`,
			`testdata/svc_persistence.yaml:20: services[3].persistence.timeout: 1.5s is not a whole number of seconds, which IPVS counts persistence in`,
			`testdata/svc_persistence.yaml:21: services[3].persistence.netmask: "255.0.255.0" is not a netmask: use a prefix length such as 24, or an IPv4 mask such as 255.255.255.0`,
			`testdata/svc_persistence.yaml:26: services[4].persistence.timeout: 2147483648s is out of range (1s..2147483647s)`,
			`testdata/svc_persistence.yaml:27: services[4].persistence.netmask: 0 is out of range for an IPv6 service (1..128)`,
			`testdata/svc_persistence.yaml:34: services[5].persistence.netmask: 129 is out of range for an IPv6 service (1..128)`,
			`testdata/svc_persistence.yaml:40: services[6].persistence.netmask: 0 is out of range for an IPv4 service (1..32)`,
		}},
		{"real and sorry servers", "testdata/svc_servers.yaml", []string{
			`testdata/svc_servers.yaml:6: services[0].real_servers[0].address: port 8080 differs from the service's (80): forward: dr cannot change the port; use the service's port or forward: nat`,
			`testdata/svc_servers.yaml:7: services[0].real_servers[1].address: port 8080 differs from the service's (80): forward: tunnel cannot change the port; use the service's port or forward: nat`,
			`testdata/svc_servers.yaml:11: services[0].real_servers[3].address: 2001:db8::14 is IPv6 and the service is IPv4: only forward: tunnel can mix address families`,
			`testdata/svc_servers.yaml:12: services[0].real_servers[4].address: 2001:db8::15 is IPv6 and the service is IPv4: only forward: tunnel can mix address families`,
			`testdata/svc_servers.yaml:17: services[0].real_servers[6].forward: "gate" is not one of nat, dr, tunnel; drover calls it dr`,
			`testdata/svc_servers.yaml:19: services[0].real_servers[7].forward: "bogus" is not one of nat, dr, tunnel`,
			`testdata/svc_servers.yaml:21: services[0].real_servers[8].weight: 70000 is out of range (0..65535)`,
			`testdata/svc_servers.yaml:23: services[0].real_servers[9].weight: -1 is out of range (0..65535)`,
			`testdata/svc_servers.yaml:25: services[0].real_servers[10].node: "-rs" is not a valid name: ` + nameRule,
			`testdata/svc_servers.yaml:26: services[0].real_servers[11].address: missing`,
			`testdata/svc_servers.yaml:27: services[0].sorry_server: port 8080 differs from the service's (80): forward: dr cannot change the port; use the service's port or forward: nat`,
			`testdata/svc_servers.yaml:28: services[1].real_servers: needs at least one real server, or a sorry_server`,
			`testdata/svc_servers.yaml:32: services[2].real_servers: needs at least one real server, or a sorry_server`,
			`testdata/svc_servers.yaml:35: services[3].sorry_server.forward: "masq" is not one of nat, dr, tunnel; drover calls it nat`,
			`testdata/svc_servers.yaml:39: services[4].real_servers[0].address: has no port for its tcp check to probe (a firewall-mark service's real servers need none): give it a port or set check.port`,
			`testdata/svc_servers.yaml:45: services[4].real_servers[4].address: 2001:db8::35 is IPv6 and the service is IPv4: only forward: tunnel can mix address families`,
			`testdata/svc_servers.yaml:46: services[4].sorry_server.address: missing`,
		}},
		{"quorum and hysteresis", "testdata/svc_quorum.yaml", []string{
			`testdata/svc_quorum.yaml:5: services[0].quorum: 4 is more than the total weight of the real servers (3)`,
			`testdata/svc_quorum.yaml:9: services[1].quorum: -1 is out of range (at least 0)`,
			`testdata/svc_quorum.yaml:10: services[1].hysteresis: -1 is out of range (at least 0)`,
			`testdata/svc_quorum.yaml:19: services[3].hysteresis: 1 puts the weight that regains a lost quorum, 2 + 1, above the total weight of the real servers (2): it would never come back`,
			`testdata/svc_quorum.yaml:25: services[4].real_servers[1].weight: expected a whole number, got a string`,
			`testdata/svc_quorum.yaml:28: services[5].hysteresis: 1 puts the weight that regains a lost quorum, 1 + 1, above the total weight of the real servers (1): it would never come back`,
		}},
		{"checks", "testdata/svc_checks.yaml", []string{
			`testdata/svc_checks.yaml:6: services[0].check.kind: "ping" is not one of tcp, http, https, smtp, ftp, imap, pop3, ldap, nntp, dns, exec, none`,
			`testdata/svc_checks.yaml:7: services[0].check.interval: 0s must be more than 0s`,
			`testdata/svc_checks.yaml:8: services[0].check.timeout: -1s must be more than 0s`,
			`testdata/svc_checks.yaml:9: services[0].check.rise: 0 is out of range (at least 1)`,
			`testdata/svc_checks.yaml:10: services[0].check.fall: 0 is out of range (at least 1)`,
			`testdata/svc_checks.yaml:17: services[1].check.timeout: 2s is longer than the check's interval (1s)`,
			`testdata/svc_checks.yaml:18: services[1].check.method: "POST" is not one of GET, HEAD`,
			`testdata/svc_checks.yaml:19: services[1].check.path: "health" must start with /`,
			`testdata/svc_checks.yaml:20: services[1].check.host: "bad host" is not a host name or IP address, with a port or without`,
			`testdata/svc_checks.yaml:21: services[1].check.status[0]: 99 is out of range (100..599)`,
			`testdata/svc_checks.yaml:21: services[1].check.status[2]: 600 is out of range (100..599)`,
			"testdata/svc_checks.yaml:22: services[1].check.body_regex: \"ok(\" is not a regular expression: missing closing ): `ok(`",
			`testdata/svc_checks.yaml:23: services[1].check.sni: only applies with kind https; this check's kind is http`,
			`testdata/svc_checks.yaml:24: services[1].check.query_name: only applies with kind dns; this check's kind is http`,
			`testdata/svc_checks.yaml:25: services[1].check.command: only applies with kind exec; this check's kind is http`,
			`testdata/svc_checks.yaml:32: services[2].check.body_regex: method HEAD gets no body to match; use GET`,
			`testdata/svc_checks.yaml:33: services[2].check.status: needs at least one status code; leave it out to accept 200..399`,
			`testdata/svc_checks.yaml:34: services[2].check.tls_skip_verify: only applies with kind https; this check's kind is http`,
			`testdata/svc_checks.yaml:40: services[3].check.sni: "-bad-" is neither a DNS name nor an IP address`,
			`testdata/svc_checks.yaml:41: services[3].check.ca_file: "testdata/external/missing.pem" does not exist`,
			`testdata/svc_checks.yaml:47: services[4].check.ca_file: is unused with tls_skip_verify: true, which verifies no certificate`,
			`testdata/svc_checks.yaml:53: services[5].check.query_name: missing: a dns check needs a name to query`,
			`testdata/svc_checks.yaml:55: services[5].check.query_type: "ANY" is not one of A, AAAA, MX, TXT, NS, CNAME, SOA, PTR, SRV`,
			`testdata/svc_checks.yaml:56: services[5].check.path: only applies with kind http or https; this check's kind is dns`,
			`testdata/svc_checks.yaml:62: services[6].check.query_name: "exa mple.com" is not a DNS name`,
			`testdata/svc_checks.yaml:63: services[6].check.expect: "2001:db8::1" is not an IPv4 address, which an A record holds`,
			`testdata/svc_checks.yaml:71: services[7].check.expect: "192.0.2.1" is not an IPv6 address, which an AAAA record holds`,
			`testdata/svc_checks.yaml:75: services[8].check.command: missing: an exec check needs a command to run`,
			`testdata/svc_checks.yaml:77: services[8].check.sni: only applies with kind https; this check's kind is exec`,
			`testdata/svc_checks.yaml:83: services[9].check.command: needs at least the program to run`,
			`testdata/svc_checks.yaml:89: services[10].check.command[0]: the program to run is empty`,
			`testdata/svc_checks.yaml:95: services[11].check.interval: only applies to a check that probes; kind none probes nothing`,
			`testdata/svc_checks.yaml:96: services[11].check.port: only applies to a check that probes; kind none probes nothing`,
			`testdata/svc_checks.yaml:97: services[11].check.method: only applies with kind http or https; this check's kind is none`,
			`testdata/svc_checks.yaml:103: services[12].check.timeout: 300ms is longer than the check's interval (200ms)`,
		}},
		{"real servers' checks over the service's", "testdata/svc_override.yaml", []string{
			`testdata/svc_override.yaml:9: services[0].check.path: "nope" must start with /`,
			`testdata/svc_override.yaml:13: services[0].real_servers[0].check.interval: 500ms is shorter than the check's timeout (1s, from services[0].check.timeout)`,
			`testdata/svc_override.yaml:15: services[0].real_servers[1].check.query_name: missing: a dns check needs a name to query`,
			`testdata/svc_override.yaml:17: services[0].real_servers[2].check.rise: 0 is out of range (at least 1)`,
			`testdata/svc_override.yaml:17: services[0].real_servers[2].check.sni: only applies with kind https; this check's kind is tcp`,
			`testdata/svc_override.yaml:19: services[0].real_servers[3].check.tls_skip_verify: true leaves services[0].check.ca_file unused; set ca_file: "" here too`,
			`testdata/svc_override.yaml:21: services[0].real_servers[4].check.timeout: 3s is longer than the check's interval (2s)`,
			`testdata/svc_override.yaml:21: services[0].real_servers[4].check.status[0]: 700 is out of range (100..599)`,
			`testdata/svc_override.yaml:23: services[0].real_servers[5].check.command: missing: an exec check needs a command to run`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := testLoad{file: tc.file}.load(t)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load = %+v, %v; want Problems", c, err)
			}
			if diff := cmp.Diff(tc.want, strings.Split(ps.Error(), "\n")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAddrPort(t *testing.T) {
	for _, tc := range []struct {
		in       string
		needPort bool
		want     string // the address, or the reason it is refused
	}{
		{"192.0.2.10:80", true, "192.0.2.10:80"},
		{" [2001:db8::10]:443 ", true, "[2001:db8::10]:443"},
		{"[2001:DB8:0::10]:443", true, "[2001:db8::10]:443"},
		{"192.0.2.10:080", true, "192.0.2.10:80"},
		{"192.0.2.10", false, "192.0.2.10:0"},
		{"2001:db8::10", false, "[2001:db8::10]:0"},
		{"[2001:db8::10]", false, "[2001:db8::10]:0"},
		{"127.0.0.1:80", true, "127.0.0.1:80"}, // a local real server, as ldirectord's fallback
		{"192.0.2.10", true, `"192.0.2.10" needs a port, e.g. 192.0.2.10:80`},
		{"2001:db8::10", true, `"2001:db8::10" needs a port, e.g. [2001:db8::10]:80`},
		{"192.0.2.10:70000", true, `"192.0.2.10:70000": port 70000 is out of range (1..65535)`},
		{"192.0.2.10:0", false, `"192.0.2.10:0": port 0 is out of range (1..65535)`},
		{"192.0.2.10:99999999999999999999", true, `"192.0.2.10:99999999999999999999": port 99999999999999999999 is out of range (1..65535)`},
		{"192.0.2.10:-1", true, `"192.0.2.10:-1": port "-1" is not a number`},
		{"192.0.2.10:", false, `"192.0.2.10:": the port is empty`},
		{"192.0.2.300:80", true, `"192.0.2.300:80": "192.0.2.300" is not an IP address (e.g. 192.0.2.10:80, [2001:db8::10]:80)`},
		{"web", false, `"web" is not IP:port (e.g. 192.0.2.10:80, [2001:db8::10]:80)`},
		{"", false, `"" is not IP:port (e.g. 192.0.2.10:80, [2001:db8::10]:80)`},
		{"[fe80::1%eth0]:80", true, `"[fe80::1%eth0]:80": leave out the zone; IPVS addresses have none`},
		{"fe80::1%eth0", false, `"fe80::1%eth0": leave out the zone; IPVS addresses have none`},
		{"[::ffff:192.0.2.1]:80", true, `"[::ffff:192.0.2.1]:80": write an IPv4 address as IPv4, e.g. 192.0.2.1:80`},
		{"[::]:80", true, `"[::]:80": :: is the unspecified address`},
		{"[ff02::1]:80", true, `"[ff02::1]:80": ff02::1 is a multicast address`},
		{"255.255.255.255:80", true, `"255.255.255.255:80": 255.255.255.255 is the broadcast address`},
	} {
		got, reason := parseAddrPort(tc.in, tc.needPort)
		if reason == "" {
			reason = got.String()
		} else if got.IsValid() {
			t.Errorf("parseAddrPort(%q) = %v with the reason %q", tc.in, got, reason)
		}
		if reason != tc.want {
			t.Errorf("parseAddrPort(%q, %v) = %q, want %q", tc.in, tc.needPort, reason, tc.want)
		}
	}
}

func TestToNetmask(t *testing.T) {
	for _, tc := range []struct {
		in     any
		want   int
		reason string
	}{
		{24, 24, ""},
		{int64(64), 64, ""},
		{"255.255.255.0", 24, ""},
		{"255.255.255.255", 32, ""},
		{"0.0.0.0", 0, ""},
		{" 255.255.128.0 ", 17, ""},
		{"255.0.255.0", 0, `"255.0.255.0" is not a netmask: use a prefix length such as 24, or an IPv4 mask such as 255.255.255.0`},
		{"24", 0, `"24" is not a netmask: use a prefix length such as 24, or an IPv4 mask such as 255.255.255.0`},
		{"ffff:ffff::", 0, `"ffff:ffff::" is not a netmask: use a prefix length such as 24, or an IPv4 mask such as 255.255.255.0`},
		{2.5, 0, `2.5 is not a whole number`},
	} {
		var reason string
		got := toNetmask(tc.in, func(_, r string) { reason = r })
		if got != tc.want || reason != tc.reason {
			t.Errorf("toNetmask(%#v) = %d, %q; want %d, %q", tc.in, got, reason, tc.want, tc.reason)
		}
	}
}
