package check

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/droverha/drover/model"
)

func TestProbeExec(t *testing.T) {
	target := netip.MustParseAddrPort("192.0.2.10:8080") // never contacted: the command decides
	sh := func(script string) model.Check {
		return model.Check{Kind: "exec", Command: []string{"/bin/sh", "-c", script}}
	}
	runProbeCases(t, []probeCase{
		{name: "exit 0", target: target, check: sh("exit 0"),
			healthy: true, reason: "exec: exit status 0"},
		{name: "exit 0 with output", target: target, check: sh("echo all good; echo more"),
			healthy: true, reason: `exec: exit status 0: "all good"`},
		{name: "exit 3", target: target, check: sh("echo; echo 'db down' >&2; echo more; exit 3"),
			reason: `exec: exit status 3: "db down"`},
		{name: "environment", target: target,
			check:   sh(`test "$DROVER_RS_ADDR" = 192.0.2.10 && test "$DROVER_RS_PORT" = 8080 || { echo "$DROVER_RS_ADDR $DROVER_RS_PORT"; exit 1; }`),
			healthy: true, reason: "exec: exit status 0"},
		{name: "environment with port override", target: target,
			check: func() model.Check {
				c := sh(`echo "$DROVER_RS_ADDR $DROVER_RS_PORT"; exit 1`)
				c.Port = 9090
				return c
			}(),
			reason: `exec: exit status 1: "192.0.2.10 9090"`},
		{name: "timeout", target: target, check: sh("echo starting; exec sleep 30"), timeout: shortTimeout,
			reason: `exec: timed out: "starting"`},
		{name: "timeout, child holds the output", target: target, check: sh("sleep 30 & echo forked; wait"), timeout: shortTimeout,
			reason: `exec: timed out: "forked"`},
		{name: "killed", target: target, check: sh("kill -9 $$"),
			reason: "exec: signal: killed"},
		{name: "missing command", target: target, check: model.Check{Kind: "exec", Command: []string{filepath.Join(t.TempDir(), "nope")}},
			reason: "no such file or directory", contains: true},
		{name: "no command", target: target, check: model.Check{Kind: "exec"},
			reason: "exec: no command"},
	})
}
