import { setTimeout as delay } from 'node:timers/promises';

/**
 * Calls `probe` until it returns a value other than undefined, or fails after the deadline with the last
 * thing seen. Never a fixed sleep: the wait ends as soon as the condition holds.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${options.what}: not reached within ${options.timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`,
      );
    }
    await delay(options.intervalMs ?? 100);
  }
}
