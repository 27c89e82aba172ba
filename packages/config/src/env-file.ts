import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

/**
 * Reads an env file (`.env` by default) into the environment when it exists, as `npm start` does: a variable
 * already set in the environment, even empty, wins over the file. Returns the file's absolute path when it
 * was read, undefined when there is none; a file that cannot be read is an error of its own.
 */
export function loadEnvFile(path = '.env', environment: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (environment[name] === undefined) environment[name] = value;
  }
  return file;
}
