import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Knex } from 'knex';

/** Where servers before the database kept the secret; read once to carry it over. */
const LEGACY_SESSION_SECRET_FILE = 'session-secret';
const SESSION_SECRET_SETTING = 'session_secret';

/**
 * The session secret: the configured one, or the one kept in the database (generated at the first
 * start), so that every replica on the database signs and reads the same cookies. A secret an
 * earlier version kept in the data directory is carried over, so sessions survive the upgrade.
 */
export async function loadSessionSecret(
  knex: Knex,
  dataDir: string,
  configured: string | undefined,
): Promise<string> {
  if (configured) return configured;
  const stored = await readSetting(knex);
  if (stored) return stored;
  const legacy = await fs
    .readFile(path.join(dataDir, LEGACY_SESSION_SECRET_FILE), 'utf8')
    .then((text) => text.trim())
    .catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
  // Two replicas starting together may both propose one: the first written is everyone's.
  await knex('server_settings')
    .insert({
      name: SESSION_SECRET_SETTING,
      value: legacy || randomBytes(48).toString('base64url'),
    })
    .onConflict('name')
    .ignore();
  return (await readSetting(knex))!;
}

async function readSetting(knex: Knex): Promise<string | undefined> {
  const row = await knex('server_settings').where({ name: SESSION_SECRET_SETTING }).first('value');
  return row?.value as string | undefined;
}
