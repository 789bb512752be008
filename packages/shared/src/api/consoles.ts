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
