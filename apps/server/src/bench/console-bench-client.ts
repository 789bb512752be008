import WebSocket from 'ws';

/** How long one bench step may take before the bench gives up. */
export const STEP_TIMEOUT_MS = 60_000;

/** The `p`th percentile of `samples`, rounded to 0.01. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return (
    Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 100) /
    100
  );
}

/** Resolves once `check` holds; throws after STEP_TIMEOUT_MS naming `what` it waited for. */
export async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The median of `values` (the upper one of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A console opened through the server: its socket and everything the guest sent on it so far. */
export interface BenchConsole {
  socket: WebSocket;
  received: () => string;
}

/** The bench's HTTP client: one API call, and opening a serial console as a WebSocket. */
export interface BenchClient {
  api: (
    token: string,
    method: string,
    url: string,
    body?: unknown,
  ) => Promise<{ id: string; state: string; url: string }>;
  openConsole: (token: string, vmId: string, mode: 'interactive' | 'view') => Promise<BenchConsole>;
}

/** The bench's client of a server at `base`; every socket it opens is pushed to `sockets`. */
export function createBenchClient(base: string, sockets: WebSocket[]): BenchClient {
  const api = async (token: string, method: string, url: string, body?: unknown) => {
    const response = await fetch(base + url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        connection: 'close',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return response.json() as Promise<{ id: string; state: string; url: string }>;
  };
  const openConsole = async (token: string, vmId: string, mode: 'interactive' | 'view') => {
    const { url } = await api(token, 'POST', `/api/v1/vms/${vmId}/console`, {
      kind: 'serial',
      mode,
    });
    const socket = new WebSocket(base.replace('http', 'ws') + url, {
      headers: { authorization: `Bearer ${token}` },
      origin: base,
    });
    sockets.push(socket);
    let received = '';
    socket.on('message', (data, isBinary) => {
      if (isBinary) received += (data as Buffer).toString('utf8');
    });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    return { socket, received: () => received };
  };
  return { api, openConsole };
}

/** Creates the bench VM through the API and polls it until it runs; resolves with its id. */
export async function createRunningVm(
  client: BenchClient,
  token: string,
  tenantId: string,
  imageId: string,
  /** More fields of the launch (e.g. `network`). */
  extra: Record<string, unknown> = {},
): Promise<string> {
  const vm = await client.api(token, 'POST', '/api/v1/vms', {
    tenantId,
    name: 'bench',
    imageId,
    vcpus: 1,
    memoryMib: 256,
    diskGib: 1,
    ...extra,
  });
  if (!vm.id) throw new Error(`creating the VM failed: ${JSON.stringify(vm)}`);
  let state = '';
  const poll = setInterval(
    () =>
      void client
        .api(token, 'GET', `/api/v1/vms/${vm.id}`)
        .then((answer) => (state = answer.state)),
    200,
  );
  await until(() => state === 'running', 'the VM to run');
  clearInterval(poll);
  return vm.id;
}
