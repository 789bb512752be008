import pino, { type Logger } from 'pino';

/** pino's numeric levels by name, for the readable form. */
const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** Fields every line has, left out of the readable form's key=value tail. */
const COMMON_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service']);

/**
 * The server's structured logger: one JSON object per line on stdout, or, when stdout is a
 * terminal (`npm start` by hand), the same lines made readable: `12:00:01 INFO listening port=3000`.
 */
export function createLogger(level: string, readable = process.stdout.isTTY === true): Logger {
  const options = {
    level,
    base: { service: 'labvisor' },
    redact: ['req.headers.cookie', 'req.headers.authorization'],
  };
  if (!readable) return pino(options);
  return pino(options, { write: (line: string) => process.stdout.write(formatLogLine(line)) });
}

/** A pino JSON line as one readable line: time, level, message, then the other fields. */
export function formatLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = new Date(Number(entry.time)).toISOString().slice(11, 19);
  const level = LEVEL_NAMES[Number(entry.level)] ?? String(entry.level);
  const fields = Object.entries(entry)
    .filter(([key]) => !COMMON_FIELDS.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return `${time} ${level.padEnd(5)} ${String(entry.msg ?? '')}${fields.length ? `  ${fields.join(' ')}` : ''}\n`;
}
