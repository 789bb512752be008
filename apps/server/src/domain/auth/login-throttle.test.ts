import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigratedDatabase, TEST_DATABASES } from '../../../test/support/databases.js';
import type { Database } from '../../db/database.js';
import {
  LoginThrottle,
  MAX_FAILURES_PER_ACCOUNT,
  MAX_FAILURES_PER_ACCOUNT_AND_IP,
  THROTTLE_WINDOW_MS,
} from './login-throttle.js';

const admitted = (result: Awaited<ReturnType<LoginThrottle['begin']>>) => 'attempt' in result;

describe.each(TEST_DATABASES)('sign-in throttling on $name', (kind) => {
  let database: Database;

  beforeAll(async () => {
    if (kind.skipReason) return;
    database = await openMigratedDatabase(kind);
  });
  afterAll(async () => database?.close());

  it.skipIf(kind.skipReason)(
    'counts attempts as they start, so parallel guesses through two replicas cannot pass the limit',
    async () => {
      const replicas = [new LoginThrottle(database.knex), new LoginThrottle(database.knex)];
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, index) =>
          replicas[index % 2]!.begin('parallel@uni.example', '198.51.100.7'),
        ),
      );
      expect(results.filter(admitted)).toHaveLength(MAX_FAILURES_PER_ACCOUNT_AND_IP);
    },
  );

  it.skipIf(kind.skipReason)(
    "does not lock the owner out for a guesser's failures from another address",
    async () => {
      const throttle = new LoginThrottle(database.knex);
      for (let index = 0; index < 10; index++)
        await throttle.begin('owner@uni.example', '198.51.100.8');
      expect(admitted(await throttle.begin('owner@uni.example', '198.51.100.8'))).toBe(false);
      expect(admitted(await throttle.begin('owner@uni.example', '203.0.113.9'))).toBe(true);
    },
  );

  it.skipIf(kind.skipReason)(
    'slows a guesser spread over many addresses with an account-wide limit',
    async () => {
      let now = Date.now();
      const throttle = new LoginThrottle(database.knex, () => now);
      for (let index = 0; index < MAX_FAILURES_PER_ACCOUNT; index++) {
        expect(admitted(await throttle.begin('spread@uni.example', `10.0.${index}.1`))).toBe(true);
      }
      expect(await throttle.begin('spread@uni.example', '203.0.113.10')).toEqual({
        retryAfterMs: THROTTLE_WINDOW_MS,
      });
      now += THROTTLE_WINDOW_MS + 1;
      expect(admitted(await throttle.begin('spread@uni.example', '203.0.113.10'))).toBe(true);
    },
  );

  it.skipIf(kind.skipReason)(
    'forgets a successful attempt and the failures before it from that address',
    async () => {
      const throttle = new LoginThrottle(database.knex);
      for (let index = 0; index < MAX_FAILURES_PER_ACCOUNT_AND_IP - 1; index++) {
        await throttle.begin('forgiven@uni.example', '198.51.100.11');
      }
      const result = await throttle.begin('forgiven@uni.example', '198.51.100.11');
      if (!('attempt' in result)) throw new Error('refused');
      await throttle.succeeded(result.attempt);
      for (let index = 0; index < MAX_FAILURES_PER_ACCOUNT_AND_IP; index++) {
        expect(admitted(await throttle.begin('forgiven@uni.example', '198.51.100.11'))).toBe(true);
      }
    },
  );
});
