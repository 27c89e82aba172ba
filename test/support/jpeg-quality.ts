/** The example tables of the JPEG standard (ITU T.81, Annex K), in natural (row-major) order. */
const STANDARD_LUMINANCE_TABLE: readonly number[] = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22,
  29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103,
  121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

const STANDARD_CHROMINANCE_TABLE: readonly number[] = [
  17,
  18,
  24,
  47,
  99,
  99,
  99,
  99,
  18,
  21,
  26,
  66,
  99,
  99,
  99,
  99,
  24,
  26,
  56,
  99,
  99,
  99,
  99,
  99,
  47,
  66,
  99,
  99,
  99,
  99,
  99,
  99,
  ...new Array<number>(32).fill(99),
];

/** For each position of a DQT segment (zig-zag order), the natural-order index it holds. */
const ZIGZAG_TO_NATURAL: readonly number[] = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46,
  53, 60, 61, 54, 47, 55, 62, 63,
];

/** libjpeg's jpeg_quality_scaling and jpeg_add_quant_table with force_baseline. */
function scaledStandardTable(base: readonly number[], quality: number): number[] {
  const q = Math.min(100, Math.max(1, Math.round(quality)));
  const scale = q < 50 ? Math.floor(5000 / q) : 200 - q * 2;
  return base.map((value) => Math.min(255, Math.max(1, Math.floor((value * scale + 50) / 100))));
}

/** Reads the quantisation tables of a JPEG file, by table id, in natural order. */
function readJpegQuantisationTables(bytes: Uint8Array): Map<number, number[]> {
  const tables = new Map<number, number[]>();
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new Error('not a JPEG file');
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) throw new Error(`bad JPEG marker at byte ${offset}`);
    const marker = bytes[offset + 1] ?? 0;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xff) {
      offset += marker === 0xff ? 1 : 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break;
    const length = ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0);
    if (marker === 0xdb) {
      let position = offset + 4;
      const end = offset + 2 + length;
      while (position < end) {
        const info = bytes[position] ?? 0;
        const precision = info >> 4;
        const id = info & 0x0f;
        position += 1;
        const table = new Array<number>(64).fill(0);
        for (let k = 0; k < 64; k += 1) {
          const value =
            precision === 0
              ? (bytes[position + k] ?? 0)
              : ((bytes[position + 2 * k] ?? 0) << 8) | (bytes[position + 2 * k + 1] ?? 0);
          table[ZIGZAG_TO_NATURAL[k] ?? 0] = value;
        }
        position += precision === 0 ? 64 : 128;
        tables.set(id, table);
      }
    }
    offset += 2 + length;
  }
  return tables;
}

/**
 * The libjpeg quality whose scaled standard tables are exactly the file's tables, or undefined when the file
 * was not written with the standard tables (another encoder, or custom tables).
 */
export function standardJpegQuality(bytes: Uint8Array): number | undefined {
  const tables = readJpegQuantisationTables(bytes);
  const luminance = tables.get(0);
  const chrominance = tables.get(1);
  if (!luminance) return undefined;
  for (let quality = 1; quality <= 100; quality += 1) {
    const sameLuminance = equal(luminance, scaledStandardTable(STANDARD_LUMINANCE_TABLE, quality));
    const sameChrominance =
      !chrominance || equal(chrominance, scaledStandardTable(STANDARD_CHROMINANCE_TABLE, quality));
    if (sameLuminance && sameChrominance) return quality;
  }
  return undefined;
}

function equal(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}
