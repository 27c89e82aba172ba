import sharp from 'sharp';

/** How libvips runs in this process: set once, before the first image, by the program that encodes. */
export interface EncoderSettings {
  /** libvips threads per image. A process that runs one encode per core gains nothing from more than one. */
  readonly concurrency: number;
  /** Whether libvips keeps its operation cache: worth it only when the same images are processed again. */
  readonly cache: boolean;
}

/** Applies the settings to libvips, process-wide. */
export function configureEncoder({ concurrency, cache }: EncoderSettings): void {
  sharp.concurrency(concurrency);
  sharp.cache(cache);
}
