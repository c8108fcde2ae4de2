#!/bin/sh
# /init of the kernel lab VM (tools/kernellab). It mounts the pseudo file
# systems, loads the modules in dependency order, runs /kernellab/run.sh and
# powers off. Everything the host needs to know comes back as marker lines
# on the serial console: "@@kernellab NONCE KIND ARGS...".
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp TERM=dumb
/usr/bin/busybox mount -t proc proc /proc
/usr/bin/busybox --install -s
M="@@kernellab $(cat /kernellab/nonce)"
mark() { echo "$M $*"; }
mark init "$(cut -d' ' -f1 /proc/uptime)"
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /run/netns /run/lock
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
# The rootfs is shared so that "ip netns add" bind mounts propagate.
mount --make-rshared / 2>/dev/null
hostname kernellab
ip link set lo up
while read -r ko; do
	insmod "$ko" || mark modfail "$ko"
done < /kernellab/modules
echo /usr/sbin/modprobe > /proc/sys/kernel/modprobe
mark ready "$(cut -d' ' -f1 /proc/uptime)"
cd /
sh /kernellab/run.sh
mark done "$?"
# The console is an emulated UART: give the last lines time to leave
# before the machine goes away.
sync
sleep 0.2
poweroff -f
