import type { ColumnRole, InputColumn } from '@imgsvc/domain';

export type { ColumnRole, InputColumn };

const EXPECTED_HEADER = 'S. No.,Product Name,Input Image Urls';

/** Header names people write for the three columns, by their key (see headerKey). */
const ROLE_BY_KEY: Readonly<Record<string, ColumnRole>> = {
  sno: 'serial_number',
  srno: 'serial_number',
  serialno: 'serial_number',
  serialnumber: 'serial_number',
  serial: 'serial_number',
  no: 'serial_number',
  productname: 'product_name',
  product: 'product_name',
  name: 'product_name',
  inputimageurls: 'input_image_urls',
  inputimageurl: 'input_image_urls',
  imageurls: 'input_image_urls',
  imageurl: 'input_image_urls',
  images: 'input_image_urls',
  inputurls: 'input_image_urls',
};

/** The columns a result CSV adds: recognised in an upload (a result uploaded again) and ignored as input. */
const RESULT_COLUMN_KEYS: ReadonlySet<string> = new Set(['outputimageurls', 'outputimageurl', 'errors']);

const ROLE_TITLES: Readonly<Record<ColumnRole, string>> = {
  serial_number: 'S. No.',
  product_name: 'Product Name',
  input_image_urls: 'Input Image Urls',
};

/**
 * The header names each column may have, by their key, and each column's own title: for a page that checks a
 * file's header before sending it (the upload page), with the same rules as the reader.
 */
export const HEADER_NAMES = Object.freeze({ roles: ROLE_BY_KEY, titles: ROLE_TITLES });

/** Header cells match without regard to case, spaces, dots, underscores or hyphens. */
function headerKey(cell: string): string {
  return cell
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s._-]+/g, '');
}

export type HeaderResult =
  | {
      readonly ok: true;
      /** The three input columns, in the order written (echoed in the result). */
      readonly columns: readonly InputColumn[];
      /** Each input column's position among the header's cells. */
      readonly positions: Readonly<Record<ColumnRole, number>>;
      /** How many cells the header has, result columns included. */
      readonly width: number;
      /** The result columns found (a result uploaded again), ignored as input. */
      readonly ignored: readonly string[];
    }
  | { readonly ok: false; readonly message: string };

export function readHeader(cells: readonly string[]): HeaderResult {
  const columns: InputColumn[] = [];
  const positions: Partial<Record<ColumnRole, number>> = {};
  const ignored: string[] = [];
  const seen = new Set<ColumnRole>();
  for (const [index, raw] of cells.entries()) {
    const name = raw.trim();
    if (RESULT_COLUMN_KEYS.has(headerKey(name))) {
      ignored.push(name);
      continue;
    }
    const role = ROLE_BY_KEY[headerKey(name)];
    if (!role) {
      return {
        ok: false,
        message: `unexpected column ${index + 1} "${name.length > 60 ? `${name.slice(0, 57)}...` : name}"; the header must be: ${EXPECTED_HEADER}`,
      };
    }
    if (seen.has(role)) {
      return { ok: false, message: `column "${ROLE_TITLES[role]}" appears twice in the header` };
    }
    seen.add(role);
    positions[role] = index;
    columns.push({ name, role });
  }
  const missing = (Object.keys(ROLE_TITLES) as ColumnRole[]).filter((role) => !seen.has(role));
  if (missing.length > 0) {
    const names = missing.map((role) => `"${ROLE_TITLES[role]}"`).join(', ');
    return { ok: false, message: `missing column ${names}; the header must be: ${EXPECTED_HEADER}` };
  }
  return {
    ok: true,
    columns,
    positions: positions as Record<ColumnRole, number>,
    width: cells.length,
    ignored,
  };
}
