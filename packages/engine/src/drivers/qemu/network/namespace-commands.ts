import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import {
  isProcessAlive,
  QEMU_ENVIRONMENT,
  readPidFile,
  readProcessCmdline,
} from '../process-utils.js';

const COMMAND_TIMEOUT_MS = 15_000;

/** Runs a command without a shell; rejects with its stderr. */
export function run(binary: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary,
      args,
      { timeout: COMMAND_TIMEOUT_MS, env: QEMU_ENVIRONMENT },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${binary} ${args.join(' ')}: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs a command inside network namespace `namespace` (nsenter execs it: no shell). */
export function runIn(
  namespace: string,
  binary: string,
  args: string[],
  input?: string,
): Promise<string> {
  return run('nsenter', [`--net=/run/netns/${namespace}`, '--', binary, ...args], input);
}

/**
 * Starts a daemon inside `namespace`, detached (it outlives the server, as QEMU does), its output
 * appended to `logFile` and its pid written to `pidFile`.
 */
export async function startDaemonIn(
  namespace: string,
  command: string[],
  files: { logFile: string; pidFile: string },
): Promise<number> {
  const log = fs.openSync(files.logFile, 'a', 0o600);
  try {
    const child = spawn('nsenter', [`--net=/run/netns/${namespace}`, '--', ...command], {
      detached: true,
      stdio: ['ignore', log, log],
      env: QEMU_ENVIRONMENT,
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    child.unref();
    await fsp.writeFile(files.pidFile, `${child.pid}\n`);
    return child.pid!;
  } finally {
    fs.closeSync(log);
  }
}

/** The pid in `pidFile` if that process lives and its command line holds `argument`. */
export async function daemonPid(pidFile: string, argument: string): Promise<number | undefined> {
  const pid = await readPidFile(pidFile);
  if (pid === undefined || !(await isProcessAlive(pid))) return undefined;
  const cmdline = await readProcessCmdline(pid);
  return cmdline?.includes(argument) ? pid : undefined;
}
