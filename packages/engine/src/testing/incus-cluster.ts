/**
 * Test helper for the Incus driver: a real Incus cluster of several members on this one machine,
 * as Incus's own test suite makes one (test/includes/clustering.sh). Each member's daemon runs in
 * its own network and mount namespace, on a bridge the helper creates (a /24 of 100.64.0.0/16,
 * its own, so that two clusters on one machine never share addresses) and always
 * removes; nothing it does reaches another address. Only container instances run here (see
 * ../../../../docs/incus.md).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IncusConnection } from '../drivers/incus/incus-client.js';
import { signalProcess, waitForProcessGone } from '../drivers/qemu/process-utils.js';

const INCUSD = '/usr/libexec/incus/incusd';
const COMMAND_TIMEOUT_MS = 60_000;

/** Why an Incus cluster cannot run here, or undefined when it can. */
export function incusClusterSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'an Incus cluster needs root';
  if (!fs.existsSync(INCUSD)) {
    return 'Incus is not installed (apt-get install -t bookworm-backports incus-base incus-client)';
  }
  for (const binary of ['incus', 'unshare', 'nsenter', 'ip', 'openssl']) {
    try {
      execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    } catch {
      return `${binary} is not installed`;
    }
  }
  return undefined;
}

/** One member of the cluster: its daemon, its namespace holder and its address. */
export interface IncusMember {
  name: string;
  address: string;
  /** `INCUS_DIR` of its daemon (its unix socket, database and instances). */
  dir: string;
  /** The process holding its namespaces. */
  holderPid: number;
  daemon?: ChildProcess;
}

export class IncusCluster {
  readonly id = randomBytes(3).toString('hex');
  readonly bridge = `lvib${this.id}`;
  /** The cluster's /24: the bridge is `.1`, members `.101`, `.102`... */
  readonly subnet = `100.64.${1 + (Number.parseInt(this.id, 16) % 254)}`;
  /** Every member's files (made by {@link start}). */
  root = '';
  readonly members: IncusMember[] = [];
  #clientCertificate: { cert: string; key: string } | undefined;

  /** Creates the bridge and `count` members, bootstraps the first and joins the others. */
  async start(count = 3): Promise<void> {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-incus-'));
    // Unprivileged containers' root users (mapped to high uids) must reach their root file systems.
    fs.chmodSync(this.root, 0o711);
    execFileSync('ip', ['link', 'add', this.bridge, 'up', 'type', 'bridge']);
    execFileSync('ip', ['addr', 'add', `${this.subnet}.1/24`, 'dev', this.bridge]);
    for (let index = 1; index <= count; index++) {
      const member = this.#createMember(index);
      this.members.push(member);
      await this.#startDaemon(member);
      if (index === 1) {
        this.incus(member, ['admin', 'init', '--preseed'], bootstrapPreseed(member));
        // A member that stops answering is offline after 11 s (Incus's minimum; default 20 s).
        this.incus(member, ['config', 'set', 'cluster.offline_threshold', '11']);
      } else this.#join(member);
    }
  }

  /** Runs the `incus` command line against a member's daemon (its unix socket); answers stdout. */
  incus(member: IncusMember, args: string[], input?: string): string {
    return execFileSync('incus', args, {
      env: { ...process.env, INCUS_DIR: member.dir },
      input,
      timeout: COMMAND_TIMEOUT_MS,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** The instances of a project (every project without one), as the first member lists them. */
  instances(project?: string): Array<{ name: string; status: string; location: string }> {
    const scope = project ? ['--project', project] : ['--all-projects'];
    return this.incus(this.#first(), ['list', ...scope, '--format', 'csv', '-c', 'nsL'])
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name = '', status = '', location = ''] = line.split(',');
        return { name, status, location };
      });
  }

  /**
   * How a client reaches the cluster over its REST API: every member's address, a client
   * certificate the cluster trusts (made and trusted on first call) and the pinned cluster
   * certificate.
   */
  connection(): IncusConnection {
    const first = this.#first();
    if (!this.#clientCertificate) {
      const certPath = path.join(this.root, 'client.crt');
      const keyPath = path.join(this.root, 'client.key');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:secp384r1',
          '-nodes',
          '-days',
          '30',
          '-subj',
          '/CN=labvisor-test',
          '-keyout',
          keyPath,
          '-out',
          certPath,
        ],
        { stdio: 'ignore' },
      );
      this.incus(first, ['config', 'trust', 'add-certificate', certPath, '--name', 'labvisor']);
      this.#clientCertificate = {
        cert: fs.readFileSync(certPath, 'utf8'),
        key: fs.readFileSync(keyPath, 'utf8'),
      };
    }
    return {
      addresses: this.members.map((member) => `${member.address}:8443`),
      clientCertificate: this.#clientCertificate.cert,
      clientKey: this.#clientCertificate.key,
      serverCertificate: this.serverCertificate(),
    };
  }

  /** The cluster's certificate (every member presents it), PEM. */
  serverCertificate(): string {
    return fs.readFileSync(path.join(this.#first().dir, 'cluster.crt'), 'utf8');
  }

  /** SHA-256 fingerprint of the cluster certificate, as `openssl x509 -fingerprint` prints it. */
  serverFingerprint(): string {
    return new X509Certificate(this.serverCertificate()).fingerprint256;
  }

  /** Ends a member's daemon at once (its containers keep running), as a crashed host would. */
  async killMember(member: IncusMember): Promise<void> {
    const pid = member.daemon?.pid;
    if (pid === undefined) return;
    signalProcess(pid, 'SIGKILL');
    await waitForProcessGone(pid, 10_000);
    member.daemon = undefined;
  }

  /** Starts a member's daemon again (after {@link killMember}). */
  async restartMember(member: IncusMember): Promise<void> {
    await this.#startDaemon(member);
  }

  /** Stops every instance and daemon, removes the namespaces, the bridge and every file. */
  async cleanup(): Promise<void> {
    if (!this.root) return;
    const answering = this.members.find((member) => member.daemon);
    if (answering) this.#deleteEveryInstance(answering);
    for (const member of this.members) {
      if (member.daemon?.pid !== undefined) {
        try {
          this.incus(member, ['admin', 'shutdown', '--timeout', '10']);
        } catch {
          signalProcess(member.daemon.pid, 'SIGKILL');
        }
        await waitForProcessGone(member.daemon.pid, 15_000);
      }
      signalProcess(member.holderPid, 'SIGKILL');
      try {
        execFileSync('ip', ['link', 'del', vethName(this.id, member)], { stdio: 'ignore' });
      } catch {
        // Gone with its namespace.
      }
    }
    // What a daemon that did not answer left running: its containers' monitors and their guests.
    for (const pid of processesUnder(this.root)) signalProcess(pid, 'SIGKILL');
    try {
      execFileSync('ip', ['link', 'del', this.bridge], { stdio: 'ignore' });
    } catch {
      // Never created.
    }
    for (const mount of fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[1] ?? '')
      .filter((target) => target.startsWith(this.root))
      .reverse()) {
      execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  #deleteEveryInstance(member: IncusMember): void {
    let listing = '';
    try {
      listing = this.incus(member, ['list', '--all-projects', '--format', 'csv', '-c', 'ne']);
    } catch {
      return; // Its processes are ended below.
    }
    for (const line of listing.split('\n').filter(Boolean)) {
      const [project, name] = line.split(',');
      if (!project || !name) continue;
      try {
        this.incus(member, ['delete', '--force', '--project', project, name]);
      } catch {
        // Ended with its monitor below.
      }
    }
  }

  #first(): IncusMember {
    const first = this.members[0];
    if (!first) throw new Error('The cluster has not started');
    return first;
  }

  /**
   * A member's namespaces: a private mount namespace with its own sysfs and proc (else its daemon
   * sees the host's interfaces) and a network namespace on the bridge.
   */
  #createMember(index: number): IncusMember {
    const member: IncusMember = {
      name: `member${index}`,
      address: `${this.subnet}.${100 + index}`,
      dir: path.join(this.root, `member${index}`),
      holderPid: 0,
    };
    fs.mkdirSync(member.dir, { recursive: true, mode: 0o711 });
    const holder = spawn(
      'unshare',
      ['--mount', '--net', '--propagation', 'private', 'sleep', 'infinity'],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    holder.unref();
    if (holder.pid === undefined) throw new Error('unshare did not start');
    member.holderPid = holder.pid;
    waitForNamespace(holder.pid);
    const veth = vethName(this.id, member);
    execFileSync('ip', [
      'link',
      'add',
      veth,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      String(holder.pid),
    ]);
    execFileSync('ip', ['link', 'set', veth, 'master', this.bridge, 'up']);
    this.#inside(member, [
      'set -e',
      'mount --move /sys /mnt',
      'umount -l /proc',
      'mount -t sysfs sysfs /sys',
      'mount --move /mnt/fs/cgroup /sys/fs/cgroup',
      'mount -t proc proc /proc',
      'umount -l /mnt',
      'ip link set lo up',
      'ip link set eth0 up',
      `ip addr add ${member.address}/24 dev eth0`,
    ]);
    return member;
  }

  /** Runs shell lines inside a member's namespaces. */
  #inside(member: IncusMember, lines: string[]): void {
    execFileSync(
      'nsenter',
      ['-m', '-n', '-t', String(member.holderPid), 'sh', '-c', lines.join('\n')],
      {
        timeout: COMMAND_TIMEOUT_MS,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
  }

  async #startDaemon(member: IncusMember): Promise<void> {
    const log = fs.openSync(path.join(member.dir, 'incusd.log'), 'a');
    member.daemon = spawn(
      'nsenter',
      ['-m', '-n', '-t', String(member.holderPid), INCUSD, '--group', 'root'],
      {
        env: { ...process.env, INCUS_DIR: member.dir },
        stdio: ['ignore', log, log],
        detached: true,
      },
    );
    member.daemon.unref();
    fs.closeSync(log);
    this.incus(member, ['admin', 'waitready', '--timeout', '60']);
  }

  #join(member: IncusMember): void {
    const first = this.#first();
    const token = this.incus(first, ['cluster', 'add', member.name, '--quiet']).trim();
    const preseed = [
      'cluster:',
      '  enabled: true',
      `  server_name: ${member.name}`,
      `  server_address: ${member.address}:8443`,
      `  cluster_address: ${first.address}:8443`,
      `  cluster_certificate: ${JSON.stringify(this.serverCertificate())}`,
      `  cluster_token: ${token}`,
      '  member_config:',
      '  - {entity: storage-pool, name: data, key: source, value: ""}',
    ].join('\n');
    this.incus(member, ['admin', 'init', '--preseed'], preseed);
  }
}

function bootstrapPreseed(member: IncusMember): string {
  return [
    'config:',
    `  core.https_address: ${member.address}:8443`,
    '  images.auto_update_interval: 0',
    // Members keep their own copy of an image: a copy between members needs no image server.
    'storage_pools:',
    '- {name: data, driver: dir}',
    'profiles:',
    '- name: default',
    '  devices:',
    '    root: {path: /, pool: data, type: disk}',
    'cluster:',
    `  server_name: ${member.name}`,
    '  enabled: true',
  ].join('\n');
}

function vethName(clusterId: string, member: IncusMember): string {
  return `lvi${clusterId}${member.name.slice(-1)}`;
}

/**
 * Processes whose command line names a path under `root` (the daemons' container monitors), with
 * every descendant (the containers' processes).
 */
function processesUnder(root: string): number[] {
  const parents = new Map<number, number>();
  const found = new Set<number>();
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      parents.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(root)) found.add(pid);
    } catch {
      // Ended meanwhile.
    }
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, parent] of parents) {
      if (!found.has(pid) && found.has(parent)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found].filter((pid) => pid !== process.pid);
}

/** Waits until `unshare` has made its namespaces (its net namespace differs from ours). */
function waitForNamespace(pid: number): void {
  const own = fs.readlinkSync('/proc/self/ns/net');
  for (let tries = 0; tries < 200; tries++) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/ns/net`) !== own) return;
    } catch {
      // Not there yet.
    }
    execFileSync('sleep', ['0.01']);
  }
  throw new Error(`unshare (pid ${pid}) made no namespace`);
}
