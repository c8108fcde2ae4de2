package check

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/droverha/drover/model"
)

// maxExecOutput bounds the output kept from a check command: its first line
// is the reason, the rest is not read into memory.
const maxExecOutput = 4 << 10

// execProber runs a command, as ldirectord's "external" check does: exit 0
// is healthy. The real server's address and port are in its environment
// as DROVER_RS_ADDR and DROVER_RS_PORT. The command, and on Unix everything
// it started, is killed at the probe's deadline.
type execProber struct {
	argv []string
	env  []string
}

func newExecProber(addr netip.AddrPort, c model.Check) prober {
	if len(c.Command) == 0 || c.Command[0] == "" {
		return failProber("exec: no command")
	}
	env := append(os.Environ(),
		"DROVER_RS_ADDR="+addr.Addr().String(),
		"DROVER_RS_PORT="+strconv.Itoa(int(addr.Port())),
	)
	return &execProber{argv: c.Command, env: env}
}

func (p *execProber) probe(ctx context.Context) Result {
	cmd := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	cmd.Env = p.env
	out := &headWriter{max: maxExecOutput}
	cmd.Stdout, cmd.Stderr = out, out
	killGroup(cmd)
	// A grandchild that keeps the output pipe open must not hold the probe
	// past its deadline.
	cmd.WaitDelay = 100 * time.Millisecond
	err := cmd.Run()
	line := firstLine(out.buf.Bytes())
	with := func(s string) string {
		if len(line) > 0 {
			s += ": " + quote(line)
		}
		return s
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return Result{Healthy: true, Reason: with("exec: exit status 0")}
	case ctx.Err() != nil:
		return Result{Reason: with("exec: " + errReason(ctx.Err()))}
	case errors.As(err, &ee):
		return Result{Reason: with("exec: " + ee.ProcessState.String())}
	default:
		return Result{Reason: "exec: " + err.Error()}
	}
}

func firstLine(b []byte) []byte {
	b = bytes.TrimLeft(b, "\r\n")
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return trimEOL(b)
}

// headWriter keeps the first max bytes written to it and drops the rest,
// without failing the writer (a failed write would kill the command with
// SIGPIPE and change its verdict).
type headWriter struct {
	buf bytes.Buffer
	max int
}

func (w *headWriter) Write(b []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(trimTo(b, room))
	}
	return len(b), nil
}
