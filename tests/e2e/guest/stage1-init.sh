#!/bin/busybox sh
# The first kernel's /init: make known memory, arm the capture kernel, crash.
. /etc/kdlab-common.sh
. /etc/kdlab.env
mount_basics
say "stage=first release=$(uname -r)"
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
*) fail "unknown crash kind $CRASH" ;;
esac
sleep 10
fail "the crash did not happen"
