import { z } from 'zod';

/**
 * A path in a lab: absolute, or starting with `~/` (the lab user's home: `/home/<user>` on the
 * Debian images, `/root` on tiny); no NUL or line break.
 */
export const labPathSchema = z
  .string()
  .min(2)
  .max(1024)
  .regex(/^(\/|~\/)[^\0\n\r]*$/, 'must be an absolute path, or start with ~/ (your home)')
  .refine((path) => !path.endsWith('/'), 'must name a file, not a folder');

/** Query of the file routes: `?path=`. */
export const labFileQuerySchema = z.strictObject({ path: labPathSchema });

/** Query of `GET /api/v1/vms/:vmId/files`. */
export type LabFileQuery = z.infer<typeof labFileQuerySchema>;

/** A lab a handout reached, or why it did not. */
const handoutLabSchema = z.object({
  vmId: z.string(),
  name: z.string(),
  ownerId: z.string(),
});

/** Answer of `POST /api/v1/tenants/:tenantId/handout`: the labs that got the file, and the others. */
export const handoutResponseSchema = z.object({
  delivered: z.array(handoutLabSchema),
  refused: z.array(handoutLabSchema.extend({ reason: z.string() })),
});

/** Answer of `POST /api/v1/tenants/:tenantId/handout`. */
export type HandoutResponse = z.infer<typeof handoutResponseSchema>;
