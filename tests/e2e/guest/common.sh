# Shared by both guest /init scripts. Sourced by busybox sh.
say() { echo "KDLAB: $*"; }
fail() {
        echo "KDLAB-FAIL: $*"
        sync
        poweroff -f
}
mount_basics() {
        /bin/busybox --install -s
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev
}
load_modules() {
        [ -f /lib/modules-lab/order ] || return 0
        while read -r m; do
                insmod "/lib/modules-lab/$m.ko" || fail "insmod $m failed"
        done < /lib/modules-lab/order
}
# Disks are found by their virtio serial, never by probe order.
find_disk() {
        for d in /sys/block/vd*; do
                if [ "$(cat "$d/serial" 2>/dev/null)" = "$1" ]; then
                        echo "/dev/${d##*/}"
                        return 0
                fi
        done
        return 1
}
wait_disk() {
        i=0
        while ! find_disk "$1" >/dev/null; do
                i=$((i + 1))
                [ $i -gt 50 ] && fail "no disk with serial $1"
                sleep 0.1
        done
        find_disk "$1"
}
