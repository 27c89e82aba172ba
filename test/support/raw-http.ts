import { connect } from 'node:net';

export interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Whether the server closed the connection on its own. */
  readonly closedByServer: boolean;
}

/**
 * One HTTP/1.1 request written byte for byte on a new socket to 127.0.0.1, so that the request target is
 * exactly what the test wrote (fetch and curl normalise dot segments, encodings and absolute forms). The
 * request asks the server to close the connection, and the answer is read until it does or the deadline.
 */
export async function rawRequest(
  port: number,
  head: { method: string; target: string; headers?: Record<string, string> },
  body: Buffer | string = '',
  timeoutMs = 10_000,
): Promise<RawAnswer> {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const lines = [
    `${head.method} ${head.target} HTTP/1.1`,
    `host: 127.0.0.1:${port}`,
    'connection: close',
    ...Object.entries(head.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
    ...(payload.length > 0 || head.method === 'POST' || head.method === 'PUT'
      ? [`content-length: ${payload.length}`]
      : []),
  ];
  return exchange(port, Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), payload]), timeoutMs);
}

/** Writes bytes to the server and reads what comes back until the server closes the socket (or the deadline). */
export function exchange(port: number, bytes: Buffer, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closedByServer = false;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => {
      closedByServer = true;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) {
        reject(new Error(`no HTTP answer (${chunks.length} chunks, ${text.slice(0, 80)})`));
        return;
      }
      const [statusLine = '', ...headerLines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: text.slice(split + 4),
        closedByServer,
      });
    });
    socket.write(bytes);
  });
}

/** A multipart/form-data body holding one CSV in the field "file". */
export function multipartCsv(csv: string): { body: Buffer; contentType: string } {
  const boundary = 'raw-http-boundary-7MA4YWxkTrZu0gW';
  const body = Buffer.from(
    [
      `--${boundary}`,
      'Content-Disposition: form-data; name="file"; filename="products.csv"',
      'Content-Type: text/csv',
      '',
      csv,
      `--${boundary}--`,
      '',
    ].join('\r\n'),
  );
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}
