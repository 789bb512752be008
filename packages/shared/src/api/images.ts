import { z } from 'zod';

/** A guest image a VM can be created from. */
export const imageSchema = z.object({
  id: z.string(),
  tenantId: z.string().nullable(),
  name: z.string(),
  kind: z.enum(['kernel', 'disk', 'iso']),
  format: z.enum(['qcow2', 'raw', 'iso']),
  sizeBytes: z.number(),
  sha256: z.string(),
  defaultVcpus: z.number(),
  defaultMemoryMib: z.number(),
  defaultDiskGib: z.number(),
  createdAt: z.string(),
});

/** A guest image. */
export type Image = z.infer<typeof imageSchema>;
