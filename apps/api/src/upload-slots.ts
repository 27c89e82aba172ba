/**
 * Uploads being received by this API process, counted per caller and in all: each holds a connection, memory
 * for its parse and a share of the CPU until its answer, so a few callers could otherwise take them all. An
 * upload that finds its limits reached waits for a slot, first come first served, for at most `waitMs`: most
 * catalogues are small and their uploads last milliseconds, so a burst of them is received in turn rather than
 * refused. Only an upload still waiting when its time is up is refused.
 */

export type SlotRefusal = 'per_caller' | 'total';
export type SlotOutcome = { release: () => void } | { refused: SlotRefusal };

interface Waiter {
  readonly caller: string;
  grant(): void;
}

export class UploadSlots {
  private inFlight = 0;
  private readonly byCaller = new Map<string, number>();
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly limits: { readonly perCaller: number; readonly total: number; readonly waitMs: number },
  ) {}

  /**
   * Takes a slot for `caller` and resolves with its release (safe to call more than once), at once when one is
   * free, or once one frees within `waitMs`; otherwise with the limit that kept it out: the caller's own first,
   * as the one the caller can do something about. An aborted `signal` (the client went away) gives up the wait.
   */
  take(caller: string, signal?: AbortSignal): Promise<SlotOutcome> {
    // Every waiting upload is held by a limit (a freed slot goes to the first one it fits at once), so one that
    // fits now has nobody ahead of it that could use the slot.
    if (this.fits(caller)) return Promise.resolve(this.grantTo(caller));
    if (this.limits.waitMs === 0 || signal?.aborted)
      return Promise.resolve({ refused: this.blocking(caller) });
    return new Promise((resolve) => {
      const leave = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
      };
      const giveUp = () => {
        leave();
        resolve({ refused: this.blocking(caller) });
        // Its place may have held back a caller behind it that fits now.
        this.admitWaiting();
      };
      const waiter: Waiter = {
        caller,
        grant: () => {
          leave();
          resolve(this.grantTo(caller));
        },
      };
      const timer = setTimeout(giveUp, this.limits.waitMs);
      signal?.addEventListener('abort', giveUp, { once: true });
      this.waiting.push(waiter);
    });
  }

  private fits(caller: string): boolean {
    return (this.byCaller.get(caller) ?? 0) < this.limits.perCaller && this.inFlight < this.limits.total;
  }

  private blocking(caller: string): SlotRefusal {
    return (this.byCaller.get(caller) ?? 0) >= this.limits.perCaller ? 'per_caller' : 'total';
  }

  private grantTo(caller: string): { release: () => void } {
    this.inFlight += 1;
    this.byCaller.set(caller, (this.byCaller.get(caller) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.inFlight -= 1;
        const left = (this.byCaller.get(caller) ?? 1) - 1;
        if (left > 0) this.byCaller.set(caller, left);
        else this.byCaller.delete(caller);
        this.admitWaiting();
      },
    };
  }

  /** Grants free slots to the waiting uploads in arrival order, skipping those whose caller is at its limit. */
  private admitWaiting(): void {
    for (let index = 0; index < this.waiting.length && this.inFlight < this.limits.total; ) {
      const waiter = this.waiting[index];
      if (waiter && this.fits(waiter.caller)) waiter.grant();
      else index += 1;
    }
  }
}
