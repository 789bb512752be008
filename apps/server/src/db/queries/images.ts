import type { Image } from '@labvisor/shared';

/** An images row. */
export interface ImageRow {
  id: string;
  tenant_id: string | null;
  name: string;
  kind: 'kernel' | 'disk' | 'iso' | 'container';
  format: 'qcow2' | 'raw' | 'iso' | 'incus-unified';
  path: string;
  kernel_path: string | null;
  initrd_path: string | null;
  cmdline: string | null;
  size_bytes: string | number;
  sha256: string;
  default_vcpus: number;
  default_memory_mib: number;
  default_disk_gib: number;
  /** The guest runs the Labvisor agent: its VMs can start as clones of a booted template. */
  guest_agent: boolean;
  created_at: Date;
}

/** The API view of an image row (never its paths on the host), with how many VMs use it. */
export function toImage(row: ImageRow, vmCount: number): Image {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    kind: row.kind,
    format: row.format,
    sizeBytes: Number(row.size_bytes),
    sha256: row.sha256,
    defaultVcpus: row.default_vcpus,
    defaultMemoryMib: row.default_memory_mib,
    defaultDiskGib: row.default_disk_gib,
    guestAgent: row.guest_agent,
    vmCount,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
