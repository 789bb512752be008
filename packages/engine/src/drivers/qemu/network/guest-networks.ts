import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { EngineError } from '../../../errors.js';
import { KeyedLock } from '../../../lock.js';
import type { EngineLogger } from '../../../logger.js';
import type { VmNetwork } from '../../../spec.js';
import { writeJsonAtomic } from '../../../vm-record.js';
import { readPidFile, signalProcess, waitForProcessGone } from '../process-utils.js';
import {
  bridgeName,
  formatSubnet,
  hostAddress,
  INTERNET_SEGMENT,
  type Lease,
  lastHost,
  leaseMac,
  MAX_CLASS_SEGMENTS,
  netmask,
  numberToIpv4,
  parseSubnet,
  segmentSubnet,
  tapName,
  UPLINK_ROUTER_NAME,
  uplinkHostName,
} from './addressing.js';
import { daemonPid, run, runIn, startDaemonIn } from './namespace-commands.js';
import {
  EGRESS_SET,
  guestsRuleset,
  ROUTER_TABLE,
  routerRuleset,
  type TapRules,
  tapRulesScript,
  uplinkRuleset,
  uplinkTable,
} from './nft-rulesets.js';
import { PortForwarding, PortRefusedError } from './port-forwarding.js';

/** Configuration of guest networking (`internet` and `class` modes). */
export interface GuestNetworksConfig {
  /** The router namespace every guest network lives in (default `labvisor`). */
  namespace?: string;
  /** The namespace the uplink leads to; default the host's own (the server's). */
  uplinkNamespace?: string;
  /** The uplink's /30: the host side takes the first address, the router the second. */
  transitSubnet?: string;
  /** Resolvers the guests' DNS forwards to (default: the host's non-loopback nameservers). */
  dnsServers?: string[];
  /** Where leases are kept across restarts. */
  stateDir: string;
}

/** A VM's place on its network, as QEMU and users need it. */
export interface GuestNic {
  tap: string;
  mac: string;
  address: string;
  /** The namespace QEMU must open the tap in. */
  namespace: string;
}

interface LeaseFile {
  segments: Record<string, number>;
  /** Segments whose guests may go out to the internet. */
  egress?: Record<string, boolean>;
  leases: Record<string, { segment: string; host: number; bandwidthMbps?: number }>;
}

const DEFAULT_TRANSIT = '169.254.77.0/30';
const LOCK = 'network';

/**
 * The host's guest networks: a router network namespace holding one bridge per segment (an
 * `internet` bridge whose ports are isolated from each other, one bridge per class), a tap per
 * VM, dnsmasq per bridge for DHCP (a fixed lease per VM) and DNS, nftables for what may go out,
 * and a veth uplink to the host, which masquerades it and takes nothing from it.
 *
 * Guests live in their own namespace, so the host's loopback services are out of their reach by
 * construction; the firewall on both ends of the uplink keeps the host's other addresses, private
 * ranges and link-local metadata out of reach too. Every command runs without a shell, from
 * values the engine derives (a tenant's input never reaches one).
 */
export class GuestNetworks {
  readonly namespace: string;
  readonly #config: GuestNetworksConfig;
  readonly #logger: EngineLogger;
  readonly #lock = new KeyedLock();
  readonly #runDir: string;
  readonly #hostVeth: string;
  readonly #transit: { cidr: string; host: string; router: string };
  readonly #ports: PortForwarding;
  #leases: LeaseFile | undefined;
  #routerReady = false;

  constructor(config: GuestNetworksConfig, logger: EngineLogger) {
    this.#config = config;
    this.#logger = logger;
    this.namespace = config.namespace ?? 'labvisor';
    this.#runDir = path.join('/run/labvisor-net', this.namespace);
    this.#hostVeth = uplinkHostName(this.namespace);
    this.#ports = new PortForwarding(this.namespace, this.#runDir);
    const transit = parseSubnet(config.transitSubnet ?? DEFAULT_TRANSIT);
    this.#transit = {
      cidr: formatSubnet(transit),
      host: hostAddress(transit, 1),
      router: hostAddress(transit, 2),
    };
  }

  /** Why guest networks cannot work on this host, or undefined when they can. */
  static async unavailableReason(): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return 'guest networks need the server to run as root';
    if (!fs.existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
    for (const [binary, args] of [
      ['nft', ['--version']],
      ['dnsmasq', ['--version']],
      ['ip', ['-V']],
      ['nsenter', ['--version']],
    ] as const) {
      try {
        await run(binary, [...args]);
      } catch {
        return `${binary} is not installed (Debian packages nftables, dnsmasq-base, iproute2, util-linux)`;
      }
    }
    return undefined;
  }

  /**
   * Gives a VM its place on its network before its QEMU starts: a lease (kept while the VM
   * exists), the segment's bridge, DHCP and firewall, and a fresh tap on the bridge.
   */
  attach(vmId: string, network: Exclude<VmNetwork, { mode: 'none' }>): Promise<GuestNic> {
    return this.#lock.run(LOCK, async () => {
      await this.#ensureRouter();
      const segment = network.mode === 'class' ? network.segment : INTERNET_SEGMENT;
      const lease = this.#lease(vmId, segment, network.bandwidthMbps);
      await this.#ensureSegment(lease.index, network.mode === 'internet' || network.internet);
      const tap = tapName(vmId);
      await this.#ip(['link', 'del', tap]).catch(() => undefined);
      await this.#ip(['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      await this.#ip(['link', 'set', tap, 'master', bridgeName(lease.index)]);
      if (lease.index === 0)
        await this.#ip(['link', 'set', tap, 'type', 'bridge_slave', 'isolated', 'on']);
      await this.#ip(['link', 'set', tap, 'up']);
      const nic = this.#nicOf(vmId, lease);
      await this.#applyTapRules(tap, {
        mac: nic.mac,
        address: nic.address,
        mbps: network.bandwidthMbps,
      });
      return nic;
    });
  }

  /** The VM's place on its network, if it has a lease. */
  nicOf(vmId: string): GuestNic | undefined {
    const leases = this.#readLeases();
    const entry = leases.leases[vmId];
    if (!entry) return undefined;
    const index = leases.segments[entry.segment];
    return index === undefined ? undefined : this.#nicOf(vmId, { ...entry, index });
  }

  /**
   * A byte stream to TCP `port` of a VM's guest, through the port forwarder in the router
   * namespace. UNAVAILABLE when nothing answers there.
   */
  async connect(vmId: string, port: number): Promise<net.Socket> {
    const nic = this.nicOf(vmId);
    if (!nic) throw new EngineError('INVALID_STATE', `VM "${vmId}" has no network address yet`);
    await this.#lock.run(LOCK, async () => {
      await this.#ensureRouter();
      await this.#ports.ensure();
    });
    try {
      return await this.#ports.connect(nic.address, port);
    } catch (error) {
      if (!(error instanceof PortRefusedError)) throw error;
      throw new EngineError(
        'UNAVAILABLE',
        error.message === 'ECONNREFUSED'
          ? `Nothing listens on port ${port} of VM "${vmId}"`
          : `Port ${port} of VM "${vmId}" does not answer (${error.message})`,
        { vmId, port },
      );
    }
  }

  /** Frees a deleted VM's tap and lease. */
  release(vmId: string): Promise<void> {
    return this.#lock.run(LOCK, async () => {
      const leases = this.#readLeases();
      const entry = leases.leases[vmId];
      if (!entry) return;
      await this.#ip(['link', 'del', tapName(vmId)]).catch(() => undefined);
      await this.#applyTapRules(tapName(vmId), undefined).catch(() => undefined);
      delete leases.leases[vmId];
      this.#writeLeases(leases);
      const index = leases.segments[entry.segment];
      if (index !== undefined && this.#routerReady) await this.#writeHosts(index, leases);
    });
  }

  /**
   * Removes everything guest networks made: dnsmasq processes, the router namespace (its bridges
   * and taps with it), the uplink's host side and its firewall table. Leases are kept.
   */
  async destroy(): Promise<void> {
    await this.#lock.run(LOCK, async () => {
      for (const file of await fsp.readdir(this.#runDir).catch(() => [] as string[])) {
        if (!file.endsWith('.pid')) continue;
        const pid =
          file === 'forwarder.pid'
            ? await readPidFile(this.#ports.pidFile)
            : await this.#dnsmasqPid(file.slice(0, -'.pid'.length));
        if (pid === undefined) continue;
        signalProcess(pid, 'SIGTERM');
        await waitForProcessGone(pid, 5_000);
      }
      await fsp.rm(this.#runDir, { recursive: true, force: true });
      await this.#inUplink('nft', ['delete', 'table', 'inet', uplinkTable(this.#hostVeth)]).catch(
        () => undefined,
      );
      await this.#inUplink('ip', ['link', 'del', this.#hostVeth]).catch(() => undefined);
      await run('ip', ['netns', 'del', this.namespace]).catch(() => undefined);
      this.#routerReady = false;
    });
  }

  #nicOf(vmId: string, lease: Lease): GuestNic {
    return {
      tap: tapName(vmId),
      mac: leaseMac(lease),
      address: hostAddress(segmentSubnet(lease.index), lease.host),
      namespace: this.namespace,
    };
  }

  /**
   * Bytes each VM's guest received (`in`) and sent (`out`) since its tap was made (its last
   * start), for VMs whose tap exists.
   */
  async counters(): Promise<Map<string, { in: number; out: number }>> {
    const counters = new Map<string, { in: number; out: number }>();
    if (!fs.existsSync(`/run/netns/${this.namespace}`)) return counters;
    const links = JSON.parse(await this.#ip(['-s', '-j', 'link', 'show'])) as Array<{
      ifname: string;
      stats64?: { rx: { bytes: number }; tx: { bytes: number } };
    }>;
    const byTap = new Map(links.map((link) => [link.ifname, link.stats64]));
    for (const vmId of Object.keys(this.#readLeases().leases)) {
      const stats = byTap.get(tapName(vmId));
      // The tap's transmit is what the guest received, its receive what the guest sent.
      if (stats) counters.set(vmId, { in: stats.tx.bytes, out: stats.rx.bytes });
    }
    return counters;
  }

  /**
   * Installs the rules of the guest behind `tap` (see {@link tapRulesScript}), with a token
   * bucket on the tap for what it receives when it has a bandwidth; without `rules`, removes
   * them (a new tap has no token bucket).
   */
  async #applyTapRules(tap: string, rules: TapRules | undefined): Promise<void> {
    if (rules?.mbps !== undefined) {
      await run('tc', [
        '-n',
        this.namespace,
        'qdisc',
        'replace',
        'dev',
        tap,
        'root',
        'tbf',
        'rate',
        `${rules.mbps}mbit`,
        'burst',
        `${Math.max(32, rules.mbps)}kb`,
        'latency',
        '100ms',
      ]);
    }
    await this.#inRouter('nft', ['-f', '-'], tapRulesScript(tap, rules));
  }

  /** The VM's lease on `segment`: kept if it has one there, else the lowest free host number. */
  #lease(vmId: string, segment: string, bandwidthMbps: number | undefined): Lease {
    const leases = this.#readLeases();
    let index = leases.segments[segment];
    if (index === undefined) {
      const used = new Set(Object.values(leases.segments));
      index = segment === INTERNET_SEGMENT ? 0 : 1;
      while (used.has(index)) index++;
      if (index > MAX_CLASS_SEGMENTS)
        throw new EngineError('CAPACITY_EXCEEDED', 'Every class network of this host is taken');
      leases.segments[segment] = index;
    }
    const current = leases.leases[vmId];
    if (current?.segment === segment) {
      leases.leases[vmId] = { segment, host: current.host, ...limitsOf(bandwidthMbps) };
      this.#writeLeases(leases);
      return { segment, index, host: current.host };
    }
    const taken = new Set(
      Object.values(leases.leases)
        .filter((entry) => entry.segment === segment)
        .map((entry) => entry.host),
    );
    let host = 2;
    while (taken.has(host)) host++;
    if (host > lastHost(segmentSubnet(index)))
      throw new EngineError('CAPACITY_EXCEEDED', `The ${segment} network has no free address`);
    leases.leases[vmId] = { segment, host, ...limitsOf(bandwidthMbps) };
    this.#writeLeases(leases);
    return { segment, index, host };
  }

  /** Creates the router namespace, its uplink and firewall (again after a host reboot). */
  async #ensureRouter(): Promise<void> {
    if (this.#routerReady && fs.existsSync(`/run/netns/${this.namespace}`)) return;
    if (!fs.existsSync(`/run/netns/${this.namespace}`)) {
      await run('ip', ['netns', 'add', this.namespace]);
    }
    await this.#inRouter('sysctl', [
      '-q',
      '-e',
      '-w',
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
      'net.bridge.bridge-nf-call-iptables=0',
      'net.bridge.bridge-nf-call-ip6tables=0',
      'net.bridge.bridge-nf-call-arptables=0',
    ]);
    await this.#ip(['link', 'set', 'lo', 'up']);
    await this.#ensureUplink();
    await this.#inRouter('nft', ['-f', '-'], routerRuleset());
    await this.#inRouter('nft', ['-f', '-'], guestsRuleset());
    await fsp.mkdir(this.#runDir, { recursive: true, mode: 0o755 });
    await this.#ports.ensure();
    this.#routerReady = true;
    // Bridges of VMs that kept running across a restart get their DHCP and egress back.
    const leases = this.#readLeases();
    for (const index of new Set(Object.values(leases.segments))) {
      if (await this.#linkExists(bridgeName(index))) await this.#ensureSegment(index, undefined);
    }
    for (const vmId of Object.keys(leases.leases)) {
      const tap = tapName(vmId);
      const nic = this.nicOf(vmId);
      if (nic && (await this.#linkExists(tap))) {
        const mbps = leases.leases[vmId]!.bandwidthMbps;
        await this.#applyTapRules(tap, { mac: nic.mac, address: nic.address, mbps });
      }
    }
  }

  async #ensureUplink(): Promise<void> {
    if (!(await this.#linkExists(UPLINK_ROUTER_NAME))) {
      await this.#inUplink('ip', ['link', 'del', this.#hostVeth]).catch(() => undefined);
      await this.#inUplink('ip', [
        'link',
        'add',
        this.#hostVeth,
        'type',
        'veth',
        'peer',
        'name',
        UPLINK_ROUTER_NAME,
        'netns',
        this.namespace,
      ]);
      const prefix = this.#transit.cidr.split('/')[1];
      await this.#inUplink('ip', [
        'addr',
        'add',
        `${this.#transit.host}/${prefix}`,
        'dev',
        this.#hostVeth,
      ]);
      await this.#inUplink('ip', ['link', 'set', this.#hostVeth, 'up']);
      await this.#ip([
        'addr',
        'add',
        `${this.#transit.router}/${prefix}`,
        'dev',
        UPLINK_ROUTER_NAME,
      ]);
      await this.#ip(['link', 'set', UPLINK_ROUTER_NAME, 'up']);
      await this.#ip(['route', 'replace', 'default', 'via', this.#transit.host]);
    }
    await this.#inUplink('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    await this.#inUplink(
      'nft',
      ['-f', '-'],
      uplinkRuleset(this.#hostVeth, this.#transit.cidr, this.#dnsServers()),
    );
  }

  /**
   * Brings segment `index` up: its bridge with the router's address, its dnsmasq with the
   * segment's leases, and its egress: `internet` when given (and kept for restarts), else as kept.
   */
  async #ensureSegment(index: number, internet: boolean | undefined): Promise<void> {
    const bridge = bridgeName(index);
    const subnet = segmentSubnet(index);
    if (!(await this.#linkExists(bridge))) {
      await this.#ip(['link', 'add', bridge, 'type', 'bridge']);
      await this.#ip(['addr', 'add', `${hostAddress(subnet, 1)}/${subnet.prefix}`, 'dev', bridge]);
      await this.#ip(['link', 'set', bridge, 'up']);
    }
    const leases = this.#readLeases();
    const segment = segmentKeyOf(leases, index);
    if (internet !== undefined && segment !== undefined) {
      leases.egress = { ...leases.egress, [segment]: internet };
      this.#writeLeases(leases);
    }
    const element = `inet ${ROUTER_TABLE} ${EGRESS_SET} { ${bridge} }`;
    const egress = index === 0 || (segment !== undefined && leases.egress?.[segment] === true);
    await this.#inRouter(
      'nft',
      ['-f', '-'],
      egress ? `add element ${element}\n` : `add element ${element}\ndelete element ${element}\n`,
    );
    await this.#writeHosts(index, leases);
  }

  /** Writes segment `index`'s fixed leases and has its dnsmasq read them (starting it if needed). */
  async #writeHosts(index: number, leases: LeaseFile): Promise<void> {
    const bridge = bridgeName(index);
    const segment = segmentKeyOf(leases, index);
    const lines = Object.values(leases.leases)
      .filter((entry) => entry.segment === segment)
      .map(
        (entry) =>
          `${leaseMac({ index, host: entry.host })},${hostAddress(segmentSubnet(index), entry.host)}\n`,
      );
    const hostsFile = path.join(this.#runDir, `${bridge}.hosts`);
    await fsp.writeFile(`${hostsFile}.tmp`, lines.join(''), { mode: 0o644 });
    await fsp.rename(`${hostsFile}.tmp`, hostsFile);
    const pid = await this.#dnsmasqPid(bridge);
    if (pid !== undefined) signalProcess(pid, 'SIGHUP');
    else await this.#startDnsmasq(index, hostsFile);
  }

  async #startDnsmasq(index: number, hostsFile: string): Promise<void> {
    const bridge = bridgeName(index);
    const subnet = segmentSubnet(index);
    const pid = await startDaemonIn(
      this.namespace,
      [
        'dnsmasq',
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--log-facility=-',
        `--interface=${bridge}`,
        '--bind-interfaces',
        '--except-interface=lo',
        '--no-hosts',
        '--no-resolv',
        '--domain-needed',
        '--bogus-priv',
        ...this.#dnsServers().map((server) => `--server=${server}`),
        `--dhcp-range=${numberToIpv4(subnet.network)},static,${netmask(subnet)},1h`,
        `--dhcp-hostsfile=${hostsFile}`,
        '--dhcp-authoritative',
        '--leasefile-ro',
      ],
      {
        logFile: path.join(this.#runDir, `${bridge}.log`),
        pidFile: path.join(this.#runDir, `${bridge}.pid`),
      },
    );
    this.#logger.info({ bridge, subnet: formatSubnet(subnet), pid }, 'DHCP and DNS started');
  }

  /** The pid of `bridge`'s dnsmasq if it runs. */
  #dnsmasqPid(bridge: string): Promise<number | undefined> {
    return daemonPid(path.join(this.#runDir, `${bridge}.pid`), `--interface=${bridge}`);
  }

  #dnsServers(): string[] {
    if (this.#config.dnsServers) return this.#config.dnsServers;
    const text = fs.existsSync('/etc/resolv.conf')
      ? fs.readFileSync('/etc/resolv.conf', 'utf8')
      : '';
    return [...text.matchAll(/^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)]
      .map((match) => match[1]!)
      .filter((address) => !address.startsWith('127.'));
  }

  /**
   * The lease file as last read or written (this engine is its only writer): read from disk once,
   * not at every VM status. Callers get a copy they may change before writing it back.
   */
  #readLeases(): LeaseFile {
    if (!this.#leases) {
      try {
        this.#leases = JSON.parse(fs.readFileSync(this.#leaseFile(), 'utf8')) as LeaseFile;
      } catch {
        this.#leases = { segments: {}, leases: {} };
      }
    }
    return structuredClone(this.#leases);
  }

  #writeLeases(leases: LeaseFile): void {
    fs.mkdirSync(this.#config.stateDir, { recursive: true, mode: 0o700 });
    writeJsonAtomic(this.#leaseFile(), leases);
    this.#leases = structuredClone(leases);
  }

  #leaseFile(): string {
    return path.join(this.#config.stateDir, `${this.namespace}-leases.json`);
  }

  async #linkExists(name: string): Promise<boolean> {
    return this.#ip(['link', 'show', name]).then(
      () => true,
      () => false,
    );
  }

  #ip(args: string[]): Promise<string> {
    return run('ip', ['-n', this.namespace, ...args]);
  }

  #inRouter(binary: string, args: string[], input?: string): Promise<string> {
    return runIn(this.namespace, binary, args, input);
  }

  #inUplink(binary: string, args: string[], input?: string): Promise<string> {
    const parent = this.#config.uplinkNamespace;
    return parent ? runIn(parent, binary, args, input) : run(binary, args, input);
  }
}

function limitsOf(bandwidthMbps: number | undefined): { bandwidthMbps?: number } {
  return bandwidthMbps === undefined ? {} : { bandwidthMbps };
}

/** The key of the segment with `index`. */
function segmentKeyOf(leases: LeaseFile, index: number): string | undefined {
  return Object.entries(leases.segments).find(([, value]) => value === index)?.[0];
}
