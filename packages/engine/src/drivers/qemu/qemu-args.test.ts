import { describe, expect, it } from 'vitest';
import type { VmSpec } from '../../spec.js';
import {
  buildQemuArgs,
  escapeOptionValue,
  GUEST_CONFIG_FW_CFG_NAME,
  guestConfigJson,
  TCG_TB_SIZE_MIB,
} from './qemu-args.js';
import { qemuPaths } from './qemu-paths.js';

const spec: VmSpec = {
  id: 'lab-1',
  name: 'Lab 1 (Networking)',
  vcpus: 2,
  memoryMib: 512,
  diskGib: 4,
  boot: {
    kind: 'kernel',
    kernelPath: '/images/tiny/vmlinuz',
    initrdPath: '/images/tiny/initrd.img',
    cmdline: 'console=ttyS0 root=/dev/vda',
    baseDiskPath: '/images/tiny/rootfs.qcow2',
    baseDiskFormat: 'qcow2',
  },
};
const paths = qemuPaths('/run/labvisor/lab-1');

/** The value following `flag` each time it appears. */
function valuesOf(args: string[], flag: string): string[] {
  return args.flatMap((arg, index) => (arg === flag ? [args[index + 1] ?? ''] : []));
}

describe('buildQemuArgs', () => {
  const args = buildQemuArgs({ spec, paths, accel: 'tcg' });

  it('sizes the guest from the spec', () => {
    expect(valuesOf(args, '-m')).toEqual(['512M']);
    expect(valuesOf(args, '-smp')).toEqual(['2']);
  });

  it('bounds the TCG translation cache, and uses the host CPU under KVM', () => {
    // 512 MiB of guest memory: 64 MiB of translation cache.
    expect(valuesOf(args, '-accel')).toEqual(['tcg,tb-size=64']);
    const small = buildQemuArgs({ spec: { ...spec, memoryMib: 128 }, paths, accel: 'tcg' });
    expect(valuesOf(small, '-accel')).toEqual([`tcg,tb-size=${TCG_TB_SIZE_MIB}`]);
    const huge = buildQemuArgs({ spec: { ...spec, memoryMib: 65_536 }, paths, accel: 'tcg' });
    expect(valuesOf(huge, '-accel')).toEqual(['tcg,tb-size=256']);
    expect(args).not.toContain('-cpu');
    const kvm = buildQemuArgs({ spec, paths, accel: 'kvm' });
    expect(valuesOf(kvm, '-accel')).toEqual(['kvm']);
    expect(valuesOf(kvm, '-cpu')).toEqual(['host']);
  });

  it('sandboxes QEMU without defaults or user config', () => {
    expect(args).toContain('-nodefaults');
    expect(args).toContain('-no-user-config');
    expect(valuesOf(args, '-sandbox')[0]).toMatch(/^on,.*elevateprivileges=deny,spawn=deny/);
    expect(args).not.toContain('-daemonize');
    expect(args).not.toContain('-runas');
  });

  it('gives the machine a generation ID, new with each QEMU', () => {
    expect(valuesOf(args, '-device')).toContain('vmgenid');
    expect(args).not.toContain('-bios');
  });

  it('drops to an account once the files are open, allowed by the sandbox', () => {
    const dropped = buildQemuArgs({ spec, paths, accel: 'tcg', runAs: 'labvisor-qemu' });
    expect(valuesOf(dropped, '-runas')).toEqual(['labvisor-qemu']);
    // QEMU's filter is installed before it drops: a denied setuid would kill it.
    expect(valuesOf(dropped, '-sandbox')[0]).toMatch(/elevateprivileges=allow,spawn=deny/);
  });

  it('puts QMP, serial and VNC on unix sockets in the VM folder', () => {
    const chardevs = valuesOf(args, '-chardev');
    expect(chardevs).toContain(
      'socket,id=qmp0,path=/run/labvisor/lab-1/qmp.sock,server=on,wait=off',
    );
    expect(chardevs.find((c) => c.startsWith('socket,id=serial0'))).toContain(
      'path=/run/labvisor/lab-1/serial.sock,server=on,wait=off',
    );
    expect(valuesOf(args, '-mon')).toEqual(['chardev=qmp0,mode=control']);
    expect(valuesOf(args, '-serial')).toEqual(['chardev:serial0']);
    expect(valuesOf(args, '-vnc')).toEqual([
      'unix:/run/labvisor/lab-1/vnc.sock,share=force-shared',
    ]);
    expect(valuesOf(args, '-display')).toEqual(['none']);
    expect(valuesOf(args, '-pidfile')).toEqual(['/run/labvisor/lab-1/qemu.pid']);
  });

  it('gives each VM restricted user-mode networking with no port forwards', () => {
    expect(valuesOf(args, '-netdev')).toEqual(['user,id=net0,restrict=on']);
    expect(args.join(' ')).not.toContain('hostfwd');
    expect(args.join(' ')).not.toContain('guestfwd');
  });

  it('puts a VM on a guest network on its tap with its lease’s MAC address', () => {
    const nic = { tap: 'lvt0123456789a', mac: '52:54:00:00:00:02' };
    const booted = buildQemuArgs({ spec, paths, accel: 'tcg', nic });
    // Beside its tap, an unattached user network for a template's slirp state: a clone loads it
    // there, and every state a networked VM saves holds it, so each has it, clone or not.
    expect(valuesOf(booted, '-netdev')).toEqual([
      'tap,id=net0,ifname=lvt0123456789a,script=no,downscript=no',
      'user,id=template-slirp,restrict=on',
    ]);
    expect(valuesOf(booted, '-device')).toContain(
      'virtio-net-pci,netdev=net0,mac=52:54:00:00:00:02,romfile=',
    );
  });

  it('boots the kernel with the manifest cmdline plus a hostname derived from the name', () => {
    expect(valuesOf(args, '-kernel')).toEqual(['/images/tiny/vmlinuz']);
    expect(valuesOf(args, '-initrd')).toEqual(['/images/tiny/initrd.img']);
    expect(valuesOf(args, '-append')).toEqual([
      'console=ttyS0 root=/dev/vda labvisor.hostname=lab-1-networking systemd.hostname=lab-1-networking',
    ]);
  });

  it('gives the guest an absolute pointer, so a desktop follows the VNC viewer', () => {
    expect(valuesOf(args, '-device')).toContain('virtio-tablet-pci');
  });

  it('attaches the overlay as virtio-blk with a node name, throttled when asked', () => {
    expect(valuesOf(args, '-drive')).toEqual([
      'if=none,id=drive0,node-name=disk0,file=/run/labvisor/lab-1/disk.qcow2,file.auto-read-only=off,format=qcow2,discard=unmap,werror=enospc',
    ]);
    expect(valuesOf(args, '-device')).toContain('virtio-blk-pci,drive=drive0,bootindex=1');
    const throttled = buildQemuArgs({
      spec: { ...spec, diskThrottle: { iopsTotal: 500, bpsTotal: 50_000_000 } },
      paths,
      accel: 'tcg',
    });
    expect(valuesOf(throttled, '-drive')[0]).toContain(
      'throttling.iops-total=500,throttling.bps-total=50000000',
    );
  });

  it("attaches the owner's home disk as a second virtio disk found by its serial", () => {
    const withHome = buildQemuArgs({
      spec: { ...spec, homeDisk: { path: '/var/lib/labvisor/homes/t/u.img', sizeGib: 2 } },
      paths,
      accel: 'tcg',
    });
    expect(valuesOf(withHome, '-drive')).toContain(
      'if=none,id=home0,file=/var/lib/labvisor/homes/t/u.img,file.auto-read-only=off,format=raw,discard=unmap,werror=enospc',
    );
    expect(valuesOf(withHome, '-device')).toContain(
      'virtio-blk-pci,drive=home0,serial=labvisor-home',
    );
    expect(valuesOf(args, '-drive').some((drive) => drive.includes('home0'))).toBe(false);
  });

  it('boots an ISO before the blank disk', () => {
    const iso = buildQemuArgs({
      spec: { ...spec, boot: { kind: 'iso', isoPath: '/isos/debian,netinst.iso' } },
      paths,
      accel: 'tcg',
    });
    expect(iso).not.toContain('-kernel');
    expect(valuesOf(iso, '-drive')[1]).toBe(
      'if=none,id=cdrom0,file=/isos/debian,,netinst.iso,format=raw,media=cdrom,readonly=on',
    );
    expect(valuesOf(iso, '-device')).toContain('ide-cd,drive=cdrom0,bootindex=0');
  });

  it('restores from an inherited fd or a snapshot when asked', () => {
    expect(
      valuesOf(buildQemuArgs({ spec, paths, accel: 'tcg', incoming: 3 }), '-incoming'),
    ).toEqual(['fd:3']);
    expect(
      valuesOf(buildQemuArgs({ spec, paths, accel: 'tcg', loadSnapshot: 'clean' }), '-loadvm'),
    ).toEqual(['clean']);
    expect(args).not.toContain('-incoming');
  });

  it('is deterministic (a saved state restores under the same command line)', () => {
    expect(buildQemuArgs({ spec, paths, accel: 'tcg' })).toEqual(args);
  });

  it('escapes commas in option values', () => {
    expect(escapeOptionValue('/a,b/c')).toBe('/a,,b/c');
  });
});

describe('guest configuration by fw_cfg', () => {
  it('passes none without a guest config', () => {
    expect(buildQemuArgs({ spec, paths, accel: 'tcg' })).not.toContain('-fw_cfg');
  });

  it('passes the config file by name, never its content on the command line', () => {
    const withConfig: VmSpec = {
      ...spec,
      guestConfig: { user: { name: 'ada', password: 's3cret' } },
    };
    const args = buildQemuArgs({ spec: withConfig, paths, accel: 'tcg' });
    expect(valuesOf(args, '-fw_cfg')).toEqual([
      `name=${GUEST_CONFIG_FW_CFG_NAME},file=${paths.guestConfig}`,
    ]);
    expect(args.join(' ')).not.toContain('s3cret');
  });

  it('fills in the hostname from the VM name unless the config names one', () => {
    const user = { name: 'ada', password: 's3cret' };
    expect(JSON.parse(guestConfigJson({ ...spec, guestConfig: { user } }))).toEqual({
      hostname: 'lab-1-networking',
      user,
    });
    expect(
      JSON.parse(guestConfigJson({ ...spec, guestConfig: { hostname: 'web.lab' } })).hostname,
    ).toBe('web.lab');
  });
});
