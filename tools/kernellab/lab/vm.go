package lab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ErrTimeout is returned when the VM did not power off in time.
var ErrTimeout = errors.New("the VM did not finish in time")

// VM is how to boot the lab.
type VM struct {
	QEMU    string        // qemu-system-x86_64
	Kernel  string        // vmlinuz
	Initrd  string        // the cpio of BuildImage
	MemMiB  int           // 1536 when zero
	CPUs    int           // 2 when zero
	Append  string        // extra kernel command line
	Timeout time.Duration // from qemu's start to its exit
	Log     *slog.Logger
}

// Outcome is what a run reported.
type Outcome struct {
	Console  *Console
	Boot     time.Duration // qemu start to the guest's "ready" marker
	Wall     time.Duration // qemu start to exit
	TimedOut bool
}

// NewNonce returns a random marker nonce.
func NewNonce() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b[:])
}

// Args returns qemu's command line. TCG (no KVM), no network, no disks,
// no display: the serial port on stdio is the only way in or out.
func (vm *VM) Args() []string {
	mem, cpus := vm.MemMiB, vm.CPUs
	if mem == 0 {
		mem = 1536
	}
	if cpus == 0 {
		cpus = 2
	}
	cmdline := "console=ttyS0 panic=-1 oops=panic quiet loglevel=3 edd=off rdinit=/init"
	if vm.Append != "" {
		cmdline += " " + vm.Append
	}
	return []string{
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		// qboot instead of SeaBIOS: faster, and it writes no banner and
		// no terminal escapes to the serial port.
		"-machine", "pc", "-bios", "qboot.rom", "-accel", "tcg,thread=multi", "-cpu", "max",
		"-smp", strconv.Itoa(cpus), "-m", strconv.Itoa(mem),
		"-kernel", vm.Kernel, "-initrd", vm.Initrd, "-append", cmdline,
		"-serial", "stdio", "-monitor", "none",
	}
}

// Run boots the VM, feeds its console to con line by line and waits for
// qemu to exit (the guest powers off) or the timeout, when qemu is
// killed. The error is about running qemu; what the guest reported is in
// the Outcome.
func (vm *VM) Run(ctx context.Context, con *Console) (*Outcome, error) {
	if vm.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, vm.Timeout)
		defer cancel()
	}
	qemu := vm.QEMU
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	cmd := exec.CommandContext(ctx, qemu, vm.Args()...)
	cmd.Stdin = nil // /dev/null: the guest gets no input, the host terminal stays as it is
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	o := &Outcome{Console: con}
	prev := con.OnReady
	con.OnReady = func() {
		o.Boot = time.Since(start)
		if prev != nil {
			prev()
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w (run `make kernellab-deps`)", qemu, err)
	}
	vm.Log.Debug("qemu started", "args", strings.Join(cmd.Args, " "))
	readErr := feed(out, con)
	werr := cmd.Wait()
	o.Wall = time.Since(start)
	if ctx.Err() != nil {
		o.TimedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
		if o.TimedOut {
			return o, fmt.Errorf("%w (%s)", ErrTimeout, vm.Timeout)
		}
		return o, ctx.Err()
	}
	if readErr != nil {
		return o, fmt.Errorf("reading the console: %w", readErr)
	}
	if werr != nil {
		return o, fmt.Errorf("qemu: %w", werr)
	}
	return o, nil
}

func feed(r io.Reader, con *Console) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			con.Line(strings.TrimSuffix(line, "\n"))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
