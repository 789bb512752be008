# Shared by the debootstrapped Debian recipes (debian-lab, debian-desktop): sourced, not run.
#
# A recipe sets these, then calls build_debian_image OUTDIR:
#   IMAGE_NAME        the image's name (manifest "name", default hostname, ext4 label)
#   PACKAGE_LISTS     files listing packages, one a line (# comments), installed on top of minbase
#   OVERLAYS          folders copied over the root file system, in order
#   DEFAULT_VCPUS DEFAULT_MEMORY_MIB DEFAULT_DISK_GIB   what a VM of the image should get
#   configure_image   optional function run with the root file system's path after the overlays
#
# Needs root (debootstrap and chroot), debootstrap, e2fsprogs, qemu-img, cpio, xz and the Debian
# mirror.

readonly DEBIAN_SUITE=bookworm
readonly DEBIAN_MIRROR=${LABVISOR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly IMAGES_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The lab packages and files; debian-desktop adds its own on top.
readonly DEBIAN_LAB_PACKAGES="$IMAGES_LIB_DIR/debian-lab.packages"
readonly DEBIAN_LAB_OVERLAY="$IMAGES_LIB_DIR/debian-lab-overlay"
# Loaded by the image's initramfs (lib/direct-boot.sh), each after its dependencies: the root disk,
# its file system (ext4 asks for a crc32c driver by softdep only) and fw_cfg, which carries the
# guest configuration labvisor-guest-config reads.
readonly DEBIAN_BOOT_MODULES="virtio_pci virtio_blk crc32c_generic ext4 qemu_fw_cfg"
# The engine boots with exactly this and appends labvisor.hostname=NAME (and
# systemd.hostname=NAME). Only the serial line is a kernel console (tty1 gets a login anyway); the
# rest skips work that only slows a TCG boot, as in the tiny image.
readonly DEBIAN_CMDLINE="console=ttyS0 root=/dev/vda rw quiet loglevel=3 tsc=reliable no_timer_check mitigations=off nowatchdog cryptomgr.notests init_on_alloc=0"

die() { echo "build.sh ($IMAGE_NAME): $*" >&2; exit 1; }
log() { echo "build.sh ($IMAGE_NAME): $*" >&2; }
source "$IMAGES_LIB_DIR/direct-boot.sh"

# Packages of the lists, sorted and unique, comma-separated (debootstrap's --include).
package_list() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' "$@" | grep -v '^$' | sort -u | paste -sd, -
}

build_debian_image() { # OUTDIR
  [[ $# -eq 1 && -n $1 ]] || die "usage: build.sh OUTDIR"
  local outdir=${1%/}
  export PATH="$PATH:/usr/sbin:/sbin"
  export LC_ALL=C TZ=UTC DEBIAN_FRONTEND=noninteractive
  umask 022
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root: run it as root (sudo npm run images -- $IMAGE_NAME)"
  local tool
  for tool in debootstrap chroot mkfs.ext4 qemu-img sha256sum dpkg-query zstd cpio xz; do
    command -v "$tool" >/dev/null || die "missing tool: $tool (apt-get install -y debootstrap e2fsprogs qemu-utils zstd cpio xz-utils)"
  done

  work=$(mktemp -d "${TMPDIR:-/tmp}/labvisor-$IMAGE_NAME.XXXXXX")
  root="$work/root"
  trap cleanup_debian_build EXIT

  local include
  include=$(package_list "${PACKAGE_LISTS[@]}")
  log "debootstrap $DEBIAN_SUITE (minbase) from $DEBIAN_MIRROR with: ${include//,/ }"
  # debootstrap installs no Recommends: the image holds what the lists name and what they depend
  # on. Two stages, with the overlays in between, so that the packages are configured with them.
  debootstrap --foreign --variant=minbase --components=main --include="$include" \
    "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 ||
    die "debootstrap failed; last lines of its log: $(tail -n 5 "$work/debootstrap.log" | tr '\n' ' ')"
  # The suite's Release date pins every time stamp the tools below write (SOURCE_DATE_EPOCH).
  local release
  release=$(echo "$root"/var/lib/apt/lists/*_dists_"${DEBIAN_SUITE}"_Release)
  [[ -f $release ]] || die "debootstrap left no Release file for $DEBIAN_SUITE"
  SOURCE_DATE_EPOCH=$(date -d "$(sed -n 's/^Date: //p' "$release")" +%s)
  export SOURCE_DATE_EPOCH
  log "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH (the $DEBIAN_SUITE Release date)"

  local overlay
  for overlay in "${OVERLAYS[@]}"; do
    cp -a --no-preserve=ownership "$overlay/." "$root/"
  done
  log "debootstrap second stage (installing the packages)"
  in_root /debootstrap/debootstrap --second-stage >>"$work/debootstrap.log" 2>&1 ||
    die "debootstrap --second-stage failed; last lines: $(tail -n 5 "$work/debootstrap.log" | tr '\n' ' ')"

  configure_debian_root
  if declare -F configure_image >/dev/null; then configure_image "$root"; fi
  clean_debian_root
  pack_debian_image "$outdir"
}

cleanup_debian_build() {
  local mount
  for mount in dev/pts dev proc sys; do
    mountpoint -q "$root/$mount" 2>/dev/null && umount -l "$root/$mount"
  done
  rm -rf --one-file-system "$work"
  [[ -z ${stage:-} ]] || rm -rf "$stage"
}

in_root() {
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C TZ=UTC \
    DEBIAN_FRONTEND=noninteractive SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" "$@"
}

configure_debian_root() {
  log "configuring the root file system"
  echo "$IMAGE_NAME" >"$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
    "$IMAGE_NAME" >"$root/etc/hosts"
  # Whole-disk ext4, grown at boot to the VM's disk size; no fsck pass (the journal recovers).
  echo '/dev/vda / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 0' >"$root/etc/fstab"
  # QEMU user networking's resolver; systemd-networkd (DHCP) writes no resolv.conf of its own.
  echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"
  cat >"$root/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $DEBIAN_SUITE main
deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main
deb ${DEBIAN_MIRROR%/debian}/debian-security $DEBIAN_SUITE-security main
EOF

  # The image's user: uid 1000, passwordless sudo (etc/sudoers.d/labvisor), the documented password.
  # labvisor-guest-config renames it and sets the owner's password at the VM's first boot.
  in_root useradd --create-home --uid 1000 --shell /bin/bash --groups sudo student
  echo 'student:labvisor' | in_root chpasswd

  in_root systemctl enable --quiet systemd-networkd labvisor-guest-config.service labvisor-agent.service
  # Under TCG every CPU second of the boot counts: no timers that run apt, man-db or scrubs, and
  # none of the units a VM without EFI, device mapper, hugepages, debugfs, configfs, binfmt or
  # message-queue users has no use for (each costs up to a second of a single vCPU before the login
  # prompt; loop, fuse and the display driver load on demand; packages run sysusers themselves).
  in_root systemctl mask --quiet apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
    e2scrub_reap.service fstrim.timer dpkg-db-backup.timer systemd-networkd-wait-online.service \
    modprobe@efi_pstore.service modprobe@dm_mod.service modprobe@fuse.service \
    modprobe@loop.service modprobe@drm.service modprobe@configfs.service sys-kernel-debug.mount \
    sys-kernel-tracing.mount sys-kernel-config.mount dev-hugepages.mount dev-mqueue.mount \
    systemd-network-generator.service systemd-pstore.service systemd-binfmt.service \
    kmod-static-nodes.service systemd-sysusers.service 2>/dev/null || true
  # The VM boots the recipe's own initramfs: none is made for the image's kernel, now or on the
  # guest's kernel upgrades.
  sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$root/etc/initramfs-tools/update-initramfs.conf"
}

clean_debian_root() {
  log "cleaning caches, logs and per-machine identity"
  in_root apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old \
    "$root"/var/lib/dpkg/*-old "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* \
    "$root"/var/tmp/* "$root"/root/.bash_history "$root"/usr/share/info/*
  # Documentation other than copyright notices (man pages stay), and translations.
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  # Made at the first boot, so that no two VMs share them.
  rm -f "$root"/etc/ssh/ssh_host_* "$root/var/lib/dbus/machine-id" "$root/var/lib/systemd/random-seed"
  rm -f "$root"/boot/initrd.img*
  : >"$root/etc/machine-id"
  # Files written during the build get the suite's date, like those unpacked from packages.
  find "$root" -xdev -newermt "@$SOURCE_DATE_EPOCH" -exec touch --no-dereference --date "@$SOURCE_DATE_EPOCH" {} +
}

pack_debian_image() { # OUTDIR
  local outdir=$1 kernel_version
  kernel_version=$(cd "$root/lib/modules" && ls)
  [[ $kernel_version =~ ^[0-9][^[:space:]]*$ ]] || die "expected one kernel in the image, found: $kernel_version"
  mkdir -p "$work/out"
  index_modules "$root/lib/modules/$kernel_version"
  pack_initramfs "$root/bin/busybox" "$work/out/initrd.img" $DEBIAN_BOOT_MODULES
  unpack_pvh_kernel "$root/boot/vmlinuz-$kernel_version" "$root/boot/config-$kernel_version" "$work/out/vmlinuz"

  # The file system: what the root holds plus a quarter (at least 512 MiB) for the first boot, in
  # whole GiB; x-systemd.growfs grows it to the VM's disk at boot.
  local used_mib size_gib
  used_mib=$(du -sxm "$root" | cut -f 1)
  size_gib=$(((used_mib + (used_mib / 4 > 512 ? used_mib / 4 : 512) + 1023) / 1024))
  ((size_gib <= DEFAULT_DISK_GIB)) || die "the root needs ${size_gib} GiB, more than DEFAULT_DISK_GIB=$DEFAULT_DISK_GIB"
  log "making the ext4 root file system (${used_mib} MiB used, ${size_gib} GiB)"
  # A fixed UUID and hash seed (from the image name) and the pinned time keep the layout stable.
  local uuid
  uuid=$(echo -n "labvisor-$IMAGE_NAME" | sha256sum | sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*/\1-\2-4\3-8\4-\5/')
  E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mkfs.ext4 -q -F -L "$IMAGE_NAME" -U "$uuid" -m 1 \
    -E "lazy_itable_init=0,lazy_journal_init=0,hash_seed=$uuid" \
    -d "$root" "$work/rootfs.img" "${size_gib}G" >/dev/null
  log "converting to compressed qcow2"
  qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd "$work/rootfs.img" "$work/out/rootfs.qcow2"
  rm -f "$work/rootfs.img"

  local packages
  packages=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package}\t${Version}\n' |
    sort | awk -F '\t' '{ printf "%s    \"%s\": \"%s\"", (NR > 1 ? ",\n" : ""), $1, $2 }')
  file_json() { # path-in-out
    local file="$work/out/$1"
    printf '"path": "%s", "sizeBytes": %d, "sha256": "%s"' \
      "$1" "$(stat -c %s "$file")" "$(sha256sum "$file" | cut -d ' ' -f 1)"
  }
  cat >"$work/out/manifest.json" <<EOF
{
  "name": "$IMAGE_NAME",
  "suite": "$DEBIAN_SUITE",
  "kernelVersion": "$kernel_version",
  "cmdline": "$DEBIAN_CMDLINE",
  "defaultHostname": "$IMAGE_NAME",
  "guestAgent": "ttyS1",
  "defaults": { "vcpus": $DEFAULT_VCPUS, "memoryMib": $DEFAULT_MEMORY_MIB, "diskGib": $DEFAULT_DISK_GIB },
  "login": { "user": "student", "password": "labvisor", "guestConfig": "fw_cfg opt/labvisor/config" },
  "packages": {
$packages
  },
  "files": {
    "kernel": { $(file_json vmlinuz), "format": "$kernel_format" },
    "initrd": { $(file_json initrd.img) },
    "disk": { $(file_json rootfs.qcow2), "format": "qcow2", "virtualSizeBytes": $((size_gib * 1024 * 1024 * 1024)) }
  },
  "sourceDateEpoch": $SOURCE_DATE_EPOCH,
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF

  # Stage beside OUTDIR (same file system) so the final step is a rename.
  mkdir -p "$(dirname "$outdir")"
  stage=$(mktemp -d "$(dirname "$outdir")/.$(basename "$outdir").new.XXXXXX")
  chmod 755 "$stage"
  mv "$work/out/"* "$stage/"
  rm -rf "$outdir"
  mv -T "$stage" "$outdir"
  stage=""
  log "done: $outdir"
}
