import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { contentTypeOf, IMAGE_CACHE_CONTROL, isImageKey } from './image-keys.js';
import type { ImageStore } from './image-store.js';
import { asObjectStoreFault } from './storage-faults.js';

/** An S3-compatible bucket (AWS S3, R2, GCS's XML API, MinIO, SeaweedFS, Ceph RGW), as the settings give it. */
export interface S3StoreSettings {
  readonly bucket: string;
  /** The store's address; undefined for AWS S3 itself. */
  readonly endpoint?: string;
  readonly region: string;
  /** Both, or neither: then the SDK's default credential chain. */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  /** `endpoint/bucket/key` rather than `bucket.endpoint/key`: what most stores besides AWS need. */
  readonly forcePathStyle: boolean;
  /** Put before every key, such as `images/`. */
  readonly prefix: string;
  /** The deadline of one request to the store, connecting included (the SDK retries within its attempts). */
  readonly requestTimeoutMs: number;
}

export interface S3StoreOptions {
  /** How long one look at the bucket (HeadBucket) is trusted by checkWritable. */
  readonly checkMs?: number;
}

/** How many sockets the client keeps to the store: puts of one worker, reads of one API. */
const MAX_SOCKETS = 64;
const CHECK_MS = 1000;

/** Object-store answers that mean the object is not there. */
function isNotFound(error: unknown): boolean {
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'NoSuchKey' || name === 'NotFound' || $metadata?.httpStatusCode === 404;
}

/** S3 client settings every store takes: checksums only where the operation needs one (many stores refuse the rest). */
export function createS3Client(settings: S3StoreSettings): S3Client {
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.accessKeyId && settings.secretAccessKey
      ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
      : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: {
      connectionTimeout: Math.min(5000, settings.requestTimeoutMs),
      requestTimeout: settings.requestTimeoutMs,
      // Without it, a request past its deadline is only warned about and waits on.
      throwOnRequestTimeout: true,
      httpAgent: { keepAlive: true, maxSockets: MAX_SOCKETS },
      httpsAgent: { keepAlive: true, maxSockets: MAX_SOCKETS },
    },
  });
}

/**
 * Images as objects in a bucket, one per key under the prefix, each with its content type and a year's
 * cache-control, so a CDN or the bucket itself can serve them as they are. A PutObject is whole or absent:
 * the store makes the object visible only once its body has arrived in full, and a writer that dies midway
 * leaves nothing. Faults of the store are StorageUnavailable (see asObjectStoreFault).
 */
export function createS3ImageStore(settings: S3StoreSettings, options: S3StoreOptions = {}): ImageStore {
  const client = createS3Client(settings);
  const checkMs = options.checkMs ?? CHECK_MS;
  const { bucket, prefix } = settings;
  const objectKey = (key: string) => `${prefix}${key}`;
  let sample: { readonly at: number; readonly check: Promise<void> } | undefined;

  const send = async <T>(operation: () => Promise<T>): Promise<T> => {
    try {
      return await operation();
    } catch (error) {
      const fault = asObjectStoreFault(error);
      // Look again next time rather than trust a sample the store has just contradicted.
      if (fault !== error) sample = undefined;
      throw fault;
    }
  };

  const sizeOf = async (key: string): Promise<number | undefined> => {
    if (!isImageKey(key)) return undefined;
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
      return head.ContentLength ?? 0;
    } catch (error) {
      if (isNotFound(error) && (error as { name?: string }).name !== 'NoSuchBucket') return undefined;
      throw asObjectStoreFault(error);
    }
  };

  return {
    kind: 's3',
    location: `s3://${bucket}/${prefix}${settings.endpoint ? ` at ${settings.endpoint}` : ''}`,
    async checkWritable() {
      const now = Date.now();
      if (!sample || now - sample.at >= checkMs) {
        const probe = client.send(new HeadBucketCommand({ Bucket: bucket })).then(
          () => {},
          (error: unknown) => {
            // A HEAD has no body to name the error: its 404 is the bucket's.
            throw isNotFound(error) ? Object.assign(error as Error, { name: 'NoSuchBucket' }) : error;
          },
        );
        sample = { at: now, check: send(() => probe) };
        // Seen by whoever awaits it; a sample nobody awaits again must not count as unhandled.
        sample.check.catch(() => {});
      }
      await sample.check;
    },
    has: async (key) => (await sizeOf(key)) !== undefined,
    sizeOf,
    async put(key, data) {
      if (!isImageKey(key)) throw new Error(`invalid image key "${key}"`);
      await send(() =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: objectKey(key),
            Body: data,
            ContentLength: data.length,
            ContentType: contentTypeOf(key),
            CacheControl: IMAGE_CACHE_CONTROL,
          }),
        ),
      );
    },
    async open(key) {
      if (!isImageKey(key)) return undefined;
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
        return {
          size: answer.ContentLength ?? 0,
          contentType: contentTypeOf(key),
          stream: answer.Body as Readable,
        };
      } catch (error) {
        if (isNotFound(error) && (error as { name?: string }).name !== 'NoSuchBucket') return undefined;
        throw asObjectStoreFault(error);
      }
    },
    async remove(key) {
      if (!isImageKey(key)) return;
      await send(() => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(key) })));
    },
    close() {
      client.destroy();
    },
  };
}
