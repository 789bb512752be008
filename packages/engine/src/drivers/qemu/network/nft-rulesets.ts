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

/** The bridge-family table that polices what each guest sends (its upload limit). */
export const LIMITS_TABLE = 'labvisor_limits';

/**
 * The router namespace's table of upload limits, replacing any earlier one: frames a guest sends
 * (to the router or to another guest) go through its tap's chain, if the `uploads` map names one.
 */
export function limitsRuleset(): string {
  return `add table bridge ${LIMITS_TABLE}
delete table bridge ${LIMITS_TABLE}
table bridge ${LIMITS_TABLE} {
  map uploads { type ifname : verdict; }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname vmap @uploads
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname vmap @uploads
  }
}
`;
}

/**
 * Sets (or, without `mbps`, removes) the upload limit of the guest behind `tap`: what it sends
 * beyond `mbps` megabits per second is dropped (its TCP slows down to fit).
 */
export function uploadLimitScript(tap: string, mbps: number | undefined): string {
  const chain = `bridge ${LIMITS_TABLE} up_${tap}`;
  const element = `bridge ${LIMITS_TABLE} uploads { "${tap}" : jump up_${tap} }`;
  const base = `add chain ${chain}\nflush chain ${chain}\nadd element ${element}\n`;
  if (mbps === undefined) return `${base}delete element ${element}\ndelete chain ${chain}\n`;
  const kbytesPerSecond = mbps * 125;
  const burst = Math.max(64, Math.round(kbytesPerSecond / 4));
  return `${base}add rule ${chain} limit rate over ${kbytesPerSecond} kbytes/second burst ${burst} kbytes drop\n`;
}
