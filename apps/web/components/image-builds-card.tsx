import type { ImageBuild } from '@labvisor/shared';

const STATE_LABELS: Record<ImageBuild['state'], string> = {
  waiting: 'waiting for the build before it',
  building: 'building',
  'making-template': 'making its template',
  ready: 'ready: labs can be launched from it',
  failed: 'failed',
};

/** Whether any build is still under way (the page looks again while one is). */
export function buildsUnderWay(builds: ImageBuild[]): boolean {
  return builds.some((build) => build.state !== 'ready' && build.state !== 'failed');
}

/** Minutes (or seconds) since an ISO time, until another or now. */
function elapsed(from: string, to: string | null): string {
  const seconds = Math.max(
    0,
    Math.round(((to ? Date.parse(to) : Date.now()) - Date.parse(from)) / 1000),
  );
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}

/** The guest images this server builds in the background, each with its step and how long. */
export function ImageBuildsCard({ builds }: { builds: ImageBuild[] }) {
  return (
    <section className="card" aria-labelledby="image-builds-title">
      <h2 id="image-builds-title">Images being prepared</h2>
      <ul className="image-builds">
        {builds.map((build) => (
          <li key={build.name}>
            <strong>{build.name}</strong>: {STATE_LABELS[build.state]}
            {build.startedAt && ` (${elapsed(build.startedAt, build.finishedAt)})`}
            {build.step && <span className="muted"> — {build.step}</span>}
            {build.error && <p className="alert error">{build.error}</p>}
          </li>
        ))}
      </ul>
    </section>
  );
}
