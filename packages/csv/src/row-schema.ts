import { z } from 'zod';
import type { ColumnRole } from './header.js';
import { imageUrlCellSchema } from './image-urls.js';

const MAX_PRODUCT_NAME_LENGTH = 500;

/** One data row's cells, by role, checked and converted; each issue's path names the column's role. */
export function productRowSchema(maxUrlsPerRow: number) {
  return z.object({
    serial_number: z
      .string()
      .trim()
      // "1." as spreadsheets write whole numbers: read as 1 (the parser warns of it).
      .regex(/^\d{1,15}\.?$/, { error: (issue) => `"${String(issue.input)}" is not a positive whole number` })
      .transform((value) => Number(value.replace(/\.$/, '')))
      .pipe(z.number().int().min(1, { error: 'the serial number must be 1 or more' })),
    product_name: z
      .string()
      .trim()
      .min(1, { error: 'product name is empty' })
      .max(MAX_PRODUCT_NAME_LENGTH, {
        error: `product name is longer than ${MAX_PRODUCT_NAME_LENGTH} characters`,
      }),
    input_image_urls: imageUrlCellSchema(maxUrlsPerRow),
  } satisfies Record<ColumnRole, z.ZodType>);
}
