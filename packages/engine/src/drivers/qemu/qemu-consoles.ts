import net from 'node:net';
import type { Duplex } from 'node:stream';
import { EngineError } from '../../errors.js';
import type { ConsoleKind } from '../driver.js';
import type { QemuPaths } from './qemu-paths.js';

/** Connects to a VM's serial chardev or VNC server unix socket; UNAVAILABLE when nothing answers. */
export function connectConsole(paths: QemuPaths, vmId: string, kind: ConsoleKind): Promise<Duplex> {
  const socketPath = kind === 'serial' ? paths.serial : paths.vnc;
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) =>
      reject(
        new EngineError(
          'UNAVAILABLE',
          `The ${kind === 'serial' ? 'terminal' : 'display'} of VM "${vmId}" is not available`,
          { vmId },
          { cause: error },
        ),
      ),
    );
  });
}
