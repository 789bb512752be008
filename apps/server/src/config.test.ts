import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig as loadConfigFrom } from './config.js';

const loadConfig = (env: Record<string, string>) => loadConfigFrom(env as NodeJS.ProcessEnv);

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({ HOME: '/home/ada' });
    expect(config).toMatchObject({
      port: 3000,
      dataDir: path.resolve('./.data'),
      imageCacheDir: '/home/ada/.cache/labvisor',
      databaseUrl: undefined,
      driver: {
        kind: 'qemu',
        accel: 'auto',
        templatesDir: path.resolve('./.data/templates'),
        guestNetworks: { namespace: 'labvisor', stateDir: path.resolve('./.data/network') },
      },
      networkModes: ['none', 'internet', 'class'],
      adminEmail: undefined,
      sessionSecret: undefined,
    });
  });

  it('turns instant labs (templates) off with LABVISOR_TEMPLATES=off', () => {
    expect(
      loadConfig({ LABVISOR_TEMPLATES: 'off', LABVISOR_NETWORK_MODES: 'none' }).driver,
    ).toEqual({ kind: 'qemu', accel: 'auto' });
    expect(() => loadConfig({ LABVISOR_TEMPLATES: 'maybe' })).toThrow(/LABVISOR_TEMPLATES/);
  });

  it("names the account QEMU runs as with LABVISOR_QEMU_USER (else the driver's default)", () => {
    const named = loadConfig({ LABVISOR_QEMU_USER: 'lab-qemu' }).driver;
    expect(named.kind === 'qemu' && named.qemuUser).toBe('lab-qemu');
    const unnamed = loadConfig({}).driver;
    expect(unnamed.kind === 'qemu' && unnamed.qemuUser).toBeUndefined();
  });

  it('reads the network modes offered and where guest networks live', () => {
    const config = loadConfig({
      LABVISOR_NETWORK_MODES: 'internet',
      LABVISOR_NETWORK_NAMESPACE: 'lab-net',
      LABVISOR_NETWORK_UPLINK_NAMESPACE: 'edge',
      LABVISOR_NETWORK_DNS: '192.0.2.53,198.51.100.53',
    });
    expect(config.networkModes).toEqual(['none', 'internet']);
    expect(config.driver.kind === 'qemu' && config.driver.guestNetworks).toEqual({
      namespace: 'lab-net',
      uplinkNamespace: 'edge',
      dnsServers: ['192.0.2.53', '198.51.100.53'],
      stateDir: path.resolve('./.data/network'),
    });
    const withoutNetworks = loadConfig({ LABVISOR_NETWORK_MODES: 'none' }).driver;
    expect(withoutNetworks.kind === 'qemu' && withoutNetworks.guestNetworks).toBeUndefined();
    expect(loadConfig({}).portsDomain).toBe('localhost');
    expect(loadConfig({ LABVISOR_PORTS_DOMAIN: 'apps.labs.example' }).portsDomain).toBe(
      'apps.labs.example',
    );
    expect(() => loadConfig({ LABVISOR_PORTS_DOMAIN: 'bad domain' })).toThrow(
      /LABVISOR_PORTS_DOMAIN/,
    );
    expect(() => loadConfig({ LABVISOR_NETWORK_MODES: 'wifi' })).toThrow(/LABVISOR_NETWORK_MODES/);
    expect(() => loadConfig({ LABVISOR_NETWORK_DNS: 'dns.example' })).toThrow(
      /LABVISOR_NETWORK_DNS/,
    );
    expect(() => loadConfig({ LABVISOR_NETWORK_NAMESPACE: '../x' })).toThrow(
      /LABVISOR_NETWORK_NAMESPACE/,
    );
  });

  it('lets each host CPU carry 4 guest vCPUs unless LABVISOR_VCPU_OVERCOMMIT says otherwise', () => {
    expect(loadConfig({}).vcpuOvercommit).toBe(4);
    expect(loadConfig({ LABVISOR_VCPU_OVERCOMMIT: '8' }).vcpuOvercommit).toBe(8);
    expect(() => loadConfig({ LABVISOR_VCPU_OVERCOMMIT: '0' })).toThrow(/LABVISOR_VCPU_OVERCOMMIT/);
  });

  it('keeps 1 GiB of the data disk free unless LABVISOR_MIN_FREE_DISK_MIB says otherwise', () => {
    expect(loadConfig({}).minFreeDiskBytes).toBe(1024 ** 3);
    expect(loadConfig({ LABVISOR_MIN_FREE_DISK_MIB: '256' }).minFreeDiskBytes).toBe(
      256 * 1024 ** 2,
    );
    expect(() => loadConfig({ LABVISOR_MIN_FREE_DISK_MIB: '-1' })).toThrow(
      /LABVISOR_MIN_FREE_DISK_MIB/,
    );
  });

  it('lists the images to build in the background from LABVISOR_BUILD_IMAGES', () => {
    expect(loadConfig({}).backgroundImageBuilds).toEqual([]);
    expect(loadConfig({ LABVISOR_BUILD_IMAGES: 'debian-lab,tiny' }).backgroundImageBuilds).toEqual([
      'debian-lab',
      'tiny',
    ]);
    expect(() => loadConfig({ LABVISOR_BUILD_IMAGES: '../etc' })).toThrow(/LABVISOR_BUILD_IMAGES/);
  });

  it('reads single sign-on provisioning: accounts off by default, join rules parsed or refused', () => {
    const oidc = {
      OIDC_ISSUER: 'https://sso.example',
      OIDC_CLIENT_ID: 'labvisor',
      OIDC_CLIENT_SECRET: 'secret',
    };
    expect(loadConfig(oidc).oidc?.provisioning).toEqual({ createAccounts: false, joinRules: [] });
    expect(
      loadConfig({
        ...oidc,
        OIDC_CREATE_ACCOUNTS: 'on',
        OIDC_JOIN_RULES:
          'domain:Uni.Example=Algorithms 101:member; group:staff=Algorithms 101:instructor',
      }).oidc?.provisioning,
    ).toEqual({
      createAccounts: true,
      joinRules: [
        { match: { domain: 'uni.example' }, tenant: 'Algorithms 101', role: 'member' },
        { match: { group: 'staff' }, tenant: 'Algorithms 101', role: 'instructor' },
      ],
    });
    expect(() => loadConfig({ ...oidc, OIDC_JOIN_RULES: 'domain:x=Class:boss' })).toThrow(
      /OIDC_JOIN_RULES "domain:x=Class:boss" is not/,
    );
  });

  it('treats an empty DATABASE_URL as unset and keeps a valid one', () => {
    expect(loadConfig({ DATABASE_URL: '' }).databaseUrl).toBeUndefined();
    const url = 'postgres://lab:secret@db.internal:5432/labvisor';
    expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
  });

  it.each([
    [{ DATABASE_URL: 'mysql://localhost/db' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ LABVISOR_ACCEL: 'hvf' }, 'LABVISOR_ACCEL'],
    [{ LABVISOR_QEMU_USER: 'root; rm -rf /' }, 'LABVISOR_QEMU_USER'],
    [{ LABVISOR_ADMIN_EMAIL: 'admin' }, 'LABVISOR_ADMIN_EMAIL'],
    [{ LABVISOR_ADMIN_PASSWORD: 'short' }, 'LABVISOR_ADMIN_PASSWORD'],
    [{ SESSION_SECRET: 'too-short' }, 'SESSION_SECRET'],
    [{ OIDC_ISSUER: 'https://sso.example.org' }, 'OIDC_CLIENT_ID, OIDC_CLIENT_SECRET'],
    [{ OIDC_ISSUER: 'not a url', OIDC_CLIENT_ID: 'x', OIDC_CLIENT_SECRET: 'y' }, 'OIDC_ISSUER'],
  ])('rejects %o naming %s', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`^Invalid configuration: .*${variable}`));
  });
});
