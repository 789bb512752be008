import type { Recording } from '@labvisor/shared';
import type { Knex } from 'knex';

/** A console_recordings row. */
export interface RecordingRow {
  id: string;
  tenant_id: string;
  vm_id: string | null;
  vm_name: string;
  path: string;
  viewers: Array<{ userId: string; name: string; mode: string }>;
  size_bytes: string | number;
  started_at: Date;
  ended_at: Date | null;
}

/** The API view of a recording row (never its path on the host). */
export function toRecording(row: RecordingRow): Recording {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    vmId: row.vm_id,
    vmName: row.vm_name,
    viewers: row.viewers,
    sizeBytes: Number(row.size_bytes),
    startedAt: new Date(row.started_at).toISOString(),
    endedAt: row.ended_at ? new Date(row.ended_at).toISOString() : null,
  };
}

/** A VM's recordings, newest first. */
export async function listRecordingsOfVm(knex: Knex, vmId: string): Promise<RecordingRow[]> {
  return knex<RecordingRow>('console_recordings')
    .where({ vm_id: vmId })
    .orderBy('started_at', 'desc');
}

/** A recording by id, or undefined. */
export async function findRecordingById(knex: Knex, id: string): Promise<RecordingRow | undefined> {
  return knex<RecordingRow>('console_recordings').where({ id }).first();
}
