/** Helpers for a viewer's console WebSocket: keepalive pings, control messages, input with backpressure. */
import type { Writable } from 'node:stream';
import type { WebSocket } from 'ws';

/** How often console sockets are pinged; one missed pong ends the socket. */
export const PING_INTERVAL_MS = 30_000;

/** Pings a socket on an interval and terminates it when a pong does not come back in time. */
export function keepAlive(socket: WebSocket, intervalMs = PING_INTERVAL_MS): void {
  let alive = true;
  socket.on('pong', () => {
    alive = true;
  });
  const timer = setInterval(() => {
    if (!alive) {
      socket.terminate();
      return;
    }
    alive = false;
    socket.ping();
  }, intervalMs);
  timer.unref();
  socket.on('close', () => clearInterval(timer));
}

/** Sends a JSON control message as a text frame, if the socket is open. */
export function sendControl(socket: WebSocket, message: unknown): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

/** Viewers paused until the console stream they write to drains. */
const pausedViewers = new WeakSet<WebSocket>();

/**
 * Writes a viewer's input to a console stream. While the stream is full (the guest reads slower
 * than the viewer sends), reading from the viewer stops until it drains, so TCP backpressure
 * reaches the sender instead of the server's memory growing.
 */
export function forwardInput(viewer: WebSocket, console: Writable, data: Buffer): void {
  if (console.write(data) || pausedViewers.has(viewer)) return;
  pausedViewers.add(viewer);
  viewer.pause();
  const resume = () => {
    pausedViewers.delete(viewer);
    console.off('drain', resume);
    console.off('close', resume);
    if (viewer.readyState === viewer.OPEN) viewer.resume();
  };
  console.once('drain', resume);
  console.once('close', resume);
}
