import { describe, expect, it } from 'vitest';
import { pollUntil } from '../../../../test/support/poll.js';
import { eventLoopLag } from './load-shedding.js';

const block = (ms: number) => {
  for (const end = performance.now() + ms; performance.now() < end; ) {
    // busy
  }
};

describe('eventLoopLag', () => {
  it('reports a blocked event loop at its next tick, and nothing once the loop runs freely again', async () => {
    const lag = eventLoopLag(40);
    try {
      expect(lag.lagMs()).toBe(0);
      block(150);
      const seen = await pollUntil(async () => (lag.lagMs() > 60 ? lag.lagMs() : undefined), {
        timeoutMs: 2000,
        // The measure stands for one period (20 ms here): looked at every millisecond.
        intervalMs: 1,
        what: 'the lag of a 150 ms block',
      });
      expect(seen).toBeLessThan(1000);
      await pollUntil(async () => (lag.lagMs() < 40 ? true : undefined), {
        timeoutMs: 2000,
        what: 'the lag back under the limit',
      });
    } finally {
      lag.stop();
    }
  });
});
