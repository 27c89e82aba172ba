/** `npm run install:seaweedfs`: builds SeaweedFS's `weed` into the user's cache if it is not there yet. */
import { readMachineEnvironment } from '@imgsvc/config';
import { ensureSeaweedFs } from '@imgsvc/local-services';

const machine = readMachineEnvironment();
const binary = await ensureSeaweedFs(machine.path, machine.cacheHome, (message) =>
  process.stderr.write(`${message}\n`),
);
if (!binary) {
  process.stderr.write(
    'SeaweedFS is not installed and Go is not on the PATH: install Go (https://go.dev/dl/).\n',
  );
  process.exit(1);
}
process.stdout.write(`${binary}\n`);
