import { execFile } from 'node:child_process';
import { open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

/**
 * A server's record in its data folder (`<dataDir>/server.pid`), as PostgreSQL's postmaster.pid: which process
 * serves the folder, on which port, and which process started or adopted it. Written with O_EXCL before the
 * server starts, so two starts on one folder cannot both go ahead; removed when its owner stops the server.
 */
export interface ServerRecord {
  readonly server: string;
  /** Absent while the owner is still starting the server. */
  readonly pid?: number;
  readonly port?: number;
  readonly binary: string;
  readonly data_dir: string;
  readonly started_at?: string;
  readonly owner_pid: number;
  /** The owner's start time in clock ticks since boot (Linux), so that a recycled owner pid is seen as dead. */
  readonly owner_started?: number;
}

/** What a start with a persistent data folder needs to own that folder. */
export interface DataFolderOwner {
  readonly log: (message: string) => void;
}

export interface OwnedServerSpec {
  /** The program's name as it appears first on its command line: redis-server, ferretdb, mongod. */
  readonly server: string;
  readonly binary: string;
  readonly dataDir: string;
  /** Consecutive command-line arguments that name this data folder (e.g. `--dir <folder>`). */
  readonly marker: readonly string[];
  readonly answers: (port: number) => Promise<boolean>;
  readonly log: (message: string) => void;
}

export interface AdoptedServer {
  readonly pid: number;
  readonly port: number;
}

export const recordFile = (dataDir: string): string => join(dataDir, 'server.pid');

const run = promisify(execFile);

/** A process's arguments; undefined when it is gone, a zombie, or not ours to read. */
export async function commandLine(pid: number): Promise<string[] | undefined> {
  if (process.platform === 'linux') {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return undefined;
      const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      const argv = raw.split('\0');
      if (argv.at(-1) === '') argv.pop();
      return argv.length ? argv : undefined;
    } catch {
      return undefined;
    }
  }
  try {
    const { stdout } = await run('ps', ['-p', String(pid), '-o', 'command=']);
    const line = stdout.trim();
    return line ? line.split(/\s+/) : undefined;
  } catch {
    return undefined;
  }
}

/** Clock ticks between boot and the process's start (Linux); undefined elsewhere or when it is gone. */
async function startTime(pid: number | 'self'): Promise<number | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** Whether this command line is that server program on that data folder. */
export function servesFolder(argv: readonly string[], server: string, marker: readonly string[]): boolean {
  if (!argv[0] || basename(argv[0]) !== server) return false;
  for (let i = 0; i + marker.length <= argv.length; i++) {
    if (marker.every((part, j) => argv[i + j] === part)) return true;
  }
  return false;
}

async function alive(pid: number): Promise<boolean> {
  if (process.platform === 'linux') return (await commandLine(pid)) !== undefined;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ownerAlive(record: ServerRecord): Promise<boolean> {
  if (record.owner_pid <= 0 || record.owner_pid === process.pid) return false;
  if (!(await alive(record.owner_pid))) return false;
  if (record.owner_started === undefined) return true;
  return (await startTime(record.owner_pid)) === record.owner_started;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    // The servers are started as leaders of their own process group; their helpers (a Redis rewriting its
    // append-only file) go with them.
    process.kill(-pid, name);
  } catch {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM to the server's process group, SIGKILL after the grace period; resolves once it is gone. */
export async function stopServerProcess(pid: number, graceMs = 10_000): Promise<void> {
  const gone = async (deadlineMs: number) => {
    const end = Date.now() + deadlineMs;
    for (let wait = 25; ; wait = Math.min(wait * 2, 250)) {
      if (!(await alive(pid))) return true;
      if (Date.now() > end) return false;
      await delay(wait);
    }
  };
  signal(pid, 'SIGTERM');
  if (await gone(graceMs)) return;
  signal(pid, 'SIGKILL');
  if (!(await gone(5000))) throw new Error(`process ${pid} is still there after SIGKILL`);
}

/** Processes (other than those excepted) running that server program on that data folder; Linux only. */
export async function serversOnFolder(
  server: string,
  marker: readonly string[],
  except: readonly number[] = [],
): Promise<number[]> {
  if (process.platform !== 'linux') return [];
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (except.includes(pid)) continue;
    const argv = await commandLine(pid);
    if (argv && servesFolder(argv, server, marker)) found.push(pid);
  }
  return found;
}

async function readRecord(dataDir: string): Promise<ServerRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordFile(dataDir), 'utf8')) as ServerRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Unreadable (cut short by a crash while written): as good as absent; the scan below finds its server.
    return { server: '', binary: '', data_dir: dataDir, owner_pid: 0 };
  }
}

async function ownerFields(): Promise<Pick<ServerRecord, 'owner_pid' | 'owner_started'>> {
  const started = await startTime('self');
  return { owner_pid: process.pid, ...(started === undefined ? {} : { owner_started: started }) };
}

/** Replaces the record in one step (written beside it, then renamed over it). */
async function replaceRecord(dataDir: string, record: ServerRecord): Promise<void> {
  const temporary = `${recordFile(dataDir)}.${process.pid}`;
  await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`);
  await rename(temporary, recordFile(dataDir));
}

/**
 * Makes this process the owner of a server's data folder before a server is started on it. A record left by
 * a process that died is dealt with first: its server is reused when it is that program on this folder, from
 * the same binary, and answers on its port; stopped when it is that program but does not answer (or is another
 * build); left alone when the pid now belongs to another program. Servers on the folder that no record names
 * (left by a start killed before it wrote one) are stopped. Throws when a live process owns the folder.
 * Resolves with the server to reuse, or undefined when a new one is to be started (then call recordServer).
 */
export async function claimDataFolder(spec: OwnedServerSpec): Promise<AdoptedServer | undefined> {
  const { server, dataDir, log } = spec;
  const previous = await readRecord(dataDir);
  let adopted: AdoptedServer | undefined;
  if (previous) {
    if (await ownerAlive(previous)) {
      throw new Error(
        `${dataDir} is in use: its ${server} belongs to process ${previous.owner_pid}, which is running. Stop that process first, or give MONGO_URL and REDIS_URL.`,
      );
    }
    const left = `left by process ${previous.owner_pid}, which died`;
    const argv = previous.pid === undefined ? undefined : await commandLine(previous.pid);
    if (previous.pid === undefined || argv === undefined) {
      if (previous.pid !== undefined)
        log(`removing the stale record of ${server} pid ${previous.pid}: that process is gone`);
    } else if (!servesFolder(argv, server, spec.marker)) {
      log(
        `removing the stale record of ${server} pid ${previous.pid}: that pid is now another program (${basename(argv[0] ?? '?')}), left alone`,
      );
    } else if (
      argv[0] === spec.binary &&
      previous.port !== undefined &&
      (await spec.answers(previous.port))
    ) {
      log(`reusing ${server} pid ${previous.pid} on port ${previous.port} ${left}`);
      adopted = { pid: previous.pid, port: previous.port };
    } else {
      const why = argv[0] === spec.binary ? 'it does not answer' : `it runs ${argv[0]}, not ${spec.binary}`;
      log(`stopping ${server} pid ${previous.pid} ${left}: ${why}`);
      await stopServerProcess(previous.pid);
    }
  }
  for (const pid of await serversOnFolder(server, spec.marker, adopted ? [adopted.pid] : [])) {
    log(`stopping ${server} pid ${pid} on ${dataDir}, which no record names (left by an earlier start)`);
    await stopServerProcess(pid);
  }
  const owner = await ownerFields();
  if (adopted) {
    await replaceRecord(dataDir, {
      ...(previous as ServerRecord),
      ...owner,
    });
    return adopted;
  }
  // Only a record read above is removed: with none, a record there now is a concurrent start's.
  if (previous) await rm(recordFile(dataDir), { force: true });
  // O_EXCL: of two starts racing on one folder, only one goes ahead.
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(recordFile(dataDir), 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Error(`${dataDir} is in use: another process is starting ${server} on it right now`);
    }
    throw error;
  }
  try {
    const record: ServerRecord = { server, binary: spec.binary, data_dir: dataDir, ...owner };
    await file.writeFile(`${JSON.stringify(record, null, 2)}\n`);
  } finally {
    await file.close();
  }
  return undefined;
}

/** Records the server this process started on a folder it claimed. */
export async function recordServer(spec: OwnedServerSpec, pid: number, port: number): Promise<void> {
  await replaceRecord(spec.dataDir, {
    server: spec.server,
    pid,
    port,
    binary: spec.binary,
    data_dir: spec.dataDir,
    started_at: new Date().toISOString(),
    ...(await ownerFields()),
  });
}

/** Removes the record when this process owns it (never another owner's). */
export async function releaseDataFolder(dataDir: string): Promise<void> {
  const record = await readRecord(dataDir);
  if (record?.owner_pid === process.pid) await rm(recordFile(dataDir), { force: true });
}
