/** `npm run build`: bundles each program into dist/ for the container images (dependencies stay external). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const manifests = [
  '.',
  ...['apps', 'packages'].flatMap((group) => readdirSync(group).map((name) => join(group, name))),
];
const external = new Set<string>();
for (const folder of manifests) {
  const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    if (!name.startsWith('@imgsvc/')) external.add(name);
  }
}

for (const [program, entry] of [
  ['api', 'apps/api/src/main.ts'],
  ['worker', 'apps/worker/src/main.ts'],
] as const) {
  await build({
    entryPoints: [entry],
    outfile: `dist/${program}.mjs`,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: true,
    external: [...external],
    logLevel: 'info',
  });
}
