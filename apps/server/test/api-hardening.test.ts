import { createHash } from 'node:crypto';
import net from 'node:net';
import { API_ROUTES, type RouteName, type RouteSpec } from '@labvisor/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { openMigratedDatabase, TEST_DATABASES } from './support/databases.js';
import { createFixtureTenant, createFixtureUser, FIXTURE_PASSWORD } from './support/fixtures.js';
import { startTestServer, TestClient, type TestServer } from './support/test-server.js';

/** Every operation of the API. */
const API_OPERATIONS: RouteSpec[] = Object.values(API_ROUTES);

/** A body each route with a required one accepts, so a request reaches the route's access check. */
const VALID_BODIES: Partial<Record<RouteName, unknown>> = {
  putQuota: {
    limits: {
      runningVms: 1,
      vcpus: 1,
      memoryMib: 256,
      diskGib: 1,
      snapshots: 1,
      vmHoursPerMonth: 1,
    },
  },
  addMember: { email: 'outsider@example.test', role: 'member' },
  setMemberRole: { role: 'member' },
  setMemberLimits: { limits: null },
  createSnapshot: { name: 'probe', memory: false },
  consoleTicket: { kind: 'serial', mode: 'interactive' },
  putPools: { pools: [] },
  putSchedule: {
    timeZone: 'UTC',
    sessions: [{ day: 'mon', start: '09:00', end: '11:00' }],
    prepareMinutes: 10,
    allowOutside: false,
  },
  importRoster: { csv: 'probe@example.test' },
  updateVm: { network: 'none' },
  openVmPort: { port: 8080 },
  publishVm: { name: 'probe-template' },
  createLtiPlatform: {
    issuer: 'https://lms.example.test',
    clientId: 'probe',
    deploymentId: 'probe',
    authorizationUrl: 'https://lms.example.test/auth',
    keySetUrl: 'https://lms.example.test/jwks',
  },
};

/** A query each route with a required one accepts (the same reason as {@link VALID_BODIES}). */
const VALID_QUERIES: Partial<Record<RouteName, string>> = {
  readLabFile: '?path=~/probe',
  writeLabFile: '?path=~/probe',
  handoutFile: '?path=~/probe',
  collectFiles: '?path=~/probe',
};

/** Tables whose contents must not change when requests are refused. */
const TABLES = [
  'tenants',
  'quotas',
  'users',
  'memberships',
  'api_tokens',
  'images',
  'vms',
  'snapshots',
  'usage_intervals',
  'audit_log',
  'pools',
  'tenant_schedules',
  'invites',
  'sign_in_links',
  'lti_platforms',
];

/** A deterministic pseudo-random generator, so a failing case can be replayed. */
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** A random JSON value: wrong types, deep nesting, huge numbers, odd strings. */
function randomValue(next: () => number, depth = 0): unknown {
  const pick = Math.floor(next() * (depth > 2 ? 7 : 9));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return next() > 0.5;
    case 2:
      return Math.floor(next() * 2 ** 53) * (next() > 0.5 ? -1 : 1);
    case 3:
      return next() * 1e308;
    case 4:
      return '';
    case 5:
      return [
        'x'.repeat(Math.floor(next() * 300)),
        '../../etc/passwd',
        "'; drop table vms; --",
        '\u0000\uffff',
        '00000000-0000-4000-8000-000000000000',
      ][Math.floor(next() * 5)];
    case 6:
      return 'lab-1';
    case 7:
      return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
    default: {
      const keys = [
        'name',
        'email',
        'password',
        'tenantId',
        'imageId',
        'vcpus',
        'memoryMib',
        'diskGib',
        'limits',
        'role',
        'kind',
        'mode',
        'memory',
        'expiresInDays',
        '__proto__',
        'constructor',
      ];
      const object: Record<string, unknown> = {};
      for (let i = 0; i < Math.floor(next() * 5); i++)
        object[keys[Math.floor(next() * keys.length)]!] = randomValue(next, depth + 1);
      return object;
    }
  }
}

describe.each(TEST_DATABASES)('API hardening on $name', (kind) => {
  let server: TestServer;
  let ids: Record<string, string>;
  let root: TestClient;
  let rootToken: string;

  beforeAll(async () => {
    if (kind.skipReason) return;
    const database = await openMigratedDatabase(kind);
    const knex = database.knex;
    const tenant = await createFixtureTenant(knex, 'Class A');
    await createFixtureTenant(knex, 'Class B');
    const root_ = await createFixtureUser(knex, 'root@example.test', { isPlatformAdmin: true });
    const student = await createFixtureUser(knex, 'student@example.test', {
      tenantId: tenant.id,
      role: 'member',
    });
    await createFixtureUser(knex, 'outsider@example.test');
    const [image] = await knex('images')
      .insert({
        name: 'tiny',
        kind: 'disk',
        format: 'qcow2',
        path: '/nonexistent',
        size_bytes: 1,
        sha256: 'c'.repeat(64),
      })
      .returning('id');
    const [vm] = await knex('vms')
      .insert({
        tenant_id: tenant.id,
        owner_id: student.id,
        image_id: image.id,
        name: 'lab-1',
        vcpus: 1,
        memory_mib: 128,
        disk_gib: 1,
      })
      .returning('id');
    const [snapshot] = await knex('snapshots')
      .insert({ vm_id: vm.id, name: 'snap' })
      .returning('id');
    const [token] = await knex('api_tokens')
      .insert({ user_id: root_.id, name: 'x', token_hash: 'd'.repeat(64) })
      .returning('id');
    const [invite] = await knex('invites')
      .insert({ tenant_id: tenant.id, token_hash: 'e'.repeat(64), role: 'member' })
      .returning('id');
    const [platform] = await knex('lti_platforms')
      .insert({
        tenant_id: tenant.id,
        issuer: 'https://lms.example.test',
        client_id: 'tool',
        deployment_id: '1',
        authorization_url: 'https://lms.example.test/auth',
        key_set_url: 'https://lms.example.test/jwks',
      })
      .returning('id');
    ids = {
      platformId: platform.id,
      inviteId: invite.id,
      tenantId: tenant.id,
      vmId: vm.id,
      snapshotId: snapshot.id,
      imageId: image.id,
      userId: student.id,
      tokenId: token.id,
    };
    server = await startTestServer(database, {
      engine: { driver: { qemuBinary: '/nonexistent/qemu-system-x86_64' } },
    });
    root = new TestClient(server.url);
    await root.login('root@example.test', FIXTURE_PASSWORD);
    rootToken = (await root.send('POST', '/api/v1/tokens', { name: 'fuzz' })).body.token;
  });
  afterAll(async () => {
    await server?.close();
    await server?.database.close();
  });

  const pathOf = (template: string) => template.replace(/:(\w+)/g, (_, name: string) => ids[name]!);

  async function digest(): Promise<string> {
    const hash = createHash('sha256');
    for (const table of TABLES) {
      const rows = await server.database.knex(table).orderBy(1).select();
      // Using a token records when it was last used; that is not a change the request made.
      for (const row of rows) delete row.last_used_at;
      hash.update(`${table}:${JSON.stringify(rows)}`);
    }
    return hash.digest('hex');
  }

  it.skipIf(kind.skipReason)(
    'answers anonymous callers 401 everywhere but the public routes',
    async () => {
      const anonymous = new TestClient(server.url);
      for (const operation of API_OPERATIONS.filter((op) => op.access !== 'public')) {
        const answer = await anonymous.send(
          operation.method.toUpperCase(),
          pathOf(operation.path),
          operation.method === 'get' ? undefined : {},
        );
        expect({ route: `${operation.method} ${operation.path}`, status: answer.status }).toEqual({
          route: `${operation.method} ${operation.path}`,
          status: 401,
        });
      }
    },
  );

  it.skipIf(kind.skipReason)(
    "never shows an outsider another tenant's objects: 404, or 403 for platform-only routes",
    async () => {
      const outsider = new TestClient(server.url);
      await outsider.login('outsider@example.test', FIXTURE_PASSWORD);
      const before = await digest();
      for (const [name, operation] of (
        Object.entries(API_ROUTES) as [RouteName, RouteSpec][]
      ).filter(
        ([, op]) => op.access !== 'public' && /:(tenantId|vmId|snapshotId|tokenId)/.test(op.path),
      )) {
        // A well-formed request: what answers is the access check, not the body's validation.
        const answer = await outsider.send(
          operation.method.toUpperCase(),
          pathOf(operation.path) + (VALID_QUERIES[name] ?? ''),
          operation.method === 'get' ? undefined : (VALID_BODIES[name] ?? {}),
        );
        expect({
          route: `${operation.method} ${operation.path}`,
          status: answer.status,
          body: answer.body,
        }).toEqual({
          route: `${operation.method} ${operation.path}`,
          status: 404,
          body: expect.anything(),
        });
      }
      for (const path of ['/api/v1/users', '/api/v1/audit'])
        expect((await outsider.send('GET', path)).status).toBe(403);
      expect((await outsider.send('GET', '/api/v1/vms')).body.items).toEqual([]);
      expect((await outsider.send('GET', '/api/v1/tenants')).body.items).toEqual([]);
      const ticket = await root.send('POST', `/api/v1/vms/${ids.vmId}/console`, {
        kind: 'serial',
        mode: 'view',
      });
      expect(ticket.status).toBe(409);
      const socket = new WebSocket(
        `${server.url.replace('http', 'ws')}/ws/vms/${ids.vmId}/serial?ticket=forged`,
        { origin: server.url, headers: { cookie: outsider.cookieHeader ?? '' } },
      );
      const status = await new Promise((resolve) =>
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode)),
      );
      expect(status).toBe(403);
      expect(await digest()).toBe(before);
    },
  );

  it.skipIf(kind.skipReason)(
    'survives thousands of random and malformed bodies: no 500, no state change',
    async () => {
      const next = random(42);
      const mutating = API_OPERATIONS.filter(
        (op) => op.method !== 'get' && op.path !== '/api/v1/auth/logout',
      );
      const before = await digest();
      const statuses = new Map<number, number>();
      const auth = { authorization: `Bearer ${rootToken}` };
      const client = new TestClient(server.url);
      for (let round = 0; round < 100; round++) {
        await Promise.all(
          mutating.map(async (operation) => {
            const path = pathOf(operation.path);
            const shape = next();
            let raw: string;
            // Broken JSON: a cut-off object, or a value with a stray brace after it.
            if (shape < 0.15) raw = '{"broken": '.slice(0, 1 + Math.floor(next() * 10));
            else if (shape < 0.25) raw = `${JSON.stringify(randomValue(next))}}`;
            else {
              const value = randomValue(next);
              // Objects always carry an unknown field, so no body can be valid and every one must be refused.
              raw = JSON.stringify(
                value && typeof value === 'object' && !Array.isArray(value)
                  ? { ...value, unknownField: 1 }
                  : value,
              );
            }
            const answer = await client.send(operation.method.toUpperCase(), path, raw, {
              ...auth,
              'content-type': 'application/json',
            });
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
            if (answer.status >= 500 || answer.status < 400) {
              throw new Error(
                `${operation.method} ${path} answered ${answer.status} to ${raw}: ${JSON.stringify(answer.body)}`,
              );
            }
            expect(answer.body.error.code).toEqual(expect.any(String));
          }),
        );
      }
      expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2000);
      expect(await digest()).toBe(before);
    },
  );

  it.skipIf(kind.skipReason)(
    'survives control characters, lone surrogates, huge numbers, deep nesting, wrong content types, oversized headers and malformed upgrades: no 5xx, no state change',
    async () => {
      const before = await digest();
      const auth = { authorization: `Bearer ${rootToken}` };
      const client = new TestClient(server.url);
      const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
      const rawBodies = [
        '{"name":"a\\u0000b","tenantId":"\\u0000"}',
        '{"\\u0000":1}',
        '{"name":"\\ud800"}',
        '{"name":"\\udfff\\ud800"}',
        '{"vcpus":1e999,"memoryMib":-1e999}',
        '{"vcpus":123456789012345678901234567890}',
        '{"diskGib":0.000000000000000000001}',
        deep(5_000),
        `{"a":${deep(2_000)}}`,
        '\u0000\u0001\u0002',
        '"\u001b[2J"',
        '\ufeff{"unknownField":1}',
      ];
      const contentTypes = [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
        'application/json; charset=nonsense',
        'application/xml',
      ];
      const mutating = API_OPERATIONS.filter(
        (op) => op.method !== 'get' && op.path !== '/api/v1/auth/logout' && !op.binaryBody,
      );
      let requests = 0;
      const check = (label: string, status: number) => {
        requests++;
        if (status >= 500 || status < 400) throw new Error(`${label} answered ${status}`);
      };
      for (const operation of mutating) {
        const path = pathOf(operation.path);
        const method = operation.method.toUpperCase();
        for (const raw of rawBodies) {
          const answer = await client.send(method, path, raw, {
            ...auth,
            'content-type': 'application/json',
          });
          check(`${method} ${path} with ${JSON.stringify(raw).slice(0, 40)}`, answer.status);
        }
        for (const type of contentTypes) {
          const answer = await client.send(method, path, 'name=x&tenantId=y', {
            ...auth,
            'content-type': type,
          });
          // A body in another type is not read as JSON: nothing in it can change state.
          check(`${method} ${path} as ${type}`, answer.status === 415 ? 400 : answer.status);
        }
      }
      // Queries with control characters, surrogates and huge numbers on every reading route.
      const queries = [
        'tenantId=%00',
        'limit=1e999',
        'before=%ED%A0%80',
        'days=-99999999999999999999',
        'action=%1B%5B2J',
        'x=%FF%FE',
      ];
      // /readyz answers 503 here by design (this test's engine has no QEMU): API routes only.
      for (const operation of API_OPERATIONS.filter(
        (op) => op.method === 'get' && op.path.startsWith('/api/'),
      )) {
        for (const query of queries) {
          const answer = await client.send(
            'GET',
            `${pathOf(operation.path)}?${query}`,
            undefined,
            auth,
          );
          requests++;
          expect({ route: operation.path, query, status: answer.status < 500 }).toEqual({
            route: operation.path,
            query,
            status: true,
          });
        }
      }
      // An oversized header is refused by the HTTP parser before any route.
      const huge = await fetch(`${server.url}/api/v1/vms`, {
        headers: { ...auth, 'x-filler': 'x'.repeat(20_000) },
      });
      requests++;
      expect(huge.status).toBe(431);
      // Console upgrades: no ticket, a NUL or surrogate in it, a huge one, a bad key, no version.
      const upgradeStatus = (url: string, headers: Record<string, string> = {}) =>
        new Promise<number>((resolve) => {
          const socket = new WebSocket(`${server.url.replace('http', 'ws')}${url}`, {
            origin: server.url,
            headers: { ...auth, ...headers },
          });
          socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
          socket.once('open', () => {
            socket.close();
            resolve(101);
          });
          socket.once('error', () => resolve(400));
        });
      for (const url of [
        `/ws/vms/${ids.vmId}/serial`,
        `/ws/vms/${ids.vmId}/serial?ticket=%00`,
        `/ws/vms/${ids.vmId}/vnc?ticket=%ED%A0%80`,
        `/ws/vms/${ids.vmId}/serial?ticket=${'x'.repeat(8_000)}`,
        `/ws/vms/${ids.vmId}%00/serial?ticket=x`,
        '/ws/vms/not-a-uuid/serial?ticket=x',
        '/ws/elsewhere',
      ]) {
        const status = await upgradeStatus(url);
        requests++;
        expect({ url: url.slice(0, 60), refused: status >= 400 && status < 500 }).toEqual({
          url: url.slice(0, 60),
          refused: true,
        });
      }
      const raw = await rawUpgrade(server.url, `/ws/vms/${ids.vmId}/serial?ticket=x`, 'not-a-key');
      requests++;
      expect(raw).toMatch(/^HTTP\/1\.1 4\d\d /);
      console.log(`malformed-input fuzz: ${requests} requests and upgrades, none answered 5xx`);
      expect(await digest()).toBe(before);
    },
  );
});

/** Sends a WebSocket upgrade by hand with a malformed key; resolves with the status line. */
function rawUpgrade(baseUrl: string, path: string, key: string): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(Number(port), hostname, () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nOrigin: ${baseUrl}\r\n\r\n`,
      );
    });
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) {
        socket.destroy();
        resolve(answer.split('\r\n')[0]!);
      }
    });
    socket.on('error', reject);
  });
}
