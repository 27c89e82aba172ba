/**
 * Bundles the programs the images run (the API, the worker and their healthcheck) into one ES module each,
 * with the API's page files in `assets/` beside them.
 * Our own packages are bundled in; every other package stays an import, installed in the image by
 * `npm ci --omit=dev --workspace <program>`. Returns, for each bundle, the packages it imports.
 */
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';

export const PROGRAMS = {
  api: { entry: 'apps/api/src/main.ts', workspace: '@imgsvc/api' },
  worker: { entry: 'apps/worker/src/main.ts', workspace: '@imgsvc/worker' },
  healthcheck: { entry: 'scripts/healthcheck.ts', workspace: '@imgsvc/lifecycle' },
} as const;

export type Program = keyof typeof PROGRAMS;

interface Manifest {
  readonly name: string;
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
}

/** The root manifest and every workspace's, by package name. */
export function readManifests(root: string): Map<string, Manifest> {
  const folders = [
    root,
    ...['apps', 'packages'].flatMap((group) =>
      readdirSync(join(root, group)).map((name) => join(root, group, name)),
    ),
  ];
  return new Map(
    folders.map((folder) => {
      const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as Manifest;
      return [manifest.name, manifest];
    }),
  );
}

/** The package a bare import names (`@scope/name/sub` → `@scope/name`); undefined for node: and paths. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || specifier.startsWith('.') || specifier.startsWith('/'))
    return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The packages a bundle imports at run time, from esbuild's metafile. */
function importedPackages(metafile: Metafile): string[] {
  const names = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) {
      const name = imported.external ? packageOf(imported.path) : undefined;
      if (name) names.add(name);
    }
  }
  return [...names].sort();
}

export async function buildPrograms(
  root: string,
  outDir: string,
  logLevel: 'info' | 'silent' = 'info',
): Promise<Record<Program, string[]>> {
  const manifests = readManifests(root);
  const external = new Set<string>();
  for (const manifest of manifests.values()) {
    for (const name of Object.keys(manifest.dependencies ?? {})) {
      if (!manifests.has(name)) external.add(name);
    }
  }
  const imports = {} as Record<Program, string[]>;
  for (const [program, { entry }] of Object.entries(PROGRAMS) as [Program, (typeof PROGRAMS)[Program]][]) {
    const result = await build({
      absWorkingDir: root,
      entryPoints: [entry],
      outfile: join(outDir, `${program}.mjs`),
      bundle: true,
      platform: 'node',
      // The oldest Node the project supports (package.json engines); the images run a newer one.
      target: 'node20.19',
      format: 'esm',
      sourcemap: true,
      metafile: true,
      external: [...external],
      logLevel,
    });
    imports[program] = importedPackages(result.metafile);
  }
  // The pages' files, found beside the API's bundle as they are beside apps/api/src/pages/page-assets.ts.
  cpSync(join(root, 'apps/api/src/pages/assets'), join(outDir, 'assets'), { recursive: true });
  return imports;
}
