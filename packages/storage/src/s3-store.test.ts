import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { freePort } from '@imgsvc/local-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listObjects, testBucket } from '../../../test/support/object-store.js';
import { contentKey, IMAGE_CACHE_CONTROL, isImageKey } from './image-keys.js';
import { createS3Client, createS3ImageStore, type S3StoreSettings } from './s3-store.js';
import { type StorageFaultCode, StorageUnavailable } from './storage-faults.js';

/** Resolves with the StorageUnavailable's code the promise rejected with; fails the test on anything else. */
async function faultOf(promise: Promise<unknown>): Promise<StorageFaultCode> {
  const error = await promise.then(
    () => {
      throw new Error('the store answered');
    },
    (rejection: unknown) => rejection,
  );
  if (!(error instanceof StorageUnavailable)) throw error;
  return error.code;
}

let settings: S3StoreSettings;

beforeAll(async () => {
  settings = await testBucket('s3-store', 'outputs/');
});

describe('image store in an S3-compatible bucket (SeaweedFS)', () => {
  it('writes, finds and reads back an image under the prefix, with its content type and cache-control', async () => {
    const store = createS3ImageStore(settings);
    const client = createS3Client(settings);
    try {
      const key = contentKey(['one'], 'webp');
      expect(await store.has(key)).toBe(false);
      expect(await store.open(key)).toBeUndefined();
      await store.checkWritable();
      await store.put(key, Buffer.from('first'));
      await store.put(key, Buffer.from('first'));
      expect(await store.has(key)).toBe(true);
      const image = await store.open(key);
      if (!image) throw new Error('the stored image was not found');
      expect(image.contentType).toBe('image/webp');
      expect(image.size).toBe(5);
      expect((await buffer(image.stream)).toString()).toBe('first');

      const head = await client.send(
        new HeadObjectCommand({ Bucket: settings.bucket, Key: `outputs/${key}` }),
      );
      expect(head.ContentType).toBe('image/webp');
      expect(head.CacheControl).toBe(IMAGE_CACHE_CONTROL);
      expect(await listObjects(settings)).toEqual([{ key: `outputs/${key}`, size: 5 }]);

      await store.remove(key);
      await store.remove(key);
      expect(await store.has(key)).toBe(false);
      expect(store.location).toBe(`s3://${settings.bucket}/outputs/ at ${settings.endpoint}`);
    } finally {
      client.destroy();
      store.close();
    }
  });

  it('refuses keys that are not output names', async () => {
    const store = createS3ImageStore(settings);
    try {
      for (const key of ['../x.jpg', `${'a'.repeat(64)}.sh`, 'A'.repeat(64).concat('.jpg'), '']) {
        expect(isImageKey(key)).toBe(false);
        expect(await store.has(key)).toBe(false);
        expect(await store.open(key)).toBeUndefined();
      }
      await expect(store.put('../escape.jpg', Buffer.from('x'))).rejects.toThrow('invalid image key');
    } finally {
      store.close();
    }
  });
});

describe('image store meeting a bucket that cannot serve', () => {
  const key = contentKey(['a photo'], 'jpg');
  const image = Buffer.alloc(1024, 7);

  it('reports a bucket that does not exist as storage_missing before any image is encoded for it', async () => {
    const store = createS3ImageStore({ ...settings, bucket: `${settings.bucket}-gone` });
    try {
      // The check before each encode; the pipeline writes nothing when it fails. (A write itself would fail
      // with NoSuchBucket on AWS, while SeaweedFS makes the bucket for an administrator's credentials.)
      expect(await faultOf(store.checkWritable())).toBe('storage_missing');
      // A HEAD's 404 cannot tell a missing bucket from a missing object.
      expect(await store.has(key)).toBe(false);
    } finally {
      store.close();
    }
  });

  it('reports refused credentials as storage_credentials_refused', async () => {
    const store = createS3ImageStore({ ...settings, secretAccessKey: 'not-the-secret' });
    try {
      expect(await faultOf(store.checkWritable())).toBe('storage_credentials_refused');
      expect(await faultOf(store.put(key, image))).toBe('storage_credentials_refused');
      expect(await faultOf(store.has(key))).toBe('storage_credentials_refused');
      expect(await faultOf(store.open(key))).toBe('storage_credentials_refused');
    } finally {
      store.close();
    }
  });

  it('reports a store nobody answers at as storage_unreachable', async () => {
    const port = await freePort();
    const store = createS3ImageStore({
      ...settings,
      endpoint: `http://127.0.0.1:${port}`,
      requestTimeoutMs: 2000,
    });
    try {
      expect(await faultOf(store.checkWritable())).toBe('storage_unreachable');
      expect(await faultOf(store.put(key, image))).toBe('storage_unreachable');
      expect(await faultOf(store.has(key))).toBe('storage_unreachable');
    } finally {
      store.close();
    }
  });

  describe('behind a gateway that throttles or fails', () => {
    let gateway: Server;
    let endpoint: string;
    const answers: { status: number; code: string }[] = [];
    beforeAll(async () => {
      // An S3 gateway's own error answers, as AWS documents them, for every request.
      gateway = createServer((request, response) => {
        request.resume();
        const answer = answers[0] ?? { status: 500, code: 'InternalError' };
        response.writeHead(answer.status, { 'content-type': 'application/xml' });
        response.end(
          request.method === 'HEAD'
            ? undefined
            : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${answer.code}</Code><Message>${answer.code}</Message></Error>`,
        );
      });
      gateway.listen(0, '127.0.0.1');
      await once(gateway, 'listening');
      endpoint = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      gateway.closeAllConnections();
      await new Promise((resolve) => gateway.close(resolve));
    });

    it.each([
      [503, 'SlowDown', 'storage_throttled'],
      [429, 'TooManyRequests', 'storage_throttled'],
      [500, 'InternalError', 'storage_server_error'],
      [502, 'BadGateway', 'storage_server_error'],
      [301, 'PermanentRedirect', 'storage_misconfigured'],
      [400, 'AuthorizationHeaderMalformed', 'storage_misconfigured'],
    ] as const)(
      'answers %i %s → %s, an outage (the job waits; nothing is failed)',
      async (status, code, fault) => {
        answers.splice(0, answers.length, { status, code });
        const store = createS3ImageStore({ ...settings, endpoint });
        try {
          expect(await faultOf(store.put(key, image))).toBe(fault);
          expect(await faultOf(store.has(key))).toBe(fault);
        } finally {
          store.close();
        }
      },
    );
  });
});
