/**
 * Undo steps for a multi-step action (Incus's revert.Reverter): register an undo after each step
 * succeeds; on failure, `revert()` runs them newest first, so a failure halfway leaves nothing behind.
 */
export class Reverter {
  readonly #steps: Array<() => unknown> = [];

  /** Registers an undo step. */
  add(step: () => unknown): void {
    this.#steps.push(step);
  }

  /** Forgets every step: the action succeeded. */
  success(): void {
    this.#steps.length = 0;
  }

  /** Runs every step, newest first; errors in undo steps are passed to `onError` and do not stop the others. */
  async revert(onError?: (error: unknown) => void): Promise<void> {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop()!;
      try {
        await step();
      } catch (error) {
        onError?.(error);
      }
    }
  }
}
