/**
 * Uploads being received by this API process, counted per caller and in all: each holds a connection, memory
 * for its parse and a share of the CPU until its answer, so a few callers could otherwise take them all.
 */
export class UploadSlots {
  private inFlight = 0;
  private readonly byCaller = new Map<string, number>();

  constructor(private readonly limits: { readonly perCaller: number; readonly total: number }) {}

  /**
   * Takes a slot for `caller` and returns its release (safe to call more than once), or says which limit is
   * reached: the caller's own first, as the one the caller can do something about.
   */
  take(caller: string): { release: () => void } | { refused: 'per_caller' | 'total' } {
    const own = this.byCaller.get(caller) ?? 0;
    if (own >= this.limits.perCaller) return { refused: 'per_caller' };
    if (this.inFlight >= this.limits.total) return { refused: 'total' };
    this.inFlight += 1;
    this.byCaller.set(caller, own + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.inFlight -= 1;
        const left = (this.byCaller.get(caller) ?? 1) - 1;
        if (left > 0) this.byCaller.set(caller, left);
        else this.byCaller.delete(caller);
      },
    };
  }
}
