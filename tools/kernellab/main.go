// Command kernellab runs privileged Go tests, or one command, inside a
// throwaway qemu VM (TCG: no KVM needed) that boots Debian's cloud kernel
// with the ip_vs modules, for hosts whose kernel has no IPVS. See
// docs/kernellab.md.
//
//	kernellab fetch [-refresh]
//	kernellab test [-run RE] [-bench RE] [-timeout D] [-v] [-update] PKG... [-- TESTARGS]
//	kernellab exec [-timeout D] [-file HOST:GUEST]... -- CMD ARGS...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/droverha/drover/tools/kernellab/lab"
)

// exitLab is the exit status when the lab itself failed (no qemu, no
// cache, the VM panicked or timed out) rather than what ran in it.
const exitLab = 125

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})).With("component", "kernellab")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, log))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  kernellab fetch [-refresh]        download the kernel and tools into the cache (apt-get download)
  kernellab test [flags] PKG... [-- TESTARGS]
                                    run the packages' tests in the VM
  kernellab exec [flags] -- CMD ARGS...
                                    run one command in the VM
Run "kernellab CMD -h" for a command's flags.
`)
}

func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		log.Error("finding the module root", "err", err)
		return exitLab
	}
	switch args[0] {
	case "fetch":
		return cmdFetch(ctx, root, args[1:], log)
	case "test":
		return cmdTest(ctx, root, args[1:], stdout, log)
	case "exec":
		return cmdExec(ctx, root, args[1:], stdout, log)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	}
	usage(os.Stderr)
	return 2
}

// common are the flags of test and exec.
type common struct {
	cache   string
	qemu    string
	mem     int
	cpus    int
	timeout time.Duration
	keep    bool
	appendK string
	modules multi
	files   multi
	env     multi
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func (c *common) register(fs *flag.FlagSet, root string, timeout time.Duration) {
	fs.StringVar(&c.cache, "cache", filepath.Join(root, ".cache", "kernellab"), "lab cache `dir` (make kernellab-deps fills it)")
	fs.StringVar(&c.qemu, "qemu", "qemu-system-x86_64", "qemu `binary`")
	fs.IntVar(&c.mem, "mem", 1536, "guest memory in `MiB`")
	fs.IntVar(&c.cpus, "smp", 2, "guest `CPUs`")
	fs.DurationVar(&c.timeout, "timeout", timeout, "time limit")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (initramfs, binaries)")
	fs.StringVar(&c.appendK, "append", "", "extra kernel command line")
	fs.Var(&c.modules, "module", "one more kernel `module` to load (repeatable)")
	fs.Var(&c.files, "file", "copy host file or directory into the guest, `HOST:GUEST` (repeatable)")
	fs.Var(&c.env, "env", "`KEY=VALUE` in the guest command's environment (repeatable)")
}

func (c *common) check() error {
	for _, kv := range c.env {
		if err := lab.CheckEnv(kv); err != nil {
			return fmt.Errorf("-env %w", err)
		}
	}
	return nil
}

func cmdFetch(ctx context.Context, root string, args []string, log *slog.Logger) int {
	fs := flag.NewFlagSet("kernellab fetch", flag.ContinueOnError)
	cache := fs.String("cache", filepath.Join(root, ".cache", "kernellab"), "lab cache `dir`")
	refresh := fs.Bool("refresh", false, "download again even when the cache is there")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := &lab.Cache{Dir: *cache, Log: log}
	if err := c.Fetch(ctx, *refresh); err != nil {
		log.Error("fetching", "err", err)
		return exitLab
	}
	return 0
}

func cmdTest(ctx context.Context, root string, args []string, stdout io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("kernellab test", flag.ContinueOnError)
	var c common
	c.register(fs, root, 10*time.Minute)
	var o lab.TestOptions
	fs.StringVar(&o.Run, "run", "", "run only tests matching `regexp`")
	fs.StringVar(&o.Bench, "bench", "", "run benchmarks matching `regexp`")
	fs.BoolVar(&o.Verbose, "v", false, "verbose test output")
	fs.BoolVar(&o.Update, "update", false, "pass -update and write the refreshed testdata back to the host")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kernellab test [flags] PKG... [-- TESTARGS]\n\n-timeout is each test binary's -test.timeout; the VM gets that per package plus a minute.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := c.check(); err != nil {
		log.Error("bad flag", "err", err)
		return 2
	}
	pkgs, extra := splitDashes(fs.Args())
	if len(pkgs) == 0 {
		fs.Usage()
		return 2
	}
	o.Timeout, o.Args, o.Env = c.timeout, extra, c.env

	work, cleanup, err := workDir(c.keep, log)
	if err != nil {
		log.Error("work directory", "err", err)
		return exitLab
	}
	defer cleanup()
	listed, err := listPackages(ctx, root, pkgs)
	if err != nil {
		log.Error("listing packages", "err", err)
		return exitLab
	}
	var bins []lab.TestBinary
	var files []lab.HostFile
	var dirs []string
	for _, p := range listed {
		if !p.hasTests {
			log.Info("no test files", "pkg", p.importPath)
			continue
		}
		i := len(bins)
		out := filepath.Join(work, strconv.Itoa(i)+".test")
		start := time.Now()
		if err := buildTest(ctx, root, p.importPath, out); err != nil {
			log.Error("building the test binary", "pkg", p.importPath, "err", err)
			return 1
		}
		log.Debug("built", "pkg", p.importPath, "took", time.Since(start))
		t := lab.TestBinary{ImportPath: p.importPath, Rel: p.rel, Guest: fmt.Sprintf("/kernellab/bin/%d.test", i)}
		files = append(files, lab.HostFile{Host: out, Guest: t.Guest})
		if st, err := os.Stat(filepath.Join(p.dir, "testdata")); err == nil && st.IsDir() {
			t.HasData = true
			files = append(files, lab.HostFile{Host: filepath.Join(p.dir, "testdata"), Guest: lab.GuestSrc + "/" + p.rel + "/testdata"})
		}
		bins = append(bins, t)
		dirs = append(dirs, p.dir)
	}
	if len(bins) == 0 {
		log.Error("no test binaries to run")
		return 1
	}
	more, err := parseFiles(c.files)
	if err != nil {
		log.Error("bad -file", "err", err)
		return 2
	}
	files = append(files, more...)
	vmTimeout := time.Duration(len(bins))*c.timeout + time.Minute
	o2, code := boot(ctx, c, work, lab.TestScript(bins, o), files, vmTimeout, stdout, log)
	if o2 == nil {
		return code
	}
	con := o2.Console
	failed := code != 0
	for i, t := range bins {
		status, ok := con.Results[i]
		switch {
		case !ok:
			fmt.Fprintf(stdout, "kernellab: FAIL %s (no result: the VM stopped first)\n", t.ImportPath)
			failed = true
		case status != 0:
			fmt.Fprintf(stdout, "kernellab: FAIL %s (exit status %d)\n", t.ImportPath, status)
			failed = true
		default:
			fmt.Fprintf(stdout, "kernellab: ok   %s\n", t.ImportPath)
		}
		if o.Update && t.HasData {
			data, ok := con.Archives[i]
			if !ok {
				log.Error("no testdata came back", "pkg", t.ImportPath)
				failed = true
				continue
			}
			changed, err := lab.ApplyTestdata(data, dirs[i])
			if err != nil {
				log.Error("writing testdata back", "pkg", t.ImportPath, "err", err)
				failed = true
			}
			for _, f := range changed {
				fmt.Fprintf(stdout, "kernellab: updated %s\n", filepath.ToSlash(filepath.Join(t.Rel, f)))
			}
		}
	}
	if failed {
		return 1
	}
	return 0
}

func cmdExec(ctx context.Context, root string, args []string, stdout io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("kernellab exec", flag.ContinueOnError)
	var c common
	c.register(fs, root, 10*time.Minute)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kernellab exec [flags] -- CMD ARGS...\n\nThe exit status is CMD's, or 125 when the lab failed.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := c.check(); err != nil {
		log.Error("bad flag", "err", err)
		return 2
	}
	argv := fs.Args()
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		fs.Usage()
		return 2
	}
	files, err := parseFiles(c.files)
	if err != nil {
		log.Error("bad -file", "err", err)
		return 2
	}
	work, cleanup, err := workDir(c.keep, log)
	if err != nil {
		log.Error("work directory", "err", err)
		return exitLab
	}
	defer cleanup()
	o, code := boot(ctx, c, work, lab.ExecScript(argv, c.env), files, c.timeout, stdout, log)
	if o == nil || code != 0 {
		return code
	}
	status, ok := o.Console.Results[0]
	if !ok {
		log.Error("the command reported no exit status")
		return exitLab
	}
	return status
}

// boot builds the image and runs the VM. A nil Outcome means the lab
// could not start; the code is then the exit status. A non-zero code with
// an Outcome means the VM failed (panic, timeout) after starting.
func boot(ctx context.Context, c common, work, script string, files []lab.HostFile, timeout time.Duration, stdout io.Writer, log *slog.Logger) (*lab.Outcome, int) {
	cache := &lab.Cache{Dir: c.cache, Log: log}
	if !cache.Ready() {
		log.Error("the lab cache is empty: run `make kernellab-deps`", "dir", c.cache)
		return nil, exitLab
	}
	if _, err := exec.LookPath(c.qemu); err != nil {
		log.Error("no qemu: run `make kernellab-deps`", "err", err)
		return nil, exitLab
	}
	k, err := lab.FindKernel(cache.Root())
	if err != nil {
		log.Error("kernel", "err", err)
		return nil, exitLab
	}
	mods, err := lab.ResolveModules(k.ModuleDir, append(append([]string{}, lab.IPVSModules...), c.modules...), lab.OptionalModules)
	if err != nil {
		log.Error("kernel modules", "err", err)
		return nil, exitLab
	}
	if len(mods.Missing) > 0 {
		log.Debug("optional modules the kernel lacks", "modules", strings.Join(mods.Missing, " "))
	}
	nonce := lab.NewNonce()
	initrd := filepath.Join(work, "initrd.cpio")
	start := time.Now()
	if err := writeImage(initrd, lab.ImageSpec{
		Root: cache.Root(), Kernel: k, Modules: mods, Nonce: nonce, Run: script,
		Files: files,
	}); err != nil {
		log.Error("building the initramfs", "err", err)
		return nil, exitLab
	}
	if st, err := os.Stat(initrd); err == nil {
		log.Info("initramfs built", "kernel", k.Version, "modules", len(mods.Modules), "MiB", st.Size()>>20, "took", time.Since(start).Round(time.Millisecond))
	}
	vm := &lab.VM{QEMU: c.qemu, Kernel: k.Image, Initrd: initrd, MemMiB: c.mem, CPUs: c.cpus, Append: c.appendK, Timeout: timeout, Log: log}
	con := lab.NewConsole(nonce, stdout)
	con.OnReady = func() {
		log.Info("VM ready", "kernel_s", con.Init, "modules_s", fmt.Sprintf("%.2f", con.Ready-con.Init))
	}
	o, err := vm.Run(ctx, con)
	code := 0
	if err != nil {
		log.Error("VM", "err", err)
		if o == nil {
			return nil, exitLab
		}
		code = exitLab
	}
	log.Info("VM finished", "boot", o.Boot.Round(time.Millisecond), "wall", o.Wall.Round(time.Millisecond))
	for _, m := range con.ModFail {
		log.Error("module did not load", "module", m)
		code = exitLab
	}
	for _, e := range con.Errors {
		log.Error("console", "err", e)
		code = exitLab
	}
	if con.Panic != "" {
		log.Error("the guest kernel panicked", "panic", con.Panic)
		code = exitLab
	} else if !con.Done && code == 0 {
		log.Error("the guest stopped before its run finished")
		code = exitLab
	}
	return o, code
}

func writeImage(path string, spec lab.ImageSpec) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := lab.BuildImage(f, spec); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func workDir(keep bool, log *slog.Logger) (string, func(), error) {
	dir, err := os.MkdirTemp("", "kernellab-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() {
		if keep {
			log.Info("kept the work directory", "dir", dir)
			return
		}
		os.RemoveAll(dir)
	}, nil
}

func splitDashes(args []string) (before, after []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

func parseFiles(specs []string) ([]lab.HostFile, error) {
	var files []lab.HostFile
	for _, s := range specs {
		host, guest, ok := strings.Cut(s, ":")
		if !ok || host == "" || !strings.HasPrefix(guest, "/") {
			return nil, fmt.Errorf("%q: want HOST:GUEST with an absolute GUEST path", s)
		}
		if _, err := os.Stat(host); err != nil {
			return nil, err
		}
		files = append(files, lab.HostFile{Host: host, Guest: guest})
	}
	return files, nil
}

type pkg struct {
	importPath, dir, rel string
	hasTests             bool
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

func listPackages(ctx context.Context, root string, patterns []string) ([]pkg, error) {
	args := append([]string{"list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{len .TestGoFiles}}\t{{len .XTestGoFiles}}"}, patterns...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			continue
		}
		rel, err := filepath.Rel(root, f[1])
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("%s is outside the module at %s", f[0], root)
		}
		pkgs = append(pkgs, pkg{importPath: f[0], dir: f[1], rel: filepath.ToSlash(rel), hasTests: f[2] != "0" || f[3] != "0"})
	}
	return pkgs, nil
}

// buildTest compiles a static test binary for the guest.
func buildTest(ctx context.Context, root, importPath, out string) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", out, importPath)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test -c %s: %w", importPath, err)
	}
	if _, err := os.Stat(out); err != nil {
		return fmt.Errorf("go test -c %s wrote no binary: %w", importPath, err)
	}
	return nil
}
