import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvForm, startTestApi, type TestApi } from './support/api.js';
import { mutatedCsv, seededRandom } from './support/csv-mutations.js';

const ITERATIONS = 2000;

describe(`the upload API under ${ITERATIONS} mutated CSVs`, () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi('upload_fuzz', {
      MAX_ROWS: '60',
      MAX_URLS_PER_ROW: '5',
      MAX_UPLOAD_BYTES: '65536',
    });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('never answers 5xx, and stores a request whole or not at all', async () => {
    const next = seededRandom(7_2026_11_25);
    const statuses: Record<number, number> = {};
    const accepted: string[] = [];
    for (let iteration = 0; iteration < ITERATIONS; iteration += 1) {
      const bytes = mutatedCsv(next);
      const response = await fetch(`${api.url}/api/upload`, { method: 'POST', body: csvForm(bytes) });
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      const body = (await response.json()) as { request_id?: string; code?: string };
      if (response.status >= 500) {
        throw new Error(
          `iteration ${iteration}: ${response.status} ${JSON.stringify(body)} for ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`,
        );
      }
      if (response.status === 202) {
        accepted.push(body.request_id ?? '');
      } else {
        expect(response.status, `iteration ${iteration}`).toBeGreaterThanOrEqual(400);
      }
    }

    // Checked once at the end (counting after every upload would make the run quadratic): the stored requests
    // are exactly the accepted ones, each with all its products, and no product belongs to anything else.
    const requests = await api.db.requests.find({}, { projection: { totals: 1 } }).toArray();
    expect(requests.map((request) => request._id).sort()).toEqual([...accepted].sort());
    for (const request of requests) {
      expect(await api.db.products.countDocuments({ request_id: request._id })).toBe(request.totals.products);
    }
    expect(await api.db.products.countDocuments({ request_id: { $nin: accepted } })).toBe(0);
    const jobs = await api.queues.requests.getJobCounts();
    expect(Object.values(jobs).reduce((sum, count) => sum + count, 0)).toBe(accepted.length);
    expect(statuses[202]).toBeGreaterThan(50);
    expect(Object.keys(statuses).filter((status) => Number(status) >= 400).length).toBeGreaterThan(2);
  }, 300_000);
});
