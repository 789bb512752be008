import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createEngine, type Engine, type EngineConfig } from '@labvisor/engine';
import type { RequestHandler } from 'express';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import type { Database } from '../../src/db/database.js';
import { KnexSessionStore } from '../../src/db/session-store.js';
import { ConsoleTickets } from '../../src/domain/console-tickets.js';
import { SnapshotService } from '../../src/domain/snapshot-service.js';
import { VmService } from '../../src/domain/vm-service.js';
import { createSessionMiddleware } from '../../src/http/auth/session.js';
import { Metrics } from '../../src/http/metrics.js';
import { ConsoleGateway } from '../../src/ws/console-gateway.js';

/** A running app on a loopback port, over a migrated test database and a real engine. */
export interface TestServer {
  url: string;
  database: Database;
  engine: Engine;
  vms: VmService;
  consoles: ConsoleGateway;
  /** Stops the app; with `keepVms` leaves the engine's guests running (for adoption tests). */
  close(options?: { keepVms?: boolean }): Promise<void>;
}

/**
 * Starts the app on a free loopback port with a real engine (TCG, a temp run directory unless
 * given). Closing it ends every VM it started unless told to keep them.
 */
export async function startTestServer(
  database: Database,
  options: { engine?: Partial<EngineConfig>; webHandler?: RequestHandler } = {},
): Promise<TestServer> {
  const runDir = options.engine?.runDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-vms-'));
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const engine = await createEngine({ accel: 'tcg', ...options.engine, runDir });
  const vms = new VmService({ knex: database.knex, engine, logger });
  const sessionStore = new KnexSessionStore(database.knex);
  const sessionMiddleware = createSessionMiddleware({
    store: sessionStore,
    secret: 'test-secret-test-secret-test-secret-00',
    secureCookies: false,
  });
  const consoleTickets = new ConsoleTickets();
  const consoles = new ConsoleGateway({
    knex: database.knex,
    engine,
    vms,
    tickets: consoleTickets,
    sessionMiddleware,
    publicOrigin: undefined,
    logger,
  });
  const metrics = new Metrics(database.knex, () => consoles.openSockets);
  const app = createApp({
    database,
    engine,
    vms,
    snapshots: new SnapshotService({ knex: database.knex, engine, vms }),
    logger,
    sessionMiddleware,
    consoleTickets,
    metrics,
    exposeStack: false,
    webHandler: options.webHandler,
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  server.on('upgrade', consoles.handleUpgrade);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    database,
    engine,
    vms,
    consoles,
    close: async ({ keepVms = false } = {}) => {
      sessionStore.close();
      await consoles.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await vms.idle();
      if (!keepVms) {
        for (const vm of await engine.listVms()) await engine.deleteVm(vm.id).catch(() => {});
      }
      await engine.close();
      if (!keepVms && !options.engine?.runDir) fs.rmSync(runDir, { recursive: true, force: true });
    },
  };
}

/** A tiny cookie-keeping HTTP client for tests, speaking JSON. */
export class TestClient {
  private cookie: string | undefined;
  csrfToken: string | undefined;

  /** The session cookie, for other clients (WebSocket) to present. */
  get cookieHeader(): string | undefined {
    return this.cookie;
  }

  /** The server this client talks to (changed when a test restarts the server). */
  constructor(public baseUrl: string) {}

  /** Sends a request; returns status and parsed JSON body (or raw text). */
  async send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: any; headers: Headers }> {
    const allHeaders: Record<string, string> = { ...headers };
    if (body !== undefined) allHeaders['content-type'] ??= 'application/json';
    if (this.cookie) allHeaders.cookie = this.cookie;
    if (this.csrfToken && method !== 'GET') allHeaders['x-csrf-token'] ??= this.csrfToken;
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: allHeaders,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const setCookie = response.headers.get('set-cookie');
    if (setCookie) this.cookie = setCookie.split(';')[0];
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: response.status, body: parsed, headers: response.headers };
  }

  /** Signs in and keeps the session cookie and CSRF token. */
  async login(email: string, password: string) {
    const answer = await this.send('POST', '/api/v1/auth/login', { email, password });
    if (answer.status === 200) this.csrfToken = answer.body.csrfToken;
    return answer;
  }
}
