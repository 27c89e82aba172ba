/**
 * `npm run install:compose`: Docker Compose for the deployment test (`docker compose config`), built into the
 * user's cache when the machine has neither `docker compose` nor `docker-compose`.
 */
import { readMachineEnvironment } from '@imgsvc/config';
import { ensureCompose } from '@imgsvc/local-services';

const machine = readMachineEnvironment();
const compose = await ensureCompose(machine.path, machine.cacheHome, (message) =>
  process.stderr.write(`${message}\n`),
);
if (!compose) {
  process.stderr.write(
    'Docker Compose is not installed and Go is not on the PATH: install Go (https://go.dev/dl/).\n',
  );
  process.exit(1);
}
process.stdout.write(`${[compose.command, ...compose.args].join(' ')}\n`);
