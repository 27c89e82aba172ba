import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type HttpProblem, problemBody, problems } from './problems.js';

type Factories = typeof problems;

/** Each factory with the cases it is built for; the type makes a new factory fail to compile until it has one. */
const CASES: { [Name in keyof Factories]: Parameters<Factories[Name]>[] } = {
  notFound: [[{ method: 'GET', url: '/nowhere' }]],
  requestNotFound: [[{ id: '5f408e93-f5fd-410e-b593-4b0e21c39b0a' }]],
  imageNotFound: [[{ key: 'abc.jpg' }]],
  notFinished: [
    [{ status: 'in_progress', completionPercentage: 40 }],
    [{ status: 'pending', completionPercentage: 0, wanted: 'it can be deleted' }],
  ],
  nothingToRetry: [[{ id: 'r1' }]],
  alreadyRetried: [[{ id: 'r1', retriedBy: 'r2' }]],
  invalidCursor: [[]],
  unauthorized: [
    [{ credential: 'api_key' }],
    [{ credential: 'metrics_token' }],
    [{ credential: 'operator_key' }],
  ],
  dashboardReadOnly: [[]],
  crossSiteRequest: [[]],
  rateLimited: [[{ max: 10, windowMs: 60_000, retryAfterSeconds: 12 }]],
  tooManyUploads: [[{ limit: 2, retryAfterSeconds: 5 }]],
  requestTooSlow: [[]],
  tooManyStreams: [[{ max: 10, retryAfterSeconds: 10 }]],
  unsupportedMediaType: [[]],
  unknownField: [[{ field: 'photo' }]],
  invalidField: [[{ field: 'webhook_url', mustBe: 'text' }], [{ field: 'file', mustBe: 'a file part' }]],
  tooManyFiles: [[]],
  tooManyFields: [[{ detail: 'reach fields limit' }]],
  missingFile: [[]],
  uploadTooLarge: [[{ maxBytes: 1024 }], [{ detail: 'request file too large' }]],
  invalidWebhookUrl: [[{ maxLength: 2048 }], [{ refusal: '127.0.0.1 is a loopback address' }]],
  invalidIdempotencyKey: [[]],
  idempotencyKeyReused: [[]],
  idempotencyKeyInUse: [[]],
  csvTooManyRows: [[{ detail: 'more than 10 rows' }]],
  csvInvalidRows: [[{ detail: '1 problem', errors: [{ line: 2, message: 'bad' }], totalErrors: 1 }]],
  csvInvalidHeader: [[{ detail: 'missing column' }]],
  csvNoProducts: [[{ code: 'csv_empty', detail: 'empty' }], [{ code: 'csv_no_rows', detail: 'no rows' }]],
  csvNotText: [[{ code: 'csv_not_utf8', detail: 'not UTF-8' }], [{ code: 'csv_binary', detail: 'a PDF' }]],
  csvMalformed: [[{ detail: 'unclosed quote' }]],
  bodyTooLarge: [[{ detail: 'body too large' }]],
  badRequest: [[{ detail: 'invalid content-length' }]],
  malformedMultipart: [[{ detail: 'Unexpected end of form' }]],
  invalidRequest: [
    [{ detail: 'limit must be <= 500', errors: [{ field: 'querystring.limit', message: 'too big' }] }],
  ],
  // Only statuses no named problem has: a plugin's 400 or 404 would share their code, as it always has.
  clientError: [[{ status: 403, detail: 'forbidden' }], [{ status: 405, detail: 'not allowed' }]],
  serviceUnavailable: [
    [{ code: 'database_unavailable' }],
    [{ code: 'queue_unavailable', retryAfterSeconds: 5 }],
    [{ code: 'progress_unavailable', retryAfterSeconds: 5 }],
  ],
  overloaded: [[{ retryAfterSeconds: 5 }]],
  uploadCapacity: [[{ limit: 4, retryAfterSeconds: 5 }]],
  shuttingDown: [[]],
  notReady: [
    [{ checks: { mongodb: 'ok', redis: 'connect ECONNREFUSED 127.0.0.1:1', storage: 'ok' } }],
    [{ checks: { mongodb: 'ok', redis: 'ok', storage: 'no space is left on the storage (ENOSPC)' } }],
  ],
  internalError: [[]],
};

function everyProblem(): { factory: string; problem: HttpProblem }[] {
  return Object.entries(CASES).flatMap(([factory, cases]) =>
    cases.map((args) => ({
      factory,
      problem: (problems[factory as keyof Factories] as (...args: unknown[]) => HttpProblem)(...args),
    })),
  );
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('the problem catalogue', () => {
  it('has a case here for every problem it can build', () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(problems).sort());
  });

  it('gives every problem a stable snake_case code, an error status, a title and a detail', () => {
    for (const { factory, problem } of everyProblem()) {
      expect(problem.code, factory).toMatch(/^[a-z0-9_]+$/);
      expect(problem.status, factory).toBeGreaterThanOrEqual(400);
      expect(problem.status, factory).toBeLessThan(600);
      expect(problem.title, factory).not.toBe('');
      expect(problem.detail, factory).toBeTruthy();
      for (const [name, value] of Object.entries(problem.headers)) {
        expect(name, factory).toBe(name.toLowerCase());
        expect(value, factory).not.toBe('');
      }
    }
  });

  it('builds each code in one place only, always with the same status and title', () => {
    const seen = new Map<string, { factory: string; status: number; title: string }>();
    for (const { factory, problem } of everyProblem()) {
      const first = seen.get(problem.code);
      if (first)
        expect({ factory, status: problem.status, title: problem.title }, problem.code).toEqual(first);
      else seen.set(problem.code, { factory, status: problem.status, title: problem.title });
    }
  });

  it('tells clients when to retry every 503 that will pass by itself', () => {
    for (const { factory, problem } of everyProblem()) {
      if (problem.status !== 503 || problem.code === 'not_ready') continue;
      expect(Number(problem.headers['retry-after']), factory).toBeGreaterThan(0);
    }
  });

  it('answers with the RFC 9457 members, the code and what the problem adds', () => {
    const body = problemBody(
      problems.csvInvalidRows({ detail: '1 problem', errors: [{ line: 3, message: 'bad' }], totalErrors: 1 }),
      '/api/upload',
    );
    expect(body).toEqual({
      type: 'urn:image-service:problem:csv_invalid_rows',
      title: 'Invalid CSV rows',
      status: 422,
      detail: '1 problem',
      instance: '/api/upload',
      code: 'csv_invalid_rows',
      errors: [{ line: 3, message: 'bad' }],
      total_errors: 1,
    });
  });

  it('is the only place in the API that builds a problem', () => {
    const root = import.meta.dirname;
    const builders = sourceFiles(root)
      .filter((path) => /\bnew\s+HttpProblem\b/.test(readFileSync(path, 'utf8')))
      .map((path) => relative(root, path));
    expect(builders).toEqual(['problems.ts']);
  });
});
