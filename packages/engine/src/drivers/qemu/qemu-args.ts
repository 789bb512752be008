import { type GuestConfig, toHostname, type VmSpec } from '../../spec.js';
import type { Accelerator } from './accel-probe.js';
import { HOME_DISK_SERIAL } from './home-disk.js';
import type { QemuPaths } from './qemu-paths.js';

/**
 * Smallest TCG translation-cache size, and the one of a small guest. QEMU's default (1 GiB on
 * 64-bit hosts) would dominate per-VM memory; measured here, 16 MiB boots the tiny image as fast
 * as 64 MiB (within noise) and keeps QEMU's private memory beyond guest RAM near 35 MiB instead of
 * ~80 MiB. A full Debian with systemd thrashes in a small one: 1 GiB debian-lab reached its login
 * prompt in 94 s with 16 MiB and in 42 s with 64 MiB on a loaded host, and on a quiet one (with the
 * image's own initramfs) in 25.5 s with 64 MiB, 20.8 s with 128 MiB and 20.0 s with 256 MiB, its
 * QEMU's Pss at the prompt 376, 450 and 593 MiB: a booted guest fills its cache. So the default
 * grows with guest memory ({@link defaultTranslationCacheMib}).
 */
export const TCG_TB_SIZE_MIB = 16;
/** Largest default TCG translation-cache size. */
export const MAX_DEFAULT_TCG_TB_SIZE_MIB = 256;

/** The default TCG translation cache of a guest: 1/8 of its memory, from 16 to 256 MiB. */
export function defaultTranslationCacheMib(memoryMib: number): number {
  return Math.min(
    MAX_DEFAULT_TCG_TB_SIZE_MIB,
    Math.max(TCG_TB_SIZE_MIB, Math.round(memoryMib / 8)),
  );
}

/** QEMU's drive id for the VM's disk (the BlockBackend). */
export const DISK_DRIVE_ID = 'drive0';
/** Node name of the disk's qcow2 format layer: snapshots and the VM state go there. */
export const DISK_NODE_NAME = 'disk0';

/** What {@link buildQemuArgs} needs. */
export interface QemuArgsInput {
  spec: VmSpec;
  paths: QemuPaths;
  accel: Accelerator;
  /** TCG translation-cache size (default {@link defaultTranslationCacheMib} of the guest's memory). */
  tcgTranslationCacheMib?: number;
  /**
   * Restore a saved memory state: read from this inherited file descriptor (`-incoming fd:N`),
   * or `defer`red until QMP's `migrate-incoming` (a clone sets migration capabilities first).
   */
  incoming?: number | 'defer';
  /**
   * Guest RAM in a file instead of anonymous memory: a template's (`share: true`, its writes go
   * to the file) or a clone's view of it (`share: false`: mapped privately, copy-on-write).
   */
  memoryFile?: { path: string; share: boolean };
  /** Start from this internal snapshot (`-loadvm`). */
  loadSnapshot?: string;
  /**
   * The VM's tap on its guest network (`internet` and `class` modes) and its MAC address; without
   * one, user-mode networking that reaches nothing.
   */
  nic?: { tap: string; mac: string };
  /** The account QEMU drops to once it has opened the VM's files (`-runas`); see `qemu-user.ts`. */
  runAs?: string;
}

/**
 * The machine type, accelerator and CPU model every guest runs with. The KVM probe boots with the
 * same ones: on kvm-pvm hosts a guest fails by its CPU model (`-cpu host` makes QEMU set MSRs the
 * host refuses), so a probe with other arguments proves nothing about real guests.
 */
export function machineArgs(accel: Accelerator, tcgTranslationCacheMib: number): string[] {
  return accel === 'tcg'
    ? ['-machine', 'pc', '-accel', `tcg,tb-size=${tcgTranslationCacheMib}`]
    : ['-machine', 'pc', '-accel', 'kvm', '-cpu', 'host'];
}

/** The fw_cfg item the guest reads its {@link GuestConfig} from (`/sys/firmware/qemu_fw_cfg/by_name/…`). */
export const GUEST_CONFIG_FW_CFG_NAME = 'opt/labvisor/config';

/** Escapes a value for QEMU's comma-separated option syntax (a comma is doubled). */
export function escapeOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/**
 * Builds QEMU's command line for a VM. Pure: the same input always gives the same arguments,
 * which is what lets a suspended state (saved under one command line) be restored under the next.
 *
 * - `-sandbox on` with every optional filter denied: QEMU never needs to fork or exec because the
 *   engine feeds the saved state through an inherited fd (`-incoming fd:N`) and receives it on a
 *   unix socket it serves (`migrate unix:`), so `exec:` migration is not needed. With `-runas`,
 *   privilege changes stay allowed: QEMU installs its filter before it drops to the account, and
 *   a denied `setuid` would kill it (it keeps no capability after the drop).
 * - writable drives are opened read-write once (`auto-read-only=off`): at the end of a migration
 *   QEMU reopens a drive opened with `auto-read-only` by its path, which the account QEMU runs as
 *   may not open.
 * - without a guest network, user-mode networking with `restrict=on`: the guest reaches neither
 *   other VMs (each VM has its own slirp stack) nor the host's services (slirp would map 10.0.2.2
 *   to the host's loopback); with one, the VM's tap, which its QEMU opens in the router namespace.
 * - serial and QMP are unix sockets served by QEMU (`wait=off`), so QEMU never blocks on a client.
 */
export function buildQemuArgs(input: QemuArgsInput): string[] {
  const { spec, paths, accel } = input;
  const esc = escapeOptionValue;
  const args: string[] = [
    '-name',
    `guest=${esc(spec.id)},debug-threads=on`,
    '-nodefaults',
    '-no-user-config',
    '-sandbox',
    `on,obsolete=deny,elevateprivileges=${input.runAs ? 'allow' : 'deny'},spawn=deny,resourcecontrol=deny`,
    ...(input.runAs ? ['-runas', input.runAs] : []),
    ...machineArgs(
      accel,
      input.tcgTranslationCacheMib ?? defaultTranslationCacheMib(spec.memoryMib),
    ),
  ];
  args.push(
    '-m',
    `${spec.memoryMib}M`,
    '-smp',
    String(spec.vcpus),
    '-rtc',
    'base=utc',
    '-msg',
    'timestamp=on',
    '-pidfile',
    paths.pid,
    '-chardev',
    `socket,id=qmp0,path=${esc(paths.qmp)},server=on,wait=off`,
    '-mon',
    'chardev=qmp0,mode=control',
    '-chardev',
    // logappend=on: QEMU writes at the end of serial.log, so the driver can cut the file (it
    // truncates it at each start and rotates it when it grows past its cap).
    `socket,id=serial0,path=${esc(paths.serial)},server=on,wait=off,logfile=${esc(paths.serialLog)},logappend=on`,
    '-serial',
    'chardev:serial0',
    '-display',
    'none',
    // force-shared: a viewer asking for exclusive access cannot disconnect the others.
    '-vnc',
    `unix:${esc(paths.vnc)},share=force-shared`,
    '-device',
    'VGA',
    // An absolute pointer: VNC clients (noVNC) send where the pointer is, and a relative PS/2
    // mouse would drift from it. Guests without the driver ignore the device.
    '-device',
    'virtio-tablet-pci',
    ...nicArgs(input),
  );

  const drive = [
    'if=none',
    `id=${DISK_DRIVE_ID}`,
    `node-name=${DISK_NODE_NAME}`,
    `file=${esc(paths.disk)}`,
    'file.auto-read-only=off',
    'format=qcow2',
    'discard=unmap',
    // A write that finds the host's disk full pauses the guest (resumable, nothing lost) instead
    // of failing in the guest, whose file system would then go read-only or worse.
    'werror=enospc',
  ];
  if (spec.diskThrottle?.iopsTotal)
    drive.push(`throttling.iops-total=${spec.diskThrottle.iopsTotal}`);
  if (spec.diskThrottle?.bpsTotal) drive.push(`throttling.bps-total=${spec.diskThrottle.bpsTotal}`);
  args.push(
    '-drive',
    drive.join(','),
    '-device',
    `virtio-blk-pci,drive=${DISK_DRIVE_ID},bootindex=1`,
  );

  if (spec.homeDisk) {
    args.push(
      '-drive',
      `if=none,id=home0,file=${esc(spec.homeDisk.path)},file.auto-read-only=off,format=raw,discard=unmap,werror=enospc`,
      '-device',
      `virtio-blk-pci,drive=home0,serial=${HOME_DISK_SERIAL}`,
    );
  }

  const boot = spec.boot;
  // A generation ID, new with each QEMU (`guid=auto`): a guest continued from a saved state — a
  // template's clone, a resumed suspend, a snapshot — is told its ID changed and reseeds its random
  // number generator ("crng reseeded due to virtual machine fork"), so clones of one template never
  // share its random state. It needs SeaBIOS (QEMU's default firmware), which writes the ID's
  // address back to QEMU: qboot, a little faster for kernel boots, halts at that command.
  args.push('-device', 'vmgenid');
  if (boot.kind === 'kernel') {
    // The VM's hostname for the image's own scripts (labvisor.hostname=) and for systemd, which
    // sets it as it starts (systemd.hostname=): what the network asks DHCP with from the start.
    const hostname = toHostname(spec.name, spec.id);
    const cmdline = boot.cmdline.includes('labvisor.hostname=')
      ? boot.cmdline
      : `${boot.cmdline} labvisor.hostname=${hostname} systemd.hostname=${hostname}`.trim();
    args.push('-kernel', boot.kernelPath, '-initrd', boot.initrdPath, '-append', cmdline);
  } else if (boot.kind === 'iso') {
    args.push(
      '-drive',
      `if=none,id=cdrom0,file=${esc(boot.isoPath)},format=raw,media=cdrom,readonly=on`,
      '-device',
      'ide-cd,drive=cdrom0,bootindex=0',
    );
  }

  if (spec.guestConfig) {
    // A file, not `string=`: the password must not show in the host's process list.
    args.push('-fw_cfg', `name=${GUEST_CONFIG_FW_CFG_NAME},file=${esc(paths.guestConfig)}`);
  }

  if (spec.guestAgent) {
    args.push(
      '-chardev',
      `socket,id=agent0,path=${esc(paths.agent)},server=on,wait=off`,
      '-serial',
      'chardev:agent0',
    );
  }

  if (input.memoryFile) {
    // The machine's RAM block keeps its default name (pc.ram), so a saved state of a VM with
    // anonymous memory and one with its memory in a file load into each other.
    args.push(
      '-object',
      `memory-backend-file,id=pc.ram,size=${spec.memoryMib}M,mem-path=${esc(input.memoryFile.path)},share=${input.memoryFile.share ? 'on' : 'off'}`,
      '-machine',
      'memory-backend=pc.ram',
    );
  }

  if (input.loadSnapshot !== undefined) args.push('-loadvm', input.loadSnapshot);
  if (input.incoming !== undefined)
    args.push('-incoming', input.incoming === 'defer' ? 'defer' : `fd:${input.incoming}`);
  return args;
}

/** The guest's NIC: on its tap (a guest network) or on user networking that reaches nothing. */
function nicArgs(input: QemuArgsInput): string[] {
  if (!input.nic) {
    return [
      '-netdev',
      'user,id=net0,restrict=on',
      '-device',
      'virtio-net-pci,netdev=net0,romfile=',
    ];
  }
  const args = [
    '-netdev',
    `tap,id=net0,ifname=${input.nic.tap},script=no,downscript=no`,
    '-device',
    `virtio-net-pci,netdev=net0,mac=${input.nic.mac},romfile=`,
  ];
  // Templates boot with user networking, whose saved state (a `slirp` section) a clone on a guest
  // network must load somewhere: an unattached, restricted user network takes it. Every VM on a
  // guest network has it, clone or not, so that the states it saves (a suspend, a snapshot with
  // memory, which then hold that section too) load under the same arguments.
  args.push('-netdev', 'user,id=template-slirp,restrict=on');
  return args;
}

/** The JSON the guest reads from fw_cfg: the spec's guest config, with the hostname filled in. */
export function guestConfigJson(spec: VmSpec): string {
  const config: GuestConfig = {
    hostname: toHostname(spec.name, spec.id),
    ...spec.guestConfig,
  };
  return `${JSON.stringify(config)}\n`;
}
