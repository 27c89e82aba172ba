import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

export interface ManagedProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Whether it has exited (it should not, until stop()). */
  exited(): boolean;
  /** SIGTERM, then SIGKILL if it is still there after the grace period. */
  stop(graceMs?: number): Promise<void>;
  logTail(lines?: number): Promise<string>;
}

/** Starts a server program with its output in a log file; its environment is only what is passed. */
export function startProcess(command: string, args: readonly string[], logFile: string): ManagedProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  // Its own process group: a Ctrl-C in the terminal reaches only us, and we stop it after the programs that use it.
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let hasExited = false;
  const exit = once(child, 'exit').then(() => {
    hasExited = true;
  });
  child.once('error', () => {
    hasExited = true;
  });
  return {
    child,
    logFile,
    exited: () => hasExited,
    async stop(graceMs = 5000) {
      if (!hasExited) {
        child.kill('SIGTERM');
        const stopped = await Promise.race([exit.then(() => true), delay(graceMs, false, { ref: false })]);
        if (!stopped) {
          child.kill('SIGKILL');
          await exit;
        }
      }
      log.end();
    },
    async logTail(lines = 20) {
      try {
        return (await readFile(logFile, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
  };
}
