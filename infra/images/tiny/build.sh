#!/usr/bin/env bash
# Builds the "tiny" guest image: the Debian kernel and static busybox, an
# initramfs that mounts an ext4 root on virtio-blk, and that root as qcow2.
#
#   infra/images/tiny/build.sh OUTDIR
#
# Needs only Debian's apt repositories (apt-get download), dpkg-deb, cpio,
# gzip, e2fsprogs and qemu-img. Runs as root or as a normal user. OUTDIR
# appears all at once, with vmlinuz, initrd.img, rootfs.qcow2 and
# manifest.json, or not at all.
set -euo pipefail

readonly IMAGE_NAME=tiny
readonly ROOTFS_SIZE_MIB=64
readonly DEFAULT_HOSTNAME=tiny
# The engine boots with exactly this and appends labvisor.hostname=NAME (and systemd.hostname=NAME).
# Only the serial line is a kernel console: echoing to the VGA text screen as
# well costs about half a second under TCG, and tty1 gets its shell anyway.
# The rest skips work that only slows a TCG boot: clocksource checks, the PS/2
# mouse and spare UART probes, mitigation patching, crypto self-tests and
# zeroing every allocated page.
readonly CMDLINE="console=ttyS0 root=/dev/vda rw quiet loglevel=3 tsc=reliable no_timer_check i8042.noaux 8250.nr_uarts=2 mitigations=off nowatchdog cryptomgr.notests init_on_alloc=0"
# Loaded by the initramfs in this order, each after its dependencies: the root
# disk, its filesystem (ext4 asks for a crc32c driver by softdep only), the
# network, the ACPI power button with the evdev node acpid reads, and the PS/2
# keyboard for the VGA console (built in on Debian's kernel).
readonly MODULES="virtio_pci virtio_blk crc32c_generic ext4 virtio_net button evdev i8042 atkbd"
# DRM drivers for the VGA screen, by PCI vendor:device. A PVH or qboot boot
# leaves no firmware text mode behind, so tty1 is drawn by fbcon on one of
# these; the root filesystem loads the matching one after the shells start.
readonly DISPLAY_DRIVERS="0x1234:0x1111=bochs 0x1af4:0x1050=virtio_gpu"

die() { echo "build.sh ($IMAGE_NAME): $*" >&2; exit 1; }
log() { echo "build.sh ($IMAGE_NAME): $*" >&2; }
source "$(dirname "${BASH_SOURCE[0]}")/../lib/direct-boot.sh"

[[ $# -eq 1 && -n $1 ]] || die "usage: build.sh OUTDIR"
outdir=$1
export PATH="$PATH:/usr/sbin:/sbin"
export LC_ALL=C

for tool in apt-cache apt-get dpkg-deb cpio gzip xz mkfs.ext4 debugfs qemu-img sha256sum; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/labvisor-$IMAGE_NAME.XXXXXX")
stage=""
cleanup() { rm -rf "$work"; [[ -z $stage ]] || rm -rf "$stage"; }
trap cleanup EXIT

# --- Packages ---------------------------------------------------------------

kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
  awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }') || true
[[ -n $kernel_pkg ]] ||
  die "apt knows no linux-image-amd64 package; run 'apt-get update' (as root) and try again"

log "downloading $kernel_pkg and busybox-static"
mkdir -p "$work/debs"
apt_opts=()
# apt's download sandbox user cannot enter our private temp dir.
[[ $(id -u) -ne 0 ]] || apt_opts=(-o APT::Sandbox::User=root)
(cd "$work/debs" && apt-get "${apt_opts[@]}" -q download "$kernel_pkg" busybox-static >/dev/null) ||
  die "apt-get download $kernel_pkg busybox-static failed; run 'apt-get update' (as root) and check the Debian mirror is reachable"

kernel_deb=$(echo "$work"/debs/linux-image-*.deb)
busybox_deb=$(echo "$work"/debs/busybox-static_*.deb)
kernel_pkg_version=$(dpkg-deb -f "$kernel_deb" Version)
busybox_pkg_version=$(dpkg-deb -f "$busybox_deb" Version)

log "extracting packages"
dpkg-deb -x "$kernel_deb" "$work/kernel"
dpkg-deb -x "$busybox_deb" "$work/busybox"
busybox="$work/busybox/bin/busybox"
[[ -x $busybox ]] || die "busybox-static has no bin/busybox"

# The shell's line editor asks the terminal for the cursor position (ESC [6n)
# right after every prompt. Console readers then see the prompt end in an
# escape instead of "# ", and a late answer from a replayed scrollback lands as
# input in whatever runs next. The query string is the tail of vi's
# "ESC[999;999H ESC[6n"; cutting it there leaves vi its cursor move and makes
# both fall back to the tty's own size.
query=$'\x1b[999;999H\x1b[6n'
query_at=$(grep -boaF "$query" "$busybox" | cut -d : -f 1) || true
if [[ $query_at =~ ^[0-9]+$ ]]; then
  printf '\0' | dd of="$busybox" bs=1 seek=$((query_at + 10)) conv=notrunc status=none
else
  log "warning: busybox's cursor-position query not found; prompts will be followed by ESC[6n"
fi

kernel_version=$(cd "$work/kernel/lib/modules" && ls)
[[ $kernel_version =~ ^[0-9][^[:space:]]*$ ]] || die "expected one kernel in $kernel_pkg, found: $kernel_version"
vmlinuz="$work/kernel/boot/vmlinuz-$kernel_version"
moddir="$work/kernel/lib/modules/$kernel_version"
[[ -f $vmlinuz ]] || die "no $vmlinuz in $kernel_pkg"

# --- Kernel and initramfs -------------------------------------------------------

index_modules "$moddir"
mkdir -p "$work/out"
log "packing initramfs"
pack_initramfs "$busybox" "$work/out/initrd.img" $MODULES
boot_modules=("${module_order[@]}")

# Each display driver gets its own list of what the initramfs has not loaded.
declare -A display_modules=()
boot_seen=$(declare -p module_seen)
for entry in $DISPLAY_DRIVERS; do
  eval "${boot_seen/declare -A/declare -gA}"
  module_order=()
  add_module "${entry#*=}"
  display_modules[${entry#*=}]="${module_order[*]}"
  log "display modules for ${entry%%=*}: ${module_order[*]}"
done

unpack_pvh_kernel "$vmlinuz" "$work/kernel/boot/config-$kernel_version" "$work/out/vmlinuz"

# --- Root filesystem -------------------------------------------------------------

rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,root,mnt,var/log,etc/init.d}
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list-full); do
  [[ $applet != bin/busybox && ! -e $rootfs/$applet ]] || continue
  ln -s /bin/busybox "$rootfs/$applet"
done
ln -s ../run "$rootfs/var/run"
chmod 1777 "$rootfs/tmp"
chmod 700 "$rootfs/root"

mkdir -p "$rootfs/lib/modules/display"
for entry in $DISPLAY_DRIVERS; do
  driver=${entry#*=}
  for name in ${display_modules[$driver]}; do
    cp "${module_path[$name]}" "$rootfs/lib/modules/display/$name.ko"
    strip_module_signature "$rootfs/lib/modules/display/$name.ko"
    echo "$name" >>"$rootfs/lib/modules/display/$driver.order"
  done
  echo "${entry%%=*} $driver" >>"$rootfs/lib/modules/display/pci-ids"
done
cat >"$rootfs/etc/init.d/display" <<'EOF'
#!/bin/sh
# Loads the DRM driver of the VGA device so that fbcon draws tty1 on it.
# Started by rcS in the background, at low priority, once the shells are up.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
renice -n 19 -p $$ >/dev/null
for dev in /sys/bus/pci/devices/*; do
  read -r vendor <"$dev/vendor" && read -r device <"$dev/device" || continue
  while read -r id driver; do
    [ "$id" = "$vendor:$device" ] || continue
    while read -r module; do
      insmod "/lib/modules/display/$module.ko"
    done <"/lib/modules/display/$driver.order"
  done </lib/modules/display/pci-ids
done
EOF

cat >"$rootfs/etc/init.d/agent" <<'EOF'
#!/bin/sh
# The Labvisor guest agent on the second serial port (ttyS1): one request a line, one answer a
# line, each carrying the request's id (the contract: infra/images/README.md).
#   ping ID                  -> pong ID
#   identity ID BASE64-JSON  -> ok ID | error ID SENTENCE
#   read ID BASE64-PATH      -> data ID BASE64-BYTES | error ID SENTENCE
#   write ID BASE64-PATH BASE64-BYTES -> ok ID | error ID SENTENCE
# A path is absolute, or starts with ~/ (root's home here); files are at most 1 MiB.
# A clone of a booted template gets its own identity this way: hostname, clock, random seed, and
# on a guest network its lease's MAC address (then it asks DHCP again).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
port=/dev/ttyS1
[ -c "$port" ] || exit 0
exec <>"$port" >&0 2>/dev/null
stty raw -echo
# A field of the identity JSON (the engine writes it compactly; strings hold no quotes).
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
number() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p"; }
# The path a request names (base64), made absolute; empty when it is not one.
path_of() {
  p=$(echo "$1" | base64 -d 2>/dev/null) || return
  case $p in '~/'*) p=/root/${p#\~/} ;; esac
  case $p in /*) echo "$p" ;; esac
}
while read -r command id payload; do
  case $command in
    ping) echo "pong $id" ;;
    identity)
      json=$(echo "$payload" | base64 -d) || { echo "error $id the identity is not base64"; continue; }
      host=$(echo "$json" | field hostname)
      case $host in '' | *[!A-Za-z0-9.-]* | -* | .*) echo "error $id invalid hostname"; continue ;; esac
      echo "$host" >/proc/sys/kernel/hostname
      printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$host" >/run/hosts
      seconds=$(echo "$json" | number time)
      [ -z "$seconds" ] || date -s "@$seconds" >/dev/null
      echo "$json" | field seed | base64 -d >/dev/urandom
      mac=$(echo "$json" | field mac)
      if [ -n "$mac" ]; then
        case $mac in *[!0-9a-f:]*) echo "error $id invalid mac"; continue ;; esac
        killall -q udhcpc
        ip link set eth0 down && ip link set eth0 address "$mac" && ip addr flush dev eth0 &&
          ip link set eth0 up || { echo "error $id the NIC refused its MAC address"; continue; }
        udhcpc -b -i eth0 -x "hostname:$host" -s /usr/share/udhcpc/default.script \
          </dev/null >/dev/null 2>&1 &
      fi
      echo "ok $id"
      ;;
    read)
      path=$(path_of "$payload")
      [ -n "$path" ] || { echo "error $id the path must be absolute or start with ~/"; continue; }
      [ -f "$path" ] || { echo "error $id there is no file $path"; continue; }
      [ "$(wc -c <"$path")" -le 1048576 ] || { echo "error $id $path is larger than 1 MiB"; continue; }
      echo "data $id $(base64 "$path" | tr -d '\n')"
      ;;
    write)
      set -f
      set -- $payload
      set +f
      path=$(path_of "$1")
      [ -n "$path" ] || { echo "error $id the path must be absolute or start with ~/"; continue; }
      mkdir -p "$(dirname "$path")" && echo "${2:-}" | base64 -d >"$path.labvisor-part" &&
        mv "$path.labvisor-part" "$path" || { rm -f "$path.labvisor-part"; echo "error $id cannot write $path"; continue; }
      echo "ok $id"
      ;;
    *) echo "error $id unknown request" ;;
  esac
done
EOF

cat >"$rootfs/etc/inittab" <<'EOF'
# busybox init: one root shell on the serial line and one on the VGA screen.
::sysinit:/etc/init.d/rcS
ttyS0::respawn:-/bin/sh
tty1::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/init.d/rcK
EOF

cat >"$rootfs/etc/init.d/rcS" <<EOF
#!/bin/sh
# Boot: kernel filesystems, hostname from labvisor.hostname=, network in the
# background, acpid for the ACPI power button. Quiet, and with as few programs
# as possible: every exec is slow under TCG.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

# The initramfs hands over /proc, /sys and /dev already mounted.
[ -e /proc/self ] || mount -t proc proc /proc
[ -e /sys/kernel ] || mount -t sysfs sysfs /sys
[ -c /dev/null ] || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp

# The owner's home disk (the virtio disk whose serial is labvisor-home), if the VM has one: it is
# root's home, kept across resets of the lab.
for serial in /sys/block/vd*/serial; do
  [ -r "\$serial" ] || continue
  read -r name <"\$serial"
  [ "\$name" = labvisor-home ] || continue
  disk=\${serial%/serial}
  mount -t ext4 -o noatime "/dev/\${disk##*/}" /root || echo "labvisor: the home disk did not mount" >/dev/console
done

host=$DEFAULT_HOSTNAME
read -r cmdline </proc/cmdline
set -f
for arg in \$cmdline; do
  case \$arg in labvisor.hostname=?*) host=\${arg#labvisor.hostname=} ;; esac
done
set +f
# Only what a hostname may hold; anything else falls back to the default.
case \$host in *[!A-Za-z0-9.-]* | -* | .*) host=$DEFAULT_HOSTNAME ;; esac
[ \${#host} -le 63 ] || host=$DEFAULT_HOSTNAME
echo "\$host" >/proc/sys/kernel/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "\$host" >/run/hosts

ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
  udhcpc -b -i eth0 -x "hostname:\$host" -s /usr/share/udhcpc/default.script >/dev/null 2>&1 &
fi
acpid -l /run/acpid.log
/etc/init.d/display </dev/null >/dev/null 2>&1 &
/etc/init.d/agent </dev/null >/dev/null 2>&1 &
EOF

cat >"$rootfs/etc/init.d/rcK" <<'EOF'
#!/bin/sh
# Halt, reboot or poweroff, before init kills everything: stop the daemons and
# leave the root filesystem clean so that what was written survives.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
killall -q udhcpc acpid
sync
umount /root 2>/dev/null
mount -o remount,ro / 2>/dev/null
sync
EOF

mkdir -p "$rootfs/etc/acpi/PWRF" "$rootfs/usr/share/udhcpc"
# busybox acpid runs /etc/acpi/<action>/<parameter> on "button/power PWRF 00000080".
cat >"$rootfs/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
# ACPI power button (QMP system_powerdown): a graceful poweroff in about half
# a second. busybox init's own path (what "poweroff" does) sleeps two fixed
# seconds on the way. Stop init respawning shells, ask every process to quit,
# then flush, leave the root read-only and power off.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
kill -TSTP 1
kill -TERM -1
usleep 300000
kill -KILL -1
sync
umount /root 2>/dev/null
mount -o remount,ro /
sync
exec poweroff -f
EOF

cat >"$rootfs/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# udhcpc hook: apply the lease to the interface, default route and resolver.
case $1 in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound | renew)
    ip -4 addr flush dev "$interface"
    ip -4 addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
    for gw in $router; do ip -4 route replace default via "$gw" dev "$interface"; break; done
    {
      [ -z "$domain" ] || echo "search $domain"
      for ns in $dns; do echo "nameserver $ns"; done
    } >/run/resolv.conf
    ;;
esac
exit 0
EOF

cat >"$rootfs/etc/profile" <<'EOF'
# Login shells (the consoles' root shells) start here.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/root
# Static busybox cannot look users up for \u, and root is the only user.
export USER=${USER:-root} LOGNAME=${USER:-root}
export PS1="$USER"'@\h:\w\$ '
export TERM=${TERM:-linux}
[ "$TERM" != dumb ] || export TERM=linux
umask 022
EOF

cat >"$rootfs/etc/passwd" <<'EOF'
root::0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
echo /bin/sh >"$rootfs/etc/shells"
ln -s ../run/hosts "$rootfs/etc/hosts"
ln -s ../run/resolv.conf "$rootfs/etc/resolv.conf"
cat >"$rootfs/etc/os-release" <<EOF
NAME="Labvisor tiny"
ID=labvisor-tiny
PRETTY_NAME="Labvisor tiny (busybox $busybox_pkg_version, Linux $kernel_version)"
EOF
chmod 755 "$rootfs/etc/init.d/rcS" "$rootfs/etc/init.d/rcK" "$rootfs/etc/init.d/display" "$rootfs/etc/init.d/agent" \
  "$rootfs/etc/acpi/PWRF/00000080" "$rootfs/usr/share/udhcpc/default.script"

log "making the ext4 root filesystem (${ROOTFS_SIZE_MIB} MiB)"
raw="$work/rootfs.img"
mkfs.ext4 -q -F -L "$IMAGE_NAME" -m 0 -E lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 \
  -d "$rootfs" "$raw" "${ROOTFS_SIZE_MIB}M" >/dev/null
if [[ $(id -u) -ne 0 ]]; then
  # mkfs copies the builder's uid and gid; inside the guest everything is root's.
  (cd "$rootfs" && find . -mindepth 1) | sed 's|^\.||' |
    awk '{ printf "sif \"%s\" uid 0\nsif \"%s\" gid 0\n", $0, $0 }' >"$work/chown.debugfs"
  debugfs -w -f "$work/chown.debugfs" "$raw" >/dev/null 2>"$work/debugfs.log" ||
    die "debugfs could not give the root filesystem to root: $(head -n 3 "$work/debugfs.log")"
fi
qemu-img convert -f raw -O qcow2 "$raw" "$work/out/rootfs.qcow2"

# --- Manifest and atomic hand-over ------------------------------------------------

file_json() { # path-in-out key
  local file="$work/out/$1"
  printf '"path": "%s", "sizeBytes": %d, "sha256": "%s"' \
    "$1" "$(stat -c %s "$file")" "$(sha256sum "$file" | cut -d ' ' -f 1)"
}
cat >"$work/out/manifest.json" <<EOF
{
  "name": "$IMAGE_NAME",
  "kernelVersion": "$kernel_version",
  "cmdline": "$CMDLINE",
  "defaultHostname": "$DEFAULT_HOSTNAME",
  "guestAgent": "ttyS1",
  "defaults": { "vcpus": 1, "memoryMib": 256, "diskGib": 1 },
  "packages": {
    "$kernel_pkg": "$kernel_pkg_version",
    "busybox-static": "$busybox_pkg_version"
  },
  "modules": [$(printf '"%s", ' "${boot_modules[@]}" | sed 's/, $//')],
  "files": {
    "kernel": { $(file_json vmlinuz), "format": "$kernel_format" },
    "initrd": { $(file_json initrd.img) },
    "disk": { $(file_json rootfs.qcow2), "format": "qcow2", "virtualSizeBytes": $((ROOTFS_SIZE_MIB * 1024 * 1024)) }
  },
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF

# Stage beside OUTDIR (same filesystem) so the final step is a rename.
outdir=${outdir%/}
mkdir -p "$(dirname "$outdir")"
stage=$(mktemp -d "$(dirname "$outdir")/.$(basename "$outdir").new.XXXXXX")
chmod 755 "$stage"
cp "$work/out/"* "$stage/"
if [[ -e $outdir ]]; then
  if rmdir "$outdir" 2>/dev/null; then
    mv -T "$stage" "$outdir"
  else
    old=$(mktemp -d "$(dirname "$outdir")/.$(basename "$outdir").old.XXXXXX")
    mv -T "$outdir" "$old/image"
    mv -T "$stage" "$outdir"
    rm -rf "$old"
  fi
else
  mv -T "$stage" "$outdir"
fi
stage=""
log "done: $outdir"
