import { createHash } from 'node:crypto';

/**
 * Addresses and names of guest networks. Everything lives inside the engine's router namespace,
 * so these ranges never meet the host's own: guests of `internet` VMs share one /16 whose bridge
 * ports are isolated from each other; each class segment (a tenant) has a /24 of its own.
 */

/** The segment of `internet` VMs: index 0, 10.127.0.0/16. */
export const INTERNET_SEGMENT = 'internet';
/** How many class segments fit in 10.128.0.0/9 as /24s. */
export const MAX_CLASS_SEGMENTS = 32_768;

/** An IPv4 subnet: its network address as a number and its prefix length. */
export interface Subnet {
  network: number;
  prefix: number;
}

/** A VM's place on a segment: the segment's index and the VM's host number in its subnet. */
export interface Lease {
  segment: string;
  index: number;
  host: number;
}

export function ipv4ToNumber(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255))
    throw new Error(`not an IPv4 address: ${address}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function numberToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Parses `a.b.c.d/n` (the network address must have no host bits). */
export function parseSubnet(cidr: string): Subnet {
  const [address, prefixText] = cidr.split('/');
  const prefix = Number(prefixText);
  if (!address || !Number.isInteger(prefix) || prefix < 8 || prefix > 30)
    throw new Error(`not an IPv4 subnet from /8 to /30: ${cidr}`);
  const network = ipv4ToNumber(address);
  if ((network & hostMask(prefix)) !== 0) throw new Error(`${cidr} has host bits set`);
  return { network, prefix };
}

function hostMask(prefix: number): number {
  return prefix === 0 ? 0xffffffff : (2 ** (32 - prefix) - 1) >>> 0;
}

/** The subnet of segment `index`: 0 is the internet segment, 1… are class segments. */
export function segmentSubnet(index: number): Subnet {
  if (index === 0) return { network: ipv4ToNumber('10.127.0.0'), prefix: 16 };
  if (!Number.isInteger(index) || index < 1 || index > MAX_CLASS_SEGMENTS)
    throw new Error(`no class segment ${index}`);
  return { network: (ipv4ToNumber('10.128.0.0') + (index - 1) * 256) >>> 0, prefix: 24 };
}

/** Host number `host` of `subnet` as an address (1 is the router's). */
export function hostAddress(subnet: Subnet, host: number): string {
  return numberToIpv4((subnet.network + host) >>> 0);
}

/** The highest host number a VM may have in `subnet` (the last one is its broadcast). */
export function lastHost(subnet: Subnet): number {
  return hostMask(subnet.prefix) - 1;
}

/** The dotted netmask of `subnet`. */
export function netmask(subnet: Subnet): string {
  return numberToIpv4(~hostMask(subnet.prefix) >>> 0);
}

/** `a.b.c.d/n` of `subnet`. */
export function formatSubnet(subnet: Subnet): string {
  return `${numberToIpv4(subnet.network)}/${subnet.prefix}`;
}

/**
 * The MAC address of a lease: QEMU's locally administered 52:54 prefix, then the segment index and
 * the host number. Unique on this host because leases are, and stable across restarts and clones.
 */
export function leaseMac(lease: Pick<Lease, 'index' | 'host'>): string {
  const bytes = [
    0x52,
    0x54,
    lease.index >> 8,
    lease.index & 255,
    lease.host >> 8,
    lease.host & 255,
  ];
  return bytes.map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/** The bridge of a segment: `lvi` for the internet segment, `lvc<index>` for class segments. */
export function bridgeName(index: number): string {
  return index === 0 ? 'lvi' : `lvc${index}`;
}

/** The tap device of a VM (15 characters at most, as Linux wants). */
export function tapName(vmId: string): string {
  return `lvt${createHash('sha256').update(vmId).digest('hex').slice(0, 11)}`;
}

/** The host side of the router namespace's uplink veth, unique per router namespace. */
export function uplinkHostName(namespace: string): string {
  return `lvu${createHash('sha256').update(namespace).digest('hex').slice(0, 8)}`;
}

/** The router side of the uplink veth. */
export const UPLINK_ROUTER_NAME = 'uplink';

/**
 * Destinations no guest may reach through the uplink: "this" network, private ranges, shared
 * address space (CGNAT), loopback, link-local (cloud metadata at 169.254.169.254), IETF protocol
 * assignments, benchmarking, multicast and reserved space. Documentation ranges stay reachable:
 * tests stand the internet up on them.
 */
export const REFUSED_DESTINATIONS = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/3',
] as const;
