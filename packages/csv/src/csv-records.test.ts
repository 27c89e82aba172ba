import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../test/support/random.js';
import { CsvRecordError, CsvRecordReader } from './csv-records.js';

/** The records Python's csv module reads from each text (default dialect), or null where it reads none. */
function readWithPython(texts: readonly string[]): (string[][] | null)[] {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const script = [
    'import csv, io, json, sys',
    'out = []',
    'for text in json.load(sys.stdin):',
    '    try:',
    '        out.append([row for row in csv.reader(io.StringIO(text, newline="")) if row])',
    '    except csv.Error:',
    '        out.append(None)',
    'print(json.dumps(out))',
  ].join('\n');
  const run = spawnSync(python, ['-c', script], { input: JSON.stringify(texts), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as (string[][] | null)[];
}

function readHere(text: string, pieceLength: number): string[][] | 'unclosed' {
  const reader = new CsvRecordReader(1 << 20);
  const records: string[][] = [];
  try {
    for (let start = 0; start < text.length; start += pieceLength) {
      records.push(...reader.push(text.slice(start, start + pieceLength)).map((record) => record.cells));
    }
    records.push(...reader.finish().map((record) => record.cells));
  } catch (error) {
    if (error instanceof CsvRecordError && error.code === 'quote_not_closed') return 'unclosed';
    throw error;
  }
  return records;
}

describe('CsvRecordReader', () => {
  it('reads 3,000 random texts of quotes, commas and line ends as Python does, whatever the pieces they arrive in', () => {
    const next = seededRandom(20261126);
    const alphabet = ['a', 'b', ' ', ',', ',', '"', '"', '\n', '\r', '\r\n'];
    const texts = Array.from({ length: 3000 }, () =>
      Array.from(
        { length: Math.floor(next() * 30) },
        () => alphabet[Math.floor(next() * alphabet.length)],
      ).join(''),
    );
    const python = readWithPython(texts);
    let compared = 0;
    for (const [index, text] of texts.entries()) {
      const ours = readHere(text, 1 + Math.floor(next() * 8));
      // A quote still open at the end is refused here (the rest of a file would be one cell); Python keeps it.
      if (ours === 'unclosed') continue;
      expect(ours, JSON.stringify(text)).toEqual(python[index]);
      compared += 1;
    }
    expect(compared).toBeGreaterThan(1500);
  });

  it('names the lines where records start, and the quirks it read', () => {
    const reader = new CsvRecordReader(1000);
    const records = [...reader.push('\uFEFFa,b\r\n\r\n"multi\nline",x"y\n"q"z,'), ...reader.finish()];
    expect(records).toEqual([
      { cells: ['a', 'b'], line: 1 },
      { cells: ['multi\nline', 'x"y'], line: 3 },
      { cells: ['qz', ''], line: 5 },
    ]);
    expect(reader.quirks).toEqual({ quoteInCell: 4, textAfterQuote: 5 });
  });

  it('refuses a quote never closed and a record too long, with their lines', () => {
    const unclosed = new CsvRecordReader(1000);
    unclosed.push('a\n"b,c\nd\n');
    expect(() => unclosed.finish()).toThrow(expect.objectContaining({ code: 'quote_not_closed', line: 2 }));
    const long = new CsvRecordReader(10);
    expect(() => long.push('a\nbbbbbbbbbbbb\n')).toThrow(
      expect.objectContaining({ code: 'record_too_long', line: 2 }),
    );
  });
});
