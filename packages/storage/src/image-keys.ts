import { createHash } from 'node:crypto';

/** A stored image's name: the hex SHA-256 of what it was made from, and its file extension. */
const KEY_PATTERN = /^[0-9a-f]{64}\.(jpg|png|webp|avif|gif)$/;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
};

/** Names an output by its inputs: the same source bytes and settings always give the same key. */
export function contentKey(parts: readonly (string | Uint8Array)[], extension: string): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(part);
    hash.update('\0');
  }
  const key = `${hash.digest('hex')}.${extension}`;
  if (!KEY_PATTERN.test(key)) throw new Error(`unsupported image extension "${extension}"`);
  return key;
}

export function isImageKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

/** The media type of a stored image, from its key's extension. */
export function contentTypeOf(key: string): string {
  return CONTENT_TYPES[key.slice(key.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}

/** How long clients and caches may keep an output: named by content, it never changes. */
export const IMAGE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** The strong ETag of an output: its content hash (the key without its extension). */
export function imageEtag(key: string): string {
  return `"${key.slice(0, key.lastIndexOf('.'))}"`;
}
