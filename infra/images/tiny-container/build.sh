#!/usr/bin/env bash
# Builds the "tiny-container" image: static busybox as a system container for
# the Incus driver, in Incus's unified image format (one tarball holding
# metadata.yaml and rootfs/). busybox's init runs a shell on the console, which
# is the terminal the Incus driver's console opens.
#
#   infra/images/tiny-container/build.sh OUTDIR
#
# Needs only Debian's apt repositories (apt-get download), dpkg-deb, tar, gzip
# and sha256sum. OUTDIR appears all at once, with tiny-container.tar.gz and
# manifest.json, or not at all.
set -euo pipefail

readonly IMAGE_NAME=tiny-container
readonly DEFAULT_HOSTNAME=tiny

die() { echo "build.sh ($IMAGE_NAME): $*" >&2; exit 1; }
log() { echo "build.sh ($IMAGE_NAME): $*" >&2; }

[[ $# -eq 1 && -n $1 ]] || die "usage: build.sh OUTDIR"
outdir=$1
export LC_ALL=C
for tool in apt-get dpkg-deb tar gzip sha256sum; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/labvisor-$IMAGE_NAME.XXXXXX")
stage=""
cleanup() { rm -rf "$work"; [[ -z $stage ]] || rm -rf "$stage"; }
trap cleanup EXIT

log "downloading busybox-static"
mkdir -p "$work/debs"
apt_opts=()
[[ $(id -u) -ne 0 ]] || apt_opts=(-o APT::Sandbox::User=root)
(cd "$work/debs" && apt-get "${apt_opts[@]}" -q download busybox-static >/dev/null) ||
  die "apt-get download busybox-static failed; run 'apt-get update' (as root) and check the Debian mirror is reachable"
busybox_deb=$(echo "$work"/debs/busybox-static_*.deb)
busybox_pkg_version=$(dpkg-deb -f "$busybox_deb" Version)
dpkg-deb -x "$busybox_deb" "$work/busybox"

# The root file system: busybox and its applets, an init that mounts what a
# shell needs and keeps a login shell on the console.
root="$work/image/rootfs"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,run,var/log}
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
# As the tiny VM image does: the line editor's cursor-position query (ESC [6n)
# would end every prompt with an escape; cut it so the prompt ends in "# ".
query=$'\x1b[999;999H\x1b[6n'
query_at=$(grep -boaF "$query" "$root/bin/busybox" | cut -d : -f 1) || true
if [[ $query_at =~ ^[0-9]+$ ]]; then
  printf '\0' | dd of="$root/bin/busybox" bs=1 seek=$((query_at + 10)) conv=notrunc status=none
fi
for applet in $("$root/bin/busybox" --list); do
  [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
done
ln -sf ../bin/busybox "$root/sbin/init"
cat >"$root/etc/inittab" <<'INITTAB'
::sysinit:/bin/mount -t tmpfs tmpfs /tmp
::sysinit:/bin/hostname -F /etc/hostname
console::respawn:-/bin/sh
::ctrlaltdel:/bin/reboot
::shutdown:/bin/echo "labvisor: shutting down"
INITTAB
echo "$DEFAULT_HOSTNAME" >"$root/etc/hostname"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo 'export PS1="# " HOME=/root' >"$root/etc/profile"

cat >"$work/image/metadata.yaml" <<META
architecture: x86_64
creation_date: $(date +%s)
properties:
  os: labvisor
  release: tiny
  description: Labvisor tiny container (busybox $busybox_pkg_version)
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
META
mkdir -p "$work/image/templates"
echo '{{ instance.name }}' >"$work/image/templates/hostname.tpl"

mkdir -p "$work/out"
# Incus names the image by the tarball's sha256 (its fingerprint).
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work/image" \
  -cf - metadata.yaml templates rootfs | gzip -n -9 >"$work/out/$IMAGE_NAME.tar.gz"

file_json() {
  local file=$1
  printf '"path": "%s", "sizeBytes": %s, "sha256": "%s"' "$file" \
    "$(stat -c %s "$work/out/$file")" "$(sha256sum "$work/out/$file" | cut -d ' ' -f 1)"
}
cat >"$work/out/manifest.json" <<JSON
{
  "name": "$IMAGE_NAME",
  "kind": "container",
  "defaultHostname": "$DEFAULT_HOSTNAME",
  "defaults": { "vcpus": 1, "memoryMib": 128, "diskGib": 1 },
  "packages": { "busybox-static": "$busybox_pkg_version" },
  "files": {
    "container": { $(file_json "$IMAGE_NAME.tar.gz"), "format": "incus-unified" }
  },
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
JSON

outdir=${outdir%/}
mkdir -p "$(dirname "$outdir")"
stage=$(mktemp -d "$(dirname "$outdir")/.$(basename "$outdir").new.XXXXXX")
cp -a "$work/out/." "$stage/"
rm -rf "$outdir"
mv "$stage" "$outdir"
stage=""
log "built $outdir"
