# Shared by the recipes whose VMs boot Debian's kernel directly (tiny, debian-lab, debian-desktop):
# sourced, not run. The caller defines die and log.
#
#   index_modules MODDIR         the kernel's modules (MODDIR is lib/modules/<version>)
#   add_module NAME              appends NAME, after its dependencies, to module_order, once
#                                (module_seen remembers it, across pack_initramfs too)
#   strip_module_signature FILE  drops a module's appended signature
#   pack_initramfs BUSYBOX OUT MODULE...   a busybox initramfs that loads the modules, mounts the
#                                root disk and switches to it (gzip, newc cpio)
#   unpack_pvh_kernel VMLINUZ CONFIG OUT   the kernel QEMU boots: sets kernel_format
#
# Needs cpio, gzip, xz and od.

# By module name (dashes as underscores): its .ko file, and whether add_module took it already.
declare -A module_path=() module_seen=()
module_order=()
modules_dir=""

index_modules() { # MODDIR
  modules_dir=$1
  module_path=()
  local file name
  # The package ships no modules.dep (depmod runs at install time), so the dependencies come
  # from each module's own modinfo "depends=" field.
  while IFS= read -r -d '' file; do
    name=${file##*/}
    name=${name%.ko}
    module_path[${name//-/_}]=$file
  done < <(find "$modules_dir/kernel" -name '*.ko' -print0)
  [[ ${#module_path[@]} -gt 0 ]] || die "no uncompressed .ko modules in $modules_dir"
}

is_builtin() { sed 's/-/_/g' "$modules_dir/modules.builtin" | grep -q "/$1\.ko$"; }

add_module() { # NAME
  local name=${1//-/_} deps dep
  [[ -z ${module_seen[$name]:-} ]] || return 0
  module_seen[$name]=1
  if [[ -z ${module_path[$name]:-} ]]; then
    is_builtin "$name" && return 0
    die "kernel module $name is neither in $modules_dir nor built in"
  fi
  deps=$(tr '\0' '\n' <"${module_path[$name]}" | sed -n 's/^depends=//p' | head -n 1)
  for dep in ${deps//,/ }; do add_module "$dep"; done
  module_order+=("$name")
}

# Checking each module's signature (hashing a megabyte of ext4 under TCG) costs a few hundred
# milliseconds per boot, so the copies go unsigned. Nothing here enforces signatures; the kernel
# only notes the taint (flag E).
strip_module_signature() { # FILE
  local file=$1 marker='~Module signature appended~' size b1 b2 b3 b4
  [[ $(tail -c 28 "$file") == "$marker" ]] || return 0
  size=$(stat -c %s "$file")
  # struct module_signature: 12 bytes before the marker, ending in a big-endian sig_len.
  read -r b1 b2 b3 b4 < <(tail -c 32 "$file" | head -c 4 | od -An -tu1)
  truncate -s $((size - 28 - 12 - (b1 << 24 | b2 << 16 | b3 << 8 | b4))) "$file"
}

# A newc cpio member for a character device, so that a normal user can put /dev/console (5,1) in
# the archive: the kernel opens it before /init runs.
cpio_chardev() {
  local name=$1 mode=$2 major=$3 minor=$4 namesize pad
  namesize=$((${#name} + 1))
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
    1 $((0x2000 | mode)) 0 0 1 0 0 0 0 "$major" "$minor" "$namesize" 0 "$name"
  pad=$(((4 - (110 + namesize) % 4) % 4))
  head -c "$pad" /dev/zero
}
cpio_trailer() {
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
    0 0 0 0 1 0 0 0 0 0 0 11 0 'TRAILER!!!'
  head -c 3 /dev/zero # 110 + 11 = 121 bytes, padded to 124
}

# The initramfs: static busybox, the modules (each after its dependencies, unsigned) and an init
# that loads them, mounts root= (ext4) and switches to it. A few hundred kilobytes, where Debian's
# initramfs-tools image starts udev and its scripts: seconds of a TCG boot.
pack_initramfs() { # BUSYBOX OUT MODULE...
  local busybox=$1 out=$2 initramfs applet name
  shift 2
  module_order=()
  for name in "$@"; do add_module "$name"; done
  log "initramfs modules: ${module_order[*]}"
  initramfs=$(mktemp -d "${TMPDIR:-/tmp}/labvisor-initramfs.XXXXXX")
  mkdir -p "$initramfs"/{bin,dev,proc,sys,newroot,lib/modules}
  cp "$busybox" "$initramfs/bin/busybox"
  for applet in $("$busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$initramfs/bin/$applet"
  done
  : >"$initramfs/lib/modules/load-order"
  for name in "${module_order[@]}"; do
    cp "${module_path[$name]}" "$initramfs/lib/modules/$name.ko"
    strip_module_signature "$initramfs/lib/modules/$name.ko"
    echo "$name" >>"$initramfs/lib/modules/load-order"
  done
  cat >"$initramfs/init" <<'EOF'
#!/bin/sh
# Labvisor's initramfs: load the drivers, mount the root disk, switch to it.
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

rescue() {
  echo "initramfs: $*"
  echo "initramfs: cannot boot; here is a shell (type 'reboot -f' to restart)"
  while :; do setsid cttyhack sh; done
}

root=/dev/vda mode=rw init=/sbin/init
set -f
for arg in $(cat /proc/cmdline); do
  case $arg in
    root=*) root=${arg#root=} ;;
    ro | rw) mode=$arg ;;
    init=*) init=${arg#init=} ;;
  esac
done
set +f

while read -r module; do
  insmod "/lib/modules/$module.ko" || echo "initramfs: failed loading module $module"
done </lib/modules/load-order

tries=0
while [ ! -b "$root" ] && [ $tries -lt 500 ]; do
  usleep 10000
  tries=$((tries + 1))
done
[ -b "$root" ] || rescue "root device $root did not appear within 5 s"
mount -t ext4 -o "$mode" "$root" /newroot || rescue "could not mount $root (ext4, $mode) on /newroot"
# A symbolic link (Debian's /sbin/init) points into the new root: switch_root follows it there.
[ -x "/newroot$init" ] || [ -h "/newroot$init" ] || rescue "$root has no executable $init"

for fs in dev proc sys; do
  mount --move "/$fs" "/newroot/$fs" || rescue "could not move /$fs into the new root"
done
exec switch_root /newroot "$init"
EOF
  chmod 755 "$initramfs/init"
  {
    (cd "$initramfs" && find . -mindepth 1 | sort | cpio --quiet -o -H newc -R 0:0)
    { cpio_chardev dev/console 0600 5 1; cpio_trailer; }
  } | gzip -9 -n >"$out"
  rm -rf "$initramfs"
}

# Under TCG the bzImage spends about 2.5 s decompressing itself. Its payload is an ELF vmlinux
# with a PVH entry note (CONFIG_PVH), which QEMU's -kernel boots directly, so the image ships
# that, still named vmlinuz. Anything unexpected falls back to the bzImage.
unpack_pvh_kernel() { # VMLINUZ CONFIG OUT
  local vmlinuz=$1 config=$2 out=$3 xz_at unpacked
  unpacked=$(mktemp -d "${TMPDIR:-/tmp}/labvisor-vmlinux.XXXXXX")
  kernel_format=bzimage
  cp "$vmlinuz" "$out"
  xz_at=$(grep -boaF $'\xfd7zXZ\x00' "$vmlinuz" | head -n 1 | cut -d : -f 1) || true
  if grep -qx 'CONFIG_PVH=y' "$config" && [[ $xz_at =~ ^[0-9]+$ ]] &&
    tail -c +$((xz_at + 1)) "$vmlinuz" >"$unpacked/vmlinux.xz" &&
    xz -dc --single-stream <"$unpacked/vmlinux.xz" >"$unpacked/vmlinux" 2>/dev/null &&
    [[ $(head -c 4 "$unpacked/vmlinux") == $'\x7fELF' ]]; then
    kernel_format=elf-pvh
    mv "$unpacked/vmlinux" "$out"
  else
    log "warning: could not unpack an xz-compressed PVH kernel; shipping the bzImage (slower boot)"
  fi
  rm -rf "$unpacked"
}
