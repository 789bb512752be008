/**
 * Test helper for VM tests: a temp run directory, engines over it, and a cleanup that ends every
 * QEMU process started under that directory (found by pid file and by /proc command line, then
 * killed by pid) so no test leaves a guest behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../drivers/qemu/process-utils.js';
import type { QemuDriverConfig } from '../drivers/qemu/qemu-driver.js';
import { createEngine, type Engine, type EngineConfig } from '../engine.js';
import { SerialClient } from './serial-client.js';
import type { TinyImage } from './tiny-image.js';

/** The shell prompt of the tiny image (no newline after it). */
export const SHELL_PROMPT = /# $/m;
/** How long a tiny guest may take to reach its prompt on a loaded 2-core TCG host. */
export const BOOT_TIMEOUT_MS = 60_000;

/** Pids of live processes whose command line mentions `dir` (our QEMUs, nothing else). */
export function findProcessesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && cmdline.includes('qemu') && cmdline.includes(dir))
        pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** SIGKILLs every QEMU started under `dir`, by pid, and waits until they are gone. */
export async function killQemusUnder(dir: string): Promise<number[]> {
  const pids = findProcessesUsing(dir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 100 && findProcessesUsing(dir).length > 0; i++) await sleep(20);
  return pids;
}

/** A run directory with the engines opened over it. */
export class VmHarness {
  readonly runDir: string;
  readonly #engines: Engine[] = [];
  readonly #serials: SerialClient[] = [];

  constructor(prefix = 'lv-') {
    // Short: unix socket paths must stay under 108 bytes.
    this.runDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  }

  /** Opens an engine over the run directory with the QEMU driver (TCG unless told otherwise). */
  async openEngine(
    config: Partial<Omit<EngineConfig, 'driver'>> & { driver?: Partial<QemuDriverConfig> } = {},
  ): Promise<Engine> {
    const engine = await createEngine({
      runDir: this.runDir,
      ...config,
      driver: { kind: 'qemu', accel: 'tcg', ...config.driver },
    });
    this.#engines.push(engine);
    return engine;
  }

  /**
   * Copies an image into the run directory (`.image/`, ignored by the engine) so a rebuild of the
   * shared cache while tests run cannot pull the base disk from under the overlays.
   */
  copyImage(image: TinyImage): TinyImage {
    const dir = path.join(this.runDir, '.image');
    fs.mkdirSync(dir, { recursive: true });
    const copy = (file: string): string => {
      const target = path.join(dir, path.basename(file));
      fs.copyFileSync(file, target);
      return target;
    };
    return {
      ...image,
      dir,
      kernelPath: copy(image.kernelPath),
      initrdPath: copy(image.initrdPath),
      diskPath: copy(image.diskPath),
    };
  }

  /** Connects to a VM's serial console, presses Enter and waits for the shell prompt. */
  async waitForShell(
    engine: Engine,
    vmId: string,
    timeoutMs = BOOT_TIMEOUT_MS,
  ): Promise<SerialClient> {
    const serial = await SerialClient.open(() => engine.openConsole(vmId, 'serial'));
    this.#serials.push(serial);
    const deadline = Date.now() + timeoutMs;
    // The prompt may have been printed before we connected: nudge until one shows up.
    for (;;) {
      const from = serial.mark();
      serial.write('\n');
      try {
        await serial.waitFor(
          SHELL_PROMPT,
          Math.min(5_000, Math.max(1, deadline - Date.now())),
          from,
        );
        return serial;
      } catch (error) {
        if (Date.now() >= deadline) throw error;
      }
    }
  }

  /** Closes consoles and engines, kills every QEMU left under the run directory, removes it. */
  async cleanup(): Promise<void> {
    for (const serial of this.#serials) serial.close();
    for (const engine of this.#engines) await engine.close().catch(() => undefined);
    await killQemusUnder(this.runDir);
    fs.rmSync(this.runDir, { recursive: true, force: true });
  }
}
