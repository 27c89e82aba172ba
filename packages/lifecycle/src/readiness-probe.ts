import type { Config } from '@imgsvc/config';

/** The address a program's own readiness answers on, as seen from inside its container or host. */
export function readinessUrl(program: 'api' | 'worker', config: Config): string {
  const host = program === 'api' ? config.host : config.workerMetricsHost;
  const port = program === 'api' ? config.port : config.workerMetricsPort;
  // A wildcard listen address is reached through loopback.
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}/health/ready`;
}

/**
 * Asks a program whether it is ready (the images' HEALTHCHECK and compose's healthchecks run this): undefined
 * when it answers 200 within the deadline, otherwise the reason in one line.
 */
export async function probeReadiness(url: string, timeoutMs = 4000): Promise<string | undefined> {
  try {
    const answer = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await answer.text();
    return answer.ok ? undefined : `${url} answered ${answer.status}: ${body.slice(0, 500)}`;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return `${url} did not answer: ${cause ?? (error instanceof Error ? error.message : String(error))}`;
  }
}
