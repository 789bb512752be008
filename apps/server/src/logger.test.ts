import { describe, expect, it } from 'vitest';
import { formatLogLine } from './logger.js';

describe('readable log lines', () => {
  it('shows time, level, message and the other fields, without the ones every line has', () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2026, 10, 30, 12, 0, 1),
      pid: 1,
      hostname: 'h',
      service: 'labvisor',
      vmId: 'a1',
      err: { message: 'no' },
      msg: 'engine action failed',
    });
    expect(formatLogLine(`${line}\n`)).toBe(
      '12:00:01 WARN  engine action failed  vmId=a1 err={"message":"no"}\n',
    );
  });

  it('passes a line that is not JSON through as it is', () => {
    expect(formatLogLine('plain\n')).toBe('plain\n');
  });
});
