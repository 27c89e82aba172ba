import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CsvError, type ProductRow, parseProductCsv } from './parse-product-csv.js';

const limits = { maxRows: 10_000, maxUrlsPerRow: 5 };
const HEADER = 'S. No.,Product Name,Input Image Urls\n';
const row = (n: number) => `${n},Product ${n},http://127.0.0.1/images/${n}.jpg\n`;

/** The rows in chunks of 100 lines, counting the chunks the parser has pulled; `bad` rows are made invalid. */
function catalogue(rows: number, bad?: number) {
  const read = { chunks: 0 };
  async function* chunks() {
    yield HEADER;
    for (let start = 1; start <= rows; start += 100) {
      read.chunks += 1;
      let text = '';
      for (let n = start; n < start + 100 && n <= rows; n += 1) text += n === bad ? `${n},,\n` : row(n);
      yield text;
    }
  }
  return { input: chunks(), read };
}

/** Polls until the condition holds, for at most 5 s. */
async function until(condition: () => boolean) {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await delay(5);
  }
}

describe('products handed to a sink as the file is read', () => {
  it('reads the next batch while the sink stores one, and hands batches over one at a time, in order', async () => {
    const { input, read } = catalogue(2500);
    const batches: ProductRow[][] = [];
    let storing = 0;
    let most = 0;
    let release: (() => void) | undefined;
    const sink = async (products: readonly ProductRow[]) => {
      batches.push([...products]);
      storing += 1;
      most = Math.max(most, storing);
      if (batches.length === 1) await new Promise<void>((resolve) => (release = resolve));
      storing -= 1;
    };
    const parsing = parseProductCsv(input, limits, sink);
    await until(() => release !== undefined);
    // While the first batch (rows 1–1000) is being stored, the parser reads the rows of the second.
    await until(() => read.chunks >= 20);
    expect(batches).toHaveLength(1);
    release?.();
    const parsed = await parsing;
    expect(parsed.productCount).toBe(2500);
    expect(most).toBe(1);
    expect(batches.map((batch) => batch.length)).toEqual([1000, 1000, 500]);
    expect(batches.flat().map((product) => product.row)).toEqual(
      Array.from({ length: 2500 }, (_, index) => index + 1),
    );
  });

  it("rejects with the sink's failure", async () => {
    const { input } = catalogue(2500);
    let calls = 0;
    const sink = async () => {
      calls += 1;
      if (calls === 2) throw new Error('database unreachable');
    };
    await expect(parseProductCsv(input, limits, sink)).rejects.toThrow('database unreachable');
  });

  it('refuses a file whose bad row comes after a batch was handed over only once that batch is stored', async () => {
    const { input } = catalogue(1500, 1200);
    let stored = false;
    const sink = async () => {
      await delay(50);
      stored = true;
    };
    const refusal = await parseProductCsv(input, limits, sink).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(CsvError);
    expect((refusal as CsvError).code).toBe('csv_invalid_rows');
    expect(stored).toBe(true);
  });
});
