// Package vmtest holds the kernel lab's own end-to-end test: IPVS
// programmed with ipvsadm in a fresh network namespace, its `ipvsadm -Sn`
// compared with a golden file. It needs a kernel with ip_vs, which is why
// `make test-kernel` runs it inside the lab's VM (docs/kernellab.md).
package vmtest
