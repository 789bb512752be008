import { EngineError } from '@labvisor/engine';
import { describe, expect, it } from 'vitest';
import { toAppError } from './errors.js';

describe('errors answered to API callers', () => {
  it('answers an engine refusal with its sentence, without the details that name host files', () => {
    const engineError = new EngineError(
      'NOT_FOUND',
      'Failed starting VM "a": its disk is missing',
      {
        vmId: 'a',
        path: '/var/lib/labvisor/vms/a/disk.qcow2',
      },
    );
    const answered = toAppError(engineError);
    expect(answered.toBody()).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: 'Failed starting VM "a": its disk is missing',
        details: { vmId: 'a' },
      },
    });
    // The log keeps the whole error.
    expect(answered.cause).toBe(engineError);
  });

  it('answers a full host as a capacity refusal with its figures', () => {
    const answered = toAppError(
      new EngineError('CAPACITY_EXCEEDED', 'The host has no room', { freeMib: 10 }),
    );
    expect(answered.toBody().error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { freeMib: 10 },
    });
  });
});
