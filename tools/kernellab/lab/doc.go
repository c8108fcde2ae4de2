// Package lab builds and boots the kernel lab: a throwaway qemu VM (TCG, no
// KVM needed) running Debian's cloud kernel with the ip_vs modules, busybox,
// iproute2, ipvsadm and the programs under test in an initramfs.
//
// The pieces are small and tested on their own: a newc cpio writer
// ([Writer], the format of the kernel's initramfs-rootfs), module dependency
// resolution from each module's .modinfo section ([ResolveModules]; Debian's
// kernel package ships no modules.dep), ELF shared-library resolution
// ([ResolveLibs]), the image assembly ([BuildImage]), the qemu runner
// ([Run]) and the parser of the serial console ([Console]), on which the
// guest reports each program's exit status between marker lines.
package lab
