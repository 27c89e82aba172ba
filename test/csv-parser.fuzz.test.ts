import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { CsvError, imageUrlSchema, parseProductCsv, resultCsvStream } from '@imgsvc/csv';
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

  it('round-trips everything it accepts through the result CSV: the same products, URLs and cells', async () => {
    const next = seededRandom(20261126);
    let checked = 0;
    for (let iteration = 0; iteration < 3000; iteration += 1) {
      const bytes = mutatedCsv(next);
      let parsed: Awaited<ReturnType<typeof parseProductCsv>>;
      try {
        parsed = await parseProductCsv(Readable.from([bytes]), limits);
      } catch (error) {
        if (error instanceof CsvError) continue;
        throw error;
      }
      const result = await text(
        resultCsvStream(
          parsed.columns,
          Readable.from(
            parsed.products.map((product) => ({
              serialNumber: product.serialNumber,
              productName: product.productName,
              inputUrls: product.inputUrls,
              ...(product.inputCell === undefined ? {} : { inputCell: product.inputCell }),
              outputUrls: product.inputUrls.map(() => null),
              errors: [],
            })),
          ),
        ),
      );
      const again = await parseProductCsv(Readable.from([Buffer.from(result)]), limits).catch(
        (error: unknown) => {
          throw new Error(
            `iteration ${iteration}: the result of an accepted file was refused (${String(error)}): ${JSON.stringify(result.slice(0, 300))}`,
          );
        },
      );
      const essence = (products: typeof parsed.products) =>
        products.map(({ serialNumber, productName, inputUrls, inputCell }) => ({
          serialNumber,
          productName,
          inputUrls,
          inputCell,
        }));
      expect(essence(again.products), `iteration ${iteration}`).toEqual(essence(parsed.products));
      expect(again.columns).toEqual(parsed.columns);
      checked += 1;
    }
    expect(checked).toBeGreaterThan(50);
  });
});
