import type { Duplex } from 'node:stream';
import { CONSOLE_CLOSE_CODES } from '@labvisor/shared';
import type { RawData, WebSocket } from 'ws';
import { RfbClientStream } from './rfb-client-stream.js';
import { MAX_VIEWER_BUFFER_BYTES } from './serial.js';
import { forwardInput, keepAlive } from './viewer-socket.js';

/** What a viewer may send before the display is open; beyond it the viewer is refused. */
const MAX_EARLY_BYTES = 1024 * 1024;

/**
 * Relays one viewer's WebSocket to the VM's display (RFB both ways, binary frames). For a `view`
 * viewer the server parses the client stream and drops its keys, pointer and clipboard.
 */
export function relayVnc(options: {
  socket: WebSocket;
  /** Opens a byte stream to the VM's VNC server, one per viewer. */
  openDisplay: () => Promise<Duplex>;
  mode: 'interactive' | 'view';
  onInput: () => void;
}): void {
  const { socket } = options;
  keepAlive(socket);
  const clientStream = new RfbClientStream(options.mode === 'view');
  // What the viewer sends before the display is open is kept and sent once it is.
  const early: Buffer[] = [];
  let earlyBytes = 0;
  let upstream: Duplex | undefined;
  let closed = false;

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
    if (upstream) {
      forwardInput(socket, upstream, forward);
      return;
    }
    earlyBytes += forward.length;
    if (earlyBytes > MAX_EARLY_BYTES) {
      socket.close(CONSOLE_CLOSE_CODES.POLICY, 'Too much data before the display opened.');
      return;
    }
    early.push(forward);
  });
  socket.on('close', () => {
    closed = true;
    upstream?.destroy();
  });

  options.openDisplay().then(
    (display) => {
      if (closed) {
        display.destroy();
        return;
      }
      upstream = display;
      for (const chunk of early) display.write(chunk);
      early.length = 0;
      relayDisplayToViewer(display, socket);
    },
    () => socket.close(CONSOLE_CLOSE_CODES.GONE, 'The VM display is not available.'),
  );
}

/** Sends the display's bytes to the viewer, pausing the display while the viewer lags. */
function relayDisplayToViewer(display: Duplex, socket: WebSocket): void {
  display.on('data', (chunk: Buffer) => {
    if (socket.bufferedAmount > MAX_VIEWER_BUFFER_BYTES) {
      // Let the viewer catch up: stop reading from the display until the socket drains.
      display.pause();
      const resume = setInterval(() => {
        if (
          socket.bufferedAmount <= MAX_VIEWER_BUFFER_BYTES / 2 ||
          socket.readyState !== socket.OPEN
        ) {
          clearInterval(resume);
          display.resume();
        }
      }, 20);
    }
    socket.send(chunk, { binary: true });
  });
  display.on('error', () =>
    socket.close(CONSOLE_CLOSE_CODES.GONE, 'The VM display is not available.'),
  );
  display.on('close', () => socket.close(CONSOLE_CLOSE_CODES.GONE, 'The VM stopped.'));
}
