/** The facade's rules (state table, locks, undo, capacity, observed exits) over a fake driver. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeDriver } from './drivers/fake/fake-driver.js';
import { Engine, type EngineConfig, type VmStateEvent } from './engine.js';
import { EngineError } from './errors.js';
import type { VmSpec } from './spec.js';

function spec(id: string, memoryMib = 256): VmSpec {
  return {
    id,
    name: id,
    vcpus: 1,
    memoryMib,
    diskGib: 1,
    boot: { kind: 'disk', baseDiskPath: '/images/base.qcow2', baseDiskFormat: 'qcow2' },
  };
}

describe('Engine facade', () => {
  let runDir: string;
  let driver: FakeDriver;
  let engine: Engine;
  let events: VmStateEvent[];

  async function open(config: Partial<EngineConfig> = {}): Promise<Engine> {
    const opened = await Engine.create(
      { runDir, driver: { kind: 'qemu', accel: 'tcg' }, ...config },
      async (observer) => {
        driver = new FakeDriver(observer);
        return driver;
      },
    );
    events = [];
    opened.on('vm-state', (event) => events.push(event));
    return opened;
  }

  beforeEach(async () => {
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lv-facade-'));
    engine = await open();
  });

  afterEach(async () => {
    await engine.close();
    fs.rmSync(runDir, { recursive: true, force: true });
  });

  it('creates a stopped VM with its spec on disk, and refuses duplicates and bad ids', async () => {
    expect(await engine.createVm(spec('a'))).toEqual({
      id: 'a',
      state: 'stopped',
      diskBytes: 4096,
    });
    expect(JSON.parse(fs.readFileSync(path.join(runDir, 'a', 'vm.json'), 'utf8')).id).toBe('a');
    await expect(engine.createVm(spec('a'))).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(engine.createVm(spec('A_b'))).rejects.toMatchObject({ code: 'VALIDATION' });
  });

  it('makes a failed start an error with its reason (never a bare stopped), resources released', async () => {
    await engine.createVm(spec('a'));
    driver.failStart = new EngineError(
      'INTERNAL',
      'Failed starting VM "a": QEMU exited with status 1 (see qemu.log)',
    );
    await expect(engine.startVm('a')).rejects.toThrow('QEMU exited with status 1');
    expect(await engine.getVm('a')).toMatchObject({
      state: 'error',
      cause: 'Failed starting VM "a": QEMU exited with status 1 (see qemu.log)',
    });
    expect(events.map((e) => e.state)).toEqual(['starting', 'error']);
    expect(engine.capacity().used.vms).toBe(0);
    driver.failStart = undefined;
    expect((await engine.startVm('a')).state).toBe('running');
  });

  it('starts again a VM whose accelerator failed it soon after its start', async () => {
    await engine.createVm(spec('a'));
    await engine.startVm('a');
    driver.die('a', {
      cause: 'QEMU was killed by signal SIGABRT under KVM',
      acceleratorFailed: true,
    });
    await vi.waitFor(() => expect(driver.pidOf('a')).toBeDefined());
    expect(events.map((e) => e.state)).toEqual([
      'starting',
      'running',
      'crashed',
      'starting',
      'running',
    ]);
    expect(driver.calls.filter((call) => call === 'start a')).toHaveLength(2);
  });

  it('keeps a VM whose saved state failed to restore in error, and retries the restore on start', async () => {
    await engine.createVm(spec('a'));
    await engine.startVm('a');
    await engine.suspendVm('a');
    driver.failStart = new EngineError('INTERNAL', 'Failed starting VM "a": restore failed');
    await expect(engine.startVm('a')).rejects.toThrow('restore failed');
    expect((await engine.getVm('a')).state).toBe('error');
    expect(fs.existsSync(path.join(runDir, 'a', 'saved-state'))).toBe(true);
    driver.failStart = undefined;
    expect(driver.lastStart).toEqual({ restoreSavedState: true });
    expect((await engine.startVm('a')).state).toBe('running');
    expect(fs.existsSync(path.join(runDir, 'a', 'saved-state'))).toBe(false);
  });

  it('admits only what fits when two starts race', async () => {
    await engine.createVm(spec('a', 768));
    await engine.createVm(spec('b', 768));
    const results = await Promise.allSettled([engine.startVm('a'), engine.startVm('b')]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({
      code: 'CAPACITY_EXCEEDED',
      details: { resource: 'memoryMib', limit: 1024, used: 768, requested: 768 },
    });
    expect(driver.calls.filter((c) => c.startsWith('start'))).toHaveLength(1);
  });

  it('serializes actions on one VM: a stop waits for the start in progress', async () => {
    await engine.createVm(spec('a'));
    let open!: () => void;
    driver.startGate = new Promise((resolve) => {
      open = resolve;
    });
    const start = engine.startVm('a');
    const stop = engine.stopVm('a');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(driver.calls).toEqual(['createDisk a', 'start a']);
    open();
    await start;
    expect((await stop).state).toBe('stopped');
    expect(events.map((e) => e.state)).toEqual(['starting', 'running', 'stopping', 'stopped']);
  });

  it('reports a QEMU that dies as crashed with its cause, and a guest poweroff as stopped', async () => {
    await engine.createVm(spec('a'));
    await engine.startVm('a');
    driver.die('a', { cause: 'QEMU was killed by signal SIGKILL' });
    expect(await engine.getVm('a')).toMatchObject({
      state: 'crashed',
      cause: 'QEMU was killed by signal SIGKILL',
    });
    expect(events.at(-1)).toEqual({
      vmId: 'a',
      state: 'crashed',
      cause: 'QEMU was killed by signal SIGKILL',
    });

    await engine.startVm('a');
    driver.die('a', { cause: 'The guest powered off', shutdownReason: 'guest-shutdown' });
    expect((await engine.getVm('a')).state).toBe('stopped');
  });

  it('applies an exit seen during an action once the action ends', async () => {
    await engine.createVm(spec('a'));
    await engine.startVm('a');
    const pause = engine.pauseVm('a');
    driver.die('a', { cause: 'QEMU exited with status 1' });
    await pause;
    expect((await engine.getVm('a')).state).toBe('crashed');
  });

  it('refuses illegal transitions from the table', async () => {
    await engine.createVm(spec('a'));
    await expect(engine.pauseVm('a')).rejects.toMatchObject({
      code: 'INVALID_STATE',
      message: 'Cannot pause VM "a" while it is stopped',
    });
    await expect(engine.suspendVm('a')).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await expect(engine.rebootVm('a')).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });

  it('resumes a suspended VM through start and frees its resources while suspended', async () => {
    await engine.createVm(spec('a'));
    await engine.startVm('a');
    expect((await engine.suspendVm('a')).state).toBe('suspended');
    expect(engine.capacity().used.vms).toBe(0);
    expect((await engine.resumeVm('a')).state).toBe('running');
    expect(fs.existsSync(path.join(runDir, 'a', 'saved-state'))).toBe(false);
  });

  it('suspends with a cause carried by the suspended state itself', async () => {
    await engine.createVm(spec('a'));
    await engine.startVm('a');
    const suspended = await engine.suspendVm('a', { cause: 'Suspended: idle' });
    expect(suspended).toMatchObject({ state: 'suspended', cause: 'Suspended: idle' });
    expect(events.filter((event) => event.state === 'suspended')).toEqual([
      { vmId: 'a', state: 'suspended', cause: 'Suspended: idle' },
    ]);
  });

  it('adopts running VMs and judges dead ones from the last recorded state', async () => {
    for (const id of ['run', 'gone', 'off', 'susp']) await engine.createVm(spec(id));
    await engine.startVm('run');
    await engine.startVm('gone');
    await engine.startVm('susp');
    await engine.suspendVm('susp');
    await engine.close();
    expect(driver.calls).not.toContain('stop run');

    engine = await Engine.create(
      { runDir, driver: { kind: 'qemu', accel: 'tcg' } },
      async (observer) => {
        driver = new FakeDriver(observer);
        driver.adoptable.set('run', 'paused');
        return driver;
      },
    );
    const states = Object.fromEntries((await engine.listVms()).map((vm) => [vm.id, vm.state]));
    expect(states).toEqual({ gone: 'crashed', off: 'stopped', run: 'paused', susp: 'suspended' });
    expect((await engine.getVm('gone')).cause).toMatch(/exited unexpectedly/);
  });

  it('finishes the starts and stops that the last engine left under way', async () => {
    for (const id of ['cut', 'half', 'ending']) {
      await engine.createVm(spec(id));
      await engine.startVm(id);
    }
    await engine.close();
    // The server died during two starts (one before QEMU ran, one while QEMU waited for `cont`)
    // and a stop whose guest still runs.
    const status = (id: string, value: object) =>
      fs.writeFileSync(
        path.join(runDir, id, 'status.json'),
        JSON.stringify({ ...value, updatedAt: new Date().toISOString() }),
      );
    status('cut', { state: 'starting' });
    status('half', { state: 'starting' });
    status('ending', { state: 'stopping', ending: 'stopped' });
    engine = await Engine.create(
      { runDir, driver: { kind: 'qemu', accel: 'tcg' } },
      async (observer) => {
        driver = new FakeDriver(observer);
        driver.adoptable.set('half', 'paused');
        driver.adoptable.set('ending', 'running');
        return driver;
      },
    );
    await vi.waitFor(async () => {
      const states = Object.fromEntries((await engine.listVms()).map((vm) => [vm.id, vm.state]));
      expect(states).toEqual({ cut: 'running', half: 'running', ending: 'stopped' });
    });
    expect(driver.calls).toEqual(
      expect.arrayContaining(['stop half', 'start cut', 'start half', 'stop ending']),
    );
    expect(driver.calls.indexOf('stop half')).toBeLessThan(driver.calls.indexOf('start half'));
  });

  it('refuses everything with UNAVAILABLE when the driver is unusable', async () => {
    await engine.close();
    engine = await Engine.create(
      { runDir, driver: { kind: 'qemu', accel: 'tcg' } },
      async (observer) => {
        driver = new FakeDriver(observer);
        driver.infoError = 'qemu-system-x86_64 cannot be run';
        return driver;
      },
    );
    expect(engine.info().error).toBe('qemu-system-x86_64 cannot be run');
    await expect(engine.createVm(spec('a'))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('deletes a running VM: stops it and removes its folder', async () => {
    await engine.createVm(spec('a'));
    await engine.startVm('a');
    await engine.deleteVm('a');
    expect(driver.calls).toContain('stop a');
    expect(fs.existsSync(path.join(runDir, 'a'))).toBe(false);
    await expect(engine.getVm('a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
