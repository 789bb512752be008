import { REFUSED_DESTINATIONS, UPLINK_ROUTER_NAME } from './addressing.js';

/** The nftables table of the router namespace. */
export const ROUTER_TABLE = 'labvisor';
/** The set of bridges whose guests may go out through the uplink. */
export const EGRESS_SET = 'egress';

/**
 * QEMU user networking's resolver address. Images configured for it (debian-lab's static
 * resolv.conf) keep resolving on a guest network: DNS to it is redirected to the guest's bridge.
 */
export const USER_NETWORK_RESOLVER = '10.0.2.3';

/**
 * The router namespace's firewall, replacing any earlier one. Guests reach the router only for
 * DHCP, DNS (at their gateway, or at {@link USER_NETWORK_RESOLVER}) and ping; they go out only from bridges in the egress set, only to public addresses,
 * masqueraded behind the uplink. Nothing is forwarded between bridges (tenants) or into the
 * namespace from the uplink, and no IPv6 is forwarded at all.
 */
export function routerRuleset(): string {
  return `add table inet ${ROUTER_TABLE}
delete table inet ${ROUTER_TABLE}
table inet ${ROUTER_TABLE} {
  set ${EGRESS_SET} { type ifname; }
  set refused { type ipv4_addr; flags interval; elements = { ${REFUSED_DESTINATIONS.join(', ')} } }
  chain input {
    type filter hook input priority filter; policy drop;
    iif lo accept
    ct state established,related accept
    iifname "lv*" udp dport 67 accept
    iifname "lv*" meta l4proto { tcp, udp } th dport 53 accept
    iifname "lv*" icmp type echo-request accept
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname @${EGRESS_SET} oifname "${UPLINK_ROUTER_NAME}" ip daddr != @refused accept
  }
  chain output {
    type filter hook output priority filter; policy accept;
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "lv*" ip daddr ${USER_NETWORK_RESOLVER} meta l4proto { tcp, udp } th dport 53 redirect
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${UPLINK_ROUTER_NAME}" masquerade
  }
}
`;
}

/** The nftables table the uplink's host side gets, one per router namespace. */
export function uplinkTable(hostVeth: string): string {
  return `labvisor_${hostVeth}`;
}

/**
 * The host side of the uplink: nothing from the router namespace reaches the host itself (its
 * API, its database, any of its addresses) except answers to the router's own requests; what it
 * forwards out is masqueraded behind the host's address, and never to a refused destination but
 * the resolvers the router asks. Nothing from outside is forwarded in but answers.
 */
export function uplinkRuleset(hostVeth: string, transitCidr: string, dnsServers: string[]): string {
  const table = uplinkTable(hostVeth);
  // The router's own resolver may sit on a private address (a LAN's DNS server).
  const dns =
    dnsServers.length > 0
      ? `    iifname "${hostVeth}" ip daddr { ${dnsServers.join(', ')} } meta l4proto { tcp, udp } th dport 53 accept\n`
      : '';
  return `add table inet ${table}
delete table inet ${table}
table inet ${table} {
  chain input {
    type filter hook input priority filter - 10; policy accept;
    iifname "${hostVeth}" ct state established,related accept
    iifname "${hostVeth}" drop
  }
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
${dns}    iifname "${hostVeth}" ip daddr { ${REFUSED_DESTINATIONS.join(', ')} } drop
    oifname "${hostVeth}" ct state established,related accept
    oifname "${hostVeth}" drop
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${transitCidr} oifname != "${hostVeth}" masquerade
  }
}
`;
}

/** The bridge-family table that checks and polices what each guest sends. */
export const GUESTS_TABLE = 'labvisor_guests';

/**
 * The router namespace's table of per-guest rules, replacing any earlier one: every frame a guest
 * sends (to the router or to another guest) goes through its tap's chain, which the `taps` map
 * names; a frame from a tap without a chain is dropped.
 */
export function guestsRuleset(): string {
  return `add table bridge ${GUESTS_TABLE}
delete table bridge ${GUESTS_TABLE}
table bridge ${GUESTS_TABLE} {
  map taps { type ifname : verdict; }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "lvt*" iifname vmap @taps
    iifname "lvt*" drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "lvt*" iifname vmap @taps
    iifname "lvt*" drop
  }
}
`;
}

/** What a guest may send: from its lease's MAC and address only, and at most `mbps`. */
export interface TapRules {
  mac: string;
  address: string;
  /** Megabits per second it may send; absent: unlimited. */
  mbps?: number | undefined;
}

/**
 * Sets (or, without `rules`, removes) the chain of the guest behind `tap`: frames from another MAC
 * address, IPv4 from another address (but DHCP's 0.0.0.0) and ARP claiming another address are
 * dropped, so a guest cannot pass for a classmate; beyond `mbps` what it sends is dropped too (its
 * TCP slows down to fit). What passes is accepted.
 */
export function tapRulesScript(tap: string, rules: TapRules | undefined): string {
  const chain = `bridge ${GUESTS_TABLE} tap_${tap}`;
  const element = `bridge ${GUESTS_TABLE} taps { "${tap}" : jump tap_${tap} }`;
  const base = `add chain ${chain}\nflush chain ${chain}\nadd element ${element}\n`;
  if (!rules) return `${base}delete element ${element}\ndelete chain ${chain}\n`;
  const lines = [
    `add rule ${chain} ether saddr != ${rules.mac} drop`,
    `add rule ${chain} ether type ip ip saddr != { 0.0.0.0, ${rules.address} } drop`,
    `add rule ${chain} ether type arp arp saddr ip != { 0.0.0.0, ${rules.address} } drop`,
    `add rule ${chain} ether type != { ip, arp } drop`,
  ];
  if (rules.mbps !== undefined) {
    const kbytesPerSecond = rules.mbps * 125;
    const burst = Math.max(64, Math.round(kbytesPerSecond / 4));
    lines.push(
      `add rule ${chain} limit rate over ${kbytesPerSecond} kbytes/second burst ${burst} kbytes drop`,
    );
  }
  lines.push(`add rule ${chain} accept`);
  return `${base}${lines.join('\n')}\n`;
}
