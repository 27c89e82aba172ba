import { Readable } from 'node:stream';
import { CsvError, imageUrlSchema, parseProductCsv } from '@imgsvc/csv';
import { describe, expect, it } from 'vitest';
import { mutatedCsv, seededRandom } from './support/csv-mutations.js';

const limits = { maxRows: 60, maxUrlsPerRow: 5 };

describe('parseProductCsv under 5,000 mutated inputs', () => {
  it('either returns products that all pass the row rules, or refuses with a CsvError; nothing else', async () => {
    const next = seededRandom(20261125);
    const outcomes: Record<string, number> = {};
    for (let iteration = 0; iteration < 5000; iteration += 1) {
      const bytes = mutatedCsv(next);
      const chunkSize = 1 + Math.floor(next() * 64);
      const chunks: Buffer[] = [];
      for (let start = 0; start < bytes.length; start += chunkSize)
        chunks.push(bytes.subarray(start, start + chunkSize));
      try {
        const parsed = await parseProductCsv(Readable.from(chunks), limits);
        outcomes.accepted = (outcomes.accepted ?? 0) + 1;
        expect(parsed.products.length).toBeGreaterThan(0);
        expect(parsed.products.length).toBeLessThanOrEqual(limits.maxRows);
        const serials = new Set<number>();
        for (const [index, product] of parsed.products.entries()) {
          expect(product.row).toBe(index + 1);
          expect(Number.isInteger(product.serialNumber) && product.serialNumber >= 1).toBe(true);
          expect(serials.has(product.serialNumber)).toBe(false);
          serials.add(product.serialNumber);
          expect(product.productName.trim()).toBe(product.productName);
          expect(product.productName.length).toBeGreaterThan(0);
          expect(product.productName.length).toBeLessThanOrEqual(500);
          expect(product.inputUrls.length).toBeGreaterThan(0);
          expect(product.inputUrls.length).toBeLessThanOrEqual(limits.maxUrlsPerRow);
          for (const url of product.inputUrls) expect(imageUrlSchema.safeParse(url).success).toBe(true);
        }
      } catch (error) {
        if (!(error instanceof CsvError)) {
          throw new Error(
            `iteration ${iteration}: ${String(error)} for input ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`,
          );
        }
        outcomes[error.code] = (outcomes[error.code] ?? 0) + 1;
      }
    }
    // The mutations reach both sides: valid files and each kind of refusal.
    expect(outcomes.accepted).toBeGreaterThan(100);
    for (const code of [
      'csv_malformed',
      'csv_header',
      'csv_invalid_rows',
      'csv_not_utf8',
      'csv_binary',
      'csv_too_many_rows',
    ]) {
      expect(outcomes[code], code).toBeGreaterThan(0);
    }
  });
});
