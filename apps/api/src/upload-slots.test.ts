import { afterEach, describe, expect, it, vi } from 'vitest';
import { type SlotOutcome, UploadSlots } from './upload-slots.js';

const granted = (outcome: SlotOutcome) => {
  if (!('release' in outcome)) throw new Error(`a slot was refused: ${outcome.refused}`);
  return outcome.release;
};

describe('upload slots', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses a caller at its own limit first, then everyone at the limit in all, and frees each slot once', async () => {
    const slots = new UploadSlots({ perCaller: 2, total: 3, waitMs: 0 });
    const a1 = granted(await slots.take('a'));
    const a2 = granted(await slots.take('a'));
    expect(await slots.take('a')).toEqual({ refused: 'per_caller' });
    const b1 = granted(await slots.take('b'));
    expect(await slots.take('b')).toEqual({ refused: 'total' });
    // Its own limit is named before the limit in all, even when both are reached.
    expect(await slots.take('a')).toEqual({ refused: 'per_caller' });
    a1();
    // A second release of the same upload (answer sent, then connection lost) frees nothing more.
    a1();
    granted(await slots.take('b'));
    expect(await slots.take('c')).toEqual({ refused: 'total' });
    a2();
    b1();
    granted(await slots.take('c'));
  });

  it('lets an upload past the limits wait for a slot, in arrival order, skipping callers still at their own limit', async () => {
    const slots = new UploadSlots({ perCaller: 1, total: 2, waitMs: 60_000 });
    const a1 = granted(await slots.take('a'));
    const b1 = granted(await slots.take('b'));
    const order: string[] = [];
    const waiting = ['a', 'c', 'd'].map((caller) =>
      slots.take(caller).then((outcome) => {
        order.push(caller);
        return granted(outcome);
      }),
    );
    await Promise.resolve();
    expect(order).toEqual([]);
    // a's own slot frees: a (first in line) fits again.
    a1();
    const a2 = await waiting[0];
    expect(order).toEqual(['a']);
    // b's slot frees: c is next in line.
    b1();
    const c1 = await waiting[1];
    expect(order).toEqual(['a', 'c']);
    a2?.();
    await waiting[2];
    expect(order).toEqual(['a', 'c', 'd']);
    c1?.();
  });

  it('refuses an upload still waiting when its time is up, naming the limit that kept it out', async () => {
    vi.useFakeTimers();
    const slots = new UploadSlots({ perCaller: 1, total: 2, waitMs: 5_000 });
    granted(await slots.take('a'));
    const b = granted(await slots.take('b'));
    const ownLimit = slots.take('a');
    const allLimit = slots.take('c');
    await vi.advanceTimersByTimeAsync(4_999);
    await vi.advanceTimersByTimeAsync(1);
    expect(await ownLimit).toEqual({ refused: 'per_caller' });
    expect(await allLimit).toEqual({ refused: 'total' });
    // Those that gave up hold nothing: the next free slot goes to the next one to ask.
    b();
    granted(await slots.take('d'));
  });

  it('gives up the wait of a client that went away, and lets the next one in', async () => {
    const slots = new UploadSlots({ perCaller: 5, total: 1, waitMs: 60_000 });
    const first = granted(await slots.take('a'));
    const gone = new AbortController();
    const leaving = slots.take('b', gone.signal);
    const staying = slots.take('c');
    gone.abort();
    expect(await leaving).toEqual({ refused: 'total' });
    first();
    granted(await staying);
  });
});
