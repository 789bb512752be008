/** A log method in pino's shape: either a message, or an object of fields then a message. */
export interface LogFn {
  (message: string, ...args: unknown[]): void;
  (fields: object, message?: string, ...args: unknown[]): void;
}

/** The pino-compatible subset of a logger the engine uses; pass the server's pino instance as is. */
export interface EngineLogger {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  debug: LogFn;
  child(bindings: Record<string, unknown>): EngineLogger;
}

const noop = (): void => {};

/** A logger that drops everything: the default when the caller passes none. */
export const SILENT_LOGGER: EngineLogger = {
  info: noop,
  warn: noop,
  error: noop,
  debug: noop,
  child: () => SILENT_LOGGER,
};
