#!/bin/busybox sh
# The capture kernel's /init: save /proc/vmcore the way the run asked, power off.
. /etc/kdlab-common.sh
. /etc/kdlab.env
mount_basics
say "stage=capture release=$(uname -r)"
[ -e /proc/vmcore ] || fail "no /proc/vmcore: this is not a capture kernel"
say "vmcore_size=$(stat -c %s /proc/vmcore)"
load_modules
if [ "$NET" = 1 ]; then
        # As a capture initrd does it: DHCP (slirp's server hands out 10.0.2.15).
        ip link set lo up
        ip link set eth0 up || fail "no eth0"
        udhcpc -i eth0 -s /etc/udhcpc.script -n -q -t 10 -T 1 >/run/udhcpc.log 2>&1 ||
                fail "udhcpc: no lease on eth0: $(tail -n 1 /run/udhcpc.log)"
fi
export HOST_IP=10.0.2.2
case "$MODE" in
raw)
        dev=$(wait_disk kdlab-vmcore)
        dd if=/proc/vmcore of="$dev" bs=4M conv=fsync 2>/run/dd.log
        rc=$?
        cat /run/dd.log
        ;;
program)
        if [ "$TARGET_DISK" = 1 ]; then
                TARGET_DISK=$(wait_disk kdlab-target)
                export TARGET_DISK
        fi
        cd /run
        sh -c "$CAPTURE_CMD"
        rc=$?
        ;;
*)
        fail "unknown capture mode $MODE"
        ;;
esac
say "capture_rc=$rc"
sync
poweroff -f
