/** Gives a slot back; calling it again does nothing. */
export type Release = () => void;

/** At most `limit` holders at once; the rest wait in arrival order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  get pending(): number {
    return this.active + this.waiting.length;
  }

  /** Waits for a slot; `signal` takes the caller out of the line, rejecting with its reason. */
  async acquire(signal?: AbortSignal): Promise<Release> {
    signal?.throwIfAborted();
    if (this.active < this.limit) this.active += 1;
    else {
      await new Promise<void>((resolve, reject) => {
        const leave = () => {
          const index = this.waiting.indexOf(grant);
          if (index >= 0) this.waiting.splice(index, 1);
          reject(signal?.reason);
        };
        // A slot handed over passes straight from the releaser to the next in line: `active` is unchanged.
        const grant = () => {
          signal?.removeEventListener('abort', leave);
          resolve();
        };
        this.waiting.push(grant);
        signal?.addEventListener('abort', leave, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    };
  }
}

/** One semaphore per key (a host), created on demand and dropped when idle. */
export class KeyedSemaphore {
  private readonly semaphores = new Map<string, Semaphore>();

  constructor(private readonly limitPerKey: number) {}

  async acquire(key: string, signal?: AbortSignal): Promise<Release> {
    let semaphore = this.semaphores.get(key);
    if (!semaphore) {
      semaphore = new Semaphore(this.limitPerKey);
      this.semaphores.set(key, semaphore);
    }
    const forget = (idle: Semaphore) => {
      if (idle.pending === 0 && this.semaphores.get(key) === idle) this.semaphores.delete(key);
    };
    let release: Release;
    try {
      release = await semaphore.acquire(signal);
    } catch (error) {
      forget(semaphore);
      throw error;
    }
    const held = semaphore;
    return () => {
      release();
      forget(held);
    };
  }
}

/**
 * A download's slots: one of its host's, then one of all. The host's comes first so that downloads queued
 * behind a busy host hold none of the shared slots, which other hosts' downloads can then use.
 */
export class DownloadSlots {
  private readonly overall: Semaphore;
  private readonly perHost: KeyedSemaphore;

  constructor(limit: number, limitPerHost: number) {
    this.overall = new Semaphore(limit);
    this.perHost = new KeyedSemaphore(limitPerHost);
  }

  async acquire(host: string, signal?: AbortSignal): Promise<Release> {
    const releaseHost = await this.perHost.acquire(host, signal);
    try {
      const releaseOverall = await this.overall.acquire(signal);
      return () => {
        releaseOverall();
        releaseHost();
      };
    } catch (error) {
      releaseHost();
      throw error;
    }
  }
}
