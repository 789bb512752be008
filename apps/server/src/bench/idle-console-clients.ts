/**
 * The far end of the consoles benchmark's idle connections, in a process of its own so that the
 * server's memory is measured alone. Started by console-bench.ts with `fork`; it receives
 * `{base, vmId, tokens, count}`, opens `count` view-only serial consoles (a ticket each, spread over
 * the tokens' users), answers `{opened}` and holds them until it is told `close` or its parent exits.
 */
import WebSocket from 'ws';

interface OpenRequest {
  base: string;
  vmId: string;
  tokens: string[];
  count: number;
  perUser: number;
}

const sockets: WebSocket[] = [];

async function openViewer(base: string, vmId: string, token: string): Promise<void> {
  const response = await fetch(`${base}/api/v1/vms/${vmId}/console`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'serial', mode: 'view' }),
  });
  const answer = (await response.json()) as { url?: string };
  if (!answer.url) throw new Error(`no console ticket: ${JSON.stringify(answer)}`);
  const socket = new WebSocket(base.replace('http', 'ws') + answer.url, {
    headers: { authorization: `Bearer ${token}` },
    origin: base,
  });
  sockets.push(socket);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
}

process.on('message', (message: OpenRequest | 'close') => {
  if (message === 'close') {
    for (const socket of sockets) socket.terminate();
    process.exit(0);
  }
  const { base, vmId, tokens, count, perUser } = message;
  (async () => {
    for (let index = 0; index < count; index++) {
      await openViewer(base, vmId, tokens[Math.floor(index / perUser)]!);
    }
    process.send?.({ opened: sockets.length });
  })().catch((error: unknown) => {
    process.send?.({ error: error instanceof Error ? error.message : String(error) });
  });
});
process.on('disconnect', () => process.exit(0));
