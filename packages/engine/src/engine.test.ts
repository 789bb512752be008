/** The facade's rules (state table, locks, undo, capacity, observed exits) over a fake driver. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type {
  Driver,
  DriverInfo,
  DriverObserver,
  DriverVm,
  RunState,
  SnapshotInfo,
} from './driver.js';
import { Engine, type EngineConfig, type VmStateEvent } from './engine.js';
import { EngineError } from './errors.js';
import type { VmSpec } from './spec.js';

class FakeDriver implements Driver {
  readonly name = 'qemu' as const;
  readonly calls: string[] = [];
  readonly pids = new Map<string, number>();
  startGate: Promise<void> = Promise.resolve();
  failStart: Error | undefined;
  adoptable = new Map<string, RunState>();
  infoError: string | undefined;
  nextPid = 1000;

  constructor(readonly observer: DriverObserver) {}

  info(): DriverInfo {
    const info: DriverInfo = {
      name: 'qemu',
      version: '7.2.0',
      accel: 'tcg',
      accelReason: 'configured as tcg',
      features: [],
    };
    if (this.infoError) info.error = this.infoError;
    return info;
  }
  async createDisk(vm: DriverVm): Promise<void> {
    this.calls.push(`createDisk ${vm.id}`);
    fs.writeFileSync(vm.paths.disk, 'disk');
  }
  async start(vm: DriverVm): Promise<{ pid: number; runState: RunState }> {
    this.calls.push(`start ${vm.id}`);
    await this.startGate;
    if (this.failStart) throw this.failStart;
    const pid = this.nextPid++;
    this.pids.set(vm.id, pid);
    return { pid, runState: 'running' };
  }
  async adopt(vm: DriverVm): Promise<{ pid: number; runState: RunState } | null> {
    const runState = this.adoptable.get(vm.id);
    if (!runState) return null;
    this.pids.set(vm.id, 4242);
    return { pid: 4242, runState };
  }
  async stop(vm: DriverVm): Promise<void> {
    this.calls.push(`stop ${vm.id}`);
    this.pids.delete(vm.id);
  }
  async queryRunState(): Promise<RunState> {
    return 'running';
  }
  async reboot(vm: DriverVm): Promise<void> {
    this.calls.push(`reboot ${vm.id}`);
  }
  async pause(vm: DriverVm): Promise<void> {
    this.calls.push(`pause ${vm.id}`);
  }
  async resume(vm: DriverVm): Promise<void> {
    this.calls.push(`resume ${vm.id}`);
  }
  async suspend(vm: DriverVm): Promise<{ wasRunning: boolean }> {
    this.pids.delete(vm.id);
    fs.writeFileSync(vm.paths.savedState, 'state');
    return { wasRunning: true };
  }
  pidOf(vmId: string): number | undefined {
    return this.pids.get(vmId);
  }
  accelOf(vmId: string): 'tcg' | undefined {
    return this.pids.has(vmId) ? 'tcg' : undefined;
  }
  async diskUsage(): Promise<number> {
    return 4096;
  }
  async createSnapshot(): Promise<SnapshotInfo> {
    throw new Error('not used');
  }
  async getSnapshot(): Promise<SnapshotInfo> {
    throw new Error('not used');
  }
  async restoreSnapshot(): Promise<void> {}
  async deleteSnapshot(): Promise<void> {}
  async listSnapshots(): Promise<SnapshotInfo[]> {
    return [];
  }
  release(): void {}
  async close(): Promise<void> {
    this.calls.push('close');
  }
  /** Simulates QEMU dying on its own. */
  die(
    vmId: string,
    exit: { cause: string; shutdownReason?: string; acceleratorFailed?: boolean },
  ): void {
    this.pids.delete(vmId);
    this.observer.onExit(vmId, { requested: false, code: null, signal: 'SIGKILL', ...exit });
  }
}

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
      { runDir, accel: 'tcg', host: { memoryMib: 1024, vcpus: 2 }, ...config },
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
    expect(fs.existsSync(path.join(runDir, 'a', 'saved-state.bin'))).toBe(true);
    driver.failStart = undefined;
    expect((await engine.startVm('a')).state).toBe('running');
    expect(fs.existsSync(path.join(runDir, 'a', 'saved-state.bin'))).toBe(false);
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
    expect(fs.existsSync(path.join(runDir, 'a', 'saved-state.bin'))).toBe(false);
  });

  it('adopts running VMs and judges dead ones from the last recorded state', async () => {
    for (const id of ['run', 'gone', 'off', 'susp']) await engine.createVm(spec(id));
    await engine.startVm('run');
    await engine.startVm('gone');
    await engine.startVm('susp');
    await engine.suspendVm('susp');
    await engine.close();
    expect(driver.calls).not.toContain('stop run');

    engine = await Engine.create({ runDir, accel: 'tcg' }, async (observer) => {
      driver = new FakeDriver(observer);
      driver.adoptable.set('run', 'paused');
      return driver;
    });
    const states = Object.fromEntries((await engine.listVms()).map((vm) => [vm.id, vm.state]));
    expect(states).toEqual({ gone: 'crashed', off: 'stopped', run: 'paused', susp: 'suspended' });
    expect((await engine.getVm('gone')).cause).toMatch(/exited unexpectedly/);
  });

  it('refuses everything with UNAVAILABLE when the driver is unusable', async () => {
    await engine.close();
    engine = await Engine.create({ runDir, accel: 'tcg' }, async (observer) => {
      driver = new FakeDriver(observer);
      driver.infoError = 'qemu-system-x86_64 cannot be run';
      return driver;
    });
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
