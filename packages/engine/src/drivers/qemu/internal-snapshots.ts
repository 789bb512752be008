/**
 * Snapshots are internal qcow2 snapshots of the VM's overlay, not external overlay chains:
 * - one file per VM holds the disk, every snapshot and every snapshot's memory state, so delete
 *   is one qemu-img/QMP call and "removes every file" stays trivial;
 * - restoring or deleting any snapshot in any order needs no block-commit/stream of a chain, and the
 *   read-only base image is never touched;
 * - memory snapshots come for free with QEMU 7.2's `snapshot-save`/`snapshot-load` jobs, and a
 *   stopped VM restores one with `-loadvm`.
 * The cost: a live disk-only restore is not possible in QEMU, so restoring one on a running VM
 * stops it first (the facade does this), and the size of a snapshot is not reported by qcow2 — we
 * record the overlay's allocation when it was taken (what the snapshot pins at most) plus its
 * memory state size.
 */
import fs from 'node:fs/promises';
import { EngineError } from '../../errors.js';
import type { SnapshotInfo } from '../driver.js';
import { sleep } from './process-utils.js';
import { DISK_NODE_NAME } from './qemu-args.js';
import { listQcowSnapshots, runQemuImg } from './qemu-img.js';
import type { QmpClient } from './qmp/commands.js';

/** What a snapshot name must look like (not all digits: QEMU would also match it as a snapshot id). */
export const SNAPSHOT_NAME_PATTERN = /^(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** How long a snapshot job may run. */
export const SNAPSHOT_JOB_TIMEOUT_MS = 300_000;
const JOB_POLL_INTERVAL_MS = 25;

interface SnapshotMeta {
  memory: boolean;
  diskBytes: number;
  createdAt: string;
}

/** Throws VALIDATION unless `name` matches {@link SNAPSHOT_NAME_PATTERN}. */
export function assertSnapshotName(vmId: string, name: string): void {
  if (typeof name !== 'string' || !SNAPSHOT_NAME_PATTERN.test(name)) {
    throw new EngineError(
      'VALIDATION',
      `Invalid snapshot name for VM "${vmId}": it must match ${SNAPSHOT_NAME_PATTERN}`,
      { field: 'name' },
    );
  }
}

/** Internal qcow2 snapshots of one VM's disk: offline through qemu-img, live through QMP. */
export class InternalSnapshots {
  constructor(
    private readonly qemuImg: string,
    private readonly vmId: string,
    private readonly diskPath: string,
    private readonly metaPath: string,
  ) {}

  /** Lists snapshots, oldest first. */
  async list(): Promise<SnapshotInfo[]> {
    const entries = await listQcowSnapshots(this.qemuImg, this.diskPath);
    const meta = await this.#readMeta();
    return entries.map((entry) => {
      const extra = meta[entry.name];
      const vmStateSize = entry['vm-state-size'] ?? 0;
      return {
        name: entry.name,
        memory: vmStateSize > 0,
        sizeBytes: vmStateSize + (extra?.diskBytes ?? 0),
        createdAt:
          extra?.createdAt ??
          new Date(entry['date-sec'] * 1000 + Math.floor(entry['date-nsec'] / 1e6)).toISOString(),
      };
    });
  }

  /** Takes a snapshot: with `client` while QEMU runs (memory only then), with qemu-img otherwise. */
  async create(
    name: string,
    memory: boolean,
    client: QmpClient | undefined,
  ): Promise<SnapshotInfo> {
    assertSnapshotName(this.vmId, name);
    const existing = await this.list();
    if (existing.some((snapshot) => snapshot.name === name)) {
      throw new EngineError(
        'CONFLICT',
        `VM "${this.vmId}" already has a snapshot named "${name}"`,
        {
          name,
        },
      );
    }
    const diskBytes = await allocatedBytes(this.diskPath);
    const createdAt = new Date().toISOString();
    if (client) {
      if (memory) {
        const jobId = `snapshot-save-${Date.now()}`;
        await client.snapshotSave(jobId, name, DISK_NODE_NAME, [DISK_NODE_NAME]);
        await waitForJob(client, jobId, `save snapshot "${name}" of VM "${this.vmId}"`);
      } else {
        await client.blockdevSnapshotInternalSync(DISK_NODE_NAME, name);
      }
    } else {
      if (memory) {
        throw new EngineError(
          'INVALID_STATE',
          `Cannot take a memory snapshot of VM "${this.vmId}" while it is not running`,
          { name },
        );
      }
      await runQemuImg(this.qemuImg, ['snapshot', '-c', name, this.diskPath]);
    }
    const meta = await this.#readMeta();
    meta[name] = { memory, diskBytes, createdAt };
    await this.#writeMeta(meta);
    const created = (await this.list()).find((snapshot) => snapshot.name === name);
    if (!created) {
      throw new EngineError('INTERNAL', `Snapshot "${name}" of VM "${this.vmId}" was not recorded`);
    }
    return created;
  }

  /** Finds a snapshot or throws NOT_FOUND. */
  async get(name: string): Promise<SnapshotInfo> {
    const snapshot = (await this.list()).find((entry) => entry.name === name);
    if (!snapshot) {
      throw new EngineError('NOT_FOUND', `VM "${this.vmId}" has no snapshot named "${name}"`, {
        name,
      });
    }
    return snapshot;
  }

  /** Reverts to a snapshot: live only for memory snapshots (`snapshot-load`), else the disk offline. */
  async restore(name: string, client: QmpClient | undefined): Promise<void> {
    const snapshot = await this.get(name);
    if (client) {
      if (!snapshot.memory) {
        throw new EngineError(
          'INVALID_STATE',
          `Cannot restore disk snapshot "${name}" of VM "${this.vmId}" while it runs`,
          { name },
        );
      }
      const jobId = `snapshot-load-${Date.now()}`;
      await client.snapshotLoad(jobId, name, DISK_NODE_NAME, [DISK_NODE_NAME]);
      await waitForJob(client, jobId, `restore snapshot "${name}" of VM "${this.vmId}"`);
    } else {
      await runQemuImg(this.qemuImg, ['snapshot', '-a', name, this.diskPath]);
    }
  }

  /** Deletes a snapshot. */
  async delete(name: string, client: QmpClient | undefined): Promise<void> {
    await this.get(name);
    if (client) {
      await client.blockdevSnapshotDeleteInternalSync(DISK_NODE_NAME, name);
    } else {
      await runQemuImg(this.qemuImg, ['snapshot', '-d', name, this.diskPath]);
    }
    const meta = await this.#readMeta();
    delete meta[name];
    await this.#writeMeta(meta);
  }

  async #readMeta(): Promise<Record<string, SnapshotMeta>> {
    try {
      return JSON.parse(await fs.readFile(this.metaPath, 'utf8')) as Record<string, SnapshotMeta>;
    } catch {
      return {};
    }
  }

  async #writeMeta(meta: Record<string, SnapshotMeta>): Promise<void> {
    const temp = `${this.metaPath}.tmp`;
    await fs.writeFile(temp, `${JSON.stringify(meta, null, 2)}\n`);
    await fs.rename(temp, this.metaPath);
  }
}

/** Bytes a file takes on disk (allocated blocks, not its apparent size). */
export async function allocatedBytes(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).blocks * 512;
  } catch {
    return 0;
  }
}

/** Polls `query-jobs` until `jobId` concludes, dismisses it, and throws its error if it failed. */
export async function waitForJob(client: QmpClient, jobId: string, what: string): Promise<void> {
  const deadline = Date.now() + SNAPSHOT_JOB_TIMEOUT_MS;
  for (;;) {
    const job = (await client.queryJobs()).find((entry) => entry.id === jobId);
    if (!job) throw new EngineError('INTERNAL', `Failed to ${what}: job ${jobId} vanished`);
    if (job.status === 'concluded' || job.status === 'null') {
      await client.jobDismiss(jobId).catch(() => undefined);
      if (job.error) throw new EngineError('INTERNAL', `Failed to ${what}: ${job.error}`);
      return;
    }
    if (Date.now() > deadline) {
      throw new EngineError(
        'INTERNAL',
        `Failed to ${what}: timed out after ${SNAPSHOT_JOB_TIMEOUT_MS} ms`,
      );
    }
    await sleep(JOB_POLL_INTERVAL_MS);
  }
}
