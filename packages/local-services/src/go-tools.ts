import { homedir } from 'node:os';
import { join } from 'node:path';
import { findExecutable, isExecutable } from './executables.js';

/**
 * Where a tool built with Go is kept: `<cache>/image-service/<folder>/<binary>`, outside the repository and
 * shared by every checkout on the machine. The folder names the version, so another version is built beside it.
 */
export function cachedToolPath(cacheHome: string | undefined, folder: string, binary: string): string {
  return join(cacheHome ?? join(homedir(), '.cache'), 'image-service', folder, binary);
}

/** The tool's cached build, else the same binary on the search path; nothing is installed. */
export async function findCachedTool(
  cached: string,
  binary: string,
  searchPath: string,
): Promise<string | undefined> {
  if (await isExecutable(cached)) return cached;
  return findExecutable(binary, searchPath);
}

/** The Go toolchain: on the search path, or where Go's installer puts it. */
export async function findGo(searchPath: string): Promise<string | undefined> {
  return (
    (await findExecutable('go', searchPath)) ??
    ((await isExecutable('/usr/local/go/bin/go')) ? '/usr/local/go/bin/go' : undefined)
  );
}
