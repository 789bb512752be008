import { describe, expect, it } from 'vitest';
import { EngineError } from './errors.js';
import { assertTransition, canTransition, VM_STATES, VM_TRANSITIONS } from './state.js';

describe('state table', () => {
  it('has an entry for every state and only names known states', () => {
    for (const state of VM_STATES) {
      expect(VM_TRANSITIONS[state]).toBeDefined();
      for (const next of VM_TRANSITIONS[state]) expect(VM_STATES).toContain(next);
    }
  });

  it.each([
    ['stopped', 'starting'],
    ['suspended', 'starting'],
    ['crashed', 'starting'],
    ['starting', 'running'],
    ['running', 'paused'],
    ['paused', 'running'],
    ['running', 'stopping'],
    ['stopping', 'stopped'],
    ['stopping', 'suspended'],
    ['running', 'crashed'],
    ['running', 'stopped'],
  ] as const)('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  it.each([
    ['stopped', 'running'],
    ['stopped', 'paused'],
    ['stopped', 'stopping'],
    ['running', 'starting'],
    ['paused', 'paused'],
    ['suspended', 'paused'],
    ['suspended', 'running'],
    ['crashed', 'running'],
  ] as const)('refuses %s → %s with INVALID_STATE', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    expect(() => assertTransition('lab-1', from, to, 'do it to')).toThrow(EngineError);
    try {
      assertTransition('lab-1', from, to, 'pause');
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_STATE', details: { state: from } });
      expect((error as Error).message).toBe(`Cannot pause VM "lab-1" while it is ${from}`);
    }
  });
});
