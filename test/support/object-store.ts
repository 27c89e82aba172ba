import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { type LocalObjectStore, type SeaweedFsOptions, startSeaweedFs } from '@imgsvc/local-services';
import { createS3Client, type S3StoreSettings } from '@imgsvc/storage';
import { inject } from 'vitest';
import { pollUntil } from './poll.js';

/** How the run's S3-compatible server (or one a test started) is reached, with a bucket of the caller's. */
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

/** A new bucket of the caller's own on the run's SeaweedFS, so test files never see each other's objects. */
export async function testBucket(name: string, prefix = ''): Promise<S3StoreSettings> {
  const bucket = `test-${name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 30)}-${randomBytes(4).toString('hex')}`;
  const settings = bucketSettings(inject('objectStore'), bucket, prefix);
  await createBucket(settings);
  return settings;
}

/** A SeaweedFS of the test's own (to stop and start again), in a folder of its own. */
export function startOwnObjectStore(
  dataDir: string,
  options: SeaweedFsOptions = {},
): Promise<LocalObjectStore> {
  return startSeaweedFs(inject('objectStore').binary, dataDir, options);
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
