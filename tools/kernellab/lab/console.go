package lab

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MarkerPrefix starts every line the guest's /init writes for the host:
// "@@kernellab NONCE KIND ARGS...". The nonce is new for each run, so a
// program under test that prints such a line by accident (or a test that
// prints its own output) cannot forge a result.
const MarkerPrefix = "@@kernellab "

// Console parses the guest's serial console line by line. Ordinary lines
// go to Out; marker lines are recorded. It is a decoder of untrusted
// input: whatever the guest prints, it records errors and never panics.
type Console struct {
	Nonce string
	Out   io.Writer

	Init, Ready float64        // guest uptime (s) at /init start and after module loading
	Results     map[int]int    // program index -> exit status
	Archives    map[int][]byte // program index -> verified tar of its testdata
	ModFail     []string       // modules insmod could not load
	Done        bool           // run.sh finished; the VM powers off next
	Panic       string         // the kernel's panic line, if any
	Errors      []string       // malformed marker lines

	// OnReady is called once when the guest reports ready.
	OnReady func()

	b64 map[int]*bytes.Buffer
}

// NewConsole returns a Console for a run with this nonce.
func NewConsole(nonce string, out io.Writer) *Console {
	return &Console{Nonce: nonce, Out: out, Results: map[int]int{}, Archives: map[int][]byte{}, b64: map[int]*bytes.Buffer{}}
}

// Line handles one console line (without its newline).
func (c *Console) Line(line string) {
	line = strings.TrimRight(line, "\r")
	if c.Panic == "" && strings.Contains(line, "Kernel panic - not syncing") {
		c.Panic = strings.TrimSpace(line)
	}
	prefix := MarkerPrefix + c.Nonce + " "
	i := strings.Index(line, prefix)
	if i < 0 {
		if c.Out != nil {
			io.WriteString(c.Out, line+"\n")
		}
		return
	}
	if i > 0 && c.Out != nil {
		// A kernel message may precede the marker on the same line.
		io.WriteString(c.Out, line[:i]+"\n")
	}
	f := strings.Fields(line[i+len(prefix):])
	if len(f) == 0 {
		c.bad(line)
		return
	}
	switch kind, args := f[0], f[1:]; kind {
	case "init", "ready":
		if len(args) != 1 {
			c.bad(line)
			return
		}
		t, err := strconv.ParseFloat(args[0], 64)
		if err != nil {
			c.bad(line)
			return
		}
		if kind == "init" {
			c.Init = t
		} else {
			c.Ready = t
			if c.OnReady != nil {
				c.OnReady()
			}
		}
	case "modfail":
		c.ModFail = append(c.ModFail, strings.Join(args, " "))
	case "result":
		idx, status, ok := twoInts(args)
		if !ok {
			c.bad(line)
			return
		}
		c.Results[idx] = status
	case "b64":
		if len(args) != 2 {
			c.bad(line)
			return
		}
		idx, err := strconv.Atoi(args[0])
		if err != nil || idx < 0 {
			c.bad(line)
			return
		}
		if c.b64[idx] == nil {
			c.b64[idx] = &bytes.Buffer{}
		}
		c.b64[idx].WriteString(args[1])
	case "sum":
		if len(args) != 2 {
			c.bad(line)
			return
		}
		idx, err := strconv.Atoi(args[0])
		if err != nil {
			c.bad(line)
			return
		}
		c.archive(idx, args[1])
	case "done":
		c.Done = true
	default:
		c.bad(line)
	}
}

// archive decodes the base64 lines of program idx and keeps them when
// their SHA-256 is the one the guest computed.
func (c *Console) archive(idx int, sum string) {
	var enc []byte
	if b := c.b64[idx]; b != nil {
		enc = b.Bytes()
	}
	delete(c.b64, idx)
	data, err := base64.StdEncoding.DecodeString(string(enc))
	if err != nil {
		c.Errors = append(c.Errors, fmt.Sprintf("testdata archive %d: %v", idx, err))
		return
	}
	got := sha256.Sum256(data)
	if hex.EncodeToString(got[:]) != strings.ToLower(sum) {
		c.Errors = append(c.Errors, fmt.Sprintf("testdata archive %d: checksum mismatch (console garbled?)", idx))
		return
	}
	c.Archives[idx] = data
}

func (c *Console) bad(line string) {
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	c.Errors = append(c.Errors, fmt.Sprintf("malformed marker line %q", line))
}

func twoInts(args []string) (int, int, bool) {
	if len(args) != 2 {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(args[0])
	b, err2 := strconv.Atoi(args[1])
	return a, b, err1 == nil && err2 == nil
}
