import { outputImageUrl } from '@imgsvc/domain';
import { FetchError, type FetchedImage } from '@imgsvc/fetching';
import {
  type CompressionPolicy,
  ENCODER_FINGERPRINT,
  encodeImage,
  FILE_EXTENSIONS,
  ImageError,
  type ImageFormat,
  planCompression,
  sniffOutputFormat,
} from '@imgsvc/imaging';
import type { ImageOutcome, ImageSource } from '@imgsvc/job-state';
import type { Logger } from '@imgsvc/logging';
import { contentKey, StorageUnavailable } from '@imgsvc/storage';
import type { WorkerContext } from './context.js';

/** Everything that shapes an output besides the input's bytes: part of every output's name. */
export function encodingSettings(policy: CompressionPolicy): string[] {
  return [ENCODER_FINGERPRINT, `quality=${policy.quality}`, `max_pixels=${policy.maxPixels}`];
}

/**
 * Finds the image's output in the store, or re-encodes it and stores it. Outputs are named by the input's
 * bytes and every setting that shapes the output, so an image stored before is found from the signature of
 * its bytes alone, without asking the decoder.
 */
async function storeCompressed(
  bytes: Uint8Array,
  context: WorkerContext,
  policy: CompressionPolicy,
  claim: (key: string) => Promise<void>,
): Promise<{ key: string; reused: boolean; bytes: number }> {
  const { store, encodeLimit, metrics } = context;
  const keys = new Map<ImageFormat, string>();
  const keyFor = (format: ImageFormat) => {
    const key = keys.get(format) ?? contentKey([...encodingSettings(policy), bytes], FILE_EXTENSIONS[format]);
    keys.set(format, key);
    return key;
  };
  const sniffed = sniffOutputFormat(bytes);
  if (sniffed) {
    await claim(keyFor(sniffed));
    const size = await store.sizeOf(keyFor(sniffed));
    if (size !== undefined) return { key: keyFor(sniffed), reused: true, bytes: size };
  }
  const plan = await planCompression(bytes, policy);
  const key = keyFor(plan.output);
  if (plan.output !== sniffed) {
    await claim(key);
    const size = await store.sizeOf(key);
    if (size !== undefined) return { key, reused: true, bytes: size };
  }
  // No encoding for a storage that cannot take the result: StorageUnavailable puts the job back to wait.
  await store.checkWritable();
  // Downloads wait on the network; encoding waits on a CPU core.
  const image = await encodeLimit(() => encodeImage(bytes, plan, policy));
  await store.put(key, image.data);
  metrics.imageBytes.inc({ direction: 'out' }, image.data.length);
  return { key, reused: false, bytes: image.data.length };
}

/** One image's outcome, and what its URL gave when its server named the version it sent. */
export interface ProducedImage {
  readonly outcome: ImageOutcome;
  readonly source?: ImageSource;
}

/**
 * Claims an output for a request before the store is asked for it, so that no deletion takes it from under the
 * request (see OutputClaims); one being deleted now puts the job back to wait, and it is made again after.
 */
function outputClaimer(context: WorkerContext, requestId: string): (key: string) => Promise<void> {
  return async (key) => {
    if ((await context.jobState.claimOutputs(requestId, [key])).length > 0) {
      throw new StorageUnavailable('storage_output_deleting', key);
    }
  };
}

export interface ProduceImageOptions {
  /** The request the image is for: it claims the outputs it uses. */
  readonly requestId: string;
  /** The job's logger (request_id, job_id): where what the client must not see is recorded. */
  readonly log: Logger;
  readonly cancel?: AbortSignal;
  /** What the URL gave in an earlier request, if its server named the version. */
  readonly previous?: ImageSource;
}

/**
 * One image from its URL: downloads it, decides how to encode it, re-encodes it and stores it under a name
 * derived from its bytes and the encoding settings: an image already stored is not encoded again. When the URL gave an output before, with
 * validators, the server is asked whether it changed, and a 304 saves the download. Failures of the image itself
 * are returned as results; infrastructure failures (storage, database) are thrown, never recorded as the
 * image's: the job runner puts the job back to wait for the outage's end (StorageUnavailable, an unreachable
 * database) or retries it.
 */
export async function produceImage(
  url: string,
  context: WorkerContext,
  { requestId, log, cancel, previous }: ProduceImageOptions,
): Promise<ProducedImage> {
  const claim = outputClaimer(context, requestId);
  const { config, fetcher, metrics, store } = context;
  const policy = { quality: config.imageQuality, maxPixels: config.fetch.maxImagePixels };
  const timer = metrics.imageSeconds.startTimer();
  const stored = (key: string, sizes: { inputBytes?: number; outputBytes?: number }): ImageOutcome => ({
    ok: true,
    outputUrl: outputImageUrl(config.outputBaseUrl, key),
    ...sizes,
  });
  try {
    let fetched: FetchedImage | undefined;
    if (previous) {
      const answer = await fetcher.fetchImageIfChanged(url, previous, cancel);
      if (!('notModified' in answer)) fetched = answer;
      else {
        await claim(previous.key);
        const size = await store.sizeOf(previous.key);
        if (size !== undefined) {
          timer({ outcome: 'unchanged' });
          const sizes = { inputBytes: previous.inputBytes, outputBytes: size };
          return { outcome: stored(previous.key, sizes), source: previous };
        }
      }
    }
    fetched ??= await fetcher.fetchImage(url, cancel);
    metrics.imageBytes.inc({ direction: 'in' }, fetched.bytes.length);
    const { key, reused, bytes } = await storeCompressed(fetched.bytes, context, policy, claim);
    timer({ outcome: reused ? 'reused' : 'stored' });
    const sizes = { inputBytes: fetched.bytes.length, outputBytes: bytes };
    // Validators name a version of the URL itself: not kept when the bytes came from elsewhere by redirect.
    const validators = fetched.finalUrl === new URL(url).href ? fetched.validators : undefined;
    return {
      outcome: stored(key, sizes),
      ...(validators ? { source: { ...validators, key, ...sizes } } : {}),
    };
  } catch (error) {
    if (error instanceof FetchError || error instanceof ImageError) {
      timer({ outcome: 'failed' });
      // The outcome carries only the code and the generic reason; the detail (where a name resolved) is ours.
      if (error instanceof FetchError && error.detail) {
        log.warn({ url, code: error.code, detail: error.detail }, 'image host refused');
      }
      return { outcome: { ok: false, failure: { url, code: error.code, message: error.message } } };
    }
    throw error;
  }
}
