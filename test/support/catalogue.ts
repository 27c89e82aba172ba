import { randomUUID } from 'node:crypto';
import { type Database, insertRequestWithProducts } from '@imgsvc/db';
import type { InputColumn } from '@imgsvc/domain';

/** The columns of a file written with the standard header, as a stored request records them. */
export const STANDARD_COLUMNS: readonly InputColumn[] = [
  { name: 'S. No.', role: 'serial_number' },
  { name: 'Product Name', role: 'product_name' },
  { name: 'Input Image Urls', role: 'input_image_urls' },
];

/** Stores a request of these products (rows and serial numbers from 1, no owner, no webhook); its id. */
export async function insertStoredRequest(
  db: Database,
  products: readonly { readonly productName: string; readonly inputUrls: readonly string[] }[],
): Promise<string> {
  const id = randomUUID();
  await insertRequestWithProducts(db, {
    id,
    owner: null,
    columns: STANDARD_COLUMNS,
    products: products.map((product, index) => ({ row: index + 1, serialNumber: index + 1, ...product })),
    imageCount: products.reduce((sum, product) => sum + product.inputUrls.length, 0),
    webhookUrl: null,
  });
  return id;
}

/** A product CSV of any size, the same on every run: 1 to 3 image URLs per product, names with quotes. */
export function catalogueCsv(rows: number): string {
  const lines = ['S. No.,Product Name,Input Image Urls'];
  for (let serial = 1; serial <= rows; serial += 1) {
    const urls = Array.from(
      { length: 1 + (serial % 3) },
      (_, index) =>
        `https://img.example.com/catalogue/${serial}/${index}-${(serial * 7919 + index) % 100_003}.jpg`,
    );
    lines.push(`${serial},"Product ${serial} ""deluxe"", size ${serial % 50}","${urls.join(', ')}"`);
  }
  return `${lines.join('\n')}\n`;
}

export function catalogueName(serial: number): string {
  return `Product ${serial} "deluxe", size ${serial % 50}`;
}

/**
 * A CSV at both limits at once: `maxRows` products and just under `maxBytes` (with room for the multipart
 * envelope), each row naming a few long image URLs under an example host never fetched.
 */
export function maximumSizeCsv(maxBytes: number, maxRows: number): string {
  const header = 'S. No.,Product Name,Input Image Urls';
  const perRow = Math.floor((maxBytes - 64 * 1024) / maxRows) - 1;
  const lines = [header];
  for (let serial = 1; serial <= maxRows; serial += 1) {
    const start = `${serial},Product ${serial},"`;
    const urls: string[] = [];
    let length = start.length + 1;
    for (let index = 0; length < perRow - 80; index += 1) {
      const url = `https://img.example.com/catalogue/${serial}/${index}-${'x'.repeat(40)}.jpg`;
      urls.push(url);
      length += url.length + 2;
    }
    lines.push(`${start}${urls.join(', ')}"`);
  }
  return `${lines.join('\n')}\n`;
}
