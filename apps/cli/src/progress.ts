import { SingleBar } from 'cli-progress';
import type { Colors } from 'picocolors/types.js';
import type { RequestStatus } from './api-client.js';

/** Shows a request's progress as it changes. */
export interface ProgressView {
  update(status: RequestStatus): void;
  stop(): void;
}

/** Images done per second over the last half minute, from timed samples. */
class ImageRate {
  readonly #samples: { at: number; done: number }[] = [];

  add(done: number, at = Date.now()): void {
    this.#samples.push({ at, done });
    while (this.#samples.length > 2 && at - (this.#samples[0]?.at ?? at) > 30_000) this.#samples.shift();
  }

  perSecond(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (!first || !last || last.at - first.at < 1000) return undefined;
    return (last.done - first.done) / ((last.at - first.at) / 1000);
  }
}

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

function figures(status: RequestStatus, rate: ImageRate) {
  const { counts } = status;
  const done = counts.images_succeeded + counts.images_failed;
  rate.add(done);
  const perSecond = rate.perSecond();
  const left =
    perSecond && perSecond > 0 && done < counts.images
      ? duration((counts.images - done) / perSecond)
      : undefined;
  return { counts, done, perSecond, left };
}

/** A live bar on a terminal: products and images done, images per second, time left. */
function barView(stream: NodeJS.WriteStream, colors: Colors): ProgressView {
  const rate = new ImageRate();
  const bar = new SingleBar({
    stream,
    format: `{bar} {percentage}% | products {products} | images {images}{failed} | {rate} | {left}`,
    barCompleteChar: '█',
    barIncompleteChar: '░',
    hideCursor: true,
    clearOnComplete: false,
    stopOnComplete: false,
    noTTYOutput: false,
  });
  let started = false;
  return {
    update(status) {
      const { counts, done, perSecond, left } = figures(status, rate);
      const payload = {
        products: `${counts.products_done}/${counts.products}`,
        images: `${done}/${counts.images}`,
        failed: counts.images_failed > 0 ? colors.red(` (${counts.images_failed} failed)`) : '',
        rate: perSecond === undefined ? '… images/s' : `${perSecond.toFixed(1)} images/s`,
        left: left ? `about ${left} left` : status.status === 'pending' ? 'waiting to start' : '',
      };
      if (!started) {
        bar.start(Math.max(counts.images, 1), done, payload);
        started = true;
      } else {
        bar.setTotal(Math.max(counts.images, 1));
        bar.update(done, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Plain lines for logs and pipes: one when the figures change, at most one a second, no escape codes. */
function lineView(stream: NodeJS.WritableStream): ProgressView {
  const rate = new ImageRate();
  let last = '';
  let lastAt = 0;
  return {
    update(status) {
      const { counts, done, perSecond, left } = figures(status, rate);
      const line = [
        `${status.status} ${status.completion_percentage}%`,
        `products ${counts.products_done}/${counts.products}`,
        `images ${done}/${counts.images}${counts.images_failed > 0 ? ` (${counts.images_failed} failed)` : ''}`,
        ...(perSecond !== undefined ? [`${perSecond.toFixed(1)} images/s`] : []),
        ...(left ? [`about ${left} left`] : []),
      ].join(', ');
      const key = `${status.status}:${done}`;
      const finished = status.status === 'completed' || status.status === 'failed';
      if (key === last || (!finished && Date.now() - lastAt < 1000)) return;
      last = key;
      lastAt = Date.now();
      stream.write(`${line}\n`);
    },
    stop() {},
  };
}

/** A bar when the stream is a terminal, plain lines otherwise. */
export function progressView(stream: NodeJS.WriteStream, colors: Colors): ProgressView {
  return stream.isTTY ? barView(stream, colors) : lineView(stream);
}
