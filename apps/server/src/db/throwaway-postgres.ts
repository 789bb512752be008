/**
 * A throwaway Postgres server (tests, the benchmark): initdb and pg_ctl in a temp dir, on a free
 * loopback port, as the postgres user when run as root (Postgres refuses to run as root).
 */

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const POSTGRES_USER = 'postgres';

/** Finds the directory holding initdb and pg_ctl: PATH first, then Debian's versioned folders. */
function findPostgresBin(): string | undefined {
  const candidates = (process.env.PATH ?? '').split(':');
  const debianRoot = '/usr/lib/postgresql';
  if (fs.existsSync(debianRoot)) {
    for (const version of fs.readdirSync(debianRoot).sort().reverse()) {
      candidates.push(path.join(debianRoot, version, 'bin'));
    }
  }
  return candidates.find(
    (dir) =>
      dir && fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl')),
  );
}

async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a Postgres binary, as the postgres user when we are root (Postgres refuses to run as root). */
function runAsPostgres(binary: string, args: string[]): void {
  const isRoot = process.getuid?.() === 0;
  const [command, commandArgs] = isRoot
    ? ['runuser', ['-u', POSTGRES_USER, '--', binary, ...args]]
    : [binary, args];
  const result = spawnSync(command, commandArgs, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `${path.basename(binary)} failed: ${result.stderr || result.stdout || result.error}`,
    );
  }
}

/** A throwaway Postgres cluster in a temp dir on a free loopback port, run as the postgres user. */
export interface PostgresCluster {
  /** The admin database's URL. */
  url: string;
  /** Stops the server (fast shutdown: connections are cut), keeping its data. */
  stop(): void;
  /** Starts it again on the same port and data. */
  start(): void;
  /** Stops it and removes its files. */
  remove(): void;
}

/** Why no Postgres cluster can be started here, or '' when one can. */
export function postgresMissingReason(): string {
  const bin = findPostgresBin();
  if (!bin) return 'Postgres binaries (initdb, pg_ctl) not found; install the postgresql package';
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', POSTGRES_USER]).status !== 0) {
    return `running as root but there is no "${POSTGRES_USER}" user to run Postgres as`;
  }
  return '';
}

/** Creates and starts a throwaway cluster (initdb + pg_ctl); call {@link postgresMissingReason} first. */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = findPostgresBin()!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'labvisor-pg-'));
  const dataDir = path.join(dir, 'data');
  if (process.getuid?.() === 0) execFileSync('chown', [POSTGRES_USER, dir]);
  const port = await findFreePort();
  const pgCtl = path.join(bin, 'pg_ctl');
  runAsPostgres(path.join(bin, 'initdb'), [
    '-D',
    dataDir,
    '-U',
    POSTGRES_USER,
    '-A',
    'trust',
    '--no-sync',
    '-E',
    'UTF8',
  ]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = () =>
    runAsPostgres(pgCtl, [
      '-D',
      dataDir,
      '-o',
      options,
      '-l',
      path.join(dir, 'postgres.log'),
      '-w',
      'start',
    ]);
  const stop = () => runAsPostgres(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
  start();
  return {
    url: `postgres://${POSTGRES_USER}@127.0.0.1:${port}/postgres`,
    start,
    stop,
    remove: () => {
      try {
        runAsPostgres(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
