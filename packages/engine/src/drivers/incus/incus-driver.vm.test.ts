/**
 * The Incus driver through the engine facade, on a real three-member Incus cluster made on this
 * machine (see IncusCluster): container labs in tenant projects, their consoles, snapshots, an exit
 * from inside, project limits as a second wall, adoption by a new engine and placement across
 * members. The tests share one cluster and run in order.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../engine.js';
import type { EngineConfig } from '../../engine-config.js';
import { EngineError } from '../../errors.js';
import { IncusCluster, incusClusterSkipReason } from '../../testing/incus-cluster.js';
import { SerialClient } from '../../testing/serial-client.js';
import { ensureTinyContainerImage, tinyContainerSpec } from '../../testing/tiny-container-image.js';
import { instanceNameOf } from './incus-driver.js';

const skipReason = incusClusterSkipReason();
if (skipReason && process.env.CI === 'true') throw new Error(`cannot run under CI: ${skipReason}`);

describe.skipIf(skipReason)('the Incus driver on a three-member cluster', () => {
  const cluster = new IncusCluster();
  let runDir = '';
  let config: EngineConfig;
  let engine: Engine;
  let imagePath: string;

  beforeAll(async () => {
    imagePath = ensureTinyContainerImage({ ci: process.env.CI === 'true' });
    runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-incus-run-'));
    await cluster.start(3);
    config = { runDir, driver: { kind: 'incus', ...cluster.connection(), pollMs: 1_000 } };
    engine = await createEngine(config);
  }, 180_000);

  afterAll(async () => {
    await engine?.close();
    await cluster.cleanup();
    if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
  }, 120_000);

  /** A console of a container, once its shell answers (Enter until a prompt shows). */
  const console = async (id: string): Promise<SerialClient> => {
    const terminal = await SerialClient.open(() => engine.openConsole(id, 'serial'));
    for (let tries = 0; ; tries++) {
      const from = terminal.mark();
      terminal.write('\n');
      try {
        await terminal.waitFor('# ', 1_000, from);
        return terminal;
      } catch (error) {
        if (tries === 10) throw error;
      }
    }
  };

  it('reports the cluster: its version, what containers can do, its members’ resources', () => {
    const info = engine.info();
    expect(info.error).toBeUndefined();
    expect(info).toMatchObject({ name: 'incus', details: { instanceType: 'container' } });
    expect(info.version).toMatch(/^\d+\.\d+/);
    expect(info.details.members).toBe('member1 (online), member2 (online), member3 (online)');
    expect(info.features).toContain('serial');
    expect(info.features).not.toContain('suspend-to-file');
    expect(info.features).not.toContain('vnc');
    expect(engine.capacity().host.vcpus).toBe(3 * os.cpus().length);
  });

  it('runs a container lab in its tenant’s project, with a console that answers', async () => {
    await engine.syncProject('tenant-a', { instances: 2 });
    const created = await engine.createVm(
      tinyContainerSpec(imagePath, 'lab-1', { project: 'tenant-a' }),
    );
    expect(created.state).toBe('stopped');
    const started = await engine.startVm('lab-1');
    expect(started).toMatchObject({ state: 'running', accel: 'container' });
    expect(started.pid).toBeGreaterThan(1);
    expect(cluster.instances('lv-tenant-a')).toMatchObject([
      { name: instanceNameOf('lab-1'), status: 'RUNNING' },
    ]);
    const terminal = await console('lab-1');
    try {
      expect(await terminal.run('echo $((6 * 7)); hostname')).toBe(
        `42\n${instanceNameOf('lab-1')}`,
      );
    } finally {
      terminal.close();
    }
  });

  it('refuses a desktop and a suspend with a sentence: containers have neither', async () => {
    await expect(engine.openConsole('lab-1', 'vnc')).rejects.toThrow(/no display/);
    await expect(engine.suspendVm('lab-1')).rejects.toThrow(/cannot be suspended/);
    expect((await engine.getVm('lab-1')).state).toBe('running');
  });

  it('takes a snapshot and restores it: the disk is back as it was', async () => {
    let terminal = await console('lab-1');
    await terminal.run('echo kept >/root/mark');
    terminal.close();
    const snapshot = await engine.createSnapshot('lab-1', { name: 'before' });
    expect(snapshot).toMatchObject({ name: 'before', memory: false });
    await expect(engine.createSnapshot('lab-1', { name: 'mem', memory: true })).rejects.toThrow(
      /not its memory/,
    );
    terminal = await console('lab-1');
    await terminal.run('rm /root/mark');
    terminal.close();
    const restored = await engine.restoreSnapshot('lab-1', 'before');
    expect(restored.state).toBe('running');
    terminal = await console('lab-1');
    try {
      expect(await terminal.run('cat /root/mark')).toBe('kept');
    } finally {
      terminal.close();
    }
    expect((await engine.listSnapshots('lab-1')).map((s) => s.name)).toEqual(['before']);
    await engine.deleteSnapshot('lab-1', 'before');
    expect(await engine.listSnapshots('lab-1')).toEqual([]);
  }, 60_000);

  it('refuses what the tenant’s project limits do not allow, as the engine’s own error', async () => {
    await engine.syncProject('tenant-a', { instances: 1 });
    const refused = await engine
      .createVm(tinyContainerSpec(imagePath, 'lab-2', { project: 'tenant-a' }))
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(EngineError);
    expect(refused).toMatchObject({ code: 'CAPACITY_EXCEEDED' });
    expect((refused as Error).message).toMatch(/maximum number of instances/);
    await expect(engine.getVm('lab-2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('hands running containers to a new engine, same process', async () => {
    const before = await engine.getVm('lab-1');
    await engine.close();
    engine = await createEngine(config);
    const after = await engine.getVm('lab-1');
    expect(after).toMatchObject({ state: 'running', pid: before.pid });
  });

  it('spreads a class over the members, and deletes the instances with the labs', async () => {
    await engine.syncProject('tenant-b', { instances: 6 });
    const ids = ['class-1', 'class-2', 'class-3'];
    await Promise.all(
      ids.map((id) => engine.createVm(tinyContainerSpec(imagePath, id, { project: 'tenant-b' }))),
    );
    const locations = cluster.instances('lv-tenant-b').map((instance) => instance.location);
    expect(new Set(locations).size).toBe(3);
    for (const id of ids) await engine.deleteVm(id);
    expect(cluster.instances('lv-tenant-b')).toEqual([]);
  }, 60_000);

  it('marks labs unavailable while their member is down, also for a server started then, and running again once it is back', async () => {
    const ids = ['far-1', 'far-2'];
    for (const id of ids) {
      await engine.createVm(tinyContainerSpec(imagePath, id, { project: 'tenant-c' }));
      await engine.startVm(id);
    }
    // One of them on a member other than the first, whose command line the test keeps using.
    const placed = cluster
      .instances('lv-tenant-c')
      .find((instance) => instance.location !== 'member1');
    expect(placed).toBeDefined();
    const id = placed!.name.slice('lv-'.length);
    const member = cluster.members.find((m) => m.name === placed!.location)!;
    const before = await engine.getVm(id);
    await cluster.killMember(member);
    await expect
      .poll(async () => (await engine.getVm(id)).state, { timeout: 60_000, interval: 500 })
      .toBe('unavailable');
    expect((await engine.getVm(id)).cause).toMatch(new RegExp(`"${member.name}" is offline`));
    // A server that starts while the member is down finds the lab out of reach too, not crashed,
    // and counts the members that answer.
    const started = await createEngine(config);
    try {
      expect(await started.getVm(id)).toMatchObject({ state: 'unavailable' });
      // Named when the cluster's database says where the lab lives (while it elects a new
      // leader it does not answer either).
      expect((await started.getVm(id)).cause).toMatch(
        new RegExp(`"${member.name}" is offline|Its host cannot be reached`),
      );
      expect(started.info().error).toBeUndefined();
    } finally {
      await started.close();
    }
    await cluster.restartMember(member);
    await expect
      .poll(async () => (await engine.getVm(id)).state, { timeout: 60_000, interval: 500 })
      .toBe('running');
    // The same container ran on while its member's daemon was gone.
    expect((await engine.getVm(id)).pid).toBe(before.pid);
    for (const each of ids) await engine.deleteVm(each);
  }, 180_000);

  it('sees a container that powers off from inside as stopped', async () => {
    const terminal = await console('lab-1');
    const from = terminal.mark();
    terminal.write('poweroff\n');
    // The shell has the command once it echoes it; the console stays open until the container
    // is gone, so closing it cannot race the keystrokes on their way through the cluster.
    await terminal.waitFor('poweroff', 5_000, from);
    try {
      await expect
        .poll(async () => (await engine.getVm('lab-1')).state, { timeout: 30_000, interval: 250 })
        .toBe('stopped');
    } finally {
      terminal.close();
    }
    await engine.deleteVm('lab-1');
  }, 60_000);
});
