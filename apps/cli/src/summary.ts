import type { Colors } from 'picocolors/types.js';
import type { RequestResult, RequestStatus } from './api-client.js';

/** What the CLI's exit status says about a finished request (README: CLI). */
export const EXIT = {
  /** Every image succeeded. */
  succeeded: 0,
  /** Usage, connection and other errors of the CLI's own. */
  error: 1,
  /** The request finished with failed images. */
  imagesFailed: 2,
  /** The request itself failed. */
  requestFailed: 3,
  /** The upload was refused. */
  refused: 4,
  /** Stopped by Ctrl-C while waiting; the request goes on. */
  interrupted: 130,
} as const;

export function exitCodeOf(status: RequestStatus): number {
  if (status.status === 'failed') return EXIT.requestFailed;
  if (status.status !== 'completed') return EXIT.error;
  return status.counts.images_failed > 0 ? EXIT.imagesFailed : EXIT.succeeded;
}

/** 1234567 → "1.2 MB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** The bytes downloaded and stored over the images whose both sizes are known. */
export function weighResult(result: RequestResult): { inBytes: number; outBytes: number; images: number } {
  let inBytes = 0;
  let outBytes = 0;
  let images = 0;
  for (const image of result.products.flatMap((product) => product.images)) {
    if (image.input_bytes === null || image.output_bytes === null) continue;
    inBytes += image.input_bytes;
    outBytes += image.output_bytes;
    images += 1;
  }
  return { inBytes, outBytes, images };
}

/** The lines printed when a request has finished: what succeeded, what failed and why, what was saved. */
export function summaryLines(
  status: RequestStatus,
  result: RequestResult | undefined,
  colors: Colors,
  savedTo?: string,
): string[] {
  const { counts } = status;
  const lines: string[] = [];
  if (status.status === 'failed') {
    lines.push(
      colors.red(`Request ${status.request_id} failed: ${status.error_message ?? 'no reason given'}`),
    );
  } else {
    const verdict =
      counts.images_failed === 0 ? colors.green('completed') : colors.yellow('completed with failures');
    lines.push(
      `Request ${status.request_id} ${verdict}: ${counts.images_succeeded} of ${counts.images} images succeeded, ${counts.images_failed} failed, in ${counts.products} products`,
    );
  }
  const codes = Object.entries(counts.failures_by_code)
    .filter(([, count]) => count > 0)
    .sort(([, a], [, b]) => b - a);
  if (codes.length > 0) {
    lines.push(`Failed by code: ${codes.map(([code, count]) => `${code} ${count}`).join(', ')}`);
  }
  if (result) {
    const { inBytes, outBytes, images } = weighResult(result);
    if (images > 0) {
      const saving = inBytes > 0 ? Math.round((1 - outBytes / inBytes) * 100) : 0;
      lines.push(
        `Bytes: ${formatBytes(inBytes)} in, ${formatBytes(outBytes)} out, ${saving}% saved (${images} images)`,
      );
    }
  }
  if (savedTo) lines.push(`Result: ${savedTo}`);
  return lines;
}
