import net from 'node:net';
import { CONSOLE_CLOSE_CODES } from '@labvisor/shared';
import type { RawData, WebSocket } from 'ws';
import { keepAlive } from './keepalive.js';
import { RfbClientStream } from './rfb-client-stream.js';
import { MAX_VIEWER_BUFFER_BYTES } from './serial.js';

/**
 * Relays one viewer's WebSocket to the VM's VNC unix socket (RFB both ways, binary frames). For a
 * `view` viewer the server parses the client stream and drops its keys, pointer and clipboard.
 */
export function relayVnc(options: {
  socket: WebSocket;
  vncSocketPath: string;
  mode: 'interactive' | 'view';
  onInput: () => void;
}): void {
  const { socket } = options;
  keepAlive(socket);
  const upstream = net.createConnection(options.vncSocketPath);
  const clientStream = new RfbClientStream(options.mode === 'view');
  const early: Buffer[] = [];
  let connected = false;

  upstream.on('connect', () => {
    connected = true;
    for (const chunk of early) upstream.write(chunk);
    early.length = 0;
  });
  upstream.on('data', (chunk: Buffer) => {
    if (socket.bufferedAmount > MAX_VIEWER_BUFFER_BYTES) {
      // Let the viewer catch up: stop reading from QEMU until the socket drains.
      upstream.pause();
      const resume = setInterval(() => {
        if (
          socket.bufferedAmount <= MAX_VIEWER_BUFFER_BYTES / 2 ||
          socket.readyState !== socket.OPEN
        ) {
          clearInterval(resume);
          upstream.resume();
        }
      }, 20);
    }
    socket.send(chunk, { binary: true });
  });
  upstream.on('error', () =>
    socket.close(CONSOLE_CLOSE_CODES.GONE, 'The VM display is not available.'),
  );
  upstream.on('close', () => socket.close(CONSOLE_CLOSE_CODES.GONE, 'The VM stopped.'));

  socket.on('message', (data: RawData, isBinary: boolean) => {
    if (!isBinary) return;
    let forward: Buffer;
    try {
      const result = clientStream.push(data as Buffer);
      forward = result.forward;
      if (result.input && options.mode === 'interactive') options.onInput();
    } catch {
      socket.close(CONSOLE_CLOSE_CODES.POLICY, 'Unexpected data from the VNC client.');
      return;
    }
    if (forward.length === 0) return;
    if (connected) upstream.write(forward);
    else early.push(forward);
  });
  socket.on('close', () => upstream.destroy());
}
