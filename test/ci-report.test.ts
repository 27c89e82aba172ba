import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const project = join(root, 'test/fixtures/ci-report');

/** Runs vitest on the small project as .ci/run runs the suite, then counts the way .ci/run does. */
async function closingCounts(outcome: string, reportDir: string) {
  const report = join(reportDir, `${outcome}.json`);
  // The outer run's own variables would make the inner vitest think it runs inside a worker.
  const environment = Object.fromEntries(
    Object.entries({ ...process.env, CI_REPORT_CASE: outcome, CI: 'true' }).filter(
      ([name]) => !name.startsWith('VITEST'),
    ),
  );
  const status = await run(
    join(root, 'node_modules/.bin/vitest'),
    ['run', '--root', project, '--config', join(project, 'vitest.config.mjs'), `--outputFile=${report}`],
    { env: environment, cwd: project },
  ).then(
    () => 0,
    (error: { code?: number }) => error.code ?? 1,
  );
  const counted = await run('node', [join(root, '.ci/count-tests.mjs'), report, String(status)], {
    cwd: root,
  });
  const [passed, failed] = counted.stdout.trim().split(' ').map(Number);
  return { status, passed, failed, reasons: counted.stderr };
}

describe("CI's closing line", () => {
  let reportDir: string;
  beforeAll(async () => {
    reportDir = await mkdtemp(join(tmpdir(), 'ci-report-'));
  });
  afterAll(async () => {
    await rm(reportDir, { recursive: true, force: true });
  });

  it.each([
    { outcome: 'all-pass', status: 0, passed: 2, failed: 0, reason: '' },
    { outcome: 'setup-throws', status: 1, passed: 0, failed: 1, reason: 'no tests ran' },
    { outcome: 'no-tests', status: 1, passed: 0, failed: 1, reason: 'no tests ran' },
    { outcome: 'unhandled-rejection', status: 1, passed: 2, failed: 1, reason: 'exited with status 1' },
    { outcome: 'failed-hook', status: 1, passed: 1, failed: 2, reason: '2 test(s) did not run' },
    { outcome: 'import-throws', status: 1, passed: 1, failed: 1, reason: 'failed outside any test' },
  ])('counts a run that ends with $outcome as CI should', async (expected) => {
    const counts = await closingCounts(expected.outcome, reportDir);
    expect({ status: counts.status, passed: counts.passed, failed: counts.failed }).toEqual({
      status: expected.status,
      passed: expected.passed,
      failed: expected.failed,
    });
    if (expected.reason) expect(counts.reasons).toContain(expected.reason);
    else expect(counts.reasons).toBe('');
  });
});
