#!/usr/bin/env bash
# Builds the "debian-desktop" guest image: the debian-lab image (same shared recipe, same packages
# and files from ../lib) plus X, Openbox, tint2, xterm and NetSurf (see ./packages for why these),
# with the VM's user logged in on the VGA screen, so the portal's desktop tab shows a desktop.
#
#   infra/images/debian-desktop/build.sh OUTDIR      (as root)
#
# OUTDIR appears all at once with vmlinuz, initrd.img, rootfs.qcow2 and manifest.json.
set -euo pipefail

readonly IMAGE_NAME=debian-desktop
readonly DEFAULT_VCPUS=2 DEFAULT_MEMORY_MIB=2048 DEFAULT_DISK_GIB=10
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../lib/debian-image.sh"
PACKAGE_LISTS=("$DEBIAN_LAB_PACKAGES")
OVERLAYS=("$DEBIAN_LAB_OVERLAY" "$here/overlay")

# The desktop packages go in with apt inside the finished lab root: debootstrap's own ordering
# cannot configure this many packages (the X and GTK stack) in one --include.
configure_image() { # ROOT
  local include saved="$work/saved-etc"
  include=$(package_list "$here/packages")
  log "installing the desktop packages with apt: ${include//,/ }"
  # apt reaches the mirror the way the host does; the guest's own files come back afterwards.
  mkdir -p "$saved"
  cp -a "$root/etc/hosts" "$root/etc/resolv.conf" "$saved/"
  cp /etc/hosts /etc/resolv.conf "$root/etc/"
  # The pinned suite only, as debootstrap used (the image's sources.list also names the updates).
  echo "deb $DEBIAN_MIRROR $DEBIAN_SUITE main" >"$root/tmp/labvisor-build.list"
  local apt_opts=(-o Dir::Etc::SourceList=/tmp/labvisor-build.list -o Dir::Etc::SourceParts=-
    -o Acquire::Check-Valid-Until=false)
  mount -t proc proc "$root/proc"
  {
    in_root apt-get "${apt_opts[@]}" update &&
      in_root apt-get "${apt_opts[@]}" install -y --no-install-recommends ${include//,/ }
  } >"$work/apt.log" 2>&1 || die "apt-get install failed: $(tail -n 5 "$work/apt.log" | tr '\n' ' ')"
  umount "$root/proc"
  cp -a "$saved/hosts" "$saved/resolv.conf" "$root/etc/"

  # Openbox's menu opens "x-www-browser", which NetSurf does not register itself.
  in_root update-alternatives --quiet --install /usr/bin/x-www-browser x-www-browser /usr/bin/netsurf-gtk 40
  # The panel (labvisor-session starts it with this file): tint2's own configuration with
  # launchers for what the image has instead of browsers it has not.
  mkdir -p "$root/etc/labvisor"
  {
    sed '/^launcher_item_app = /d' "$root/etc/xdg/tint2/tint2rc"
    echo 'launcher_item_app = /usr/share/applications/debian-xterm.desktop'
    echo 'launcher_item_app = /usr/share/applications/netsurf-gtk.desktop'
  } >"$root/etc/labvisor/tint2rc"
}

build_debian_image "$@"
