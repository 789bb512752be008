import { z } from 'zod';

/** Answer of `GET /readyz`: each dependency's state, with the accelerator and QEMU version. */
export const readinessSchema = z.object({
  ready: z.boolean(),
  database: z.object({
    ok: z.boolean(),
    kind: z.enum(['pglite', 'postgres']),
    error: z.string().optional(),
  }),
  /** The engine: its driver and the facts it names (the QEMU driver: accel, accelReason, qemuVersion, qemuRunsAs). */
  engine: z.object({
    ok: z.boolean(),
    driver: z.string().optional(),
    accel: z.string().optional(),
    /** Why that accelerator: configured, the KVM probe's outcome, or that KVM failed a guest. */
    accelReason: z.string().optional(),
    qemuVersion: z.string().optional(),
    /** The account QEMU runs as (a root server's QEMU drops to its own), or "the server's user". */
    qemuRunsAs: z.string().optional(),
    error: z.string().optional(),
  }),
});

/** Answer of `GET /readyz`. */
export type Readiness = z.infer<typeof readinessSchema>;
