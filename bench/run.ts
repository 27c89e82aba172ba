/**
 * `npm run bench`: measurements in one run, against servers it starts itself. `BENCH_QUICK=1` runs a short
 * version. Prints a table, writes bench/results/<date>.json, and ends with one JSON line.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBenchSettings, readMachineEnvironment } from '@imgsvc/config';
import { startLocalServices } from '@imgsvc/local-services';
import { measureFetchOverhead } from './fetching.js';
import { measureFormatSavings } from './formats.js';
import { measureIngestion } from './ingest.js';
import { benchPhotos, measureRecovery, measureThroughput } from './workers.js';

const { quick } = readBenchSettings();

const workDir = await mkdtemp(join(tmpdir(), 'image-service-bench-'));
const services = await startLocalServices({
  dataDir: join(workDir, 'services'),
  persistent: false,
  machine: readMachineEnvironment(),
  log: (message) => process.stderr.write(`[services] ${message}\n`),
});
process.stderr.write(`[services] MongoDB: ${services.mongo}\n[services] Redis: ${services.redis}\n`);

try {
  const rows = quick ? 10_000 : 100_000;
  const ingest = await measureIngestion(
    rows,
    { mongoUrl: `${services.mongoUrl}/bench_ingest`, redisUrl: `${services.redisUrl}/0` },
    join(workDir, 'images'),
  );
  const fetching = await measureFetchOverhead(quick ? 200 : 1000);
  const connections = { mongoUrl: services.mongoUrl, redisUrl: `${services.redisUrl}/1` };
  const photos = await benchPhotos(quick ? 24 : 80, 1280, 960);
  const throughput = [];
  for (const workers of [1, 2, 3]) throughput.push(await measureThroughput(connections, workers, photos));
  const recovery = await measureRecovery(connections, photos);
  const formats = await measureFormatSavings(50);

  const table: [string, string][] = [
    ['ingestion: rows', String(ingest.rows)],
    ['ingestion: CSV size (MB)', String(ingest.csv_mb)],
    ['ingestion: upload time (s)', String(ingest.upload_seconds)],
    ['ingestion: API peak RSS growth (MB)', String(ingest.api_rss_growth_mb)],
    ['ingestion: result download time (s)', String(ingest.download_seconds)],
    ['ingestion: result size (MB)', String(ingest.download_mb)],
    [`fetch: plain undici GET (ms/image, ${fetching.image_kb} KB)`, String(fetching.plain_ms_per_image)],
    ['fetch: guarded fetcher (ms/image)', String(fetching.guarded_ms_per_image)],
    ['fetch: guard and limits overhead (µs/image)', String(fetching.overhead_us_per_image)],
    ['fetch, new connection each: plain (ms/image)', String(fetching.plain_new_connection_ms_per_image)],
    ['fetch, new connection each: guarded (ms/image)', String(fetching.guarded_new_connection_ms_per_image)],
    [
      'fetch, new connection each: overhead (µs/image)',
      String(fetching.new_connection_overhead_us_per_image),
    ],
    ...throughput.map((row): [string, string] => [
      `pipeline: ${row.workers} worker process${row.workers > 1 ? 'es' : ''} (images/s, ${row.images} x 1.2 MP)`,
      String(row.images_per_second),
    ]),
    [
      `recovery after SIGKILL (s, ${recovery.jobs_held} jobs held)`,
      `${recovery.recovery_seconds} (lock ${recovery.lock_ms} ms, stalled check ${recovery.stalled_interval_ms} ms)`,
    ],
    ...formats.map((row): [string, string] => [
      `compression: ${row.format} (${row.images} images, KB in -> out)`,
      `${row.input_kb} -> ${row.output_kb} (${row.saved_percent}% saved)`,
    ]),
  ];
  process.stdout.write(`${'measure'.padEnd(52)} value\n`);
  for (const [name, value] of table) process.stdout.write(`${name.padEnd(52)} ${value}\n`);
  const summary = {
    quick,
    mongo: services.mongo.split(' (')[0],
    ingest_rows: ingest.rows,
    ingest_100k_seconds: quick ? null : ingest.upload_seconds,
    ingest_100k_rss_mb: quick ? null : ingest.api_rss_growth_mb,
    ingest_seconds: ingest.upload_seconds,
    ingest_rss_mb: ingest.api_rss_growth_mb,
    download_seconds: ingest.download_seconds,
    fetch_guard_overhead_us: fetching.overhead_us_per_image,
    fetch_guard_new_connection_overhead_us: fetching.new_connection_overhead_us_per_image,
    pipeline_images_per_second_by_workers: Object.fromEntries(
      throughput.map((row) => [row.workers, row.images_per_second]),
    ),
    recovery_after_sigkill_seconds: recovery.recovery_seconds,
    bytes_saved_percent: Object.fromEntries(formats.map((row) => [row.format, row.saved_percent])),
  };
  await mkdir('bench/results', { recursive: true });
  await writeFile(
    join('bench/results', `${new Date().toISOString().slice(0, 19).replaceAll(':', '-')}.json`),
    `${JSON.stringify({ date: new Date().toISOString(), ingest, fetching, formats, throughput, recovery, summary }, null, 2)}\n`,
  );
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  await services.stop();
  await rm(workDir, { recursive: true, force: true });
}
