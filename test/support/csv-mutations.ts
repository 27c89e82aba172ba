/** Seeded mutations of valid CSVs, for fuzz tests that must be the same on every run. */

export { seededRandom } from './random.js';

export const SEED_CSVS: readonly string[] = [
  'S. No.,Product Name,Input Image Urls\n1,SKU1,"https://img.example/a.jpg, https://img.example/b.jpg"\n2,"Shirt, ""red""",https://img.example/c.png\n',
  'serial_number,product_name,input_image_urls\r\n10,Lamp,https://cdn.example/w_300,h_200/lamp.jpg\r\n11,Mug,"https://img.example/m.jpg,https://img.example/m2.jpg"\r\n',
  '\uFEFFProduct Name,Input Image Urls,S No\n"Two\nlines",https://img.example/t.jpg,1\nDesk,https://img.example/d.webp,2\n',
];

const INTERESTING = [
  '"',
  ',',
  '\n',
  '\r',
  ';',
  '\t',
  '\0',
  '\xff',
  '\xc3',
  ' ',
  '=',
  '""',
  '\uFEFF',
  'https://',
  ':',
];

type Mutation = (bytes: Buffer, next: () => number) => Buffer;

const pick = <T>(items: readonly T[], next: () => number): T => items[Math.floor(next() * items.length)] as T;
const at = (bytes: Buffer, next: () => number) => Math.floor(next() * (bytes.length + 1));

const MUTATIONS: readonly Mutation[] = [
  (bytes, next) => {
    const copy = Buffer.from(bytes);
    if (copy.length > 0) copy[Math.floor(next() * copy.length)] = Math.floor(next() * 256);
    return copy;
  },
  (bytes, next) => {
    const position = at(bytes, next);
    const insert = Buffer.from(pick(INTERESTING, next), 'latin1');
    return Buffer.concat([bytes.subarray(0, position), insert, bytes.subarray(position)]);
  },
  (bytes, next) => {
    const start = at(bytes, next);
    const end = Math.min(bytes.length, start + Math.floor(next() * 40));
    return Buffer.concat([bytes.subarray(0, start), bytes.subarray(end)]);
  },
  (bytes, next) => {
    const start = at(bytes, next);
    const end = Math.min(bytes.length, start + Math.floor(next() * 80));
    return Buffer.concat([bytes.subarray(0, end), bytes.subarray(start, end), bytes.subarray(end)]);
  },
  (bytes) => Buffer.from(bytes.toString('latin1').replaceAll(',', ';'), 'latin1'),
  (bytes, next) => {
    const position = at(bytes, next);
    const run = Buffer.alloc(Math.floor(next() * 5000), pick(['a', '"', ',', ' '], next));
    return Buffer.concat([bytes.subarray(0, position), run, bytes.subarray(position)]);
  },
  (bytes, next) => bytes.subarray(0, at(bytes, next)),
  (bytes, next) => {
    const lines = bytes.toString('latin1').split('\n');
    const a = Math.floor(next() * lines.length);
    const b = Math.floor(next() * lines.length);
    [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
    return Buffer.from(lines.join('\n'), 'latin1');
  },
  (bytes, next) => {
    const text = bytes.toString('latin1');
    const replacement = pick(
      ['javascript:alert(1)', '', 'http://', 'https://u:p@x/y.jpg', 'x'.repeat(3000), '/rel.jpg'],
      next,
    );
    return Buffer.from(text.replace(/https:\/\/[^,"\s]*/, replacement), 'latin1');
  },
  (bytes, next) => {
    const rows = Array.from(
      { length: Math.floor(next() * 80) },
      (_, n) => `${n + 100},P${n},https://img.example/${n}.jpg`,
    );
    return Buffer.concat([bytes, Buffer.from(`${rows.join('\n')}\n`)]);
  },
];

/** A valid seed CSV with one to three random mutations applied. */
export function mutatedCsv(next: () => number): Buffer {
  let bytes: Buffer = Buffer.from(pick(SEED_CSVS, next));
  const count = 1 + Math.floor(next() * 3);
  for (let index = 0; index < count; index += 1) bytes = pick(MUTATIONS, next)(bytes, next);
  return bytes;
}
