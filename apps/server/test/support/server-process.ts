import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

/** The built server (`npm run build`), run as `npm start` runs it. */
export const SERVER_ENTRY = path.resolve(import.meta.dirname, '../../dist/index.js');

/** Starts the built server and resolves once it serves, with its output so far. */
export function startServer(env: Record<string, string>) {
  const child = spawn(process.execPath, [SERVER_ENTRY], {
    env: {
      NODE_ENV: 'production',
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOG_LEVEL: 'warn',
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (stdout.includes('Labvisor is serving on')) {
        clearInterval(timer);
        resolve();
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`server exited ${code}: ${stderr}`));
    });
  });
  return { child, ready, exited, output: () => stdout, errors: () => stderr };
}

/** A free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
