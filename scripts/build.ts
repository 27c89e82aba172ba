/** `npm run build [-- <folder>]`: bundles the API, the worker and the healthcheck into dist/ (or the folder). */
import { resolve } from 'node:path';
import { buildPrograms } from './build-programs.js';

const imports = await buildPrograms(process.cwd(), resolve(process.argv[2] ?? 'dist'));
for (const [program, packages] of Object.entries(imports)) {
  process.stdout.write(`${program}: imports ${packages.join(', ') || 'no packages'}\n`);
}
