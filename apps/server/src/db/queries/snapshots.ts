import type { Snapshot } from '@labvisor/shared';
import type { Knex } from 'knex';

/** A snapshots row. */
export interface SnapshotRow {
  id: string;
  vm_id: string;
  name: string;
  with_memory: boolean;
  parent_id: string | null;
  size_bytes: string | number;
  created_at: Date;
}

/** The API view of a snapshot row. */
export function toSnapshot(row: SnapshotRow): Snapshot {
  return {
    id: row.id,
    vmId: row.vm_id,
    name: row.name,
    memory: row.with_memory,
    parentId: row.parent_id,
    sizeBytes: Number(row.size_bytes),
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** A VM's snapshots, oldest first (a timeline). */
export async function listSnapshots(knex: Knex, vmId: string): Promise<SnapshotRow[]> {
  return knex<SnapshotRow>('snapshots').where({ vm_id: vmId }).orderBy('created_at');
}

/** One snapshot of a VM, or undefined. */
export async function findSnapshot(
  knex: Knex,
  vmId: string,
  snapshotId: string,
): Promise<SnapshotRow | undefined> {
  return knex<SnapshotRow>('snapshots').where({ vm_id: vmId, id: snapshotId }).first();
}
