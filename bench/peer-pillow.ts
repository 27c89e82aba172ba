import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ENCODER_SETTINGS } from '@imgsvc/imaging';
import type { BenchImage } from './image-set.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

export interface PillowResult {
  readonly mode: 'defaults' | 'matched';
  readonly images: number;
  readonly processes: number;
  readonly images_per_second: number;
  readonly average_output_bytes: number;
  readonly pillow: string;
  /** The service's settings given to Pillow in the matched mode (null with its defaults). */
  readonly settings: PillowSettings | null;
  /** Pillow's codec libraries (sharp's are other builds: see sharp.versions). */
  readonly libraries: Readonly<Record<string, string | null>>;
}

export interface PillowSettings {
  readonly webp_method: number;
  readonly png_compress_level: number;
}

/** What Pillow can take of the service's encoder settings (see pillow_reencode.py for what it cannot). */
export const MATCHED_SETTINGS: PillowSettings = {
  webp_method: ENCODER_SETTINGS.webp.effort,
  png_compress_level: ENCODER_SETTINGS.png.compressionLevel,
};

/** Debian's Pillow (python3-pil), installed here if it is missing and apt-get can; undefined when it cannot be had. */
export async function ensurePillow(log: (message: string) => void): Promise<string | undefined> {
  const check = async () => {
    try {
      const { stdout } = await run(PYTHON, ['-c', 'import PIL; print(PIL.__version__)']);
      return stdout.trim();
    } catch {
      return undefined;
    }
  };
  const found = await check();
  if (found) return found;
  log('Pillow is missing: installing Debian python3-pil');
  try {
    await run('apt-get', ['install', '-y', '-qq', 'python3-pil'], {
      env: { DEBIAN_FRONTEND: 'noninteractive', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
  } catch (error) {
    log(`could not install python3-pil: ${(error as Error).message.split('\n')[0]}`);
    return undefined;
  }
  return check();
}

/**
 * The peer: Pillow re-encoding the same images at quality 50 with as many processes as cores, with its defaults
 * or with the service's settings where Pillow has them; the best of `rounds` passes after a warm-up.
 */
export async function measurePillow(
  images: readonly BenchImage[],
  quality: number,
  mode: 'defaults' | 'matched',
  rounds = 3,
): Promise<PillowResult> {
  const folder = await mkdtemp(join(tmpdir(), 'image-service-pillow-'));
  try {
    await Promise.all(images.map((image) => writeFile(join(folder, image.name), image.bytes)));
    const script = join(import.meta.dirname, 'pillow_reencode.py');
    const { stdout } = await run(
      PYTHON,
      [
        script,
        folder,
        mode,
        String(quality),
        String(availableParallelism()),
        String(rounds),
        JSON.stringify(MATCHED_SETTINGS),
      ],
      {
        maxBuffer: 1024 * 1024,
      },
    );
    return { mode, ...(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Omit<PillowResult, 'mode'>) };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
