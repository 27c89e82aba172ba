/**
 * imgsvc: the service from a terminal or a script. Uploads a product CSV, follows it live, downloads its
 * result and says how it went in its exit status (src/summary.ts: EXIT).
 */
import { createRequire } from 'node:module';
import { Command, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import {
  type Accepted,
  ApiClient,
  ConnectionFailure,
  type Problem,
  type RequestResult,
  type RequestStatus,
  ServiceRefusal,
} from './api-client.js';
import { followRequest } from './follow.js';
import { progressView } from './progress.js';
import { EXIT, exitCodeOf, summaryLines } from './summary.js';

const DEFAULT_URL = 'http://127.0.0.1:3000';
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

interface GlobalOptions {
  readonly url: string;
  readonly key?: string;
}

interface WaitOptions {
  readonly out?: string;
  readonly json?: boolean;
}

const print = (line = '') => process.stdout.write(`${line}\n`);
const printError = (line: string) => process.stderr.write(`${line}\n`);

function clientOf(command: Command): ApiClient {
  const options = command.optsWithGlobals<GlobalOptions>();
  return new ApiClient(options.url, options.key);
}

/** The result's format from the file's name: JSON for `.json`, CSV otherwise. */
const formatOf = (path: string) => (path.toLowerCase().endsWith('.json') ? 'json' : 'csv');

function problemLines(problem: Problem): string[] {
  const lines = [
    `${problem.title ?? 'Refused'} (${problem.status ?? '?'}${problem.code ? ` ${problem.code}` : ''})${problem.detail ? `: ${problem.detail}` : ''}`,
  ];
  for (const error of problem.errors ?? []) {
    const where = [
      error.line !== undefined ? `line ${error.line}` : undefined,
      error.column ? `column "${error.column}"` : undefined,
      error.field ? `field "${error.field}"` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    lines.push(`  ${where ? `${where}: ` : ''}${error.message}`);
  }
  const shown = problem.errors?.length ?? 0;
  if (problem.total_errors !== undefined && problem.total_errors > shown) {
    lines.push(`  … and ${problem.total_errors - shown} more`);
  }
  return lines;
}

function acceptedLines(accepted: Accepted, replayed: boolean): string[] {
  return [
    `${replayed ? 'Already accepted (same Idempotency-Key and file)' : 'Accepted'}: request ${accepted.request_id}`,
    ...(accepted.warnings ?? []).map((warning) => pc.yellow(`  line ${warning.line}: ${warning.message}`)),
    `Status: ${accepted.status_url}`,
  ];
}

/**
 * Follows a request until it finishes, then saves its result (with --out) and prints a summary; returns the
 * exit status. Ctrl-C stops following only: the request goes on, and how to follow it again is printed.
 */
async function waitForRequest(client: ApiClient, id: string, options: WaitOptions): Promise<number> {
  const stopping = new AbortController();
  const onInterrupt = () => stopping.abort();
  process.once('SIGINT', onInterrupt);
  const view = options.json ? { update() {}, stop() {} } : progressView(process.stderr, pc);
  let status: RequestStatus;
  try {
    status = await followRequest(client, id, (next) => view.update(next), stopping.signal);
  } catch (error) {
    view.stop();
    if (stopping.signal.aborted) {
      printError(`\nStopped watching. Request ${id} goes on; follow it again with: imgsvc watch ${id}`);
      return EXIT.interrupted;
    }
    throw error;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
  view.stop();
  let savedTo: string | undefined;
  if (options.out && status.status === 'completed') {
    await client.download(id, formatOf(options.out), options.out);
    savedTo = options.out;
  }
  // Sizes come with each image of the JSON result; a summary without them still says what succeeded.
  const result: RequestResult | undefined =
    status.status === 'completed' ? await client.result(id).catch(() => undefined) : undefined;
  if (options.json) {
    print(JSON.stringify({ ...status, ...(savedTo ? { result_file: savedTo } : {}) }));
  } else {
    for (const line of summaryLines(status, result, pc, savedTo)) print(line);
  }
  return exitCodeOf(status);
}

/** Runs a command's action and turns what went wrong into a message and an exit status. */
function run<Args extends unknown[]>(action: (...args: Args) => Promise<number>) {
  return async (...args: Args) => {
    try {
      process.exitCode = await action(...args);
    } catch (error) {
      if (error instanceof ServiceRefusal) {
        for (const line of problemLines(error.problem)) printError(line);
        process.exitCode = EXIT.error;
      } else if (error instanceof ConnectionFailure) {
        printError(error.message);
        process.exitCode = EXIT.error;
      } else {
        printError(error instanceof Error ? error.message : String(error));
        process.exitCode = EXIT.error;
      }
    }
  };
}

function httpUrl(value: string): string {
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new InvalidArgumentError('must be an http(s) URL');
  }
  return value;
}

export function cliProgram(): Command {
  const program = new Command('imgsvc')
    .description('Upload product CSVs to the image service, follow them and download their results.')
    .version(version)
    .addOption(
      new Option('--url <url>', 'the service').env('IMGSVC_URL').default(DEFAULT_URL).argParser(httpUrl),
    )
    .addOption(new Option('--key <key>', 'API key (when the service requires keys)').env('IMGSVC_KEY'))
    .showHelpAfterError()
    .addHelpText(
      'after',
      '\nExit status: 0 every image succeeded; 2 finished with failed images; 3 the request failed;\n4 the upload was refused; 1 usage or connection errors; 130 stopped by Ctrl-C (the request goes on).',
    );

  program
    .command('upload')
    .description('upload a product CSV')
    .argument('<file>', 'the CSV: S. No., Product Name, Input Image Urls')
    .option('--webhook <url>', 'call this URL when the request finishes', httpUrl)
    .option('--idempotency-key <key>', 'the same key and file within 24 h give the first answer again')
    .option('--wait', 'follow the request until it finishes, then print a summary')
    .option('--out <file>', 'with --wait: save the result here (.json for JSON, CSV otherwise)')
    .option('--json', 'print JSON instead of words')
    .action(
      run(
        async (
          file: string,
          options: WaitOptions & { webhook?: string; idempotencyKey?: string; wait?: boolean },
          command: Command,
        ) => {
          const client = clientOf(command);
          let accepted: Accepted;
          let replayed: boolean;
          try {
            ({ accepted, replayed } = await client.upload(file, {
              webhookUrl: options.webhook,
              idempotencyKey: options.idempotencyKey,
            }));
          } catch (error) {
            if (!(error instanceof ServiceRefusal)) throw error;
            if (options.json) print(JSON.stringify(error.problem));
            else for (const line of problemLines(error.problem)) printError(line);
            return EXIT.refused;
          }
          if (!options.wait) {
            if (options.json) print(JSON.stringify(accepted));
            else for (const line of acceptedLines(accepted, replayed)) print(line);
            return EXIT.succeeded;
          }
          if (!options.json) for (const line of acceptedLines(accepted, replayed)) printError(line);
          return waitForRequest(client, accepted.request_id, options);
        },
      ),
    );

  program
    .command('status')
    .description("print a request's status")
    .argument('<id>', 'the request id')
    .option('--json', 'print JSON instead of words')
    .action(
      run(async (id: string, options: { json?: boolean }, command: Command) => {
        const status = await clientOf(command).status(id);
        if (options.json) print(JSON.stringify(status));
        else {
          const { counts } = status;
          print(`Request ${status.request_id}: ${status.status}, ${status.completion_percentage}%`);
          print(
            `Products ${counts.products_done}/${counts.products}; images ${counts.images_succeeded} succeeded, ${counts.images_failed} failed of ${counts.images}`,
          );
          if (status.error_message) print(`Reason: ${status.error_message}`);
        }
        return EXIT.succeeded;
      }),
    );

  program
    .command('watch')
    .description('follow a request until it finishes, then print a summary')
    .argument('<id>', 'the request id')
    .option('--out <file>', 'save the result here (.json for JSON, CSV otherwise)')
    .option('--json', 'print JSON instead of words')
    .action(
      run(async (id: string, options: WaitOptions, command: Command) =>
        waitForRequest(clientOf(command), id, options),
      ),
    );

  program
    .command('download')
    .description("save a finished request's result")
    .argument('<id>', 'the request id')
    .option('--out <file>', 'the file to write (default: <id>.csv or <id>.json)')
    .addOption(new Option('--format <format>', 'csv or json').choices(['csv', 'json']))
    .action(
      run(async (id: string, options: { out?: string; format?: 'csv' | 'json' }, command: Command) => {
        const format = options.format ?? (options.out ? formatOf(options.out) : 'csv');
        const out = options.out ?? `${id}.${format}`;
        const bytes = await clientOf(command).download(id, format, out);
        printError(`Saved ${out} (${bytes} bytes)`);
        return EXIT.succeeded;
      }),
    );

  program
    .command('retry')
    .description('retry the failed images of a finished request, as a new request')
    .argument('<id>', 'the request id')
    .option('--webhook <url>', 'call this URL when the retry finishes', httpUrl)
    .option('--wait', 'follow the new request until it finishes')
    .option('--out <file>', "with --wait: save the new request's result here")
    .option('--json', 'print JSON instead of words')
    .action(
      run(
        async (id: string, options: WaitOptions & { webhook?: string; wait?: boolean }, command: Command) => {
          const client = clientOf(command);
          const accepted = await client.retry(id, options.webhook);
          if (!options.wait) {
            if (options.json) print(JSON.stringify(accepted));
            else for (const line of acceptedLines(accepted, false)) print(line);
            return EXIT.succeeded;
          }
          if (!options.json) for (const line of acceptedLines(accepted, false)) printError(line);
          return waitForRequest(client, accepted.request_id, options);
        },
      ),
    );
  return program;
}

await cliProgram().parseAsync(process.argv);
