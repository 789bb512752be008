import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { EngineError } from '../../errors.js';
import type { EngineLogger } from '../../logger.js';
import { type IncusClient, IncusError } from './incus-client.js';
import { toEngineErrorFromIncus } from './incus-errors.js';

/**
 * Labvisor's container images in the cluster: each tarball is imported once (its sha256 is its
 * Incus fingerprint, so an image the cluster has is never sent again), and concurrent creates of
 * one image wait for the same import.
 */
export class IncusImages {
  readonly #client: IncusClient;
  readonly #logger: EngineLogger;
  /** Imports in flight or done, by fingerprint. */
  readonly #imports = new Map<string, Promise<void>>();

  constructor(client: IncusClient, logger: EngineLogger) {
    this.#client = client;
    this.#logger = logger;
  }

  /** Imports the image tarball unless the cluster has it; answers its fingerprint. */
  async ensure(imagePath: string): Promise<string> {
    const fingerprint = await sha256Of(imagePath);
    let imported = this.#imports.get(fingerprint);
    if (!imported) {
      imported = this.#import(imagePath, fingerprint);
      this.#imports.set(fingerprint, imported);
      imported.catch(() => this.#imports.delete(fingerprint));
    }
    await imported;
    return fingerprint;
  }

  async #import(imagePath: string, fingerprint: string): Promise<void> {
    const known = await this.#client.call('GET', `/1.0/images/${fingerprint}`).then(
      () => true,
      (error) => {
        if (error instanceof IncusError && error.status === 404) return false;
        throw toEngineErrorFromIncus(error, 'Failed to look up an image in the cluster');
      },
    );
    if (known) return;
    this.#logger.info({ fingerprint }, 'importing a container image into the Incus cluster');
    try {
      await this.#client.upload('/1.0/images', imagePath);
    } catch (error) {
      throw toEngineErrorFromIncus(error, 'Failed to import the image into the Incus cluster');
    }
  }
}

function sha256Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    fs.createReadStream(file)
      .on('error', () =>
        reject(new EngineError('NOT_FOUND', 'The container image file is missing', { path: file })),
      )
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}
