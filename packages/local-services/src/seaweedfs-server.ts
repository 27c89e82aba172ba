import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startProcess } from './managed-process.js';
import { freePort, waitUntil } from './network.js';

/** An S3-compatible server started here, and how to reach it. */
export interface LocalObjectStore {
  /** The S3 endpoint, such as http://127.0.0.1:41234. */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly description: string;
  /** Where its data is: a restart on the same folder and port finds every object again. */
  readonly dataDir: string;
  /** Every port it listens on, by its flag (`s3.port`, `master.port`…): a restart passes them back. */
  readonly ports: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

export interface SeaweedFsOptions {
  /**
   * Its ports, by flag; free ones unless given. A restart on the same folder passes the first start's: the
   * master remembers where its volume server was.
   */
  readonly ports?: Readonly<Record<string, number>>;
  /** Credentials the server requires; made up when not given. */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
}

/**
 * Every port `weed mini` opens. Each gets a free port, so that two servers (or a developer's own) never meet on
 * SeaweedFS's usual ports.
 */
const PORT_FLAGS = [
  's3.port',
  'master.port',
  'master.port.grpc',
  'volume.port',
  'volume.port.grpc',
  'filer.port',
  'filer.port.grpc',
  's3.port.grpc',
  'webdav.port',
  'admin.port',
  'admin.port.grpc',
] as const;

/** Whether the S3 port answers HTTP at all (anonymous requests are refused once it is up, which is an answer). */
async function s3Answers(endpoint: string): Promise<boolean> {
  try {
    const answer = await fetch(endpoint, { signal: AbortSignal.timeout(1000) });
    await answer.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

/**
 * SeaweedFS's all-in-one server (`weed mini`: master, volume, filer and S3 gateway in one process), bound to
 * 127.0.0.1 with its data in dataDir and credentials from its environment. Ready once the S3 port answers;
 * a bucket may need a few more moments (the caller creates it, retrying).
 */
export async function startSeaweedFs(
  binary: string,
  dataDir: string,
  options: SeaweedFsOptions = {},
): Promise<LocalObjectStore> {
  await mkdir(join(dataDir, 'data'), { recursive: true });
  const accessKeyId = options.accessKeyId ?? `imgsvc${randomBytes(6).toString('hex')}`;
  const secretAccessKey = options.secretAccessKey ?? randomBytes(24).toString('hex');
  const ports: Record<string, number> = {};
  for (const flag of PORT_FLAGS) ports[flag] = options.ports?.[flag] ?? (await freePort());
  const args = [
    'mini',
    // Servers it would open on fixed ports by default, which nothing here uses.
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-admin.port.legacy=0',
    `-dir=${join(dataDir, 'data')}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    ...Object.entries(ports).map(([flag, port]) => `-${flag}=${port}`),
  ];
  const server = startProcess(binary, args, join(dataDir, 'seaweedfs.log'), {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
  });
  const endpoint = `http://127.0.0.1:${ports['s3.port']}`;
  try {
    await waitUntil(
      async () => {
        if (server.exited()) throw new Error(`SeaweedFS exited:\n${await server.logTail()}`);
        return s3Answers(endpoint);
      },
      60_000,
      'SeaweedFS',
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    endpoint,
    region: 'us-east-1',
    accessKeyId,
    secretAccessKey,
    dataDir,
    ports,
    description: `SeaweedFS ${binary} with S3 at ${endpoint} (data in ${dataDir}, pid ${server.child.pid})`,
    stop: () => server.stop(10_000),
  };
}
