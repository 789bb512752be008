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
