import { describe, expect, it } from 'vitest';
import { addCounts, completionPercentage, countsView, productCounts, ZERO_COUNTS } from './counts.js';
import { outputImageUrl, outputKeyOf, requestLinks } from './links.js';

const totals = { products: 3, images: 7 };

describe("a request's counts", () => {
  it('add up products, images and failures by code', () => {
    const counts = addCounts(productCounts(2, ['http_404']), {
      products: 1,
      succeeded: 1,
      failureCodes: ['http_404', 'too_large'],
    });
    expect(counts).toEqual({
      products_done: 2,
      images_succeeded: 3,
      images_failed: 3,
      failures_by_code: { http_404: 2, too_large: 1 },
    });
    expect(ZERO_COUNTS.failures_by_code).toEqual({});
  });

  it('show live counts while running and the stored exact ones once finished', () => {
    const live = productCounts(2, []);
    const stored = { ...productCounts(1, ['fetch_timeout']), products_done: 3 };
    expect(countsView({ status: 'in_progress', totals, counts: ZERO_COUNTS }, live)).toEqual({
      products: 3,
      images: 7,
      products_done: 1,
      images_succeeded: 2,
      images_failed: 0,
      failures_by_code: {},
    });
    expect(countsView({ status: 'completed', totals, counts: stored }, live)).toMatchObject({
      products_done: 3,
      failures_by_code: { fetch_timeout: 1 },
    });
  });

  it('show no failures by code for a request finished before they were counted', () => {
    const old = { products_done: 3, images_succeeded: 7, images_failed: 0 };
    expect(countsView({ status: 'completed', totals, counts: old }).failures_by_code).toEqual({});
  });

  it('never show more products done than the request holds', () => {
    const overcounted = { ...ZERO_COUNTS, products_done: 5 };
    expect(
      countsView({ status: 'in_progress', totals, counts: ZERO_COUNTS }, overcounted).products_done,
    ).toBe(3);
  });
});

describe('completion percentage', () => {
  it('rises with whole products, stays below 100 until the request is finished, then is 100', () => {
    const running = { status: 'in_progress' as const, totals };
    expect(completionPercentage(running)).toBe(0);
    expect(completionPercentage(running, { products_done: 1 })).toBe(33.3);
    expect(completionPercentage(running, { products_done: 3 })).toBe(99);
    expect(completionPercentage({ status: 'completed', totals }, { products_done: 0 })).toBe(100);
    expect(completionPercentage({ status: 'failed', totals })).toBe(100);
    expect(completionPercentage({ status: 'pending', totals: { products: 0, images: 0 } })).toBe(0);
  });
});

describe('public links', () => {
  it('are built the same for the API and the worker', () => {
    expect(requestLinks('https://img.example', 'r1')).toEqual({
      status_url: 'https://img.example/api/status/r1',
      download_url: 'https://img.example/api/download/r1',
    });
    expect(outputImageUrl('https://img.example/images/', 'abc.jpg')).toBe(
      'https://img.example/images/abc.jpg',
    );
  });

  it('name the output an output URL ends with, wherever it is served from', () => {
    const key = `${'a1'.repeat(32)}.webp`;
    expect(outputKeyOf(`https://img.example/images/${key}`)).toBe(key);
    expect(outputKeyOf(`https://cdn.example/shop/outputs/${key}`)).toBe(key);
    for (const url of ['https://img.example/images/', 'https://img.example/x.jpg', `${key}/x`]) {
      expect(outputKeyOf(url)).toBeUndefined();
    }
  });
});
