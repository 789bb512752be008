/** An absolute host path inside a sentence (not a fraction or an `a/b` pair of words). */
const HOST_PATH = /(?<![\w.])\/(?:[\w.@+-]+\/)*[\w.@+-]+/g;

/**
 * A VM's state reason as members may see it: the engine's sentence with every host path replaced
 * by "a host file" (paths stay in the server's log and the engine's files for operators).
 */
export function withoutHostPaths(reason: string): string {
  return reason.replace(HOST_PATH, 'a host file');
}
