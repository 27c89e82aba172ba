/**
 * `node dist/healthcheck.mjs api|worker`: the containers' healthcheck. Exits 0 when the program's
 * /health/ready answers 200, 1 with the reason otherwise; it reads the same settings as the program.
 */
import { exitWithError, loadConfigOrExit, probeReadiness, readinessUrl } from '@imgsvc/lifecycle';

const program = process.argv[2];
if (program !== 'api' && program !== 'worker') exitWithError('usage: healthcheck api|worker');
const problem = await probeReadiness(readinessUrl(program, loadConfigOrExit()));
if (problem) exitWithError(problem);
