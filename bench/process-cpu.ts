import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime, and the reaped children's cutime + cstime, in ticks. */
  readonly ticks: number;
}

async function readStat(pid: number): Promise<ProcStat | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const number = (index: number) => Number(fields[index - 3] ?? 0);
    return { pid, ppid: number(4), ticks: number(14) + number(15) + number(16) + number(17) };
  } catch {
    return undefined;
  }
}

async function allStats(): Promise<ProcStat[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  return (await Promise.all(pids.map(readStat))).filter((stat): stat is ProcStat => stat !== undefined);
}

/**
 * CPU seconds used so far by these processes and all their descendants (a Celery worker's pool, a program's
 * threads are in its own figure). Children that exited and were reaped are in their parent's figure; the
 * difference of two readings is the CPU spent between them.
 */
export async function cpuSecondsOf(roots: readonly (number | undefined)[]): Promise<number> {
  const stats = await allStats();
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const byPid = new Map(stats.map((stat) => [stat.pid, stat]));
  const seen = new Set<number>();
  let ticks = 0;
  const visit = (pid: number) => {
    if (seen.has(pid)) return;
    seen.add(pid);
    ticks += byPid.get(pid)?.ticks ?? 0;
    for (const child of children.get(pid) ?? []) visit(child.pid);
  };
  for (const root of roots) if (root !== undefined) visit(root);
  return ticks / TICKS_PER_SECOND;
}
