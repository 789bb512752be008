import { z } from 'zod';
import { ERROR_CODES } from './errors.js';

/** The console kinds: the serial terminal and the graphical desktop. */
export const consoleKindSchema = z.enum(['serial', 'vnc']);

/** Whether a console viewer may type (`interactive`) or only watch (`view`). */
export const consoleModeSchema = z.enum(['interactive', 'view']);

/** Body of `POST /api/v1/vms/:vmId/console`. */
export const consoleTicketRequestSchema = z.strictObject({
  kind: consoleKindSchema,
  mode: consoleModeSchema.default('interactive'),
});

/** Answer of `POST /api/v1/vms/:vmId/console`: a single-use ticket and the WebSocket path to open. */
export const consoleTicketSchema = z.object({
  ticket: z.string(),
  url: z.string(),
  expiresAt: z.string(),
});

/** Answer of `POST /api/v1/vms/:vmId/console`. */
export type ConsoleTicket = z.infer<typeof consoleTicketSchema>;

/** One person connected to a console. */
export const consoleViewerSchema = z.object({
  userId: z.string(),
  name: z.string(),
  mode: consoleModeSchema,
});

/**
 * JSON text frames the server sends on a console socket (binary frames carry terminal bytes):
 * who is connected, the VM's state, and errors in the contract's shape.
 */
export const consoleServerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('viewers'), viewers: z.array(consoleViewerSchema) }),
  z.object({ type: z.literal('status'), state: z.string(), message: z.string().optional() }),
  z.object({ type: z.literal('error'), code: z.enum(ERROR_CODES), message: z.string() }),
]);

/** A JSON control message from the server. */
export type ConsoleServerMessage = z.infer<typeof consoleServerMessageSchema>;

/** Close codes of console sockets, with the reason text sent beside them. */
export const CONSOLE_CLOSE_CODES = {
  /** The ticket, session or Origin was refused. */
  POLICY: 1008,
  /** The VM stopped, or access was removed. */
  GONE: 4404,
  /** The viewer could not keep up and was dropped. */
  TOO_SLOW: 4408,
  /** The server is shutting down; reconnect. */
  RESTARTING: 1012,
} as const;
