/**
 * Real TCG guests of the tiny image through the engine facade. The tests in this file share one
 * VM and run in order (boot once, then stop/start, adoption, crash), to keep the suite short on a
 * 2-core host; each test still asserts one behaviour a user would notice.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_QEMU_USER } from './drivers/qemu/qemu-user.js';
import type { Engine, VmStateEvent } from './engine.js';
import { EngineError } from './errors.js';
import {
  ensureTinyImage,
  type TinyImage,
  tinyVmSpec,
  vmTestSkipReason,
} from './testing/tiny-image.js';
import { findProcessesUsing, VmHarness } from './testing/vm-harness.js';

const env = { cacheDir: process.env.LABVISOR_CACHE_DIR, ci: process.env.CI === 'true' };
const skipReason = vmTestSkipReason(env);

describe.skipIf(skipReason !== undefined)(
  `engine lifecycle on real guests${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let image: TinyImage;
    let harness: VmHarness;
    let engine: Engine;
    const events: VmStateEvent[] = [];

    beforeAll(async () => {
      harness = new VmHarness('lv-life-');
      image = harness.copyImage(ensureTinyImage(env));
      engine = await harness.openEngine({
        host: { memoryMib: 768, vcpus: 2 },
        overcommit: { memory: 1, vcpus: 1 },
      });
      engine.on('vm-state', (event) => events.push(event));
    });

    afterAll(async () => {
      await harness?.cleanup();
    });

    it('reports the driver, QEMU version and accelerator', () => {
      const info = engine.info();
      expect(info).toMatchObject({ name: 'qemu', details: { accel: 'tcg' } });
      expect(info.version).toMatch(/^\d+\.\d+/);
      expect(info.error).toBeUndefined();
    });

    it('creates a VM as an overlay and boots it to a shell that runs commands', async () => {
      const created = await engine.createVm(tinyVmSpec(image, 'life-1', { name: 'Life One' }));
      expect(created.state).toBe('stopped');
      expect(fs.existsSync(`${harness.runDir}/life-1/vm.json`)).toBe(true);
      const started = Date.now();
      const status = await engine.startVm('life-1');
      expect(status).toMatchObject({ state: 'running', accel: 'tcg' });
      expect(status.pid).toBeGreaterThan(0);
      const serial = await harness.waitForShell(engine, 'life-1');
      console.log(`life-1: start to shell prompt ${Date.now() - started} ms`);
      expect(await serial.run('echo $((6*7))')).toBe('42');
      expect(await serial.run('hostname')).toBe('life-one');
      serial.close();
      expect(events.map((event) => event.state)).toEqual(['starting', 'running']);
    });

    it("gives QEMU none of the server's environment, and keeps the VM's folder to its owner", async () => {
      const { pid } = await engine.getVm('life-1');
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
      expect(environ.map((entry) => entry.split('=')[0]).sort()).toEqual(['LANG', 'PATH']);
      expect(fs.statSync(harness.runDir).mode & 0o077).toBe(0);
      expect(fs.statSync(`${harness.runDir}/life-1`).mode & 0o077).toBe(0);
      expect(fs.statSync(`${harness.runDir}/life-1/qemu.log`).mode & 0o077).toBe(0);
    });

    it("runs a root server's QEMU under its own account, which cannot read the VM's files", async () => {
      const { pid } = await engine.getVm('life-1');
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const ids = (field: string) =>
        status
          .match(new RegExp(`^${field}:\\s+(.*)$`, 'm'))![1]!
          .split(/\s+/)
          .map(Number);
      if (process.getuid!() !== 0) {
        // A server that is not root cannot change QEMU's user: QEMU runs as the server.
        expect(ids('Uid')).toEqual(Array(4).fill(process.getuid!()));
        return;
      }
      const account = fs
        .readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .find((line) => line.startsWith(`${DEFAULT_QEMU_USER}:`))!
        .split(':');
      const [uid, gid] = [Number(account[2]), Number(account[3])];
      expect(uid).toBeGreaterThan(0);
      // Real, effective, saved and file-system ids: no way back to root.
      expect(ids('Uid')).toEqual([uid, uid, uid, uid]);
      expect(ids('Gid')).toEqual([gid, gid, gid, gid]);
      expect(ids('CapEff')).toEqual([0]);
      // QEMU holds its disk open from before the drop; the account itself cannot open it.
      expect(() =>
        execFileSync(
          'setpriv',
          [
            `--reuid=${uid}`,
            `--regid=${gid}`,
            '--clear-groups',
            'cat',
            `${harness.runDir}/life-1/disk.qcow2`,
          ],
          { stdio: 'pipe' },
        ),
      ).toThrow(/Permission denied/);
    });

    it('runs QEMU in its own session with no pipe to the server, so killing the server spares it', () => {
      return engine.getVm('life-1').then(({ pid }) => {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const [processGroup, session] = [Number(fields[2]), Number(fields[3])];
        const ownStat = fs.readFileSync('/proc/self/stat', 'utf8');
        const ownSession = Number(ownStat.slice(ownStat.lastIndexOf(')') + 2).split(' ')[3]);
        expect(session).toBe(pid);
        expect(processGroup).toBe(pid);
        expect(session).not.toBe(ownSession);
        expect(fs.readlinkSync(`/proc/${pid}/fd/0`)).toBe('/dev/null');
        expect(fs.readlinkSync(`/proc/${pid}/fd/2`)).toBe(`${harness.runDir}/life-1/qemu.log`);
      });
    });

    it('keeps the guest away from services on the host', async () => {
      let connections = 0;
      const hostService = net.createServer((socket) => {
        connections++;
        socket.end('HOST-SECRET\n');
      });
      await new Promise<void>((resolve) => hostService.listen(0, '127.0.0.1', resolve));
      const { port } = hostService.address() as net.AddressInfo;
      try {
        const serial = await harness.waitForShell(engine, 'life-1');
        await serial.run(
          'ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2',
        );
        // Plain slirp forwards 10.0.2.2 to the host's loopback; restrict=on must not.
        const output = await serial.run(
          `timeout 5 nc 10.0.2.2 ${port} </dev/null 2>&1; echo rc=$?`,
          15_000,
        );
        serial.close();
        expect(output).not.toContain('HOST-SECRET');
        expect(output).toMatch(/rc=[1-9]/);
        expect(connections).toBe(0);
      } finally {
        hostService.close();
      }
    });

    it('refuses illegal actions with INVALID_STATE and unknown VMs with NOT_FOUND', async () => {
      await expect(engine.startVm('life-1')).rejects.toMatchObject({ code: 'INVALID_STATE' });
      await expect(engine.getVm('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(engine.createVm(tinyVmSpec(image, 'life-1'))).rejects.toMatchObject({
        code: 'CONFLICT',
      });
    });

    it('refuses a start beyond host capacity and starts nothing', async () => {
      // host 768 MiB at ratio 1.0, life-1 holds 256 MiB: 512 more does not fit.
      await engine.createVm(tinyVmSpec(image, 'life-big', { memoryMib: 576 }));
      const error = await engine.startVm('life-big').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EngineError);
      expect(error).toMatchObject({
        code: 'CAPACITY_EXCEEDED',
        details: { resource: 'memoryMib', limit: 768, used: 256, requested: 576 },
      });
      expect((await engine.getVm('life-big')).state).toBe('stopped');
      expect(findProcessesUsing(`${harness.runDir}/life-big/`)).toEqual([]);
      expect(engine.capacity().used).toEqual({ memoryMib: 256, vcpus: 1, vms: 1 });
      await engine.deleteVm('life-big');
      expect(fs.existsSync(`${harness.runDir}/life-big`)).toBe(false);
    });

    it('pauses and resumes the guest', async () => {
      expect((await engine.pauseVm('life-1')).state).toBe('paused');
      await expect(engine.pauseVm('life-1')).rejects.toMatchObject({ code: 'INVALID_STATE' });
      expect((await engine.resumeVm('life-1')).state).toBe('running');
    });

    it('reboots the guest back to a fresh shell', async () => {
      let serial = await harness.waitForShell(engine, 'life-1');
      await serial.run('echo volatile > /tmp/gone-after-reboot');
      serial.close();
      const { pid } = await engine.getVm('life-1');
      expect(await engine.rebootVm('life-1')).toMatchObject({ state: 'running', pid });
      serial = await harness.waitForShell(engine, 'life-1');
      expect(await serial.run('cat /tmp/gone-after-reboot 2>&1 || true')).toMatch(/No such file/);
      serial.close();
    });

    it('keeps a file written in the guest across a graceful stop and a start', async () => {
      let serial = await harness.waitForShell(engine, 'life-1');
      await serial.run('echo persisted-$((40+2)) > /root/proof.txt; sync');
      serial.close();
      const stopped = await engine.stopVm('life-1', { timeoutMs: 20_000 });
      expect(stopped.state).toBe('stopped');
      expect(stopped.pid).toBeUndefined();
      // the guest powered off by ACPI within the timeout: no SIGKILL was needed
      expect(fs.readFileSync(`${harness.runDir}/life-1/qmp.log`, 'utf8')).not.toContain('"quit"');
      await engine.startVm('life-1');
      serial = await harness.waitForShell(engine, 'life-1');
      expect(await serial.run('cat /root/proof.txt')).toBe('persisted-42');
      serial.close();
    });

    it('is adopted, still running, by a new engine after the old one is dropped', async () => {
      const before = await engine.getVm('life-1');
      await engine.close();
      expect(findProcessesUsing(harness.runDir)).toContain(before.pid);
      engine = await harness.openEngine({ host: { memoryMib: 768, vcpus: 2 } });
      engine.on('vm-state', (event) => events.push(event));
      const adopted = await engine.getVm('life-1');
      expect(adopted).toMatchObject({ state: 'running', pid: before.pid });
      const serial = await harness.waitForShell(engine, 'life-1');
      expect(await serial.run('cat /root/proof.txt')).toBe('persisted-42');
      serial.close();
      expect(engine.capacity().used.memoryMib).toBe(256);
    });

    it('reports kill -9 of an adopted QEMU as crashed within 2 s', async () => {
      const { pid } = await engine.getVm('life-1');
      const crashed = new Promise<VmStateEvent>((resolve) =>
        engine.on('vm-state', (event) => event.state === 'crashed' && resolve(event)),
      );
      const killedAt = Date.now();
      process.kill(pid!, 'SIGKILL');
      const event = await crashed;
      expect(Date.now() - killedAt).toBeLessThan(2_000);
      expect(event.cause).toMatch(/exited unexpectedly/);
      const status = await engine.getVm('life-1');
      expect(status.state).toBe('crashed');
      expect(status.pid).toBeUndefined();
    });

    it('restarts a crashed VM, and reports kill -9 of its own child with the signal', async () => {
      await engine.startVm('life-1');
      const { pid } = await engine.getVm('life-1');
      const crashed = new Promise<VmStateEvent>((resolve) =>
        engine.on('vm-state', (event) => event.state === 'crashed' && resolve(event)),
      );
      const killedAt = Date.now();
      process.kill(pid!, 'SIGKILL');
      const event = await crashed;
      expect(Date.now() - killedAt).toBeLessThan(2_000);
      expect(event.cause).toMatch(/^QEMU was killed by signal SIGKILL/);
      // a new engine tells the crash from a stop too
      await engine.close();
      engine = await harness.openEngine();
      expect((await engine.getVm('life-1')).state).toBe('crashed');
    });

    it('says why a start failed, with QEMU’s words, and leaves the VM in error with no process', async () => {
      await engine.createVm(tinyVmSpec(image, 'life-bad'));
      fs.writeFileSync(`${harness.runDir}/life-bad/disk.qcow2`, 'not a disk image');
      const error = await engine.startVm('life-bad').catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'INTERNAL' });
      expect((error as Error).message).toBe(
        'Failed starting VM "life-bad": QEMU exited with status 1 (see qemu.log)',
      );
      expect(String((error as EngineError).details?.logTail)).toMatch(/qcow2|format/i);
      expect(await engine.getVm('life-bad')).toMatchObject({
        state: 'error',
        cause: 'Failed starting VM "life-bad": QEMU exited with status 1 (see qemu.log)',
      });
      expect(findProcessesUsing(`${harness.runDir}/life-bad/`)).toEqual([]);
      await engine.deleteVm('life-bad');
    });

    it('deletes a VM and every file of it', async () => {
      await engine.deleteVm('life-1');
      expect(fs.existsSync(`${harness.runDir}/life-1`)).toBe(false);
      await expect(engine.getVm('life-1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(findProcessesUsing(harness.runDir)).toEqual([]);
    });
  },
);
