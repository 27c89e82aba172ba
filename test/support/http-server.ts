import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestHttpServer {
  readonly url: string;
  /** Paths requested so far, in order. */
  readonly hits: string[];
  close(): Promise<void>;
}

/**
 * A real HTTP server on a free loopback port, for images and webhook receivers. `host` is another loopback
 * address (127.0.0.2) when a test lets the fetch guard open that one address and keeps 127.0.0.1 refused.
 */
export async function startHttpServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void | Promise<void>,
  host = '127.0.0.1',
): Promise<TestHttpServer> {
  const hits: string[] = [];
  const server = createServer((request, response) => {
    hits.push(request.url ?? '');
    Promise.resolve(handler(request, response)).catch(() => {
      response.statusCode = 500;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves fixed bodies by path; anything else is a 404. */
export function serveFiles(files: ReadonlyMap<string, { body: Buffer; type: string }>) {
  return (request: IncomingMessage, response: ServerResponse) => {
    const file = files.get(new URL(request.url ?? '/', 'http://x').pathname);
    if (!file) {
      response.statusCode = 404;
      response.end('not found');
      return;
    }
    response.setHeader('content-type', file.type);
    response.setHeader('content-length', file.body.length);
    response.end(file.body);
  };
}

/** Requests a test holds unanswered, to see what happens while they wait, and then lets go. */
export interface HeldRequests {
  /** How many are waiting now. */
  readonly count: number;
  release(): void;
}

/**
 * Serves fixed bodies like serveFiles, but a path under /slow/ is held until `release()`, then answered with
 * the same file under /photos/.
 */
export function serveFilesHolding(files: ReadonlyMap<string, { body: Buffer; type: string }>) {
  const waiting: (() => void)[] = [];
  const serve = serveFiles(files);
  const held: HeldRequests = {
    get count() {
      return waiting.length;
    },
    release() {
      for (const answer of waiting.splice(0)) answer();
    },
  };
  const handler = async (request: IncomingMessage, response: ServerResponse) => {
    if (request.url?.startsWith('/slow/')) {
      await new Promise<void>((resolve) => waiting.push(resolve));
      request.url = request.url.replace('/slow/', '/photos/');
    }
    serve(request, response);
  };
  return { handler, held };
}

export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
