import { existsSync } from 'node:fs';
import { request } from 'node:http';

/** Where a Docker engine would answer: DOCKER_HOST, or the usual socket. */
function dockerEndpoint(
  dockerHost: string | undefined,
): { socketPath: string } | { host: string; port: number } | undefined {
  if (dockerHost?.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  if (dockerHost?.startsWith('tcp://')) {
    const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    return { host: url.hostname, port: Number(url.port || 2375) };
  }
  if (dockerHost) return undefined;
  return existsSync('/var/run/docker.sock') ? { socketPath: '/var/run/docker.sock' } : undefined;
}

/** True when a Docker engine answers /_ping within the timeout. Never hangs when there is none. */
export function dockerEngineAnswers(dockerHost: string | undefined, timeoutMs = 1500): Promise<boolean> {
  const endpoint = dockerEndpoint(dockerHost);
  if (!endpoint) return Promise.resolve(false);
  return new Promise((resolve) => {
    const probe = request({ ...endpoint, path: '/_ping', method: 'GET', timeout: timeoutMs }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    probe.once('timeout', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', () => resolve(false));
    probe.end();
  });
}

export interface ContainerServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts a throwaway container through testcontainers (loaded only when an engine answers). */
export async function startContainer(
  image: string,
  port: number,
  scheme: string,
  command: readonly string[] = [],
): Promise<ContainerServer> {
  // A development dependency: production images never start local servers, so they do not carry it.
  let testcontainers: typeof import('testcontainers');
  try {
    testcontainers = await import('testcontainers');
  } catch {
    throw new Error('a Docker engine answers, but testcontainers is not installed: run `npm install` first');
  }
  const { GenericContainer, Wait } = testcontainers;
  let definition = new GenericContainer(image).withExposedPorts(port);
  if (command.length > 0) definition = definition.withCommand([...command]);
  const container = await definition.withWaitStrategy(Wait.forListeningPorts()).start();
  return {
    url: `${scheme}://${container.getHost()}:${container.getMappedPort(port)}`,
    async stop() {
      await container.stop();
    },
  };
}
