import type { ColumnRole, InputColumn } from '@imgsvc/domain';

export type { ColumnRole, InputColumn };

const EXPECTED_HEADER = 'S. No.,Product Name,Input Image Urls';

const ROLE_BY_KEY: Readonly<Record<string, ColumnRole>> = {
  sno: 'serial_number',
  serialno: 'serial_number',
  serialnumber: 'serial_number',
  productname: 'product_name',
  inputimageurls: 'input_image_urls',
  inputimageurl: 'input_image_urls',
};

const ROLE_TITLES: Readonly<Record<ColumnRole, string>> = {
  serial_number: 'S. No.',
  product_name: 'Product Name',
  input_image_urls: 'Input Image Urls',
};

/** Header cells match without regard to case, spaces, dots, underscores or hyphens. */
function headerKey(cell: string): string {
  return cell
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s._-]+/g, '');
}

export type HeaderResult =
  | { readonly ok: true; readonly columns: readonly InputColumn[] }
  | { readonly ok: false; readonly message: string };

export function readHeader(cells: readonly string[]): HeaderResult {
  const columns: InputColumn[] = [];
  const seen = new Set<ColumnRole>();
  for (const [index, raw] of cells.entries()) {
    const name = raw.trim();
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
    columns.push({ name, role });
  }
  const missing = (Object.keys(ROLE_TITLES) as ColumnRole[]).filter((role) => !seen.has(role));
  if (missing.length > 0) {
    const names = missing.map((role) => `"${ROLE_TITLES[role]}"`).join(', ');
    return { ok: false, message: `missing column ${names}; the header must be: ${EXPECTED_HEADER}` };
  }
  return { ok: true, columns };
}
