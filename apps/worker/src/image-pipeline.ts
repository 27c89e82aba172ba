import { FetchError } from '@imgsvc/fetching';
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
import { contentKey } from '@imgsvc/storage';
import type { WorkerContext } from './context.js';
import type { ImageOutcome } from './request-image-outcomes.js';

/**
 * Finds the image's output in the store, or re-encodes it and stores it. Outputs are named by the input's
 * bytes and every setting that shapes the output, so an image stored before is found from the signature of
 * its bytes alone, without asking the decoder.
 */
async function storeCompressed(
  bytes: Uint8Array,
  { store, encodeSlots, metrics }: WorkerContext,
  policy: CompressionPolicy,
): Promise<{ key: string; reused: boolean }> {
  const keys = new Map<ImageFormat, string>();
  const keyFor = (format: ImageFormat) => {
    const key =
      keys.get(format) ??
      contentKey(
        [ENCODER_FINGERPRINT, `quality=${policy.quality}`, `max_pixels=${policy.maxPixels}`, bytes],
        FILE_EXTENSIONS[format],
      );
    keys.set(format, key);
    return key;
  };
  const sniffed = sniffOutputFormat(bytes);
  if (sniffed && (await store.has(keyFor(sniffed)))) return { key: keyFor(sniffed), reused: true };
  const plan = await planCompression(bytes, policy);
  const key = keyFor(plan.output);
  if (plan.output !== sniffed && (await store.has(key))) return { key, reused: true };
  // Downloads wait on the network; encoding waits on a CPU core.
  const image = await encodeSlots.run(() => encodeImage(bytes, plan, policy));
  await store.put(key, image.data);
  metrics.imageBytes.inc({ direction: 'out' }, image.data.length);
  return { key, reused: false };
}

/**
 * Downloads one image, checks it, re-encodes it and stores it under a name derived from its bytes and the
 * encoding settings: an image already stored is not encoded again. Failures of the image itself are
 * returned as results; infrastructure failures (disk, database) are thrown so that the job is retried.
 */
export async function processImage(
  url: string,
  context: WorkerContext,
  cancel?: AbortSignal,
): Promise<ImageOutcome> {
  const { config, fetcher, metrics } = context;
  const policy = { quality: config.imageQuality, maxPixels: config.fetch.maxImagePixels };
  const timer = metrics.imageSeconds.startTimer();
  try {
    const { bytes } = await fetcher.fetchImage(url, cancel);
    metrics.imageBytes.inc({ direction: 'in' }, bytes.length);
    const { key, reused } = await storeCompressed(bytes, context, policy);
    timer({ outcome: reused ? 'reused' : 'stored' });
    return { ok: true, outputUrl: `${config.publicBaseUrl}/images/${key}` };
  } catch (error) {
    if (error instanceof FetchError || error instanceof ImageError) {
      timer({ outcome: 'failed' });
      return { ok: false, failure: { url, code: error.code, message: error.message } };
    }
    throw error;
  }
}
