import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { cachedToolPath, findCachedTool, findGo } from './go-tools.js';

const run = promisify(execFile);

const SEAWEEDFS_MODULE = 'github.com/seaweedfs/seaweedfs';
/** The version the Go module proxy serves (a pseudo-version: SeaweedFS tags are not module versions). */
const SEAWEEDFS_VERSION = 'v0.0.0-20261109003541-7506e5f91cd6';

const seaweedFsCachePath = (cacheHome: string | undefined) =>
  cachedToolPath(cacheHome, `seaweedfs-${SEAWEEDFS_VERSION}`, 'weed');

/** A SeaweedFS `weed` binary in the cache or on the PATH, without installing anything. */
export function findSeaweedFs(
  searchPath: string,
  cacheHome: string | undefined,
): Promise<string | undefined> {
  return findCachedTool(seaweedFsCachePath(cacheHome), 'weed', searchPath);
}

/** The `replace` directives of a go.mod, single lines and blocks, as go.mod text. */
export function replaceDirectives(goMod: string): string {
  const kept: string[] = [];
  let inBlock = false;
  for (const line of goMod.split('\n')) {
    const trimmed = line.trim();
    if (inBlock) {
      kept.push(line);
      if (trimmed === ')') inBlock = false;
    } else if (/^replace\s*\($/.test(trimmed)) {
      kept.push(line);
      inBlock = true;
    } else if (/^replace\s/.test(trimmed)) {
      kept.push(line);
    }
  }
  return kept.join('\n');
}

/**
 * Builds SeaweedFS's `weed` into the cache. `go install` refuses the module, whose go.mod has `replace`
 * directives; so it is built inside a small wrapper module that requires it at the served version and repeats
 * those directives. The first build downloads about 3.5 GB of modules and takes about 11 minutes on 2 cores.
 */
async function installSeaweedFs(
  go: string,
  cacheHome: string | undefined,
  log: (message: string) => void,
): Promise<string> {
  const target = seaweedFsCachePath(cacheHome);
  log(
    `building SeaweedFS ${SEAWEEDFS_VERSION} with ${go} into ${target} (once per machine; about 11 minutes)`,
  );
  const work = await mkdtemp(join(tmpdir(), 'seaweedfs-build-'));
  const options = { cwd: work, maxBuffer: 64 * 1024 * 1024 };
  try {
    const { stdout } = await run(
      go,
      ['mod', 'download', '-json', `${SEAWEEDFS_MODULE}@${SEAWEEDFS_VERSION}`],
      options,
    );
    const goModPath = (JSON.parse(stdout) as { GoMod?: string }).GoMod;
    if (!goModPath) throw new Error(`go mod download did not report the go.mod of ${SEAWEEDFS_MODULE}`);
    const replaces = replaceDirectives(await readFile(goModPath, 'utf8'));
    await writeFile(
      join(work, 'go.mod'),
      `module imgsvc.local/seaweedfs-build\n\ngo 1.26\n\nrequire ${SEAWEEDFS_MODULE} ${SEAWEEDFS_VERSION}\n\n${replaces}\n`,
    );
    await run(go, ['get', `${SEAWEEDFS_MODULE}/weed@${SEAWEEDFS_VERSION}`], options);
    await mkdir(dirname(target), { recursive: true });
    const built = `${target}.${process.pid}.tmp`;
    await run(go, ['build', '-trimpath', '-o', built, `${SEAWEEDFS_MODULE}/weed`], options);
    await rename(built, target);
    log(`SeaweedFS installed at ${target}`);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** SeaweedFS's `weed`, built first when missing and Go is available; undefined when neither. */
export async function ensureSeaweedFs(
  searchPath: string,
  cacheHome: string | undefined,
  log: (message: string) => void,
): Promise<string | undefined> {
  const found = await findSeaweedFs(searchPath, cacheHome);
  if (found) return found;
  const go = await findGo(searchPath);
  if (!go) return undefined;
  return installSeaweedFs(go, cacheHome, log);
}
