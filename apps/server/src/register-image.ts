/**
 * `node apps/server/dist/register-image.js <image dir>`: registers one built guest image (a folder
 * with manifest.json, as infra/images/build.mjs leaves in the cache) in the database the server's
 * configuration names; `npm run images -- <name>` runs it after each build.
 *
 * The embedded database (PGlite) is one process's: while a server runs on it, this only says the
 * image will be registered at the server's next start (the server registers every cached image
 * when it starts). With DATABASE_URL the registration always happens at once.
 */
import path from 'node:path';
import { ConfigError, loadConfig } from './config.js';
import { DatabaseUnavailableError, openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { PgliteLockedError } from './db/pglite-lock.js';
import { registerBuiltImage } from './domain/images/built-images.js';

async function main(): Promise<void> {
  const manifestDir = process.argv[2];
  if (!manifestDir || process.argv.length !== 3) {
    throw new ConfigError('usage: node apps/server/dist/register-image.js <image dir>');
  }
  const config = loadConfig();
  const pgliteDir = path.join(config.dataDir, 'pglite');
  let database: Awaited<ReturnType<typeof openDatabase>>;
  try {
    database = await openDatabase(config.databaseUrl ? { url: config.databaseUrl } : { pgliteDir });
  } catch (error) {
    if (error instanceof DatabaseUnavailableError && error.cause instanceof PgliteLockedError) {
      say(
        `not registered yet: ${error.cause.message}. The server registers every built image when it starts: restart it to see the image.`,
      );
      return;
    }
    throw error;
  }
  try {
    await migrateToLatest(database.knex);
    const { id, created } = await registerBuiltImage(database.knex, {
      manifestDir: path.resolve(manifestDir),
      imagesDir: path.join(config.dataDir, 'images'),
    });
    say(`${created ? 'registered' : 'already registered (updated if rebuilt)'}: image id ${id}`);
  } finally {
    await database.close();
  }
}

function say(message: string): void {
  process.stderr.write(`register-image: ${message}\n`);
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`register-image: failed: ${message}\n`);
  process.exit(1);
});
