/** An absolute host path inside a sentence (not a fraction or an `a/b` pair of words). */
const HOST_PATH = /(?<![\w.])\/(?:[\w.@+-]+\/)*[\w.@+-]+/g;
/** The same, to test a text for one (a global pattern keeps state between tests). */
const HAS_HOST_PATH = new RegExp(HOST_PATH.source);

/**
 * A sentence as members may see it (a VM's state reason, say): the engine's words with every host
 * path replaced by "a host file" (paths stay in the server's log and the engine's files for
 * operators).
 */
export function withoutHostPaths(text: string): string {
  return text.replace(HOST_PATH, 'a host file');
}

/**
 * An engine error's details as an API caller may see them: without any value that holds a host
 * path (the server's log keeps the error whole); undefined when nothing is left.
 */
export function detailsWithoutHostPaths(
  details: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (!details) return undefined;
  const kept = Object.entries(details).filter(
    ([, value]) => !HAS_HOST_PATH.test(JSON.stringify(value ?? null)),
  );
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}
