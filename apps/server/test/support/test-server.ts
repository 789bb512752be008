import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type DriverConfig, type DriverFactory, Engine, type EngineConfig } from '@labvisor/engine';
import type { RequestHandler } from 'express';
import pino from 'pino';
import type { OidcSettings } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import {
  defaultImageImportSettings,
  type ImageImportSettings,
} from '../../src/domain/images/image-import.js';
import type { PoolFiller } from '../../src/domain/pools/pool-filler.js';
import type { BudgetKeeper } from '../../src/domain/quota/budget-keeper.js';
import type { Leadership } from '../../src/domain/replicas/leadership.js';
import type { IdleSuspender } from '../../src/domain/vms/idle-suspender.js';
import type { ScheduleKeeper } from '../../src/domain/vms/schedule-keeper.js';
import type { VmService } from '../../src/domain/vms/vm-service.js';
import { buildServer } from '../../src/server.js';
import type { ConsoleGateway } from '../../src/ws/console-gateway.js';

/** A running app on a loopback port, over a migrated test database and a real engine. */
export interface TestServer {
  url: string;
  /** The engine's run directory (one folder per VM). */
  runDir: string;
  database: Database;
  engine: Engine;
  vms: VmService;
  poolFiller: PoolFiller;
  idleSuspender: IdleSuspender;
  budgetKeeper: BudgetKeeper;
  scheduleKeeper: ScheduleKeeper;
  consoles: ConsoleGateway;
  /** Whether this server leads the replicas on its database. */
  leadership: Leadership;
  /** Stops the app; with `keepVms` leaves the engine's guests running (for adoption tests). */
  close(options?: { keepVms?: boolean }): Promise<void>;
}

/**
 * Starts the app on a free loopback port with a real engine (TCG, a temp run directory unless
 * given). Closing it ends every VM it started unless told to keep them.
 */
export async function startTestServer(
  database: Database,
  options: {
    /**
     * The engine's settings; its driver is QEMU under TCG unless `driver` says otherwise (QEMU
     * settings on top of those, or a whole other driver's configuration such as Incus's).
     */
    engine?: Partial<Omit<EngineConfig, 'driver'>> & {
      driver?:
        | Partial<Extract<DriverConfig, { kind: 'qemu' }>>
        | Exclude<DriverConfig, { kind: 'qemu' }>;
    };
    /** Builds the engine's driver instead (a fake, for tests where no guest must boot). */
    driverFactory?: DriverFactory;
    webHandler?: RequestHandler;
    /** Makes `/metrics` require this bearer token. */
    metricsToken?: string;
    oidc?: OidcSettings;
    /** Image store and upload limits; the store defaults to `images` in the run directory. */
    images?: Partial<ImageImportSettings>;
  } = {},
): Promise<TestServer> {
  const runDir = options.engine?.runDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-vms-'));
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const engine = await Engine.create(
    {
      ...options.engine,
      runDir,
      driver:
        options.engine?.driver?.kind === 'incus'
          ? options.engine.driver
          : { kind: 'qemu', accel: 'tcg', ...options.engine?.driver },
    },
    options.driverFactory,
  );
  const server = buildServer({
    database,
    engine,
    logger,
    sessionSecret: 'test-secret-test-secret-test-secret-00',
    recordingsDir: path.join(runDir, 'recordings'),
    homesDir: path.join(runDir, 'homes'),
    images: { ...defaultImageImportSettings(path.join(runDir, 'images')), ...options.images },
    publicOrigin: undefined,
    exposeStack: false,
    checkAnswers: true,
    webHandler: options.webHandler,
    metricsToken: options.metricsToken,
    oidc: options.oidc,
  });
  const listening = await server.listen(0, '127.0.0.1');
  const { port } = listening.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    runDir,
    database,
    engine,
    vms: server.vms,
    poolFiller: server.poolFiller,
    idleSuspender: server.idleSuspender,
    budgetKeeper: server.budgetKeeper,
    scheduleKeeper: server.scheduleKeeper,
    consoles: server.consoles,
    leadership: server.leadership,
    close: async ({ keepVms = false } = {}) => {
      await server.close();
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

  /** The same session, talking to another server (a replica on the same database). */
  at(baseUrl: string): TestClient {
    const client = new TestClient(baseUrl);
    client.cookie = this.cookie;
    client.csrfToken = this.csrfToken;
    return client;
  }

  /** Signs in and keeps the session cookie and CSRF token. */
  async login(email: string, password: string) {
    const answer = await this.send('POST', '/api/v1/auth/login', { email, password });
    if (answer.status === 200) this.csrfToken = answer.body.csrfToken;
    return answer;
  }
}

/** Polls a VM through the API until it reaches `state`, failing with its last state and reason. */
export async function waitForVmState(
  client: TestClient,
  vmId: string,
  state: string,
  timeoutMs = 60_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    last = (await client.send('GET', `/api/v1/vms/${vmId}`)).body;
    if (last.state === state) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`VM ${vmId} did not become ${state}: ${JSON.stringify(last)}`);
}
