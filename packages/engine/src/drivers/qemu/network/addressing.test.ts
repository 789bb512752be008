import { describe, expect, it } from 'vitest';
import {
  bridgeName,
  hostAddress,
  lastHost,
  leaseMac,
  netmask,
  parseSubnet,
  segmentSubnet,
  tapName,
} from './addressing.js';
import { routerRuleset, tapRulesScript, uplinkRuleset } from './nft-rulesets.js';

describe('guest network addressing', () => {
  it('gives the internet segment a /16 and each class a /24 of its own', () => {
    expect(hostAddress(segmentSubnet(0), 1)).toBe('10.127.0.1');
    expect(netmask(segmentSubnet(0))).toBe('255.255.0.0');
    expect(lastHost(segmentSubnet(0))).toBe(65_534);
    expect(hostAddress(segmentSubnet(1), 2)).toBe('10.128.0.2');
    expect(hostAddress(segmentSubnet(257), 9)).toBe('10.129.0.9');
    expect(lastHost(segmentSubnet(1))).toBe(254);
    expect(() => segmentSubnet(32_769)).toThrow();
    expect([bridgeName(0), bridgeName(12)]).toEqual(['lvi', 'lvc12']);
  });

  it('derives MAC addresses from leases and short tap names from VM ids', () => {
    expect(leaseMac({ index: 0, host: 2 })).toBe('52:54:00:00:00:02');
    expect(leaseMac({ index: 300, host: 513 })).toBe('52:54:01:2c:02:01');
    expect(tapName('a'.repeat(63))).toHaveLength(14);
    expect(tapName('vm-1')).not.toBe(tapName('vm-2'));
  });

  it('parses only subnets without host bits', () => {
    expect(parseSubnet('169.254.77.0/30')).toEqual({ network: 0xa9fe4d00, prefix: 30 });
    expect(() => parseSubnet('169.254.77.1/30')).toThrow(/host bits/);
    expect(() => parseSubnet('10.0.0.0/31')).toThrow();
  });
});

describe('guest network firewalls', () => {
  it('forwards guests only to public addresses, and protects the host behind the uplink', () => {
    const router = routerRuleset();
    expect(router).toContain('policy drop');
    expect(router).toMatch(/iifname @egress oifname "uplink" ip daddr != @refused accept/);
    for (const range of ['10.0.0.0/8', '169.254.0.0/16', '127.0.0.0/8', '192.168.0.0/16'])
      expect(router).toContain(range);
    const uplink = uplinkRuleset('lvu1234', '169.254.77.0/30', ['192.168.1.1']);
    expect(uplink).toMatch(
      /iifname "lvu1234" ct state established,related accept\n\s+iifname "lvu1234" drop/,
    );
    expect(uplink).toContain(
      'ip daddr { 192.168.1.1 } meta l4proto { tcp, udp } th dport 53 accept',
    );
  });

  it('lets a guest send only from its own MAC and address, within its upload limit', () => {
    const rules = { mac: '52:54:00:00:00:02', address: '10.127.0.2' };
    const script = tapRulesScript('lvtabc', { ...rules, mbps: 8 });
    expect(script).toContain('ether saddr != 52:54:00:00:00:02 drop');
    expect(script).toContain('ip saddr != { 0.0.0.0, 10.127.0.2 } drop');
    expect(script).toContain('arp saddr ip != { 0.0.0.0, 10.127.0.2 } drop');
    expect(script).toContain('limit rate over 1000 kbytes/second');
    expect(tapRulesScript('lvtabc', rules)).not.toContain('limit rate');
    expect(tapRulesScript('lvtabc', undefined)).toMatch(/delete element .*\ndelete chain/);
  });
});
