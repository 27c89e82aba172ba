import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { findExecutable, isExecutable } from './executables.js';
import { cachedToolPath, findGo } from './go-tools.js';

const run = promisify(execFile);

const COMPOSE_MODULE = 'github.com/docker/compose/v2';
const COMPOSE_VERSION = 'v2.40.3';

const composeCachePath = (cacheHome: string | undefined) =>
  cachedToolPath(cacheHome, `docker-compose-${COMPOSE_VERSION}`, 'docker-compose');

/** How to run Docker Compose: the program and the arguments that come before compose's own. */
export interface ComposeCommand {
  readonly command: string;
  readonly args: readonly string[];
}

/** Whether `docker compose` (the CLI plugin) answers. */
async function dockerComposePlugin(searchPath: string): Promise<ComposeCommand | undefined> {
  const docker = await findExecutable('docker', searchPath);
  if (!docker) return undefined;
  try {
    await run(docker, ['compose', 'version'], { timeout: 10_000 });
    return { command: docker, args: ['compose'] };
  } catch {
    return undefined;
  }
}

/** Docker Compose as the machine has it (`docker compose`, `docker-compose`) or as built into the cache. */
export async function findCompose(
  searchPath: string,
  cacheHome: string | undefined,
): Promise<ComposeCommand | undefined> {
  const plugin = await dockerComposePlugin(searchPath);
  if (plugin) return plugin;
  const standalone = await findExecutable('docker-compose', searchPath);
  if (standalone) return { command: standalone, args: [] };
  const cached = composeCachePath(cacheHome);
  return (await isExecutable(cached)) ? { command: cached, args: [] } : undefined;
}

/**
 * Builds Docker Compose v2 from the Go module proxy into the cache. `go install` refuses the module (its
 * go.mod has `exclude` directives), so its source is copied out of the module cache and built as the main
 * module. About 5 minutes on 2 cores the first time.
 */
async function installCompose(go: string, cacheHome: string | undefined, log: (message: string) => void) {
  const target = composeCachePath(cacheHome);
  log(
    `building Docker Compose ${COMPOSE_VERSION} with ${go} into ${target} (once per machine; about 5 minutes)`,
  );
  const work = await mkdtemp(join(tmpdir(), 'compose-build-'));
  const options = { cwd: work, maxBuffer: 64 * 1024 * 1024 };
  try {
    const { stdout } = await run(
      go,
      ['mod', 'download', '-json', `${COMPOSE_MODULE}@${COMPOSE_VERSION}`],
      options,
    );
    const source = (JSON.parse(stdout) as { Dir?: string }).Dir;
    if (!source) throw new Error(`go mod download did not report the folder of ${COMPOSE_MODULE}`);
    const copy = join(work, 'compose');
    // The module cache is read-only; the build writes nothing there, but a copy keeps the main module ours.
    await cp(source, copy, { recursive: true });
    await mkdir(dirname(target), { recursive: true });
    const built = `${target}.${process.pid}.tmp`;
    await run(
      go,
      [
        'build',
        '-trimpath',
        '-ldflags',
        `-X ${COMPOSE_MODULE}/internal.Version=${COMPOSE_VERSION}`,
        '-o',
        built,
        './cmd',
      ],
      { ...options, cwd: copy },
    );
    await rename(built, target);
    log(`Docker Compose installed at ${target}`);
    return { command: target, args: [] };
  } finally {
    await rm(work, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Docker Compose, built first when the machine has none and Go is available; undefined when neither. */
export async function ensureCompose(
  searchPath: string,
  cacheHome: string | undefined,
  log: (message: string) => void,
): Promise<ComposeCommand | undefined> {
  const found = await findCompose(searchPath, cacheHome);
  if (found) return found;
  const go = await findGo(searchPath);
  if (!go) return undefined;
  return installCompose(go, cacheHome, log);
}
