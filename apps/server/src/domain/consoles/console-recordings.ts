import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Logger } from 'pino';

/** The largest a recording grows; past it the recording stops (the console goes on). */
export const MAX_RECORDING_BYTES = 64 * 1024 * 1024;
/** Room kept for the line that says the recording stopped. */
const RECORDING_END_RESERVE_BYTES = 256;
/** What a recording shows where it stopped at its size limit. */
export const RECORDING_FULL_NOTICE =
  '\r\n[Labvisor: the recording stopped here, at its size limit]\r\n';
/** Terminal size written in the recording header (the serial console has no size of its own). */
const RECORDED_WIDTH = 120;
const RECORDED_HEIGHT = 36;

/** Someone who was connected during a recording. */
export interface RecordedViewer {
  userId: string;
  name: string;
  mode: 'interactive' | 'view';
}

/**
 * One serial session recorded as an asciicast v2 file: a JSON header line, then
 * `[seconds, "o", output]` and `[seconds, "i", input]` events. Who watched or typed is kept in
 * the database row beside the file.
 */
export class ConsoleRecording {
  readonly #stream: fs.WriteStream;
  readonly #startedMs = Date.now();
  readonly #viewers = new Map<string, RecordedViewer>();
  readonly #maxBytes: number;
  #bytes = 0;
  #full = false;

  private constructor(
    private readonly knex: Knex,
    readonly id: string,
    file: string,
    private readonly logger: Logger,
    maxBytes: number,
  ) {
    this.#maxBytes = maxBytes;
    this.#stream = fs.createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.#stream.on('error', (error) =>
      logger.warn({ err: error, recordingId: id }, 'console recording write failed'),
    );
  }

  /** Starts a recording of a VM's serial console, when its tenant records consoles; else undefined. */
  static async startIfEnabled(
    knex: Knex,
    options: { vmId: string; recordingsDir: string; logger: Logger; maxBytes?: number },
  ): Promise<ConsoleRecording | undefined> {
    const vm = await knex('vms')
      .join('tenants', 'tenants.id', 'vms.tenant_id')
      .where('vms.id', options.vmId)
      .first<{ tenant_id: string; name: string; recording_enabled: boolean } | undefined>(
        'vms.tenant_id',
        'vms.name',
        'tenants.recording_enabled',
      );
    if (!vm?.recording_enabled) return undefined;
    fs.mkdirSync(options.recordingsDir, { recursive: true });
    const [row] = await knex('console_recordings')
      .insert({ tenant_id: vm.tenant_id, vm_id: options.vmId, vm_name: vm.name, path: '' })
      .returning<{ id: string }[]>('id');
    const file = path.join(options.recordingsDir, `${row!.id}.cast`);
    await knex('console_recordings').where({ id: row!.id }).update({ path: file });
    const recording = new ConsoleRecording(
      knex,
      row!.id,
      file,
      options.logger,
      options.maxBytes ?? MAX_RECORDING_BYTES,
    );
    const header = {
      version: 2,
      width: RECORDED_WIDTH,
      height: RECORDED_HEIGHT,
      timestamp: Math.floor(Date.now() / 1000),
      title: vm.name,
    };
    recording.#append(JSON.stringify(header));
    return recording;
  }

  /** Records what the guest printed. */
  output(data: Buffer): void {
    this.#event('o', data);
  }

  /** Records what an interactive viewer typed. */
  input(data: Buffer): void {
    this.#event('i', data);
  }

  /** Notes a viewer who joined. */
  addViewer(viewer: RecordedViewer): void {
    if (this.#viewers.has(viewer.userId)) return;
    this.#viewers.set(viewer.userId, viewer);
    void this.knex('console_recordings')
      .where({ id: this.id })
      .update({ viewers: JSON.stringify([...this.#viewers.values()]) })
      .catch((error: unknown) =>
        this.logger.warn({ err: error }, 'recording viewers update failed'),
      );
  }

  /** Ends the recording: the file is closed and its size and end time stored. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#stream.end(resolve));
    await this.knex('console_recordings')
      .where({ id: this.id })
      .update({ ended_at: this.knex.fn.now(), size_bytes: this.#bytes });
  }

  #event(kind: 'o' | 'i', data: Buffer): void {
    if (this.#full) return;
    const seconds = Math.round(Date.now() - this.#startedMs) / 1000;
    const line = JSON.stringify([seconds, kind, data.toString('utf8')]);
    if (this.#bytes + Buffer.byteLength(line) + 1 > this.#maxBytes - RECORDING_END_RESERVE_BYTES) {
      // The recording stops at its cap with a line saying so; the console goes on.
      this.#full = true;
      this.#append(JSON.stringify([seconds, 'o', RECORDING_FULL_NOTICE]));
      this.logger.warn({ recordingId: this.id }, 'console recording reached its size limit');
      return;
    }
    this.#append(line);
  }

  #append(line: string): void {
    this.#bytes += Buffer.byteLength(line) + 1;
    this.#stream.write(`${line}\n`);
  }
}
