/** Buckets on an S3-compatible server, for the tests and the benchmark (no test runner needed). */
import { CreateBucketCommand, DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { LocalObjectStore } from '@imgsvc/local-services';
import { createS3Client, type S3StoreSettings } from '@imgsvc/storage';
import { pollUntil } from './poll.js';

/** How an S3-compatible server (the test run's, one a test or the benchmark started) is reached, for a bucket. */
export function bucketSettings(
  server: Pick<LocalObjectStore, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey'>,
  bucket: string,
  prefix = '',
): S3StoreSettings {
  return {
    bucket,
    endpoint: server.endpoint,
    region: server.region,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    forcePathStyle: true,
    prefix,
    requestTimeoutMs: 10_000,
  };
}

/** The S3_* settings of the programs for a bucket. */
export function bucketEnvironment(settings: S3StoreSettings): Record<string, string> {
  return {
    S3_BUCKET: settings.bucket,
    S3_ENDPOINT: settings.endpoint ?? '',
    S3_REGION: settings.region,
    S3_ACCESS_KEY_ID: settings.accessKeyId ?? '',
    S3_SECRET_ACCESS_KEY: settings.secretAccessKey ?? '',
    S3_FORCE_PATH_STYLE: String(settings.forcePathStyle),
    S3_PREFIX: settings.prefix,
    S3_REQUEST_TIMEOUT_MS: String(settings.requestTimeoutMs),
  };
}

/** Makes a bucket, retrying while a server that has just started is not ready for it yet. */
export async function createBucket(settings: S3StoreSettings): Promise<void> {
  const client = createS3Client(settings);
  try {
    await pollUntil(
      () =>
        client.send(new CreateBucketCommand({ Bucket: settings.bucket })).then(
          () => true,
          (error: { name?: string }) => {
            if (error.name === 'BucketAlreadyOwnedByYou' || error.name === 'BucketAlreadyExists') return true;
            return undefined;
          },
        ),
      { timeoutMs: 30_000, what: `bucket ${settings.bucket} created` },
    );
  } finally {
    client.destroy();
  }
}

/** Every object in the bucket (under its prefix), with its size. */
export async function listObjects(settings: S3StoreSettings): Promise<{ key: string; size: number }[]> {
  const client = createS3Client(settings);
  try {
    const objects: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({
          Bucket: settings.bucket,
          Prefix: settings.prefix,
          ContinuationToken: token,
        }),
      );
      for (const item of page.Contents ?? []) objects.push({ key: item.Key ?? '', size: item.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  } finally {
    client.destroy();
  }
}

/** Removes every object in the bucket (under its prefix): an empty store for the next measurement. */
export async function emptyBucket(settings: S3StoreSettings): Promise<void> {
  const client = createS3Client(settings);
  try {
    for (const { key } of await listObjects(settings)) {
      await client.send(new DeleteObjectCommand({ Bucket: settings.bucket, Key: key }));
    }
  } finally {
    client.destroy();
  }
}
