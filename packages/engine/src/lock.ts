/** A per-key mutex: actions on one VM run one after another, actions on different VMs in parallel. */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `action` once every earlier action on `key` has settled. */
  async run<T>(key: string, action: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => current);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await action();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Whether an action on `key` is running or waiting. */
  isHeld(key: string): boolean {
    return this.#tails.has(key);
  }
}
