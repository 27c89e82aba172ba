/**
 * A download's time budget, spent only while the clock runs: started once the download holds its slots and
 * stopped while it waits for another (a redirect to a busy host), so that queueing behind other downloads is
 * never charged to this one. `signal` aborts when the budget is spent.
 */
export class DownloadDeadline {
  private readonly controller = new AbortController();
  private remainingMs: number;
  private runningSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly budgetMs: number) {
    this.remainingMs = budgetMs;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  start(): void {
    if (this.runningSince !== undefined || this.signal.aborted) return;
    this.runningSince = performance.now();
    this.timer = setTimeout(() => {
      this.runningSince = undefined;
      this.remainingMs = 0;
      this.controller.abort(new DOMException('the download deadline passed', 'TimeoutError'));
    }, this.remainingMs);
    // Like AbortSignal.timeout: a pending deadline alone does not keep the process alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.runningSince === undefined) return;
    clearTimeout(this.timer);
    this.remainingMs = Math.max(0, this.remainingMs - (performance.now() - this.runningSince));
    this.runningSince = undefined;
  }
}
