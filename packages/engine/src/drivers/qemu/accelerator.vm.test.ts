/**
 * Choosing the accelerator with real guests: the probe boots a real kernel, `auto` (what users
 * get) boots a guest on this host, and a guest that KVM fails is started again under TCG. This
 * host has no working KVM, so the KVM failure of kvm-pvm hosts is reproduced by a wrapper around
 * the real QEMU that, when a VM asks for KVM, writes what QEMU writes there and aborts as it does
 * (`failed to set MSR 0x10a`, SIGABRT), while the probe, as measured there, passes.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine, VmStateEvent } from '../../engine.js';
import {
  ensureTinyImage,
  type TinyImage,
  tinyVmSpec,
  vmTestSkipReason,
} from '../../testing/tiny-image.js';
import { VmHarness } from '../../testing/vm-harness.js';
import { chooseAccelerator, probeAccelerator } from './accel-probe.js';

const env = { cacheDir: process.env.LABVISOR_CACHE_DIR, ci: process.env.CI === 'true' };
const skipReason = vmTestSkipReason(env);

/** How the wrapped QEMU fails a VM that asks for KVM. */
type KvmFailure = 'at-start' | 'after-start';

/** Writes a QEMU wrapper that runs every guest under TCG and fails VMs that ask for KVM. */
function writeKvmPvmQemu(dir: string, failure: KvmFailure): string {
  const realQemu = execFileSync('sh', ['-c', 'command -v qemu-system-x86_64'], {
    encoding: 'utf8',
  }).trim();
  const file = path.join(dir, `qemu-kvm-pvm-${failure}`);
  const abort = [
    `echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x2000000ec" >&2`,
    `echo "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3032: kvm_buf_set_msrs: Assertion failed." >&2`,
    'kill -ABRT $$',
  ].join('; ');
  fs.writeFileSync(
    file,
    `#!/bin/bash
args=(); kvm=no; vm=no; skip=no
for arg in "$@"; do
  if [ "$skip" = yes ]; then skip=no; continue; fi
  case "$arg" in
    kvm) kvm=yes; args+=(tcg,tb-size=16) ;;
    -cpu) skip=yes ;;
    -pidfile) vm=yes; args+=("$arg") ;;
    *) args+=("$arg") ;;
  esac
done
if [ "$kvm" = yes ] && [ "$vm" = yes ]; then
  ${failure === 'at-start' ? abort : `( sleep 3; ${abort} ) &`}
fi
exec ${realQemu} "\${args[@]}"
`,
    { mode: 0o755 },
  );
  return file;
}

describe.skipIf(skipReason !== undefined)(
  `accelerator choice with real guests${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let image: TinyImage;
    let harness: VmHarness;
    let fakeKvmDevice: string;

    beforeAll(() => {
      harness = new VmHarness('lv-accel-');
      image = harness.copyImage(ensureTinyImage(env));
      fakeKvmDevice = path.join(harness.runDir, '.kvm');
      fs.writeFileSync(fakeKvmDevice, '');
    });

    afterAll(async () => {
      await harness?.cleanup();
    });

    it('sees a real kernel start under TCG with the machine and CPU of real guests', async () => {
      const result = await probeAccelerator('qemu-system-x86_64', 'tcg', image);
      expect(result).toMatchObject({ ok: true });
    });

    it('probes KVM on this host with a real kernel: it works, or the reason is given', async () => {
      const choice = await chooseAccelerator('auto', {
        qemuBinary: 'qemu-system-x86_64',
        probeGuest: image,
      });
      if (choice.accel === 'tcg') expect(choice.reason).toMatch(/not usable|KVM probe failed/);
      else expect(choice.reason).toMatch(/booted under KVM/);
    });

    it('boots a guest to its shell with `auto`, the accelerator users get by default', async () => {
      const engine = await harness.openEngine({ driver: { accel: 'auto', probeGuest: image } });
      const info = engine.info();
      expect(info.details.accelReason?.length).toBeGreaterThan(0);
      await engine.createVm(tinyVmSpec(image, 'accel-auto'));
      const status = await engine.startVm('accel-auto');
      expect(status).toMatchObject({ state: 'running' });
      const serial = await harness.waitForShell(engine, 'accel-auto');
      serial.write('echo auto-$((6*7))\n');
      await serial.waitFor(/auto-42/, 10_000);
      // KVM only if it really ran this guest; otherwise TCG with the reason on /readyz.
      expect((await engine.getVm('accel-auto')).accel).toBe(engine.info().details.accel);
      await engine.deleteVm('accel-auto');
    });

    it('retries under TCG, and stops trusting KVM, when KVM aborts a guest at its start', async () => {
      const engine = await harness.openEngine({
        driver: {
          accel: 'auto',
          probeGuest: image,
          kvmDevice: fakeKvmDevice,
          qemuBinary: writeKvmPvmQemu(harness.runDir, 'at-start'),
        },
      });
      expect(engine.info().details.accel).toBe('kvm');
      await engine.createVm(tinyVmSpec(image, 'accel-retry'));
      expect(await engine.startVm('accel-retry')).toMatchObject({ state: 'running', accel: 'tcg' });
      expect(engine.info().details).toMatchObject({ accel: 'tcg', accelReason: /KVM is unusable/ });
      const serial = await harness.waitForShell(engine, 'accel-retry');
      serial.write('echo retried-$((6*7))\n');
      await serial.waitFor(/retried-42/, 10_000);
      await engine.deleteVm('accel-retry');
      await engine.close();
    });

    it('starts a guest again under TCG when KVM aborts it after it started', async () => {
      const engine = await harness.openEngine({
        driver: {
          accel: 'auto',
          probeGuest: image,
          kvmDevice: fakeKvmDevice,
          qemuBinary: writeKvmPvmQemu(harness.runDir, 'after-start'),
        },
      });
      const events: VmStateEvent[] = [];
      engine.on('vm-state', (event) => events.push(event));
      await engine.createVm(tinyVmSpec(image, 'accel-late'));
      expect(await engine.startVm('accel-late')).toMatchObject({ state: 'running', accel: 'kvm' });
      await waitUntil(
        engine,
        'accel-late',
        (status) => status.state === 'running' && status.accel === 'tcg',
        30_000,
      );
      expect(events.map((event) => event.state)).toEqual([
        'starting',
        'running',
        'crashed',
        'starting',
        'running',
      ]);
      expect(events[2]?.cause).toMatch(/under KVM.*restarting under TCG/);
      expect(engine.info().details.accelReason).toMatch(/KVM is unusable/);
      const serial = await harness.waitForShell(engine, 'accel-late');
      serial.write('echo late-$((6*7))\n');
      await serial.waitFor(/late-42/, 10_000);
      await engine.deleteVm('accel-late');
      await engine.close();
    });
  },
);

async function waitUntil(
  engine: Engine,
  vmId: string,
  done: (status: Awaited<ReturnType<Engine['getVm']>>) => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done(await engine.getVm(vmId))) {
    if (Date.now() > deadline) throw new Error(`VM ${vmId} did not get there in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
