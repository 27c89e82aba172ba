import { FetchError } from '@imgsvc/fetching';
import {
  ENCODER_FINGERPRINT,
  encodeImage,
  FILE_EXTENSIONS,
  ImageError,
  planCompression,
} from '@imgsvc/imaging';
import { contentKey } from '@imgsvc/storage';
import type { WorkerContext } from './context.js';
import type { ImageOutcome } from './request-image-outcomes.js';

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
  const { config, fetcher, store, encodeSlots, metrics } = context;
  const policy = { quality: config.imageQuality, maxPixels: config.fetch.maxImagePixels };
  const timer = metrics.imageSeconds.startTimer();
  try {
    const { bytes } = await fetcher.fetchImage(url, cancel);
    metrics.imageBytes.inc({ direction: 'in' }, bytes.length);
    const plan = await planCompression(bytes, policy);
    const key = contentKey(
      [ENCODER_FINGERPRINT, `quality=${policy.quality}`, `format=${plan.output}`, bytes],
      FILE_EXTENSIONS[plan.output],
    );
    const reused = await store.has(key);
    if (!reused) {
      // Downloads wait on the network; encoding waits on a CPU core.
      const image = await encodeSlots.run(() => encodeImage(bytes, plan, policy));
      await store.put(key, image.data);
      metrics.imageBytes.inc({ direction: 'out' }, image.data.length);
    }
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
