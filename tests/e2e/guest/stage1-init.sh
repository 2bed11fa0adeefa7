#!/bin/busybox sh
# The first kernel's /init: make known memory, arm the capture kernel, crash.
. /etc/kdlab-common.sh
. /etc/kdlab.env
mount_basics
say "stage=first release=$(uname -r)"
hostname "$HOSTNAME_LAB" || fail "hostname $HOSTNAME_LAB"
load_modules
mkdir -p /mnt/tmpfs /mnt/data
mount -t tmpfs -o size=90% tmpfs /mnt/tmpfs || fail "mount tmpfs"
FILE_ARG=
if [ "$DATA_DISK" = 1 ]; then
        dev=$(wait_disk kdlab-data)
        mount -t ext4 -o ro "$dev" /mnt/data || fail "mount data disk $dev"
        FILE_ARG="--file-cache /mnt/data/kdlab-file.dat"
fi
/sbin/kexec -p /boot/vmlinuz --initrd=/boot/capture.img --append="$CAPTURE_CMDLINE" || fail "kexec -p failed"
[ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ] || fail "kexec -p returned but no capture kernel is loaded"
say "kexec-loaded"
/workload --anon-mb "$ANON_MB" --zero-mb "$ZERO_MB" --tmpfs-mb "$TMPFS_MB" --tmpfs-dir /mnt/tmpfs $FILE_ARG ||
        fail "workload failed"
say "crashing how=$CRASH"
case "$CRASH" in
sysrq) sh -c 'echo c > /proc/sysrq-trigger' ;;
kill-init)
        # This script is PID 1: its exit panics "Attempted to kill init!".
        exit 0
        ;;
oom)
        echo 1 > /proc/sys/vm/panic_on_oom || fail "vm.panic_on_oom"
        /workload --eat-memory
        ;;
nmi)
        # The host sends an NMI from the QEMU monitor when it sees this line;
        # no handler claims it, so unknown_nmi_panic panics.
        echo 1 > /proc/sys/kernel/unknown_nmi_panic || fail "kernel.unknown_nmi_panic"
        say "nmi-please"
        sleep 60
        ;;
*) fail "unknown crash kind $CRASH" ;;
esac
sleep 10
fail "the crash did not happen"
