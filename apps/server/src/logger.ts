import pino, { type Logger } from 'pino';

/** The server's structured logger (JSON lines on stdout). */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'labvisor' },
    redact: ['req.headers.cookie', 'req.headers.authorization'],
  });
}
