import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

export interface HoldingProxy {
  /** Where clients connect instead of the target. */
  readonly url: string;
  /** The path of the first PUT held halfway, once one is (its body partly forwarded, the rest kept back). */
  held(): { path: string; forwardedBodyBytes: number } | undefined;
  /** Whether the held PUT's connection to the server has been closed (its client went away). */
  heldConnectionClosed(): boolean;
  close(): Promise<void>;
}

const HEADERS_END = Buffer.from('\r\n\r\n');

/** How many bytes at the end of the data may be the start of a 'PUT /' that the next chunk completes. */
function startOfPut(data: Buffer): number {
  for (let length = Math.min(4, data.length); length > 0; length -= 1) {
    if (data.subarray(data.length - length).toString('latin1') === 'PUT /'.slice(0, length)) return length;
  }
  return 0;
}

/**
 * A TCP proxy on 127.0.0.1 in front of an HTTP server that forwards everything until it meets a PUT, forwards
 * that request's headers and `bodyBytes` of its body, and then holds the rest: the writer is caught in the
 * middle of an upload. When the client's side closes (a writer killed), the server's side is closed too, as
 * the kernel would do for the dead process, so the server sees an upload cut short.
 */
export async function startHoldingProxy(targetPort: number, bodyBytes: number): Promise<HoldingProxy> {
  let heldPut: { path: string; forwardedBodyBytes: number } | undefined;
  let heldClosed = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    let pending = Buffer.alloc(0);
    let stopped = false;
    client.on('data', (chunk: Buffer) => {
      if (stopped) return;
      if (heldPut) {
        upstream.write(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      const put = pending.indexOf('PUT /');
      const headersEnd = put < 0 ? -1 : pending.indexOf(HEADERS_END, put);
      if (headersEnd < 0) {
        // Nothing to hold yet: forward all but what may begin a PUT (the PUT itself, or a tail of 'PUT ').
        const keep = put < 0 ? startOfPut(pending) : pending.length - put;
        upstream.write(pending.subarray(0, pending.length - keep));
        pending = pending.subarray(pending.length - keep);
        return;
      }
      const cut = headersEnd + HEADERS_END.length + bodyBytes;
      if (pending.length < cut) return;
      upstream.write(pending.subarray(0, cut));
      const requestLine = pending.subarray(put, pending.indexOf('\r\n', put)).toString('latin1');
      heldPut = { path: requestLine.split(' ')[1] ?? '', forwardedBodyBytes: bodyBytes };
      stopped = true;
      upstream.once('close', () => {
        heldClosed = true;
      });
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    held: () => heldPut,
    heldConnectionClosed: () => heldClosed,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
