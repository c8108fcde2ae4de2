package lab

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeKO returns a minimal ELF64 relocatable object whose .modinfo holds
// the given key=value strings, which is all ResolveModules reads.
func fakeKO(t *testing.T, modinfo ...string) []byte {
	t.Helper()
	info := []byte(strings.Join(modinfo, "\x00") + "\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	infoOff := uint64(64)
	strOff := infoOff + uint64(len(info))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7
	var buf bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shOff, Ehsize: 64, Shentsize: 64, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	binary.Write(&buf, binary.LittleEndian, hdr)
	buf.Write(info)
	buf.Write(shstr)
	buf.Write(make([]byte, int(shOff)-buf.Len()))
	for _, sh := range []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC), Off: infoOff, Size: uint64(len(info)), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstr)), Addralign: 1},
	} {
		binary.Write(&buf, binary.LittleEndian, sh)
	}
	return buf.Bytes()
}

// moduleTree writes a lib/modules/VERSION-like tree: files maps a path
// relative to it to module contents, builtin lists modules.builtin.
func moduleTree(t *testing.T, files map[string][]byte, builtin ...string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, data := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(rel, ".gz") {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(data)
			zw.Close()
			data = z.Bytes()
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte(strings.Join(builtin, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func ipvsTree(t *testing.T) string {
	return moduleTree(t, map[string][]byte{
		"kernel/net/netfilter/ipvs/ip_vs.ko":          fakeKO(t, "name=ip_vs", "depends=nf_conntrack,libcrc32c,nf_defrag_ipv6"),
		"kernel/net/netfilter/ipvs/ip_vs_rr.ko.gz":    fakeKO(t, "name=ip_vs_rr", "depends=ip_vs", "alias=ip_vs_scheduler_rr"),
		"kernel/net/netfilter/nf_conntrack.ko":        fakeKO(t, "depends=nf_defrag_ipv4,nf_defrag_ipv6"),
		"kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko": fakeKO(t, "depends="),
		"kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko": fakeKO(t, "depends="),
		"kernel/lib/libcrc32c.ko":                     fakeKO(t, "softdep=pre: crc32c", "depends="),
		"kernel/drivers/net/veth.ko":                  fakeKO(t, "depends=", "alias=rtnl-link-veth"),
		"kernel/net/bridge/bridge.ko":                 fakeKO(t, "depends=stp,llc,ipv6"),
		"kernel/net/802/stp.ko":                       fakeKO(t, "depends=llc"),
		"kernel/net/llc/llc.ko":                       fakeKO(t, "depends="),
		"kernel/crypto/crc32c_intel.ko":               fakeKO(t, "depends=", "alias=crc32c"),
	}, "kernel/net/ipv6/ipv6.ko", "kernel/crypto/crc32c_generic.ko")
}

func names(mods []Module) []string {
	var n []string
	for _, m := range mods {
		n = append(n, m.Name)
	}
	return n
}

func TestResolveModules(t *testing.T) {
	dir := ipvsTree(t)
	set, err := ResolveModules(dir, []string{"ip_vs_rr", "bridge"}, []string{"ip_vs_twos", "ip-vs", "veth"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"nf_defrag_ipv4", "nf_defrag_ipv6", "nf_conntrack", "libcrc32c", "ip_vs", "ip_vs_rr", "llc", "stp", "bridge", "veth"}
	if diff := cmp.Diff(want, names(set.Modules)); diff != "" {
		t.Errorf("load order (-want +got):\n%s", diff)
	}
	var preload []string
	for _, m := range set.Modules {
		if m.Preload {
			preload = append(preload, m.Name)
		}
	}
	// ip_vs is optional too, but ip_vs_rr needs it: loaded at boot.
	wantPreload := []string{"nf_defrag_ipv4", "nf_defrag_ipv6", "nf_conntrack", "libcrc32c", "ip_vs", "ip_vs_rr", "llc", "stp", "bridge"}
	if diff := cmp.Diff(wantPreload, preload); diff != "" {
		t.Errorf("preloaded (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ip_vs_twos"}, set.Missing); diff != "" {
		t.Errorf("missing optional modules (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ipv6"}, set.Builtin); diff != "" {
		t.Errorf("built-in dependencies (-want +got):\n%s", diff)
	}
	for _, m := range set.Modules {
		if m.Name == "ip_vs_rr" {
			if m.Path != "kernel/net/netfilter/ipvs/ip_vs_rr.ko" {
				t.Errorf("ip_vs_rr path = %q, want the decompressed name", m.Path)
			}
			if _, err := elf.NewFile(bytes.NewReader(m.Data)); err != nil {
				t.Errorf("ip_vs_rr data is not the decompressed ELF: %v", err)
			}
		}
	}
}

func TestModulesDepAndAlias(t *testing.T) {
	set, err := ResolveModules(ipvsTree(t), []string{"ip_vs_rr", "veth"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// depmod's order: the dependency to load first comes last.
	wantDep := `kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko:
kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko:
kernel/net/netfilter/nf_conntrack.ko: kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko
kernel/lib/libcrc32c.ko:
kernel/net/netfilter/ipvs/ip_vs.ko: kernel/lib/libcrc32c.ko kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko
kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko kernel/lib/libcrc32c.ko kernel/net/netfilter/nf_conntrack.ko kernel/net/ipv6/netfilter/nf_defrag_ipv6.ko kernel/net/ipv4/netfilter/nf_defrag_ipv4.ko
kernel/drivers/net/veth.ko:
`
	if diff := cmp.Diff(wantDep, set.ModulesDep()); diff != "" {
		t.Errorf("modules.dep (-want +got):\n%s", diff)
	}
	wantAlias := "alias ip_vs_scheduler_rr ip_vs_rr\nalias rtnl-link-veth veth\n"
	if diff := cmp.Diff(wantAlias, set.ModulesAlias()); diff != "" {
		t.Errorf("modules.alias (-want +got):\n%s", diff)
	}
}

func TestResolveModulesErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string][]byte
		want  []string
		err   error
		text  string
	}{
		{
			name:  "required module missing",
			files: map[string][]byte{"kernel/veth.ko": fakeKO(t, "depends=")},
			want:  []string{"ip_vs"},
			err:   ErrNoModule,
			text:  "ip_vs",
		},
		{
			name:  "dependency missing",
			files: map[string][]byte{"kernel/ip_vs_rr.ko": fakeKO(t, "depends=ip_vs")},
			want:  []string{"ip_vs_rr"},
			err:   ErrNoModule,
			text:  "ip_vs (needed by ip_vs_rr)",
		},
		{
			name: "cycle",
			files: map[string][]byte{
				"kernel/a.ko": fakeKO(t, "depends=b"),
				"kernel/b.ko": fakeKO(t, "depends=a"),
			},
			want: []string{"a"},
			text: "cycle: a -> b -> a",
		},
		{
			name:  "not ELF",
			files: map[string][]byte{"kernel/a.ko": []byte("not a module")},
			want:  []string{"a"},
			text:  "reading kernel/a.ko",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ResolveModules(moduleTree(t, tt.files), tt.want, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("error %v is not %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
}

func TestModName(t *testing.T) {
	for in, want := range map[string]string{
		"ip_vs":                        "ip_vs",
		"ip-vs":                        "ip_vs",
		"kernel/net/ip_vs_rr.ko":       "ip_vs_rr",
		"nf_conntrack.ko.xz":           "nf_conntrack",
		"kernel/x/crc32c-intel.ko.zst": "crc32c_intel",
	} {
		if got := ModName(in); got != want {
			t.Errorf("ModName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseModinfo(t *testing.T) {
	got := parseModinfo([]byte("alias=a\x00depends=x,y\x00\x00garbage\x00alias=b\x00=novalue\x00"))
	want := map[string][]string{"alias": {"a", "b"}, "depends": {"x,y"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("modinfo (-want +got):\n%s", diff)
	}
}

func TestStripSignature(t *testing.T) {
	ko := fakeKO(t, "depends=")
	sig := bytes.Repeat([]byte{0xAB}, 300)
	// struct module_signature for PKCS#7: id_type 2, sig_len big endian.
	ms := []byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x2c}
	signed := append(append(append(append([]byte{}, ko...), sig...), ms...), sigMagic...)
	if got := StripSignature(signed); !bytes.Equal(got, ko) {
		t.Errorf("stripped module has %d bytes, want the %d of the unsigned one", len(got), len(ko))
	}
	if got := StripSignature(ko); !bytes.Equal(got, ko) {
		t.Error("an unsigned module was changed")
	}
	// A length that points before the start is left alone.
	bogus := append(append([]byte{}, []byte{0, 0, 2, 0, 0, 0, 0, 0, 0x7f, 0, 0, 0}...), sigMagic...)
	if got := StripSignature(bogus); !bytes.Equal(got, bogus) {
		t.Error("a bogus signature length cut the module")
	}
}
