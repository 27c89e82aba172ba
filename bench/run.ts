/**
 * `npm run bench`: the pipeline against its limit (sharp alone) and the seed's stack (Pillow), plus ingestion,
 * status load, repeats, scale-out and recovery, all measured in one run on servers it starts itself.
 * `BENCH_QUICK=1` runs a short version with the same keys. Prints a table, writes bench/results/<date>.json
 * (<date>-quick.json for a short run) with every figure, the commit measured and the libraries' versions, and
 * ends with one JSON line. `BENCH_BASELINE=<another checkout>` also measures that checkout's pipeline (one
 * worker) in the same rounds, for a before/after ratio that the machine's drift does not blur.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readBenchSettings, readMachineEnvironment } from '@imgsvc/config';
import {
  ensureSeaweedFs,
  type LocalObjectStore,
  startLocalServices,
  startSeaweedFs,
} from '@imgsvc/local-services';
import sharp from 'sharp';
import { bucketEnvironment, bucketSettings, createBucket, emptyBucket } from '../test/support/buckets.js';
import { measureCostBySize } from './cost-by-size.js';
import { measureFairness } from './fairness.js';
import { measureFetchOverhead } from './fetching.js';
import { measureFormatSavings } from './formats.js';
import { type BenchBucket, faster } from './harness.js';
import { benchImageSet } from './image-set.js';
import { measureIngestion } from './ingest.js';
import { type LimitResult, measureSharpLimit } from './limit.js';
import { ensurePillow, MATCHED_SETTINGS, measurePillow, type PillowResult } from './peer-pillow.js';
import { ensureSeedStack } from './peer-seed-stack.js';
import { compareWithSeedStack, type SeedComparison } from './seed-comparison.js';
import { measureSmallRequests } from './small-requests.js';
import { measureStatusLoad } from './status-load.js';
import { measureUploadMemory } from './upload-memory.js';
import {
  measureRecovery,
  openThroughputRun,
  type PassResult,
  type ThroughputResult,
  type ThroughputRun,
} from './workers.js';

const QUALITY = 50;
const WORKER_COUNTS = [1, 2, 3] as const;
const settings = readBenchSettings();
const { quick } = settings;
const baselineRoot = settings.baseline ? resolve(settings.baseline) : undefined;
if (baselineRoot && !existsSync(join(baselineRoot, 'node_modules', 'tsx'))) {
  throw new Error(
    `BENCH_BASELINE=${baselineRoot} is not a checkout with its dependencies installed (npm ci)`,
  );
}
const baselineSource = baselineRoot ? sourceVersion(baselineRoot) : null;
const benchStarted = performance.now();
const elapsed = () => Math.round((performance.now() - benchStarted) / 100) / 10;
const log = (message: string) => process.stderr.write(`[bench ${elapsed()} s] ${message}\n`);
/** Seconds spent in each part of the run, saved with the results (how long a full run takes, and where). */
const phases: Record<string, number> = {};
let phaseStarted = 0;
const phase = (name: string) => {
  const now = elapsed();
  phases[name] = Math.round((now - phaseStarted) * 10) / 10;
  phaseStarted = now;
};
const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : null);

const workDir = await mkdtemp(join(tmpdir(), 'image-service-bench-'));
const services = await startLocalServices({
  dataDir: join(workDir, 'services'),
  persistent: false,
  machine: readMachineEnvironment(),
  log,
});
log(`MongoDB: ${services.mongo}`);
log(`Redis: ${services.redis}`);
let redisDatabase = 0;
const connections = () => ({
  mongoUrl: services.mongoUrl,
  redisUrl: `${services.redisUrl}/${++redisDatabase}`,
});

let objectStore: LocalObjectStore | undefined;
try {
  // The S3-compatible store for the pipeline with outputs in a bucket (SeaweedFS, built once per machine).
  const machine = readMachineEnvironment();
  const seaweedFs = await ensureSeaweedFs(machine.path, machine.cacheHome, log);
  let bucket: BenchBucket | undefined;
  if (seaweedFs) {
    objectStore = await startSeaweedFs(seaweedFs, join(workDir, 'seaweedfs'));
    log(`S3: ${objectStore.description}`);
    const settings = bucketSettings(objectStore, 'bench-outputs');
    await createBucket(settings);
    bucket = { environment: bucketEnvironment(settings), empty: () => emptyBucket(settings) };
  } else {
    log(
      'no SeaweedFS (npm run install:seaweedfs needs Go): the pipeline with outputs in a bucket is skipped',
    );
  }
  log('generating the image set');
  const images = await benchImageSet(quick ? 24 : 100, quick ? 6 : 20);
  const megapixels = images.reduce((sum, image) => sum + image.megapixels, 0) / images.length;

  phase('setup');
  // The limit, the peer and the pipeline with 1, 2 and 3 workers are measured in alternation, the best of each
  // kept: a shared machine speeds up and slows down by a fifth over tens of seconds, and the ratios should
  // compare like with like. The three pipelines stay open (their idle processes cost next to nothing) so that
  // each round measures every one of them.
  const rounds = quick ? 3 : 5;
  const pillowVersion = await ensurePillow(log);
  if (!pillowVersion) log('Pillow could not be had (python3-pil): the peer comparison is skipped');
  const pipelines: {
    workers: number;
    baseline: boolean;
    /** Outputs in the S3 bucket rather than the folder. */
    s3: boolean;
    run: ThroughputRun;
    first?: PassResult;
    repeat?: PassResult;
  }[] = [];
  let limit: LimitResult | undefined;
  let pillow: { defaults: PillowResult; matched: PillowResult } | undefined;
  const bestOf = <T extends { images_per_second: number }>(kept: T | undefined, next: T) =>
    faster(kept, next, (result) => result.images_per_second);
  try {
    log(`starting the pipelines with ${WORKER_COUNTS.join(', ')} worker processes`);
    // The baseline runs right after this checkout's one-worker pipeline in every round, so that the two meet
    // the same moment of the machine's drift.
    // The pipeline with its outputs in the bucket runs right after the one with its outputs in the folder.
    const wanted: { workers: number; root: string | undefined; s3: boolean }[] = WORKER_COUNTS.map(
      (workers) => ({
        workers,
        root: undefined,
        s3: false,
      }),
    );
    if (bucket) wanted.splice(1, 0, { workers: 1, root: undefined, s3: true });
    if (baselineRoot) wanted.splice(1, 0, { workers: 1, root: baselineRoot, s3: false });
    const opened = await Promise.allSettled(
      wanted.map(async ({ workers, root, s3 }) => ({
        workers,
        baseline: root !== undefined,
        s3,
        run: await openThroughputRun(connections(), workers, images, {}, root, s3 ? bucket : undefined),
      })),
    );
    for (const result of opened) if (result.status === 'fulfilled') pipelines.push(result.value);
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    phase('pipelines_started');
    for (let round = 1; round <= rounds; round += 1) {
      log(
        `round ${round} of ${rounds}: sharp alone, Pillow, the pipeline with 1, 2 and 3 workers${bucket ? ', with 1 worker and a bucket' : ''}${baselineRoot ? ', the baseline' : ''}`,
      );
      limit = bestOf(limit, await measureSharpLimit(images, QUALITY, 1));
      if (pillowVersion) {
        pillow = {
          defaults: bestOf(pillow?.defaults, await measurePillow(images, QUALITY, 'defaults', 1)),
          matched: bestOf(pillow?.matched, await measurePillow(images, QUALITY, 'matched', 1)),
        };
      }
      for (const entry of pipelines) entry.first = bestOf(entry.first, await entry.run.firstPass());
    }
    phase('alternated_rounds');
    log('the same CSV again, three times, alternated over 1, 2 and 3 workers');
    for (let round = 1; round <= 3; round += 1) {
      for (const entry of pipelines) {
        entry.repeat = bestOf(entry.repeat, await entry.run.repeatPass());
      }
    }
    phase('repeats');
  } finally {
    await Promise.all(pipelines.map((entry) => entry.run.close()));
  }
  const measured = (entry: (typeof pipelines)[number]): ThroughputResult => {
    if (!entry.first || !entry.repeat)
      throw new Error(`a measurement of ${entry.workers} workers is missing`);
    return { workers: entry.workers, ...entry.first, repeat: entry.repeat };
  };
  const scaleOut = pipelines.filter((entry) => !entry.baseline && !entry.s3).map(measured);
  const s3Entry = pipelines.find((entry) => entry.s3);
  const inBucket = s3Entry ? measured(s3Entry) : undefined;
  const baselineEntry = pipelines.find((entry) => entry.baseline);
  const baseline = baselineEntry ? measured(baselineEntry) : undefined;
  const pipeline = scaleOut[0];
  if (!limit || !pipeline) throw new Error('a measurement is missing');
  // The seed's stack end to end, with images answered at once and 100 ms late (as remote hosts answer).
  let seedStack: { immediate: SeedComparison; latency: SeedComparison } | undefined;
  if (await ensureSeedStack(log)) {
    const seedImages = images.slice(0, quick ? 12 : 60);
    const seedRounds = quick ? 1 : 2;
    seedStack = {
      // Each round also measures the codec alone on the same images: what the service's CPU is measured against.
      immediate: await compareWithSeedStack(
        connections,
        services.pids,
        seedImages,
        QUALITY,
        0,
        seedRounds,
        log,
      ),
      latency: await compareWithSeedStack(
        connections,
        services.pids,
        seedImages,
        QUALITY,
        100,
        seedRounds,
        log,
      ),
    };
    phase('seed_stack');
  } else {
    log(
      "the seed stack's packages could not be had (python3-fastapi, python3-celery…): its comparison is skipped",
    );
  }
  const recovery = quick ? undefined : await measureRecovery(connections(), images);
  if (recovery) phase('recovery');

  log('status under load');
  const status = await measureStatusLoad(connections(), quick ? 2 : 3, log);
  phase('status');

  log('ingestion');
  const ingest = await measureIngestion(
    quick ? 10_000 : 100_000,
    connections(),
    join(workDir, 'ingest-images'),
  );
  phase('ingestion');

  log('four maximum-size uploads at once');
  const uploadMemory = quick
    ? undefined
    : await measureUploadMemory(4, connections(), join(workDir, 'upload-memory-images'));
  if (uploadMemory) phase('upload_memory');

  log('two tenants: one image behind a slow backlog');
  const fairness = await measureFairness(connections());
  phase('fairness');

  log('fetch guard and formats');
  const fetching = await measureFetchOverhead(quick ? 200 : 1000);
  const formats = await measureFormatSavings(QUALITY);
  phase('fetch_guard_and_formats');

  log('cost per image by request size');
  const costBySize = await measureCostBySize(
    connections(),
    services.pids,
    quick ? [100, 1000] : [100, 1000, 10_000],
    log,
  );
  phase('cost_by_size');

  // Last: its pass over a large history leaves FerretDB busy with queries for a while after it is cut short.
  log('many small requests, then again with a history stored');
  const smallRequests = await measureSmallRequests(
    connections(),
    quick
      ? { requests: 100, history: 2000, deadlineMs: 120_000 }
      : { requests: 300, history: 10_000, deadlineMs: 180_000 },
    log,
  );
  phase('small_requests');

  const summary = {
    quick,
    cores: availableParallelism(),
    images: images.length,
    average_megapixels: Math.round(megapixels * 100) / 100,
    pipeline_images_per_second: pipeline.images_per_second,
    sharp_images_per_second: limit.images_per_second,
    pillow_images_per_second: pillow?.matched.images_per_second ?? null,
    pipeline_vs_sharp: ratio(pipeline.images_per_second, limit.images_per_second),
    pipeline_s3_images_per_second: inBucket?.images_per_second ?? null,
    pipeline_s3_vs_disk: inBucket ? ratio(inBucket.images_per_second, pipeline.images_per_second) : null,
    pipeline_s3_repeat_images_per_second: inBucket?.repeat.images_per_second ?? null,
    ...(baseline
      ? {
          baseline_commit: baselineSource?.commit ?? null,
          baseline_images_per_second: baseline.images_per_second,
          pipeline_vs_baseline: ratio(pipeline.images_per_second, baseline.images_per_second),
        }
      : {}),
    pipeline_vs_pillow: pillow ? ratio(pipeline.images_per_second, pillow.matched.images_per_second) : null,
    pipeline_vs_pillow_defaults: pillow
      ? ratio(pipeline.images_per_second, pillow.defaults.images_per_second)
      : null,
    repeat_vs_first: ratio(pipeline.repeat.images_per_second, pipeline.images_per_second),
    cpu_ms_per_image: seedStack?.immediate.service.cheapest.cpu_ms_per_image ?? null,
    codec_cpu_ms_per_image: seedStack?.immediate.paired.codec_cpu_ms_per_image ?? null,
    overhead_ratio: seedStack?.immediate.paired.overhead_ratio ?? null,
    pipeline_vs_seed_stack: seedStack
      ? ratio(
          seedStack.immediate.service.fastest.images_per_second,
          seedStack.immediate.seed_stack.fastest.images_per_second,
        )
      : null,
    pipeline_vs_seed_stack_latency: seedStack
      ? ratio(
          seedStack.latency.service.fastest.images_per_second,
          seedStack.latency.seed_stack.fastest.images_per_second,
        )
      : null,
    cpu_vs_seed_stack: seedStack?.immediate.paired.cpu_vs_seed_stack ?? null,
    // What that CPU buys: the size of the stored images, ours over the seed's (Pillow at its defaults).
    output_bytes_vs_seed_stack: seedStack
      ? ratio(
          seedStack.immediate.service.cheapest.average_output_bytes ?? 0,
          seedStack.immediate.seed_stack.cheapest.average_output_bytes ?? 0,
        )
      : null,
    status_vs_bare: ratio(status.finished.requests_per_second, status.bare.requests_per_second),
    status_running_vs_bare: ratio(status.running.requests_per_second, status.bare.requests_per_second),
    ingest_100k_seconds: ingest.rows === 100_000 ? ingest.upload_seconds : null,
    ingest_100k_rss_mb: ingest.rows === 100_000 ? ingest.api_rss_growth_mb : null,
    download_100k_seconds: ingest.rows === 100_000 ? ingest.download_seconds : null,
    cpu_ms_per_image_by_request_size: Object.fromEntries(
      costBySize.passes.map((pass) => [pass.images, pass.cpu_ms_per_image]),
    ),
    cost_per_image_largest_vs_smallest: costBySize.largest_vs_smallest,
    small_requests_per_second: smallRequests.fresh.requests_per_second,
    small_requests_history_ratio: smallRequests.history_ratio,
    small_requests_upload_p99_ms: Math.max(
      smallRequests.fresh.upload_p99_ms,
      smallRequests.with_history.upload_p99_ms,
    ),
    upload_memory_4x_max_mb: uploadMemory?.api_rss_growth_mb ?? null,
    fairness_behind_backlog_ms: fairness.behind_backlog_ms,
    fairness_behind_vs_alone: ratio(fairness.behind_backlog_ms, fairness.alone_ms),
    ingest_rows: ingest.rows,
    ingest_seconds: ingest.upload_seconds,
    ingest_rss_mb: ingest.api_rss_growth_mb,
    pipeline_images_per_second_by_workers: Object.fromEntries(
      scaleOut.map((row) => [row.workers, row.images_per_second]),
    ),
    recovery_after_sigkill_seconds: recovery?.recovery_seconds ?? null,
    fetch_guard_overhead_us: fetching.overhead_us_per_image,
    bytes_saved_percent: Object.fromEntries(formats.map((row) => [row.format, row.saved_percent])),
  };

  const rows: [string, string][] = [
    [
      'machine',
      `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), ${services.mongo.split(' (')[0]}`,
    ],
    [
      'image set',
      `${images.length} images (${images.filter((image) => image.format === 'jpeg').length} JPEG q90 of 1.2–3.1 MP, the rest PNG and WebP), ${summary.average_megapixels} MP average`,
    ],
    [
      `limit: sharp alone, ${limit.concurrency} at once (images/s)`,
      `${limit.images_per_second} (avg ${Math.round(limit.average_output_bytes / 1024)} KB out)`,
    ],
    ...(pillow
      ? ([
          [
            `peer: Pillow ${pillow.defaults.pillow} defaults, ${pillow.defaults.processes} processes (images/s)`,
            `${pillow.defaults.images_per_second} (avg ${Math.round(pillow.defaults.average_output_bytes / 1024)} KB out)`,
          ],
          [
            `peer: Pillow matched (JPEG optimize, WebP method ${MATCHED_SETTINGS.webp_method}, octree palette PNG at zlib ${MATCHED_SETTINGS.png_compress_level}) (images/s)`,
            `${pillow.matched.images_per_second} (avg ${Math.round(pillow.matched.average_output_bytes / 1024)} KB out)`,
          ],
        ] as [string, string][])
      : ([['peer: Pillow', 'not available']] as [string, string][])),
    [
      'pipeline: upload to completed, 1 worker (images/s)',
      `${pipeline.images_per_second} (${pipeline.seconds} s)`,
    ],
    ...(baseline
      ? ([
          [
            `baseline: upload to completed, 1 worker, ${baselineSource?.commit.slice(0, 10) ?? baselineRoot} (images/s)`,
            `${baseline.images_per_second} (${baseline.seconds} s; again: ${baseline.repeat.images_per_second})`,
          ],
        ] as [string, string][])
      : []),
    [
      'pipeline: the same CSV again (images/s)',
      `${pipeline.repeat.images_per_second} (${pipeline.repeat.seconds} s)`,
    ],
    [
      'pipeline: outputs in an S3 bucket (SeaweedFS), 1 worker (images/s)',
      inBucket
        ? `${inBucket.images_per_second} (${inBucket.seconds} s; again: ${inBucket.repeat.images_per_second}; ${ratio(inBucket.images_per_second, pipeline.images_per_second)} of the folder's)`
        : 'not measured (no SeaweedFS)',
    ],
    ...scaleOut
      .slice(1)
      .map((row): [string, string] => [
        `pipeline: ${row.workers} workers (images/s)`,
        `${row.images_per_second} (${row.seconds} s; again: ${row.repeat.images_per_second})`,
      ]),
    ...(recovery
      ? ([
          ['recovery after SIGKILL (s)', `${recovery.recovery_seconds} (${recovery.jobs_held} jobs held)`],
        ] as [string, string][])
      : []),
    ...costBySize.passes.map((pass): [string, string] => [
      `cost by size: one request of ${pass.images} distinct ${costBySize.image_width}x${costBySize.image_height} JPEGs, CPU of every service process (ms/image)`,
      `${pass.cpu_ms_per_image} (${pass.images_per_second} images/s)`,
    ]),
    ...(['fresh', 'with_history'] as const).map((pass): [string, string] => {
      const measured = smallRequests[pass];
      const refused = Object.entries(measured.refused)
        .map(([answer, count]) => `${count}x ${answer}`)
        .join(', ');
      return [
        `small requests: ${measured.requests} of ${smallRequests.rows_per_request} products, ${smallRequests.in_flight} in flight, ${measured.stored_before} stored before (req/s)`,
        `${measured.requests_per_second} (${measured.completed} done in ${measured.seconds} s; upload p99 ${measured.upload_p99_ms} ms; upload to webhook p50 ${measured.completion_p50_ms} ms, first ${measured.first_completed_ms} ms; retried: ${refused || 'none'})`,
      ];
    }),
    [
      'status: finished request, from the API cache (req/s, p99 ms)',
      `${status.finished.requests_per_second}, ${status.finished.p99_ms}`,
    ],
    [
      'status: running request, live counts (req/s, p99 ms)',
      `${status.running.requests_per_second}, ${status.running.p99_ms} (products done ${status.running.products_done_from} -> ${status.running.products_done_to})`,
    ],
    [
      'status: bare route /health/live (req/s, p99 ms)',
      `${status.bare.requests_per_second}, ${status.bare.p99_ms}`,
    ],
    [`ingestion: ${ingest.rows} rows, ${ingest.csv_mb} MB (s)`, String(ingest.upload_seconds)],
    ['ingestion: API peak RSS growth (MB)', String(ingest.api_rss_growth_mb)],
    ...(uploadMemory
      ? ([
          [
            `uploads: ${uploadMemory.uploads} at once of ${uploadMemory.mb_each} MB and ${uploadMemory.rows_each} rows, API peak RSS growth (MB; target <= 400)`,
            `${uploadMemory.api_rss_growth_mb} (${uploadMemory.seconds} s; answers ${uploadMemory.statuses.join(', ')}; /health/live ${JSON.stringify(uploadMemory.live_statuses)}, slowest ${uploadMemory.live_slowest_ms} ms)`,
          ],
        ] as [string, string][])
      : []),
    [
      `fairness: one image of tenant B, alone / behind tenant A's ${fairness.backlog_products} products dripped over ${fairness.drip_ms / 1000} s each (ms)`,
      `${fairness.alone_ms} / ${fairness.behind_backlog_ms} (in arrival order: about ${fairness.arrival_order_estimate_ms})`,
    ],
    [
      `ingestion: result download, ${ingest.output_urls} output URLs, ${ingest.download_mb} MB (s)`,
      String(ingest.download_seconds),
    ],
    [
      'ingestion: keeping the result CSV when the request completes (s, worker time before its webhook)',
      String(ingest.result_file_seconds),
    ],
    ['fetch guard and limits, keep-alive (µs/image)', String(fetching.overhead_us_per_image)],
    [
      'fetch guard and limits, new connection (µs/image)',
      String(fetching.new_connection_overhead_us_per_image),
    ],
    ...formats.map((row): [string, string] => [
      `bytes saved: ${row.format} (${row.images} images)`,
      `${row.input_kb} -> ${row.output_kb} KB, ${row.saved_percent}%`,
    ]),
    ['pipeline_vs_sharp (target >= 0.90)', String(summary.pipeline_vs_sharp)],
    ['pipeline_vs_pillow, matched (target >= 1.0)', String(summary.pipeline_vs_pillow)],
    ...(baseline
      ? ([
          ['pipeline_vs_baseline (no slower: >= 1.0 within noise)', String(summary.pipeline_vs_baseline)],
        ] as [string, string][])
      : []),
    ['repeat_vs_first (target >= 5)', String(summary.repeat_vs_first)],
    ['cpu_ms_per_image, all service processes (target <= 42)', String(summary.cpu_ms_per_image)],
    ['pipeline_vs_seed_stack, images at once (target >= 1.2)', String(summary.pipeline_vs_seed_stack)],
    ['pipeline_vs_seed_stack_latency, 100 ms (target >= 2)', String(summary.pipeline_vs_seed_stack_latency)],
    ['cpu_vs_seed_stack (target <= 0.7)', String(summary.cpu_vs_seed_stack)],
    [
      "output_bytes_vs_seed_stack (the stored images' size, ours over the seed's)",
      String(summary.output_bytes_vs_seed_stack),
    ],
    [
      `overhead_ratio: service CPU per image over the codec's (${summary.codec_cpu_ms_per_image} ms) (target <= 1.05)`,
      String(summary.overhead_ratio),
    ],
    ['small_requests_per_second (target >= 20)', String(summary.small_requests_per_second)],
    [
      `small_requests_history_ratio, ${smallRequests.history} stored (target >= 0.8)`,
      String(summary.small_requests_history_ratio),
    ],
    ['status_vs_bare, finished request (target >= 0.5)', String(summary.status_vs_bare)],
    ['status_running_vs_bare (target >= 0.5)', String(summary.status_running_vs_bare)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  for (const [name, value] of rows) process.stdout.write(`${name.padEnd(width)}${value}\n`);

  const results = join(import.meta.dirname, 'results');
  await mkdir(results, { recursive: true });
  const date = new Date().toISOString();
  const file = join(results, `${date.slice(0, 19).replaceAll(':', '-')}${quick ? '-quick' : ''}.json`);
  const record = {
    date,
    duration_seconds: elapsed(),
    phase_seconds: phases,
    source: sourceVersion(import.meta.dirname),
    settings: { quick, rounds, quality: QUALITY, workers: WORKER_COUNTS, pillow_matched: MATCHED_SETTINGS },
    versions: { node: process.versions.node, sharp: sharp.versions },
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model ?? 'unknown',
      mongo: services.mongo.split(' (')[0],
      s3: objectStore ? 'SeaweedFS weed mini, 127.0.0.1' : null,
    },
    table: Object.fromEntries(rows),
    summary,
    limit,
    pillow,
    scale_out: scaleOut,
    seed_stack: seedStack,
    baseline: baseline ? { source: baselineSource, root: baselineRoot, ...baseline } : undefined,
    s3: inBucket ? { store: objectStore?.description.split(' (')[0], ...inBucket } : undefined,
    recovery,
    status,
    ingest,
    small_requests: smallRequests,
    cost_by_size: costBySize,
    upload_memory: uploadMemory,
    fairness,
    fetching,
    formats,
  };
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
  log(`saved ${file} (${elapsed()} s in all)`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  await Promise.allSettled([services.stop(), objectStore?.stop()]);
  await rm(workDir, { recursive: true, force: true });
}

/** The commit measured, and whether tracked files differed from it (null outside a git checkout). */
function sourceVersion(checkout: string): { commit: string; modified: boolean } | null {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: checkout,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    return {
      commit: git('rev-parse', 'HEAD').trim(),
      modified: git('status', '--porcelain', '--untracked-files=no').trim() !== '',
    };
  } catch {
    return null;
  }
}
