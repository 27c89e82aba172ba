import { createWriteStream, openAsBlob } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** One of the service's RFC 9457 problems, as its answers carry them. */
export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly detail?: string;
  readonly code?: string;
  readonly errors?: readonly { line?: number; column?: string; field?: string; message: string }[];
  readonly total_errors?: number;
  readonly [member: string]: unknown;
}

/** The service answered, but not with what was asked: its problem says why. */
export class ServiceRefusal extends Error {
  override name = 'ServiceRefusal';
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail ?? problem.title ?? `the service answered ${status}`);
  }
}

/** The service could not be reached at all (refused, reset, unknown host, timed out). */
export class ConnectionFailure extends Error {
  override name = 'ConnectionFailure';
}

export interface RequestCounts {
  readonly products: number;
  readonly products_done: number;
  readonly images: number;
  readonly images_succeeded: number;
  readonly images_failed: number;
  readonly failures_by_code: Readonly<Record<string, number>>;
}

export type RequestState = 'pending' | 'in_progress' | 'completed' | 'failed';

export interface RequestStatus {
  readonly request_id: string;
  readonly status: RequestState;
  readonly completion_percentage: number;
  readonly counts: RequestCounts;
  readonly error_message?: string;
  readonly status_url: string;
  readonly download_url: string;
  readonly [member: string]: unknown;
}

export interface Accepted {
  readonly request_id: string;
  readonly status: RequestState;
  readonly status_url: string;
  readonly download_url: string;
  readonly warnings?: readonly { line: number; message: string }[];
  readonly [member: string]: unknown;
}

export interface ResultImage {
  readonly input_url: string;
  readonly output_url: string | null;
  readonly input_bytes: number | null;
  readonly output_bytes: number | null;
  readonly error: { code: string; message: string } | null;
}

export interface RequestResult {
  readonly request_id: string;
  readonly status: RequestState;
  readonly counts: RequestCounts;
  readonly products: readonly { row: number; product_name: string; images: readonly ResultImage[] }[];
}

export const FINISHED: readonly RequestState[] = ['completed', 'failed'];

/** The service's HTTP API, as the CLI uses it: every answer checked, every refusal a ServiceRefusal. */
export class ApiClient {
  readonly #base: string;
  readonly #key: string | undefined;

  constructor(baseUrl: string, key: string | undefined) {
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#key = key;
  }

  /** A path of the service as an absolute URL. */
  url(path: string): string {
    return `${this.#base}${path}`;
  }

  async send(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#key) headers.set('authorization', `Bearer ${this.#key}`);
    let answer: Response;
    try {
      answer = await fetch(this.url(path), { ...init, headers });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ConnectionFailure(
        `cannot reach ${this.#base}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      );
    }
    if (answer.ok) return answer;
    throw new ServiceRefusal(answer.status, await problemOf(answer));
  }

  async upload(
    file: string,
    options: { webhookUrl?: string; idempotencyKey?: string },
  ): Promise<{ accepted: Accepted; replayed: boolean }> {
    const form = new FormData();
    form.append('file', await openAsBlob(file, { type: 'text/csv' }), basename(file));
    if (options.webhookUrl) form.append('webhook_url', options.webhookUrl);
    const headers: Record<string, string> = {};
    if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
    const answer = await this.send('/api/upload', { method: 'POST', body: form, headers });
    return {
      accepted: (await answer.json()) as Accepted,
      replayed: answer.headers.get('idempotent-replayed') === 'true',
    };
  }

  async status(id: string, signal?: AbortSignal): Promise<RequestStatus> {
    return (await (
      await this.send(`/api/status/${encodeURIComponent(id)}`, { signal })
    ).json()) as RequestStatus;
  }

  async retry(id: string, webhookUrl?: string): Promise<Accepted> {
    const answer = await this.send(`/api/requests/${encodeURIComponent(id)}/retry`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(webhookUrl ? { webhook_url: webhookUrl } : {}),
    });
    return (await answer.json()) as Accepted;
  }

  async result(id: string): Promise<RequestResult> {
    const answer = await this.send(`/api/download/${encodeURIComponent(id)}?format=json`);
    return (await answer.json()) as RequestResult;
  }

  /**
   * Saves a finished request's result to a file: written beside it and renamed once whole, so a file that is
   * there is complete. Returns the bytes written.
   */
  async download(id: string, format: 'csv' | 'json', path: string): Promise<number> {
    const answer = await this.send(`/api/download/${encodeURIComponent(id)}?format=${format}`);
    if (!answer.body) throw new ConnectionFailure('the result came without a body');
    const partial = `${path}.part`;
    const file = createWriteStream(partial);
    try {
      await pipeline(Readable.fromWeb(answer.body as import('node:stream/web').ReadableStream), file);
      await rename(partial, path);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return file.bytesWritten;
  }
}

async function problemOf(answer: Response): Promise<Problem> {
  const text = await answer.text().catch(() => '');
  try {
    const body = JSON.parse(text) as Problem;
    if (body && typeof body === 'object') return { status: answer.status, ...body };
  } catch {
    // Not JSON: a proxy's page, most likely.
  }
  return { status: answer.status, title: `HTTP ${answer.status}`, detail: text.slice(0, 200) || undefined };
}
