/**
 * Guest networks on real TCG guests and real kernel networking, inside namespaces the test makes
 * and removes (see NetworkLab): `internet` reaches the stand-in internet and nothing of the host,
 * its private ranges or metadata; `class` VMs of one tenant reach each other and no other
 * tenant's; `none` reaches nothing. Five small guests, booted two at a time.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../engine.js';
import { SILENT_LOGGER } from '../../../logger.js';
import {
  HOST_PUBLIC_ADDRESS,
  INTERNET_ADDRESS,
  INTERNET_NAME,
  INTERNET_RESOLVER,
  LAN_ADDRESS,
  METADATA_ADDRESS,
  NetworkLab,
  networkLabSkipReason,
} from '../../../testing/network-lab.js';
import type { SerialClient } from '../../../testing/serial-client.js';
import {
  ensureTinyImage,
  type TinyImage,
  tinyVmSpec,
  vmTestSkipReason,
} from '../../../testing/tiny-image.js';
import { VmHarness } from '../../../testing/vm-harness.js';
import { tapName } from './addressing.js';
import { GuestNetworks, type GuestNetworksConfig } from './guest-networks.js';

const env = { cacheDir: process.env.LABVISOR_CACHE_DIR, ci: process.env.CI === 'true' };
const skipReason = vmTestSkipReason(env) ?? networkLabSkipReason();
if (skipReason && env.ci) throw new Error(`guest network tests cannot run under CI: ${skipReason}`);

/** Ports the stand-in host serves on every address: its API and its database. */
const HOST_PORTS = { api: 3000, postgres: 5432 };

describe.skipIf(skipReason !== undefined)(
  `guest networks on real guests${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let image: TinyImage;
    let harness: VmHarness;
    let engine: Engine;
    const lab = new NetworkLab();
    const shells = new Map<string, SerialClient>();
    let networks: GuestNetworksConfig | undefined;

    /** Boots `ids` together and waits for their shells and DHCP addresses. */
    async function boot(...ids: string[]): Promise<void> {
      await Promise.all(ids.map((id) => engine.startVm(id)));
      for (const id of ids) {
        const shell = await harness.waitForShell(engine, id);
        shells.set(id, shell);
        const address = (await engine.getVm(id)).address;
        if (address) await waitForAddress(shell, address);
      }
    }

    /**
     * What an HTTP GET of `address:port` answered in `vmId`'s guest (nothing but `fetched` when
     * nothing did). By nc: the static busybox's wget crashes looking up its own resolver.
     */
    async function fetchIn(vmId: string, address: string, port = 80): Promise<string> {
      return shells
        .get(vmId)!
        .run(
          `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${address} ${port} 2>&1; echo fetched`,
          20_000,
        );
    }

    beforeAll(async () => {
      await lab.start(HOST_PORTS);
      harness = new VmHarness('lv-net-');
      image = harness.copyImage(ensureTinyImage(env));
      networks = {
        namespace: lab.router,
        uplinkNamespace: lab.host,
        dnsServers: [INTERNET_RESOLVER],
        stateDir: path.join(harness.runDir, '.network'),
      };
      engine = await harness.openEngine({
        host: { memoryMib: 2048, vcpus: 2 },
        overcommit: { memory: 1, vcpus: 4 },
        driver: { guestNetworks: networks, templatesDir: path.join(harness.runDir, '.templates') },
      });
      const spec = (id: string, network: Parameters<typeof tinyVmSpec>[2]) =>
        engine.createVm(tinyVmSpec(image, id, { memoryMib: 192, ...network }));
      await spec('inet', { network: { mode: 'internet', bandwidthMbps: 2 } });
      await spec('none', {});
      await spec('a1', { network: { mode: 'class', segment: 'tenant-a', internet: false } });
      await spec('a2', { network: { mode: 'class', segment: 'tenant-a', internet: false } });
      await spec('b1', { network: { mode: 'class', segment: 'tenant-b', internet: false } });
    }, 120_000);

    afterAll(async () => {
      await harness?.cleanup();
      if (networks) await new GuestNetworks(networks, SILENT_LOGGER).destroy();
      await lab.cleanup();
    }, 60_000);

    it('says the host can run guest networks', () => {
      const info = engine.info();
      expect(info.features).toContain('guest-networks');
      expect(info.details.guestNetworks).toMatch(/^on/);
    });

    it('gives an internet VM its own lease and the internet, and nothing of the host', async () => {
      await boot('inet', 'none');
      const status = await engine.getVm('inet');
      expect(status.address).toMatch(/^10\.127\.0\.\d+$/);
      expect(await fetchIn('inet', INTERNET_ADDRESS)).toContain('INTERNET-PAGE');
      // Names resolve through the router, which forwards to the host's resolver; at the gateway
      // the lease names, and at QEMU user networking's resolver address (debian-lab's).
      for (const server of ['', '10.0.2.3']) {
        const answer = await shells.get('inet')!.run(`nslookup ${INTERNET_NAME} ${server}`, 20_000);
        expect(answer, `nslookup at ${server || 'the lease’s resolver'}`).toContain(
          `Address: ${INTERNET_ADDRESS}`,
        );
      }
      const refused: Array<[string, number]> = [
        [HOST_PUBLIC_ADDRESS, HOST_PORTS.api],
        [HOST_PUBLIC_ADDRESS, HOST_PORTS.postgres],
        ['169.254.77.1', HOST_PORTS.api],
        [LAN_ADDRESS, 80],
        [METADATA_ADDRESS, 80],
      ];
      for (const [address, port] of refused) {
        const output = await fetchIn('inet', address, port);
        expect(output, `${address}:${port}`).toContain('fetched');
        expect(output, `${address}:${port}`).not.toMatch(/HOST-|LAN-SECRET|METADATA-SECRET/);
      }
    });

    it('limits an internet VM to its bandwidth and counts its bytes', async () => {
      const tap = tapName('inet');
      const qdisc = execFileSync('tc', ['-n', lab.router, 'qdisc', 'show', 'dev', tap], {
        encoding: 'utf8',
      });
      expect(qdisc).toMatch(/tbf .*rate 2Mbit/);
      const uploads = execFileSync('nsenter', [
        `--net=/run/netns/${lab.router}`,
        'nft',
        'list',
        'chain',
        'bridge',
        'labvisor_guests',
        `tap_${tap}`,
      ]).toString();
      expect(uploads).toContain('limit rate over 250 kbytes/second');
      // 1 MiB at 2 Mbit/s takes about 4.2 s; unlimited, well under one second here.
      const started = Date.now();
      const output = await shells
        .get('inet')!
        .run(
          `printf 'GET /?bytes=1048576 HTTP/1.0\\r\\n\\r\\n' | nc -w 20 ${INTERNET_ADDRESS} 80 | wc -c`,
          60_000,
        );
      const seconds = (Date.now() - started) / 1000;
      expect(Number(/(\d{7,})/.exec(output)?.[1])).toBeGreaterThan(1_048_576);
      expect(seconds).toBeGreaterThan(3);
      const counters = await engine.networkCounters();
      expect(counters.get('inet')!.in).toBeGreaterThan(1_048_576);
      expect(counters.get('inet')!.out).toBeGreaterThan(0);
      expect(counters.has('none')).toBe(false);
    });

    it('gives a VM without a network nothing that answers', async () => {
      expect((await engine.getVm('none')).address).toBeUndefined();
      const output = await fetchIn('none', INTERNET_ADDRESS);
      expect(output).toContain('fetched');
      expect(output).not.toContain('INTERNET-PAGE');
    });

    it('puts the VMs of one class on one segment that no other class reaches', async () => {
      await engine.stopVm('inet', { force: true });
      await engine.stopVm('none', { force: true });

      await boot('a1', 'a2');
      await boot('b1');
      const a1 = (await engine.getVm('a1')).address!;
      const a2 = (await engine.getVm('a2')).address!;
      const b1 = (await engine.getVm('b1')).address!;
      expect(a1).toMatch(/^10\.128\.\d+\.\d+$/);
      expect(a1.split('.').slice(0, 3)).toEqual(a2.split('.').slice(0, 3));
      expect(b1.split('.').slice(0, 3)).not.toEqual(a1.split('.').slice(0, 3));
      await shells
        .get('a1')!
        .run('mkdir -p /tmp/www && echo A1-PAGE >/tmp/www/index.html && httpd -p 8080 -h /tmp/www');
      await shells
        .get('a2')!
        .run('mkdir -p /tmp/www && echo A2-PAGE >/tmp/www/index.html && httpd -p 8080 -h /tmp/www');
      expect(await fetchIn('a2', a1, 8080)).toContain('A1-PAGE');
      expect(await fetchIn('a1', a2, 8080)).toContain('A2-PAGE');
      // Another tenant's VM reaches neither.
      expect(await fetchIn('b1', a1, 8080)).not.toContain('A1-PAGE');
      expect(await fetchIn('b1', a2, 8080)).not.toContain('A2-PAGE');
      // A class without internet egress keeps to itself.
      expect(await fetchIn('a1', INTERNET_ADDRESS)).not.toContain('INTERNET-PAGE');
      // A guest that takes another address than its lease's is not heard, even by its class.
      const spoofed = `${a1.split('.').slice(0, 3).join('.')}.250`;
      await shells.get('a2')!.run(`ip addr flush dev eth0 && ip addr add ${spoofed}/24 dev eth0`);
      expect(await fetchIn('a2', a1, 8080)).not.toContain('A1-PAGE');
    });

    it('opens a guest’s TCP port to the host through the router namespace', async () => {
      const socket = await engine.openGuestPort('a1', 8080);
      socket.write('GET / HTTP/1.0\r\n\r\n');
      let answer = '';
      for await (const chunk of socket) answer += String(chunk);
      expect(answer).toMatch(/^HTTP\/1\.[01] 200/);
      expect(answer).toContain('A1-PAGE');
      await expect(engine.openGuestPort('a1', 8081)).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringContaining('Nothing listens on port 8081'),
      });
      await expect(engine.openGuestPort('none', 80)).rejects.toMatchObject({
        code: 'INVALID_STATE',
      });
    });

    it('changes a stopped VM’s network, and its next start uses it', async () => {
      await engine.stopVm('b1', { force: true });
      await engine.setVmNetwork('b1', { mode: 'internet' });
      await expect(engine.setVmNetwork('a1', { mode: 'none' })).rejects.toMatchObject({
        code: 'INVALID_STATE',
      });
      await boot('b1');
      expect((await engine.getVm('b1')).address).toMatch(/^10\.127\.0\.\d+$/);
      expect(await fetchIn('b1', INTERNET_ADDRESS)).toContain('INTERNET-PAGE');
    });

    it('clones a template onto a guest network with its own MAC address and lease', async () => {
      await engine.buildTemplate(
        tinyVmSpec(image, 'template', { memoryMib: 192, guestAgent: true }),
      );
      for (const id of ['c1', 'c2']) {
        await engine.createVm(
          tinyVmSpec(image, id, {
            memoryMib: 192,
            guestAgent: true,
            network: { mode: 'internet' },
          }),
        );
      }
      await boot('c1', 'c2');
      const macs = new Set<string>();
      for (const id of ['c1', 'c2']) {
        expect((await engine.getVm(id)).bootPath).toBe('template');
        const mac = (await shells.get(id)!.run('cat /sys/class/net/eth0/address')).trim();
        expect(mac).toMatch(/52:54:00:00:00:[0-9a-f]{2}$/);
        macs.add(mac.slice(-17));
        expect(await fetchIn(id, INTERNET_ADDRESS)).toContain('INTERNET-PAGE');
      }
      expect(macs.size).toBe(2);
      // A networked clone suspends and continues like any VM (its saved state holds the section
      // of the template's user network, which the continued QEMU must have again).
      shells.get('c1')!.close();
      expect((await engine.suspendVm('c1')).state).toBe('suspended');
      expect(await engine.startVm('c1')).toMatchObject({
        state: 'running',
        bootPath: 'saved-state',
      });
      const resumed = await harness.waitForShell(engine, 'c1');
      shells.set('c1', resumed);
      // The continued guest catches up on its timers and re-learns its gateway first.
      await expect
        .poll(() => fetchIn('c1', INTERNET_ADDRESS), { timeout: 60_000, interval: 1000 })
        .toContain('INTERNET-PAGE');
    }, 240_000);

    it('hands a warm pool’s paused clone its network when it is claimed', async () => {
      await engine.createVm(
        tinyVmSpec(image, 'p1', {
          memoryMib: 192,
          guestAgent: true,
          network: { mode: 'internet' },
        }),
      );
      expect((await engine.startPooledVm('p1')).state).toBe('paused');
      const claimed = await engine.claimVm('p1', { name: 'p1' });
      expect(claimed).toMatchObject({ state: 'running', bootPath: 'pool' });
      const shell = await harness.waitForShell(engine, 'p1');
      shells.set('p1', shell);
      await waitForAddress(shell, claimed.address!);
      expect(await fetchIn('p1', INTERNET_ADDRESS)).toContain('INTERNET-PAGE');
    }, 120_000);
  },
);

/** Waits until the guest's eth0 holds `address` (its DHCP lease). */
async function waitForAddress(shell: SerialClient, address: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const output = await shell.run('ip -4 addr show eth0');
    if (output.includes(`inet ${address}/`)) return;
    if (Date.now() > deadline) throw new Error(`the guest never got ${address}: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}
