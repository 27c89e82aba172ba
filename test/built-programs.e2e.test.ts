/**
 * The programs as the images run them: `npm run build`'s bundles under plain Node (no tsx, no TypeScript),
 * in production mode, with the images' healthcheck, against the test run's MongoDB, Redis and bucket. And
 * the bundles import only what `npm ci --omit=dev --workspace <program>` installs in each image.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readMachineEnvironment } from '@imgsvc/config';
import { freePort } from '@imgsvc/local-services';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPrograms, PROGRAMS, type Program, readManifests } from '../scripts/build-programs.js';
import { CSV_HEADER, csvForm } from './support/api.js';
import { serveFiles, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { bucketEnvironment, testBucket } from './support/object-store.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { type RunningProgram, startBuiltProgram } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const PUBLIC_STAND_IN = '127.0.0.2';
const API_KEY = 'built-programs-tenant-key';
const WEBHOOK_SECRET = `whsec_${Buffer.from('built programs test secret, 32 b').toString('base64')}`;

/** The packages `npm ci --omit=dev --workspace <name>` installs directly: its own and its workspaces'. */
function productionPackages(workspace: string): Set<string> {
  const manifests = readManifests(ROOT);
  const packages = new Set<string>();
  const visit = (name: string, seen: Set<string>) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const dependency of Object.keys(manifests.get(name)?.dependencies ?? {})) {
      if (manifests.has(dependency)) visit(dependency, seen);
      else packages.add(dependency);
    }
  };
  visit(workspace, new Set());
  return packages;
}

describe('the built programs', () => {
  let outDir: string;
  let imports: Record<Program, string[]>;
  let images: TestHttpServer;
  const running: RunningProgram[] = [];

  beforeAll(async () => {
    // Inside the checkout, so that the bundles find its node_modules as the images find theirs.
    outDir = await mkdtemp(join(ROOT, '.vitest-built-'));
    imports = await buildPrograms(ROOT, outDir, 'silent');
    const photo = await photoLikeJpeg(640, 480, 7);
    images = await startHttpServer(
      serveFiles(new Map([['/photos/front.jpg', { body: photo, type: 'image/jpeg' }]])),
      PUBLIC_STAND_IN,
    );
  });
  afterAll(async () => {
    await Promise.all(running.map((program) => program.stop('SIGKILL')));
    await images?.close();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it("import only their image's production dependencies: no sharp in the API, no web UI in the worker", () => {
    for (const program of ['api', 'worker', 'healthcheck'] as const) {
      const installed =
        program === 'healthcheck'
          ? productionPackages('@imgsvc/api')
          : productionPackages(PROGRAMS[program].workspace);
      expect(
        imports[program].filter((name) => !installed.has(name)),
        program,
      ).toEqual([]);
      expect(imports[program], program).not.toContain('tsx');
    }
    expect(imports.api).not.toContain('sharp');
    expect(imports.worker).toContain('sharp');
    for (const webOnly of ['fastify', '@fastify/swagger-ui', '@bull-board/api']) {
      expect(imports.worker).not.toContain(webOnly);
    }
    for (const program of ['api', 'worker'] as const) {
      expect(productionPackages(PROGRAMS[program].workspace).has('tsx'), program).toBe(false);
    }
  });

  it('start in production, process an upload end to end, answer their healthchecks and stop on SIGTERM', async () => {
    const bucket = await testBucket('built-programs');
    const port = await freePort();
    const metricsPort = await freePort();
    const environment = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      WORKER_METRICS_PORT: String(metricsPort),
      MONGO_URL: testMongoUrl('built_programs'),
      REDIS_URL: await testRedisUrl(),
      ...bucketEnvironment(bucket),
      API_KEYS: API_KEY,
      WEBHOOK_SECRET,
      FETCH_ALLOW_NETWORKS: `${PUBLIC_STAND_IN}/32`,
      WORKER_CONCURRENCY: '2',
    };
    const worker = startBuiltProgram(join(outDir, 'worker.mjs'), environment);
    const api = startBuiltProgram(join(outDir, 'api.mjs'), environment);
    running.push(worker, api);
    const healthcheck = (program: 'api' | 'worker') =>
      run(process.execPath, [join(outDir, 'healthcheck.mjs'), program], {
        cwd: ROOT,
        env: { PATH: readMachineEnvironment().path, ...environment },
      }).then(
        () => 0,
        (error: { code?: number }) => error.code ?? 1,
      );
    for (const program of ['api', 'worker'] as const) {
      await pollUntil(async () => ((await healthcheck(program)) === 0 ? true : undefined), {
        timeoutMs: 30_000,
        what: `${program} healthcheck\n${(program === 'api' ? api : worker).output()}`,
      });
    }

    const auth = { authorization: `Bearer ${API_KEY}` };
    const created = await fetch(`http://127.0.0.1:${port}/api/upload`, {
      method: 'POST',
      headers: auth,
      body: csvForm(`${CSV_HEADER}\n1,Tote,${images.url}/photos/front.jpg\n`),
    });
    expect(created.status, api.output()).toBe(202);
    const { request_id: id } = (await created.json()) as { request_id: string };
    await pollUntil(
      async () => {
        const status = (await (
          await fetch(`http://127.0.0.1:${port}/api/status/${id}`, { headers: auth })
        ).json()) as {
          status: string;
        };
        return status.status === 'completed' ? status : undefined;
      },
      { timeoutMs: 30_000, what: `request completed\n${worker.output()}` },
    );
    const result = await fetch(`http://127.0.0.1:${port}/api/download/${id}`, { headers: auth });
    const rows = parse(await result.text(), { columns: true }) as Record<string, string>[];
    const output = rows[0]?.['Output Image Urls'] ?? '';
    const image = await fetch(output.replace(/^https?:\/\/[^/]+/, `http://127.0.0.1:${port}`));
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/jpeg');

    // The programs log JSON lines (pino) in production, without TypeScript's loader.
    expect(api.output()).not.toMatch(/tsx|ExperimentalWarning/);
    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(await healthcheck('worker')).toBe(1);
    expect(await api.stop('SIGTERM')).toBe(0);
    expect(await healthcheck('api')).toBe(1);
  });
});
