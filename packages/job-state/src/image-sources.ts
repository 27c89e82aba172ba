import { isImageKey } from '@imgsvc/storage';
import type { ChainableCommander, Redis } from 'ioredis';
import { EXPIRY } from './expiry.js';
import { keys } from './keys.js';

/** What one URL gave last time: the stored output, and the validators its server sent with the bytes. */
export interface ImageSource {
  readonly key: string;
  readonly etag?: string;
  readonly lastModified?: string;
  /** What the URL's bytes and their output weighed: a 304 later reports the same sizes. */
  readonly inputBytes?: number;
  readonly outputBytes?: number;
}

export interface ImageSources {
  /**
   * What was stored from each URL before, under the current encoding settings; URLs never seen (or whose
   * server gave no validators) are absent. Never fails: without it, images are simply downloaded again.
   */
  recallSources(urls: readonly string[]): Promise<ReadonlyMap<string, ImageSource>>;
  /** Keeps what these URLs gave, for the next request that names them. */
  rememberSources(sources: ReadonlyMap<string, ImageSource>): Promise<void>;
}

function parseSource(text: string | null): ImageSource | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as Partial<Record<keyof ImageSource, unknown>>;
    if (typeof value.key !== 'string' || !isImageKey(value.key)) return undefined;
    const etag = typeof value.etag === 'string' ? value.etag : undefined;
    const lastModified = typeof value.lastModified === 'string' ? value.lastModified : undefined;
    if (!etag && !lastModified) return undefined;
    const size = (bytes: unknown) =>
      Number.isSafeInteger(bytes) && (bytes as number) >= 0 ? (bytes as number) : undefined;
    const inputBytes = size(value.inputBytes);
    const outputBytes = size(value.outputBytes);
    return {
      key: value.key,
      ...(etag ? { etag } : {}),
      ...(lastModified ? { lastModified } : {}),
      ...(inputBytes !== undefined ? { inputBytes } : {}),
      ...(outputBytes !== undefined ? { outputBytes } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Queues in a pipeline the writes that keep these sources under the given settings, each for
 * `EXPIRY.imageSourceMs`: `rememberSources` sends them alone, a product's finish (product-finish.ts) beside its
 * count.
 */
export function queueSources(
  batch: ChainableCommander,
  settings: string,
  sources: ReadonlyMap<string, ImageSource>,
): void {
  for (const [url, source] of sources) {
    batch.set(keys.imageSource(settings, url), JSON.stringify(source), 'PX', EXPIRY.imageSourceMs);
  }
}

/**
 * Sources across requests, so that a catalogue uploaded again is checked with conditional requests
 * (If-None-Match, If-Modified-Since) instead of being downloaded again. `settings` names everything that shapes
 * an output: entries made under other settings are never found.
 */
export function imageSources(redis: Redis, settings: string): ImageSources {
  const keyOf = (url: string) => keys.imageSource(settings, url);
  return {
    async recallSources(urls) {
      const unique = [...new Set(urls)];
      if (unique.length === 0) return new Map();
      try {
        const found = await redis.mget(...unique.map(keyOf));
        const sources = new Map<string, ImageSource>();
        unique.forEach((url, index) => {
          const source = parseSource(found[index] ?? null);
          if (source) sources.set(url, source);
        });
        return sources;
      } catch {
        return new Map();
      }
    },
    async rememberSources(sources) {
      if (sources.size === 0) return;
      const batch = redis.pipeline();
      queueSources(batch, settings, sources);
      await batch.exec();
    },
  };
}
