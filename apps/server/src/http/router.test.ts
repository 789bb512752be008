import { API_ROUTES, buildOpenApiDocument, LTI_PATHS } from '@labvisor/shared';
import type { Express } from 'express';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApp } from '../app.js';
import type { Database } from '../db/database.js';
import { KnexSessionStore } from '../db/session-store.js';
import { AccessEvents } from '../domain/auth/access-events.js';
import type { ConsoleConnections } from '../domain/consoles/console-connections.js';
import { ConsoleTickets } from '../domain/consoles/console-tickets.js';
import type { ImageImport } from '../domain/images/image-import.js';
import type { PoolService } from '../domain/pools/pool-service.js';
import { ReplicaBus } from '../domain/replicas/replica-bus.js';
import type { HomeDisks } from '../domain/tenants/home-disks.js';
import type { LabFiles } from '../domain/vms/lab-files.js';
import type { NetworkPolicy } from '../domain/vms/network-policy.js';
import type { SnapshotService } from '../domain/vms/snapshot-service.js';
import type { VmService } from '../domain/vms/vm-service.js';
import { createSessionMiddleware } from './auth/session.js';
import type { GuestPortProxy } from './guest-ports.js';
import { Metrics } from './metrics.js';
import type { VmEventStreams } from './vm-events.js';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  matchers?: unknown[];
  slash?: boolean;
}

/** Where the app mounts routers: the API, and the LTI browser endpoints. */
const MOUNTS = ['/api/v1', '/lti'];

/** The path a router layer is mounted at ('' for routers that see every path). */
function mountOf(layer: Layer): string {
  if (layer.slash) return '';
  const matches = layer.matchers?.[0] as ((path: string) => unknown) | undefined;
  return MOUNTS.find((mount) => matches?.(`${mount}/probe`)) ?? '(unknown mount)';
}

/** Lists `METHOD path` for every route Express serves under a prefix. */
function servedRoutes(app: Express): string[] {
  const found: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods))
          found.push(`${method} ${prefix}${layer.route.path}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack, prefix || mountOf(layer));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return found;
}

describe('the router', () => {
  it('serves exactly the declared routes, each once', () => {
    const sessionStore = new KnexSessionStore({} as Database['knex']);
    const sessionMiddleware = createSessionMiddleware({
      store: sessionStore,
      secret: 'x'.repeat(32),
      secureCookies: false,
    });
    const app = createApp({
      database: { knex: {} as Database['knex'], kind: 'pglite', close: async () => {} },
      engine: {
        info: () => ({
          name: 'qemu',
          version: '7.2.0',
          features: [],
          details: { accel: 'tcg', accelReason: 'configured as tcg', qemuVersion: '7.2.0' },
        }),
        capacity: () => ({
          host: { vcpus: 2, memoryMib: 4096 },
          allocatable: { vcpus: 8, memoryMib: 4096 },
          used: { vcpus: 0, memoryMib: 0, vms: 0 },
        }),
        members: () => [],
        setMemberState: async () => {},
      },
      logger: pino({ level: 'silent' }),
      sessionMiddleware,
      consoleTickets: new ConsoleTickets({} as Database['knex']),
      consoleConnections: {} as ConsoleConnections,
      accessEvents: new AccessEvents(new ReplicaBus({} as Database, pino({ level: 'silent' }))),
      metrics: new Metrics({} as Database['knex'], () => 0),
      vms: {} as VmService,
      networks: {} as NetworkPolicy,
      homeDisks: {} as HomeDisks,
      guestPorts: { middleware: (_req, _res, next) => next() } as GuestPortProxy,
      vmEvents: {} as VmEventStreams,
      pools: {} as PoolService,
      imageBuilds: { status: () => [] },
      snapshots: {} as SnapshotService,
      labFiles: {} as LabFiles,
      images: {} as ImageImport,
      exposeStack: false,
    });
    sessionStore.close();
    const served = servedRoutes(app).sort();
    const declared = [
      ...Object.values(API_ROUTES).map((route) => `${route.method} ${route.path}`),
      // The LTI browser endpoints, outside the API.
      `get ${LTI_PATHS.login}`,
      `post ${LTI_PATHS.login}`,
      `post ${LTI_PATHS.launch}`,
    ].sort();
    expect(served).toEqual(declared);
  });
});

describe('the OpenAPI document', () => {
  it('carries the request schemas, with unknown fields forbidden', () => {
    const document = buildOpenApiDocument() as any;
    const login = document.paths['/api/v1/auth/login'].post;
    const schema = login.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(['email', 'password']);
    expect(schema.additionalProperties).toBe(false);
    expect(document.paths['/api/v1/tenants/{tenantId}/quota'].put.parameters[0]).toMatchObject({
      name: 'tenantId',
      in: 'path',
    });
  });
});
