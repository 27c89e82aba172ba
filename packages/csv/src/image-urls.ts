export const MAX_URL_LENGTH = 2048;

export type UrlCellResult =
  | { readonly ok: true; readonly urls: readonly string[] }
  | { readonly ok: false; readonly message: string };

/**
 * Splits a cell of image URLs. A comma separates two URLs only where the next piece starts with a scheme,
 * so image-CDN URLs that carry commas in their path (w_300,h_200) stay whole.
 */
export function splitImageUrls(cell: string): string[] {
  return cell
    .split(/,(?=\s*[a-z][a-z0-9+.-]*:)/i)
    .map((piece) =>
      piece
        .trim()
        .replace(/^,+|,+$/g, '')
        .trim(),
    )
    .filter((piece) => piece !== '');
}

export function checkImageUrl(text: string): string | undefined {
  if (text.length > MAX_URL_LENGTH) return `URL longer than ${MAX_URL_LENGTH} characters`;
  if (/\s/.test(text)) return `"${shorten(text)}" is not a URL (URLs are separated by commas)`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${shorten(text)}" is not an absolute URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `"${shorten(text)}" is not an http or https URL`;
  }
  if (url.username !== '' || url.password !== '') return `"${shorten(text)}" carries credentials`;
  if (url.hostname === '') return `"${shorten(text)}" has no host`;
  return undefined;
}

/** Reads a cell into its distinct, checked URLs, in order; a URL repeated in the cell is kept once. */
export function readImageUrlCell(cell: string, maxUrls: number): UrlCellResult {
  const pieces = splitImageUrls(cell);
  if (pieces.length === 0) return { ok: false, message: 'no image URL' };
  const urls: string[] = [];
  for (const piece of pieces) {
    const problem = checkImageUrl(piece);
    if (problem) return { ok: false, message: problem };
    if (!urls.includes(piece)) urls.push(piece);
  }
  if (urls.length > maxUrls) {
    return { ok: false, message: `${urls.length} image URLs; at most ${maxUrls} are allowed per product` };
  }
  return { ok: true, urls };
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
