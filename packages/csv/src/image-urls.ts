import { z } from 'zod';

const MAX_URL_LENGTH = 2048;

/**
 * Splits a cell of image URLs. A comma separates two URLs only where the next piece starts with a scheme,
 * so image-CDN URLs that carry commas in their path (w_300,h_200) stay whole.
 */
function splitImageUrls(cell: string): string[] {
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

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** One image URL: absolute http(s), no credentials, no spaces, at most MAX_URL_LENGTH characters. */
export const imageUrlSchema = z
  .string()
  .max(MAX_URL_LENGTH, { error: `URL longer than ${MAX_URL_LENGTH} characters` })
  .refine((text) => !/\s/.test(text), {
    error: (issue) => `"${shorten(String(issue.input))}" is not a URL (URLs are separated by commas)`,
    abort: true,
  })
  .refine((text) => parseUrl(text) !== undefined, {
    error: (issue) => `"${shorten(String(issue.input))}" is not an absolute URL`,
    abort: true,
  })
  .refine((text) => ['http:', 'https:'].includes(parseUrl(text)?.protocol ?? ''), {
    error: (issue) => `"${shorten(String(issue.input))}" is not an http or https URL`,
    abort: true,
  })
  .refine(
    (text) => {
      const url = parseUrl(text);
      return url?.username === '' && url.password === '';
    },
    { error: (issue) => `"${shorten(String(issue.input))}" carries credentials`, abort: true },
  );

/**
 * The URL cell: one or more image URLs, at most `maxUrls`, in the order written. A URL given twice is kept
 * twice: each gets its output (the image is fetched and encoded once).
 */
export function imageUrlCellSchema(maxUrls: number) {
  return z
    .string()
    .transform(splitImageUrls)
    .pipe(
      z
        .array(imageUrlSchema)
        .min(1, { error: 'no image URL' })
        .pipe(
          z.array(z.string()).max(maxUrls, {
            error: (issue) =>
              `${(issue.input as unknown[]).length} image URLs; at most ${maxUrls} are allowed per product`,
          }),
        ),
    );
}
