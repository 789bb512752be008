import { describe, expect, it } from 'vitest';
import { GUEST_DEFAULT_PASSWORD, guestConfigFor, guestLoginOf } from './guest-config.js';

describe('guestLoginOf', () => {
  it.each([
    ['ada@example.test', 'ada'],
    ['Ada.Lovelace+lab@uni.example', 'ada-lovelace-lab'],
    ['42ada@example.test', 'ada'],
    ['j_doe@example.test', 'j_doe'],
    [`${'x'.repeat(40)}@example.test`, 'x'.repeat(32)],
  ])('%s logs in as %s', (email, login) => {
    expect(guestLoginOf({ email })).toBe(login);
  });

  it.each(['root@example.test', 'sshd@example.test', '1234@example.test', 'éé@example.test'])(
    '%s gets the fallback login',
    (email) => {
      expect(guestLoginOf({ email })).toBe('student');
    },
  );
});

describe('guestConfigFor', () => {
  it('names the guest after the VM and gives the owner the documented password', () => {
    expect(guestConfigFor('Web Lab 1', { email: 'ada@example.test' })).toEqual({
      hostname: 'web-lab-1',
      user: { name: 'ada', password: GUEST_DEFAULT_PASSWORD },
    });
  });
});
