/** `npm run install:ferretdb`: builds FerretDB 1.24.2 into the user's cache if it is not there yet. */
import { readMachineEnvironment } from '@imgsvc/config';
import { ensureFerretDb } from '@imgsvc/local-services';

const machine = readMachineEnvironment();
const binary = await ensureFerretDb(machine.path, machine.cacheHome, (message) =>
  process.stderr.write(`${message}\n`),
);
if (!binary) {
  process.stderr.write(
    'FerretDB is not installed and Go is not on the PATH: install Go (https://go.dev/dl/).\n',
  );
  process.exit(1);
}
process.stdout.write(`${binary}\n`);
