import { z } from 'zod';
import { vmNameSchema } from './vms.js';

/** A VM snapshot: its disk, and its memory when taken with `memory: true`. */
export const snapshotSchema = z.object({
  id: z.string(),
  vmId: z.string(),
  name: z.string(),
  memory: z.boolean(),
  parentId: z.string().nullable(),
  sizeBytes: z.number(),
  createdAt: z.string(),
});

/** A VM snapshot. */
export type Snapshot = z.infer<typeof snapshotSchema>;

/** Body of `POST /api/v1/vms/:vmId/snapshots`. */
export const createSnapshotRequestSchema = z.strictObject({
  name: vmNameSchema,
  memory: z.boolean().optional(),
});
