import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keys, urlField } from './keys.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

// The names a running deployment already holds state under: changing one strands that state.
describe('the Redis key scheme', () => {
  it('keeps the names of live progress', () => {
    expect(keys.progressCounts('r1')).toBe('imgsvc:progress:r1');
    expect(keys.progressFailures('r1')).toBe('imgsvc:progress-failures:r1');
    expect(keys.progressRows('r1')).toBe('imgsvc:progress-rows:r1');
  });

  it('keeps the names of URL outcomes and locks, with the URL as its SHA-256', () => {
    const url = 'http://127.0.0.1/a.jpg';
    expect(urlField(url)).toBe(sha256(url));
    expect(keys.urlOutcomes('r1')).toBe('imgsvc:image-outcomes:r1');
    expect(keys.urlLock('r1', url)).toBe(`imgsvc:image-lock:r1:${sha256(url)}`);
  });

  it('keeps the names of image sources, with the settings and the URL hashed together', () => {
    expect(keys.imageSource('quality=50', 'http://127.0.0.1/a.jpg')).toBe(
      `imgsvc:image-source:${sha256('quality=50\0http://127.0.0.1/a.jpg')}`,
    );
  });
});
