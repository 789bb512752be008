import { z } from 'zod';

/** One thing someone did to a VM (started, stopped, snapshotted, restored, opened a console), from the audit log. */
export const vmActivitySchema = z.object({
  id: z.string(),
  /** What was done: `vm.start`, `vm.stop`, `snapshot.restore`, `console.open`, … */
  action: z.string(),
  actorId: z.string().nullable(),
  /** The actor's display name; null when the account is gone. */
  actorName: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
});

/** One thing someone did to a VM. */
export type VmActivity = z.infer<typeof vmActivitySchema>;

/** Query of `GET /api/v1/vms/:vmId/activity`: the newest `limit` entries. */
export const vmActivityQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
