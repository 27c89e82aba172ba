// Reads vitest's JSON report and the runner's exit status; prints "<passed> <failed>" and, on stderr, why a
// run counts as failed when no single test failed. A run with no tests, a non-zero exit without a failed test
// (an unhandled rejection, a global setup that threw), failed suites (a beforeAll that threw) and tests that
// did not run (skipped, todo, or left pending by a failed hook) all count as failures, so the closing line
// can never read as a clean run when it was not.
import { readFileSync } from 'node:fs';

const [reportPath, exitStatusText] = process.argv.slice(2);
const exitStatus = Number(exitStatusText);
const reasons = [];
let report;
try {
  report = JSON.parse(readFileSync(reportPath, 'utf8'));
} catch (error) {
  report = undefined;
  reasons.push(`the runner wrote no readable report (${error.code ?? error.message})`);
}

const passed = report?.numPassedTests ?? 0;
let failed = report?.numFailedTests ?? 0;
const notRun = (report?.numPendingTests ?? 0) + (report?.numTodoTests ?? 0);
const suitesFailedWithoutTests = report ? countFilesFailedOutsideTests(report) : 0;

if (report && (report.numTotalTests ?? 0) === 0) reasons.push('no tests ran');
if (notRun > 0) {
  reasons.push(`${notRun} test(s) did not run (skipped, todo, or left pending by a failed hook)`);
  failed += notRun;
}
if (suitesFailedWithoutTests > 0) {
  reasons.push(
    `${suitesFailedWithoutTests} test file(s) failed outside any test (an import or a hook threw)`,
  );
  failed += suitesFailedWithoutTests;
}
if (exitStatus !== 0 && failed === 0) {
  reasons.push(`the runner exited with status ${exitStatus} (an unhandled error, or setup that threw)`);
}
if (reasons.length > 0 && failed === 0) failed = 1;
for (const reason of reasons) process.stderr.write(`counted as failed: ${reason}\n`);
process.stdout.write(`${passed} ${failed}\n`);

/** Test files that failed with no test of theirs failed or left unrun: an import or a hook outside describe threw. */
function countFilesFailedOutsideTests(json) {
  return (json.testResults ?? []).filter(
    (file) =>
      file.status === 'failed' && !(file.assertionResults ?? []).some((test) => test.status !== 'passed'),
  ).length;
}
