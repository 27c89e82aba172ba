import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { configureEncoder } from './encoder-settings.js';

describe('configureEncoder', () => {
  const threads = sharp.concurrency();
  afterAll(() => {
    sharp.concurrency(threads);
    sharp.cache(true);
  });

  it('runs each image on the threads asked for, with no operation cache holding memory', () => {
    configureEncoder({ concurrency: 1, cache: false });
    expect(sharp.concurrency()).toBe(1);
    expect(sharp.cache().items.max).toBe(0);
    expect(sharp.cache().memory.max).toBe(0);
  });

  it('keeps the operation cache when asked to', () => {
    configureEncoder({ concurrency: 2, cache: true });
    expect(sharp.concurrency()).toBe(2);
    expect(sharp.cache().items.max).toBeGreaterThan(0);
  });
});
