import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The files of the service's pages (stylesheet, icon, scripts), read once at start from `assets/` beside this
 * module: `apps/api/src/pages/assets/` when run from source, `dist/assets/` beside the bundle (npm run build
 * copies them there). Served from the service's own origin, so the pages' policy allows nothing else.
 */
export interface PageAsset {
  readonly type: string;
  readonly body: Buffer;
  readonly etag: string;
}

const TYPES: Readonly<Record<string, string>> = {
  'site.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
  'upload.js': 'text/javascript; charset=utf-8',
};

export function loadPageAssets(
  folder = new URL('./assets/', import.meta.url),
): ReadonlyMap<string, PageAsset> {
  return new Map(
    Object.entries(TYPES).map(([name, type]) => {
      const body = readFileSync(new URL(name, folder));
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      return [name, { type, body, etag }];
    }),
  );
}
