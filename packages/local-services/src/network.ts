import { connect, createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** A TCP port nothing listens on right now, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends one line and resolves with the first answer, or undefined when nothing answers in time. */
export function askTcp(
  host: string,
  port: number,
  line: string,
  timeoutMs: number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let answer = '';
    const finish = (value: string | undefined) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => finish(undefined));
    socket.once('error', () => finish(undefined));
    socket.once('connect', () => socket.write(line));
    socket.on('data', (data) => {
      answer += data.toString('latin1');
      if (answer.includes('\n')) finish(answer);
    });
  });
}

export function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (value: boolean) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => finish(true));
  });
}

/** Polls until the check passes or the deadline passes; never a fixed sleep. */
export async function waitUntil(
  check: () => Promise<boolean>,
  deadlineMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (let wait = 25; ; wait = Math.min(wait * 2, 250)) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`${what} did not become ready within ${deadlineMs} ms`);
    await delay(wait);
  }
}
