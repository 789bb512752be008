import { EngineError } from '../../errors.js';
import { IncusError, isNotReady } from './incus-client.js';

/**
 * Incus's refusals as the engine's errors: a project limit is CAPACITY_EXCEEDED (the second wall
 * behind Labvisor's own admission), a missing instance NOT_FOUND, an evacuated or offline member
 * UNAVAILABLE; Incus's text is kept, because it says what was refused.
 */
export function toEngineErrorFromIncus(error: unknown, context: string): EngineError {
  if (error instanceof EngineError) return error;
  if (!(error instanceof IncusError)) {
    return new EngineError('INTERNAL', `${context}: ${(error as Error).message}`, undefined, {
      cause: error,
    });
  }
  const message = `${context}: ${error.message}`;
  if (/maximum number|limits\.|exceed/i.test(error.message)) {
    return new EngineError('CAPACITY_EXCEEDED', message, { source: 'incus-project-limits' });
  }
  if (error.status === 404 || /not found/i.test(error.message)) {
    return new EngineError('NOT_FOUND', message);
  }
  if (isNotReady(error) || /evacuat|offline|unreachable|no such host/i.test(error.message)) {
    return new EngineError('UNAVAILABLE', message);
  }
  if (/already (running|stopped|frozen)|is not running|is running/i.test(error.message)) {
    return new EngineError('INVALID_STATE', message);
  }
  return new EngineError('INTERNAL', message, { status: error.status });
}
