import { z } from 'zod';
import { consoleKindSchema, consoleModeSchema } from '../ws.js';

/**
 * Someone connected now to a VM's console, as this server's console gateway knows it: one entry
 * per person, VM, console kind and mode, however many tabs they have open.
 */
export const consoleConnectionSchema = z.object({
  vmId: z.string(),
  userId: z.string(),
  name: z.string(),
  email: z.string(),
  kind: consoleKindSchema,
  mode: consoleModeSchema,
  /** When the earliest of their open connections opened. */
  since: z.string(),
});

/** Someone connected now to a VM's console. */
export type ConsoleConnection = z.infer<typeof consoleConnectionSchema>;

/** A recorded serial console session of a VM (instructors and admins of its tenant see them). */
export const recordingSchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  /** Null once the VM is deleted (its recordings stay until the tenant goes). */
  vmId: z.string().nullable(),
  vmName: z.string(),
  viewers: z.array(z.object({ userId: z.string(), name: z.string(), mode: z.string() })),
  sizeBytes: z.number(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
});

/** A recorded serial console session. */
export type Recording = z.infer<typeof recordingSchema>;
