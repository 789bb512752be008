#!/usr/bin/env bash
# Builds the "debian-lab" guest image: Debian 12 (bookworm) by debootstrap, minbase plus the
# packages of ../lib/debian-lab.packages, systemd, a login on the serial console and on tty1, the
# user "student" with passwordless sudo, and labvisor-guest-config, which takes the hostname and the
# owner's account from QEMU fw_cfg at the first boot. Direct kernel boot (vmlinuz, initrd.img).
#
#   infra/images/debian-lab/build.sh OUTDIR      (as root)
#
# OUTDIR appears all at once with vmlinuz, initrd.img, rootfs.qcow2 and manifest.json.
set -euo pipefail

readonly IMAGE_NAME=debian-lab
readonly DEFAULT_VCPUS=1 DEFAULT_MEMORY_MIB=1024 DEFAULT_DISK_GIB=8
source "$(dirname "${BASH_SOURCE[0]}")/../lib/debian-image.sh"
PACKAGE_LISTS=("$DEBIAN_LAB_PACKAGES")
OVERLAYS=("$DEBIAN_LAB_OVERLAY")

build_debian_image "$@"
