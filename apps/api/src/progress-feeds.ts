import { isFinished } from '@imgsvc/domain';
import type { FastifyBaseLogger } from 'fastify';
import type { ApiContext } from './context.js';
import { statusView } from './request-view.js';

/** What a follower of a request is told: its status when it changes, a sign of life, or that it is over. */
export type FeedMessage =
  | { readonly kind: 'status'; readonly event: string; readonly data: string }
  | { readonly kind: 'heartbeat' }
  /** The request finished (its last status was sent), vanished, or can no longer be read. */
  | { readonly kind: 'end' };

export type FeedListener = (message: FeedMessage) => void;

export interface ProgressFeedOptions {
  readonly intervalMs: number;
  /** A heartbeat goes out when nothing else has for this long, so idle proxies keep the streams open. */
  readonly heartbeatMs: number;
}

interface Feed {
  readonly listeners: Set<FeedListener>;
  last: { readonly event: string; readonly data: string } | undefined;
  lastSentAt: number;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}

/**
 * One poller per followed request in this process, however many streams follow it: the first follower starts
 * it, the last one to leave stops it. Each round reads the request through the request cache and its live
 * counts from Redis once, and hands the status to every follower, so streams cost the databases nothing more
 * than one client polling.
 */
export class ProgressFeeds {
  private readonly feeds = new Map<string, Feed>();

  constructor(
    private readonly context: Pick<ApiContext, 'config' | 'progress' | 'requestCache'>,
    private readonly log: FastifyBaseLogger,
    private readonly options: ProgressFeedOptions,
  ) {}

  /**
   * Follows a request: the listener gets its current status (at once when this process already follows it),
   * then every change, until `end`. Returns the function that stops following.
   */
  follow(requestId: string, listener: FeedListener): () => void {
    let feed = this.feeds.get(requestId);
    if (feed) {
      feed.listeners.add(listener);
      if (feed.last) listener({ kind: 'status', ...feed.last });
    } else {
      const created: Feed = {
        listeners: new Set([listener]),
        last: undefined,
        lastSentAt: Date.now(),
        timer: undefined,
        stopped: false,
      };
      feed = created;
      this.feeds.set(requestId, created);
      void this.poll(requestId, created);
    }
    const followed = feed;
    return () => {
      followed.listeners.delete(listener);
      if (followed.listeners.size === 0) this.stop(requestId, followed);
    };
  }

  private async poll(id: string, feed: Feed): Promise<void> {
    try {
      const request = await this.context.requestCache.find(id);
      if (feed.stopped) return;
      if (!request) {
        this.end(id, feed);
        return;
      }
      const finished = isFinished(request.status);
      // As the status route does, but a Redis hiccup only leaves this round's counts out.
      const live = finished ? undefined : await this.context.progress.readProgress(id).catch(() => undefined);
      if (feed.stopped) return;
      const data = JSON.stringify(statusView(request, this.context.config.publicBaseUrl, live));
      if (data !== feed.last?.data) {
        feed.last = { event: finished ? request.status : 'progress', data };
        this.send(feed, { kind: 'status', ...feed.last });
      } else if (Date.now() - feed.lastSentAt >= this.options.heartbeatMs) {
        this.send(feed, { kind: 'heartbeat' });
      }
      if (finished) {
        this.end(id, feed);
        return;
      }
    } catch (error) {
      this.log.warn({ err: error, request_id: id }, 'progress feed stopped');
      this.end(id, feed);
      return;
    }
    if (!feed.stopped) feed.timer = setTimeout(() => void this.poll(id, feed), this.options.intervalMs);
  }

  private send(feed: Feed, message: FeedMessage): void {
    feed.lastSentAt = Date.now();
    for (const listener of [...feed.listeners]) listener(message);
  }

  private end(id: string, feed: Feed): void {
    this.stop(id, feed);
    for (const listener of [...feed.listeners]) listener({ kind: 'end' });
    feed.listeners.clear();
  }

  private stop(id: string, feed: Feed): void {
    feed.stopped = true;
    clearTimeout(feed.timer);
    if (this.feeds.get(id) === feed) this.feeds.delete(id);
  }
}
