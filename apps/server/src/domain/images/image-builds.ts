import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import type { Engine } from '@labvisor/engine';
import type { ImageBuild } from '@labvisor/shared';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { ImageRow } from '../../db/queries/images.js';
import { withoutHostPaths } from '../../host-paths.js';
import { DEMO_TENANT_NAME } from '../tenants/seed.js';
import { templateSpecOf } from '../vms/vm-templates.js';
import { registerBuiltImage } from './built-images.js';

/** Where a build's recipe says what it does: `build.sh (debian-lab): …` or `image debian-lab: …`. */
const STEP_LINE = /^(?:build\.sh \([a-z0-9-]+\)|image [a-z0-9-]+): (.+)$/;

/** How many of a failed build's last output lines its error keeps. */
const ERROR_LINES = 3;

/** Where builds run from and go to. */
export interface ImageBuildSettings {
  /** Recipe names (infra/images/<name>), built one after the other. */
  names: string[];
  /** `infra/images/build.mjs`. */
  buildScript: string;
  /** The image cache (`LABVISOR_CACHE_DIR`): builds land in `<cacheDir>/images/<name>/`. */
  cacheDir: string;
  /** The server's image store, where a registered image's files are copied. */
  imagesDir: string;
}

/** No background builds (tests, and servers not asked for any). */
export const NO_IMAGE_BUILDS: ImageBuildSettings = {
  names: [],
  buildScript: '',
  cacheDir: '',
  imagesDir: '',
};

/**
 * Builds guest images in the background after the server serves (`LABVISOR_BUILD_IMAGES`; `npm
 * start` asks for debian-lab), one at a time with `infra/images/build.mjs`: each step goes to the
 * log and to the admin page (`GET /api/v1/host`); a built image is registered, its template made
 * ahead at its default size, and the demo tenant offers it first when it offers nothing yet.
 */
export class BackgroundImageBuilds {
  readonly #knex: Knex;
  readonly #engine: Engine;
  readonly #logger: Logger;
  readonly #settings: ImageBuildSettings;
  readonly #builds: ImageBuild[];
  #child: ChildProcess | undefined;
  #stopped = false;
  #started = false;

  constructor(deps: { knex: Knex; engine: Engine; logger: Logger; settings: ImageBuildSettings }) {
    this.#knex = deps.knex;
    this.#engine = deps.engine;
    this.#logger = deps.logger;
    this.#settings = deps.settings;
    this.#builds = deps.settings.names.map((name) => ({
      name,
      state: 'waiting',
      step: null,
      startedAt: null,
      finishedAt: null,
      error: null,
    }));
  }

  /** Each build as it stands. */
  status(): ImageBuild[] {
    return this.#builds.map((build) => ({ ...build }));
  }

  /** Starts the builds in the background (once). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#runAll();
  }

  /**
   * Ends the build under way — its whole process group, the recipe's debootstrap included — and
   * waits for it to exit; later builds never start (a template being made ends with the engine).
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    const child = this.#child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
    await exited;
  }

  async #runAll(): Promise<void> {
    for (const build of this.#builds) {
      if (this.#stopped) return;
      build.state = 'building';
      build.startedAt = new Date().toISOString();
      const log = this.#logger.child({ image: build.name });
      log.info('building an image in the background');
      try {
        await this.#runBuild(build, log);
        if (this.#stopped) throw new Error('the server stopped');
        build.state = 'making-template';
        build.step = 'making its template';
        const image = await this.#register(build.name);
        if (image.guest_agent && this.#engine.info().features.includes('templates')) {
          const size = { vcpus: image.default_vcpus, memoryMib: image.default_memory_mib };
          await this.#engine.buildTemplate(templateSpecOf(image, size));
        }
        await this.#offerInDemoTenant(image);
        build.state = 'ready';
        build.step = null;
        log.info('image ready');
      } catch (error) {
        build.state = 'failed';
        build.error = withoutHostPaths((error as Error).message);
        log.warn({ err: error }, 'building an image failed');
      } finally {
        build.finishedAt = new Date().toISOString();
      }
    }
  }

  /** Runs build.mjs for the image; each step it reports becomes the build's step and a log line. */
  #runBuild(build: ImageBuild, log: Logger): Promise<void> {
    const lastLines: string[] = [];
    return new Promise((resolve, reject) => {
      if (this.#stopped) {
        reject(new Error('the server stopped before the build began'));
        return;
      }
      const child = spawn(process.execPath, [this.#settings.buildScript, build.name], {
        env: { ...process.env, LABVISOR_CACHE_DIR: this.#settings.cacheDir },
        stdio: ['ignore', 'ignore', 'pipe'],
        // Its own process group, so stopping it stops the recipe it runs too.
        detached: true,
      });
      this.#child = child;
      let pending = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        const lines = (pending + chunk.toString('utf8')).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          lastLines.push(line);
          if (lastLines.length > ERROR_LINES) lastLines.shift();
          const step = STEP_LINE.exec(line)?.[1];
          if (step) {
            build.step = step;
            log.info({ step }, 'image build step');
          }
        }
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        this.#child = undefined;
        if (code === 0) resolve();
        else
          reject(
            new Error(
              `the build ${signal ? `was stopped by ${signal}` : `exited with status ${code}`}: ${lastLines.join(' / ')}`,
            ),
          );
      });
    });
  }

  async #register(name: string): Promise<ImageRow> {
    const manifestDir = path.join(this.#settings.cacheDir, 'images', name);
    const { id } = await registerBuiltImage(this.#knex, {
      manifestDir,
      imagesDir: this.#settings.imagesDir,
    });
    return (await this.#knex<ImageRow>('images').where({ id }).first())!;
  }

  /** The demo tenant's launch form offers the image first, unless it already offers another. */
  async #offerInDemoTenant(image: ImageRow): Promise<void> {
    await this.#knex('tenants')
      .where({ name: DEMO_TENANT_NAME })
      .whereNull('default_image_id')
      .update({ default_image_id: image.id, updated_at: this.#knex.fn.now() });
  }
}
