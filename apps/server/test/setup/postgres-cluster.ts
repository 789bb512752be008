import type { TestProject } from 'vitest/node';
import { postgresMissingReason, startPostgresCluster } from '../../src/db/throwaway-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of a throwaway Postgres server's admin database, or '' when none could be started. */
    postgresUrl: string;
    /** Why no Postgres server is available, when postgresUrl is ''. */
    postgresMissingReason: string;
  }
}

/**
 * Vitest global setup: starts a throwaway Postgres cluster for the data-layer tests and removes it
 * afterwards. Under CI=true a missing Postgres fails the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing = postgresMissingReason();
  if (missing) {
    if (process.env.CI === 'true')
      throw new Error(`CI=true and no Postgres server can be started: ${missing}`);
    project.provide('postgresUrl', '');
    project.provide('postgresMissingReason', missing);
    return async () => {};
  }
  const cluster = await startPostgresCluster();
  project.provide('postgresUrl', cluster.url);
  project.provide('postgresMissingReason', '');
  return async () => cluster.remove();
}
