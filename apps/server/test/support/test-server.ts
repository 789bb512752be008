import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestHandler } from 'express';
import pino from 'pino';
import { createApp, type EngineStatusSource } from '../../src/app.js';
import type { Database } from '../../src/db/database.js';
import { KnexSessionStore } from '../../src/db/session-store.js';

/** A running app on a loopback port, over a migrated test database. */
export interface TestServer {
  url: string;
  database: Database;
  close(): Promise<void>;
}

/** Starts the app on a free loopback port. The engine source defaults to a healthy TCG engine. */
export async function startTestServer(
  database: Database,
  options: { engine?: EngineStatusSource; webHandler?: RequestHandler } = {},
): Promise<TestServer> {
  const engine = options.engine ?? { info: () => ({ accel: 'tcg' as const, version: '7.2.0' }) };
  const sessionStore = new KnexSessionStore(database.knex);
  const app = createApp({
    database,
    engine,
    logger: pino({ level: 'silent' }),
    sessionStore,
    sessionSecret: 'test-secret-test-secret-test-secret-00',
    secureCookies: false,
    exposeStack: false,
    webHandler: options.webHandler,
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    database,
    close: async () => {
      sessionStore.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A tiny cookie-keeping HTTP client for tests, speaking JSON. */
export class TestClient {
  private cookie: string | undefined;
  csrfToken: string | undefined;

  constructor(private readonly baseUrl: string) {}

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
