import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Reverter } from '../../revert.js';
import { sleep } from './process-utils.js';
import type { QemuPaths } from './qemu-paths.js';
import type { QemuUser } from './qemu-user.js';
import type { QmpClient } from './qmp/commands.js';

/** How long restoring a saved memory state may take. */
export const RESTORE_TIMEOUT_MS = 120_000;
/** How long saving the memory state may take. */
export const SUSPEND_TIMEOUT_MS = 300_000;
/** Migration bandwidth for suspend: QEMU's default 32 MiB/s would make a save take seconds. */
const SUSPEND_MAX_BANDWIDTH_BYTES_PER_S = 64 * 1024 * 1024 * 1024;
const STATUS_POLL_INTERVAL_MS = 20;

/** What {@link readSavedStateInfo} keeps beside a saved memory state. */
interface SavedStateInfo {
  /** Whether the guest ran when its state was saved (it is resumed after the restore if so). */
  wasRunning: boolean;
}

/**
 * Saves a guest's memory state to `paths.savedState`: QMP `migrate` to a unix socket served here,
 * written to a temporary file, with the vCPUs stopped first so the save is one pass of a
 * consistent state. The file is renamed into place only once complete and synced. On failure the
 * guest runs on as before and no file is left. QEMU still runs afterwards: the caller ends it.
 *
 * The socket is in a fresh temporary folder, not the VM's (which only the server may enter): QEMU
 * connects to it as the account it runs as (`qemuUser`, which then owns the socket).
 */
export async function saveMemoryState(
  client: QmpClient,
  paths: QemuPaths,
  qemuUser: QemuUser | undefined,
): Promise<void> {
  const temp = `${paths.savedState}.partial`;
  const reverter = new Reverter();
  const wasRunning = (await client.queryStatus()).running;
  try {
    const socketDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'labvisor-migrate-'));
    reverter.add(() => fsp.rm(socketDir, { recursive: true, force: true }));
    await fsp.chmod(socketDir, 0o711);
    const socketPath = path.join(socketDir, 'migrate.sock');
    const server = net.createServer();
    reverter.add(() => server.close());
    reverter.add(() => fsp.rm(temp, { force: true }));
    const written = new Promise<void>((resolve, reject) => {
      server.once('connection', (socket) => {
        server.close();
        const file = fs.createWriteStream(temp, { mode: 0o600 });
        socket.pipe(file);
        socket.on('error', reject);
        file.on('error', reject);
        file.on('finish', () => resolve());
      });
    });
    written.catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    if (qemuUser) await fsp.chown(socketPath, qemuUser.uid, qemuUser.gid);
    if (wasRunning) {
      await client.stop();
      reverter.add(() => client.cont());
    }
    await client.migrateSetParameters({ 'max-bandwidth': SUSPEND_MAX_BANDWIDTH_BYTES_PER_S });
    await client.migrate(`unix:${socketPath}`);
    const deadline = Date.now() + SUSPEND_TIMEOUT_MS;
    for (;;) {
      const migration = await client.queryMigrate();
      if (migration.status === 'completed') break;
      if (migration.status === 'failed' || migration.status === 'cancelled') {
        throw new Error(`saving memory failed: ${migration['error-desc'] ?? migration.status}`);
      }
      if (Date.now() > deadline) throw new Error('saving memory timed out');
      await sleep(STATUS_POLL_INTERVAL_MS);
    }
    await written;
    const handle = await fsp.open(temp, 'r+');
    await handle.datasync();
    await handle.close();
    const info: SavedStateInfo = { wasRunning };
    reverter.add(() => fsp.rm(paths.savedStateInfo, { force: true }));
    await fsp.writeFile(paths.savedStateInfo, `${JSON.stringify(info)}\n`, { mode: 0o600 });
    await fsp.rename(temp, paths.savedState);
    reverter.success();
    await fsp.rm(socketDir, { recursive: true, force: true });
  } catch (error) {
    await reverter.revert(() => undefined);
    throw error;
  }
}

/** Whether the guest ran when its memory state was saved (true when unknown). */
export function readSavedStateInfo(paths: QemuPaths): SavedStateInfo {
  try {
    const info = JSON.parse(fs.readFileSync(paths.savedStateInfo, 'utf8')) as SavedStateInfo;
    return { wasRunning: info.wasRunning !== false };
  } catch {
    return { wasRunning: true };
  }
}

/** Removes a saved memory state and what is kept beside it. */
export async function removeSavedState(paths: QemuPaths): Promise<void> {
  await fsp.rm(paths.savedState, { force: true });
  await fsp.rm(paths.savedStateInfo, { force: true });
}

/**
 * Waits until QEMU has loaded a saved memory state (`-incoming`), then resumes the guest if it ran
 * when it was saved. Resolves with whether it runs.
 */
export async function finishRestore(client: QmpClient, wasRunning: boolean): Promise<boolean> {
  const deadline = Date.now() + RESTORE_TIMEOUT_MS;
  let status = await client.queryStatus();
  while (status.status === 'inmigrate' || status.status === 'restore-vm') {
    if (Date.now() > deadline) throw new Error('restoring the saved state timed out');
    await sleep(STATUS_POLL_INTERVAL_MS);
    status = await client.queryStatus();
  }
  const migration = await client.queryMigrate();
  if (migration.status === 'failed') {
    throw new Error(`restoring the saved state failed: ${migration['error-desc'] ?? 'unknown'}`);
  }
  if (wasRunning && !status.running) {
    await client.cont();
    status = await client.queryStatus();
  }
  return status.running;
}
