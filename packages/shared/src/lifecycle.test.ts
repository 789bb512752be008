import { describe, expect, it } from 'vitest';
import { VM_STATES } from './api/vms.js';
import {
  canTransition,
  planVmAction,
  VM_ACTION_RULES,
  VM_ACTIONS,
  VM_TRANSITIONS,
  vmActionsFrom,
} from './lifecycle.js';

describe('the VM lifecycle table', () => {
  it('has transitions for every state and names only known states', () => {
    for (const state of VM_STATES) {
      for (const next of VM_TRANSITIONS[state]) expect(VM_STATES).toContain(next);
    }
  });

  it('runs an action only from states the transition table can leave that way', () => {
    const firstStep = {
      start: 'starting',
      stop: 'stopping',
      reboot: 'running',
      suspend: 'stopping',
      resume: 'running',
    } as const;
    for (const action of VM_ACTIONS) {
      for (const from of VM_ACTION_RULES[action].from) {
        // a VM without a process is stopped or restored directly
        const step =
          action === 'stop' && ['suspended', 'crashed', 'error'].includes(from)
            ? 'stopped'
            : action === 'resume' && from === 'suspended'
              ? 'starting'
              : firstStep[action];
        expect(canTransition(from, step), `${action} from ${from}`).toBe(true);
      }
    }
  });

  it('answers an action already done instead of refusing it, so retries are safe', () => {
    expect(planVmAction('running', 'start')).toBe('done');
    expect(planVmAction('starting', 'start')).toBe('done');
    expect(planVmAction('stopped', 'stop')).toBe('done');
    expect(planVmAction('suspended', 'suspend')).toBe('done');
    expect(planVmAction('running', 'resume')).toBe('done');
  });

  it('refuses what makes no sense, and agrees that a paused VM can be rebooted', () => {
    expect(planVmAction('stopped', 'suspend')).toBe('refused');
    expect(planVmAction('suspended', 'start')).toBe('refused');
    expect(planVmAction('stopped', 'reboot')).toBe('refused');
    expect(planVmAction('paused', 'reboot')).toBe('run');
    expect(vmActionsFrom('stopped')).toEqual(['start']);
    expect(vmActionsFrom('running')).toEqual(['stop', 'reboot', 'suspend']);
    expect(vmActionsFrom('suspended')).toEqual(['stop', 'resume']);
  });
});
