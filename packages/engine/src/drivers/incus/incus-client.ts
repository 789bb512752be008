import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { PeerCertificate } from 'node:tls';
import WebSocket, { createWebSocketStream } from 'ws';
import { EngineError } from '../../errors.js';

/** How to reach an Incus cluster's REST API. */
export interface IncusConnection {
  /** `host:port` of each member; a request goes to the first that answers. */
  addresses: string[];
  /** Labvisor's client certificate and key (PEM), trusted by the cluster. */
  clientCertificate: string;
  clientKey: string;
  /** The cluster's certificate (PEM): the only one accepted, whatever the host name. */
  serverCertificate: string;
  /** How long one request may take before the member counts as unreachable (default 10 s). */
  requestTimeoutMs?: number;
}

/** What an Incus API call answers: its `metadata`, and the operation path for async calls. */
interface IncusResponse {
  type: 'sync' | 'async' | 'error';
  status_code: number;
  error_code?: number;
  error?: string;
  operation?: string;
  metadata: unknown;
}

/** An Incus background operation as `/1.0/operations/<id>` describes it. */
export interface IncusOperation {
  id: string;
  status: string;
  status_code: number;
  err: string;
  metadata: Record<string, unknown> | null;
}

/** A request's body: JSON, or a file sent as it is. */
type RequestBody = { json: unknown } | { file: string };

function jsonBody(body: unknown): RequestBody | undefined {
  return body === undefined ? undefined : { json: body };
}

/** An error Incus answered, with its HTTP status and text. */
export class IncusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Operation status codes (Incus `api.StatusCode`). */
const OPERATION_SUCCESS = 200;
/** How soon a member that is not ready yet (just restarted) is asked again. */
const NOT_READY_RETRY_MS = 250;

/** Whether Incus said it is starting up (a member just back): worth asking again. */
export function isNotReady(error: IncusError): boolean {
  return /isn't ready yet|not ready/i.test(error.message);
}

/** Operation status codes of an operation still under way (Running, Pending). */
const OPERATION_UNFINISHED = [103, 105];

/**
 * A client of Incus's REST API over mutual TLS: the cluster certificate is pinned (Incus clusters
 * present a self-signed certificate naming no host), every request has a deadline, and a member
 * that does not answer is skipped for the next.
 */
export class IncusClient {
  readonly #connection: IncusConnection;
  readonly #fingerprint: string;
  readonly #agent: https.Agent;
  /** The member address that answered last: tried first. */
  #preferred = 0;

  constructor(connection: IncusConnection) {
    if (connection.addresses.length === 0) {
      throw new EngineError('VALIDATION', 'The Incus driver needs at least one cluster address');
    }
    this.#connection = connection;
    this.#fingerprint = new X509Certificate(connection.serverCertificate).fingerprint256;
    this.#agent = new https.Agent({
      keepAlive: true,
      ...this.#tlsOptions(),
    });
  }

  /** A synchronous call's metadata; for an asynchronous one, the finished operation's metadata. */
  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: { timeoutMs?: number } = {},
  ): Promise<T> {
    const response = await this.#request(method, path, jsonBody(body), options.timeoutMs);
    if (response.type === 'async' && response.operation) {
      const operation = await this.waitFor(response.operation, options.timeoutMs);
      return operation.metadata as T;
    }
    return response.metadata as T;
  }

  /** Sends a file as the request body (an image tarball to `/1.0/images`) and waits for the result. */
  async upload<T = unknown>(path: string, filePath: string, timeoutMs = 300_000): Promise<T> {
    const response = await this.#request('POST', path, { file: filePath }, timeoutMs);
    if (response.type === 'async' && response.operation) {
      return (await this.waitFor(response.operation, timeoutMs)).metadata as T;
    }
    return response.metadata as T;
  }

  /** Starts an asynchronous call and answers its operation without waiting for it. */
  async start(method: string, path: string, body?: unknown): Promise<IncusOperation> {
    const response = await this.#request(method, path, jsonBody(body));
    if (response.type !== 'async') throw new IncusError(500, `${method} ${path} was not async`);
    return response.metadata as IncusOperation;
  }

  /** Waits for an operation to end; throws its error when it failed. */
  async waitFor(operationPath: string, timeoutMs = 120_000): Promise<IncusOperation> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
      const response = await this.#request(
        'GET',
        `${operationPath}/wait?timeout=${seconds}`,
        undefined,
        seconds * 1000 + 5_000,
      );
      const operation = response.metadata as IncusOperation;
      // An operation of another member can answer before it ends: wait again until it does.
      if (OPERATION_UNFINISHED.includes(operation.status_code) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      // `wait` can answer HTTP 200 for an operation that failed: its status code tells.
      if (operation.status_code !== OPERATION_SUCCESS) {
        throw new IncusError(
          500,
          operation.err || `Incus operation ${operation.id} ended ${operation.status}, not Success`,
        );
      }
      return operation;
    }
  }

  /** Opens a WebSocket on the member that answered last (operations live on one member). */
  openWebSocket(path: string): Promise<WebSocket> {
    const address = this.#connection.addresses[this.#preferred] as string;
    return new Promise((resolve, reject) => {
      // ws hands the TLS options to tls.connect as they are (its types narrow checkServerIdentity).
      const socket = new WebSocket(`wss://${address}${path}`, {
        ...this.#tlsOptions(),
        handshakeTimeout: this.#connection.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      } as unknown as WebSocket.ClientOptions);
      socket.once('open', () => resolve(socket));
      socket.once('error', reject);
    });
  }

  /** An operation's WebSocket as a byte stream. */
  async openOperationStream(operationId: string, secret: string): Promise<Duplex> {
    const socket = await this.openWebSocket(
      `/1.0/operations/${operationId}/websocket?secret=${encodeURIComponent(secret)}`,
    );
    return createWebSocketStream(socket);
  }

  close(): void {
    this.#agent.destroy();
  }

  #tlsOptions() {
    const fingerprint = this.#fingerprint;
    return {
      cert: this.#connection.clientCertificate,
      key: this.#connection.clientKey,
      ca: this.#connection.serverCertificate,
      checkServerIdentity: (_host: string, certificate: PeerCertificate) =>
        certificate.fingerprint256 === fingerprint
          ? undefined
          : new Error(
              `The Incus server presented certificate ${certificate.fingerprint256}, not the pinned one`,
            ),
    };
  }

  /**
   * One call, with its deadline: a member that does not answer is skipped for the next; a member
   * just back that says it is not ready yet is asked again (every 250 ms) until the deadline.
   */
  async #request(
    method: string,
    path: string,
    body: RequestBody | undefined,
    timeoutMs = this.#connection.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
  ): Promise<IncusResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.#requestOnce(method, path, body, timeoutMs);
      } catch (error) {
        if (!(error instanceof IncusError && isNotReady(error)) || Date.now() >= deadline)
          throw error;
        await new Promise((resolve) => setTimeout(resolve, NOT_READY_RETRY_MS));
      }
    }
  }

  async #requestOnce(
    method: string,
    path: string,
    body: RequestBody | undefined,
    timeoutMs: number,
  ): Promise<IncusResponse> {
    const addresses = this.#connection.addresses;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < addresses.length; attempt++) {
      const index = (this.#preferred + attempt) % addresses.length;
      try {
        const response = await this.#send(
          addresses[index] as string,
          method,
          path,
          body,
          timeoutMs,
        );
        this.#preferred = index;
        if (response.type === 'error') {
          throw new IncusError(response.error_code ?? 500, response.error ?? 'Incus refused');
        }
        return response;
      } catch (error) {
        if (error instanceof IncusError) throw error;
        lastError = error as Error;
      }
    }
    throw new EngineError(
      'UNAVAILABLE',
      `The Incus cluster does not answer (${lastError?.message ?? 'no address'})`,
    );
  }

  #send(
    address: string,
    method: string,
    path: string,
    body: RequestBody | undefined,
    timeoutMs: number,
  ): Promise<IncusResponse> {
    const [host, port] = address.split(':');
    const file = body && 'file' in body ? body.file : undefined;
    const payload = body && 'json' in body ? JSON.stringify(body.json) : undefined;
    const headers: Record<string, string> = file
      ? { 'content-type': 'application/octet-stream' }
      : payload
        ? { 'content-type': 'application/json' }
        : {};
    return new Promise((resolve, reject) => {
      const request = https.request(
        {
          host,
          port: Number(port ?? 8443),
          method,
          path,
          agent: this.#agent,
          headers,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as IncusResponse);
            } catch {
              reject(new Error(`${address} answered ${response.statusCode} without JSON`));
            }
          });
          response.on('error', reject);
        },
      );
      request.setTimeout(timeoutMs, () =>
        request.destroy(new Error(`${address} did not answer within ${timeoutMs} ms`)),
      );
      request.on('error', reject);
      if (file) {
        const stream = fs.createReadStream(file);
        stream.on('error', (error) => request.destroy(error));
        stream.pipe(request);
      } else request.end(payload);
    });
  }
}
