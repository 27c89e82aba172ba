import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { cachedToolPath, findCachedTool, findGo } from './go-tools.js';

const run = promisify(execFile);

const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';
const FERRETDB_VERSION = 'v1.24.2';

/**
 * FerretDB's SQLite backend indexes `_id` as `_ferretdb_sjson->"_id"` but looks a document up by
 * `_ferretdb_sjson->'$._id'`: the same value, written differently, so SQLite never matches the lookup to the
 * index and reads the whole collection for every `{_id: …}` find, update and delete (a request's status change
 * took 0.8 s once 10,000 requests were stored). Writing the lookup as the index is written lets SQLite use it;
 * the stored data and its indexes stay as they are. The build's folder names the fix, so a build without it is
 * replaced.
 */
const ID_LOOKUP_FIX = {
  file: join('internal', 'backends', 'sqlite', 'metadata', 'metadata.go'),
  from: `IDColumn = DefaultColumn + "->'$._id'"`,
  to: `IDColumn = DefaultColumn + "->'_id'"`,
} as const;

const ferretDbCachePath = (cacheHome: string | undefined) =>
  cachedToolPath(cacheHome, `ferretdb-${FERRETDB_VERSION}-id-lookup`, 'ferretdb');

/** A FerretDB binary on the PATH or in the cache, without installing anything. */
export function findFerretDb(searchPath: string, cacheHome: string | undefined): Promise<string | undefined> {
  return findCachedTool(ferretDbCachePath(cacheHome), 'ferretdb', searchPath);
}

async function makeWritable(path: string): Promise<void> {
  const info = await stat(path);
  await chmod(path, info.mode | 0o200);
  if (info.isDirectory()) {
    for (const entry of await readdir(path)) await makeWritable(join(path, entry));
  }
}

/** Applies {@link ID_LOOKUP_FIX} to a copy of FerretDB's source; fails if the line is not there as expected. */
async function fixIdLookup(source: string): Promise<void> {
  const path = join(source, ID_LOOKUP_FIX.file);
  const text = await readFile(path, 'utf8');
  if (!text.includes(ID_LOOKUP_FIX.from)) {
    throw new Error(
      `FerretDB ${FERRETDB_VERSION}: ${ID_LOOKUP_FIX.file} does not hold ${ID_LOOKUP_FIX.from}`,
    );
  }
  await writeFile(path, text.replace(ID_LOOKUP_FIX.from, ID_LOOKUP_FIX.to));
}

/**
 * Builds FerretDB 1.24.2 with the Go toolchain into the cache. A plain `go install …@v1.24.2` gives a binary
 * that panics at start, because build/version/version.txt is written by FerretDB's release tooling; so the
 * module's source is fetched with `go mod download`, copied, given that file and the `_id` lookup fix, and
 * built.
 */
async function installFerretDb(
  go: string,
  cacheHome: string | undefined,
  log: (message: string) => void,
): Promise<string> {
  const target = ferretDbCachePath(cacheHome);
  log(`building FerretDB ${FERRETDB_VERSION} with ${go} into ${target} (once per machine; a few minutes)`);
  const work = await mkdtemp(join(tmpdir(), 'ferretdb-build-'));
  try {
    const { stdout } = await run(go, ['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`], {
      cwd: work,
      maxBuffer: 16 * 1024 * 1024,
    });
    const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
    if (!moduleDir) throw new Error(`go mod download did not report the source folder of ${FERRETDB_MODULE}`);
    const source = join(work, 'src');
    await cp(moduleDir, source, { recursive: true });
    await makeWritable(source);
    await writeFile(join(source, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);
    await fixIdLookup(source);
    await mkdir(dirname(target), { recursive: true });
    const built = `${target}.${process.pid}.tmp`;
    await run(go, ['build', '-trimpath', '-o', built, './cmd/ferretdb'], {
      cwd: source,
      maxBuffer: 16 * 1024 * 1024,
    });
    await rename(built, target);
    log(`FerretDB ${FERRETDB_VERSION} installed at ${target}`);
    return target;
  } finally {
    await makeWritable(work).catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

/** The FerretDB binary, built first when missing and Go is available; undefined when neither. */
export async function ensureFerretDb(
  searchPath: string,
  cacheHome: string | undefined,
  log: (message: string) => void,
): Promise<string | undefined> {
  const found = await findFerretDb(searchPath, cacheHome);
  if (found) return found;
  const go = await findGo(searchPath);
  if (!go) return undefined;
  return installFerretDb(go, cacheHome, log);
}
