import { setTimeout as delay } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { type ApiClient, FINISHED, type RequestStatus, ServiceRefusal } from './api-client.js';

/** How often the status is asked once the live stream cannot be used. */
const POLL_INTERVAL_MS = 1000;
/** Streams that fail (refused, cut) before the follower settles for polling. */
const STREAM_ATTEMPTS = 3;

type StreamEnd = 'finished' | 'reconnect' | 'closed';

/** Reads the request's server-sent events until it finishes, the server asks for a reconnection, or it ends. */
async function readEvents(
  client: ApiClient,
  id: string,
  onStatus: (status: RequestStatus) => void,
  signal: AbortSignal,
): Promise<StreamEnd> {
  const answer = await client.send(`/api/status/${encodeURIComponent(id)}/events`, {
    headers: { accept: 'text/event-stream' },
    signal,
  });
  if (!answer.body) return 'closed';
  // Set by the parser's callback as events arrive.
  const stream: { end: StreamEnd } = { end: 'closed' };
  const parser = createParser({
    onEvent(message) {
      if (message.event === 'reconnect') stream.end = 'reconnect';
      if (message.event !== 'progress' && message.event !== 'completed' && message.event !== 'failed') return;
      onStatus(JSON.parse(message.data) as RequestStatus);
      if (message.event !== 'progress') stream.end = 'finished';
    },
  });
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (stream.end !== 'finished') {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return stream.end;
}

/**
 * Follows a request until it finishes: through its live stream (server-sent events), reconnecting when the
 * server asks, and by polling its status when streams are refused or keep breaking. Every status seen is
 * passed on; the finished status is returned. A missing request or a refused key is thrown at once.
 */
export async function followRequest(
  client: ApiClient,
  id: string,
  onStatus: (status: RequestStatus) => void,
  signal: AbortSignal,
): Promise<RequestStatus> {
  let status = await client.status(id, signal);
  onStatus(status);
  let streamFailures = 0;
  while (!FINISHED.includes(status.status)) {
    if (streamFailures < STREAM_ATTEMPTS) {
      try {
        const end = await readEvents(
          client,
          id,
          (next) => {
            status = next;
            onStatus(next);
          },
          signal,
        );
        if (end === 'finished') break;
        if (end === 'closed') streamFailures += 1;
        continue;
      } catch (error) {
        if (signal.aborted) throw error;
        if (error instanceof ServiceRefusal && error.status !== 429 && error.status < 500) throw error;
        streamFailures += 1;
      }
    }
    await delay(POLL_INTERVAL_MS, undefined, { signal });
    status = await client.status(id, signal);
    onStatus(status);
  }
  // The events carry the status as it was; the request's own answer has the final counts.
  const finished = await client.status(id, signal);
  onStatus(finished);
  return finished;
}
