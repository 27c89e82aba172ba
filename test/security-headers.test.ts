/**
 * What the security headers tell a browser depends on how it reaches the service: over HTTPS (PUBLIC_BASE_URL
 * https, TLS ended here or by a proxy) every request is upgraded and HSTS is sent; over plain HTTP neither,
 * or the browser would fetch every asset over an HTTPS that does not answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './support/api.js';

const PAGES = ['/', '/upload', '/docs', '/docs/static/index.html', '/health/live'];

describe.each([
  { scheme: 'http', publicBaseUrl: 'http://imgsvc.test:3000', secure: false },
  { scheme: 'https', publicBaseUrl: 'https://images.example.com', secure: true },
])('security headers when PUBLIC_BASE_URL is $scheme', ({ publicBaseUrl, secure }) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(`security_headers_${secure ? 'https' : 'http'}`, {
      PUBLIC_BASE_URL: publicBaseUrl,
    });
  });
  afterAll(async () => {
    await api?.close();
  });

  it.each(PAGES)('%s', async (path) => {
    const answer = await fetch(`${api.url}${path}`, { redirect: 'manual' });
    await answer.arrayBuffer();
    const policy = answer.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'self'");
    expect(policy.includes('upgrade-insecure-requests')).toBe(secure);
    expect(answer.headers.get('strict-transport-security') !== null).toBe(secure);
    // Nothing from elsewhere: every source is the page's own origin, data: or a keyword; the upload page may
    // also show images from where output URLs point (PUBLIC_BASE_URL here), and nothing else.
    for (const directive of policy.split(';')) {
      const [name, ...sources] = directive.trim().split(/\s+/);
      for (const source of sources) {
        if (path === '/upload' && name === 'img-src' && source === new URL(publicBaseUrl).origin) continue;
        expect(source, directive).toMatch(/^('[a-z-]+'|data:|'sha256-[A-Za-z0-9+/=]+')$/);
      }
    }
    if (path === '/upload') expect(policy).toContain(`img-src 'self' data: ${new URL(publicBaseUrl).origin}`);
  });
});
