import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
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

/**
 * Starts a server program with its output in a log file. It inherits our environment, or, when one is passed,
 * has only that one (a server given credentials sees nothing else of ours).
 */
export function startProcess(
  command: string,
  args: readonly string[],
  logFile: string,
  environment?: Readonly<Record<string, string>>,
): ManagedProcess {
  // The server writes its output straight into the log file, not through a pipe to us: a server this process
  // leaves behind (killed with SIGKILL) must not die of a broken pipe at its next line, so the next start can
  // reuse it.
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // Its own process group: a Ctrl-C in the terminal reaches only us, and we stop it after the programs that use it.
    child = spawn(command, args, {
      stdio: ['ignore', log, log],
      detached: true,
      ...(environment ? { env: { ...environment } } : {}),
    });
  } finally {
    closeSync(log);
  }
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
