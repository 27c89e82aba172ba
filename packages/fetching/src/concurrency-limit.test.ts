import { describe, expect, it } from 'vitest';
import { DownloadSlots, Semaphore } from './concurrency-limit.js';

/** Whether a promise has settled, without waiting for it. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('slots', () => {
  it('hands a slot given up in the line to the next one waiting, not to the one that left', async () => {
    const semaphore = new Semaphore(1);
    const releaseFirst = await semaphore.acquire();
    const leaving = new AbortController();
    const left = semaphore.acquire(leaving.signal);
    const next = semaphore.acquire();
    leaving.abort(new Error('cancelled'));
    await expect(left).rejects.toThrow('cancelled');
    expect(await settled(next)).toBe(false);
    releaseFirst();
    expect(await settled(next)).toBe(true);
    const releaseNext = await next;
    releaseNext();
    expect(semaphore.pending).toBe(0);
  });

  it('gives back the host slot when the wait for a slot of all is cancelled', async () => {
    const slots = new DownloadSlots(1, 1);
    const releaseOther = await slots.acquire('other.example');
    const leaving = new AbortController();
    // Holds a.example's slot while it waits for the only slot of all.
    const waiting = slots.acquire('a.example', leaving.signal);
    const behind = slots.acquire('a.example');
    leaving.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    releaseOther();
    expect(await settled(behind)).toBe(true);
    const releaseBehind = await behind;
    releaseBehind();
  });

  it('refuses at once a wait already cancelled', async () => {
    const slots = new DownloadSlots(1, 1);
    await expect(slots.acquire('a.example', AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    const release = await slots.acquire('a.example');
    release();
  });
});
