import { randomBytes } from 'node:crypto';
import { type LocalObjectStore, type SeaweedFsOptions, startSeaweedFs } from '@imgsvc/local-services';
import type { S3StoreSettings } from '@imgsvc/storage';
import { inject } from 'vitest';
import { bucketSettings, createBucket } from './buckets.js';

export { bucketEnvironment, bucketSettings, createBucket, listObjects } from './buckets.js';

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
