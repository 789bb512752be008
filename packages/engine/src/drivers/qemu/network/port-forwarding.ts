import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { daemonPid, startDaemonIn } from './namespace-commands.js';
import { connectLine, PORT_FORWARDER_SCRIPT } from './port-forwarder.js';

/**
 * The router namespace's port forwarder (see port-forwarder.ts): started on demand, found again
 * after a server restart by its pid file, reached on a unix socket in `runDir`.
 */
export class PortForwarding {
  readonly #namespace: string;
  readonly #runDir: string;

  constructor(namespace: string, runDir: string) {
    this.#namespace = namespace;
    this.#runDir = runDir;
  }

  /** The forwarder's pid file (for whoever stops it). */
  get pidFile(): string {
    return path.join(this.#runDir, 'forwarder.pid');
  }

  /** Starts the forwarder unless it runs. */
  async ensure(): Promise<void> {
    const socketPath = this.#socket();
    if ((await daemonPid(this.pidFile, socketPath)) !== undefined && fs.existsSync(socketPath))
      return;
    await startDaemonIn(
      this.#namespace,
      [process.execPath, '-e', PORT_FORWARDER_SCRIPT, socketPath],
      { logFile: path.join(this.#runDir, 'forwarder.log'), pidFile: this.pidFile },
    );
    const deadline = Date.now() + 5_000;
    while (!fs.existsSync(socketPath)) {
      if (Date.now() > deadline) throw new Error('the port forwarder did not start');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * A stream to `address:port` in the namespace; rejects with the forwarder's reason
   * (`ECONNREFUSED`, `ETIMEDOUT`…) as the error's message when the guest does not answer.
   */
  async connect(address: string, port: number): Promise<net.Socket> {
    const socket = net.connect(this.#socket());
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      socket.write(connectLine(address, port));
      const answer = await readLine(socket);
      if (answer !== 'OK') throw new PortRefusedError(answer.replace(/^ERR /, ''));
      return socket;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  #socket(): string {
    return path.join(this.#runDir, 'ports.sock');
  }
}

/** The forwarder could not reach the guest's port; the message is its reason. */
export class PortRefusedError extends Error {}

/**
 * Reads one line (without its newline) and puts back what came after it. Read with `read()`, not
 * by pausing a flowing stream: the socket is left neither flowing nor paused, so whoever reads it
 * next (a pipe, an HTTP client) starts it by listening.
 */
function readLine(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const stop = () => {
      socket.off('readable', onReadable);
      socket.off('error', fail);
      socket.off('end', onEnd);
    };
    const fail = (error: Error) => {
      stop();
      reject(error);
    };
    const onEnd = () => fail(new Error('the port forwarder closed the connection'));
    function onReadable() {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read()) {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf(10);
        if (end < 0) continue;
        stop();
        const rest = buffered.subarray(end + 1);
        if (rest.length > 0) socket.unshift(rest);
        resolve(buffered.subarray(0, end).toString('utf8'));
        return;
      }
    }
    socket.on('readable', onReadable);
    socket.once('error', fail);
    socket.once('end', onEnd);
  });
}
