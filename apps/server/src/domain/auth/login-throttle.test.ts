import { describe, expect, it } from 'vitest';
import {
  LoginThrottle,
  MAX_FAILURES_PER_ACCOUNT,
  MAX_FAILURES_PER_ACCOUNT_AND_IP,
  THROTTLE_WINDOW_MS,
} from './login-throttle.js';

const admitted = (result: ReturnType<LoginThrottle['begin']>) => 'attempt' in result;

describe('LoginThrottle', () => {
  it('counts attempts as they start, so parallel guesses cannot pass the limit', () => {
    const throttle = new LoginThrottle();
    const results = Array.from({ length: 12 }, () =>
      throttle.begin('ada@uni.example', '198.51.100.7'),
    );
    expect(results.filter(admitted)).toHaveLength(MAX_FAILURES_PER_ACCOUNT_AND_IP);
  });

  it("does not lock the owner out for a guesser's failures from another address", () => {
    const throttle = new LoginThrottle();
    for (let index = 0; index < 10; index++) throttle.begin('ada@uni.example', '198.51.100.7');
    expect(admitted(throttle.begin('ada@uni.example', '198.51.100.7'))).toBe(false);
    expect(admitted(throttle.begin('ada@uni.example', '203.0.113.9'))).toBe(true);
  });

  it('slows a guesser spread over many addresses with an account-wide limit', () => {
    let now = 1_000_000;
    const throttle = new LoginThrottle(() => now);
    for (let index = 0; index < MAX_FAILURES_PER_ACCOUNT; index++) {
      expect(admitted(throttle.begin('ada@uni.example', `10.0.${index}.1`))).toBe(true);
    }
    expect(throttle.begin('ada@uni.example', '203.0.113.9')).toEqual({
      retryAfterMs: THROTTLE_WINDOW_MS,
    });
    now += THROTTLE_WINDOW_MS + 1;
    expect(admitted(throttle.begin('ada@uni.example', '203.0.113.9'))).toBe(true);
  });

  it('forgets a successful attempt and the failures before it from that address', () => {
    const throttle = new LoginThrottle();
    for (let index = 0; index < MAX_FAILURES_PER_ACCOUNT_AND_IP - 1; index++) {
      throttle.begin('ada@uni.example', '198.51.100.7');
    }
    const result = throttle.begin('ada@uni.example', '198.51.100.7');
    if (!('attempt' in result)) throw new Error('refused');
    throttle.succeeded(result.attempt);
    for (let index = 0; index < MAX_FAILURES_PER_ACCOUNT_AND_IP; index++) {
      expect(admitted(throttle.begin('ada@uni.example', '198.51.100.7'))).toBe(true);
    }
  });
});
