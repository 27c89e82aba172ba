// The upload page's script (/upload): checks the CSV's header, sends it, follows the request live and shows
// its products, images and sizes. Plain browser JavaScript, served from the service's own origin.

const settings = JSON.parse(document.getElementById('upload-settings').textContent);
const $ = (id) => document.getElementById(id);
const KEY_STORAGE = 'imgsvc-api-key';
const PAGE_SIZE = 50;

const form = $('upload-form');
const fileInput = $('file');
const keyInput = $('api-key');
const webhookInput = $('webhook-url');
const message = $('message');

let current = null; // { id, finished }
let cursor = null;
let following = null; // AbortController of the live stream

keyInput.value = sessionStorage.getItem(KEY_STORAGE) ?? '';

function headers(extra = {}) {
  const key = keyInput.value.trim();
  return key ? { ...extra, authorization: `Bearer ${key}` } : extra;
}

function say(text, kind = 'info') {
  message.textContent = text;
  message.className = kind;
}

function element(tag, properties = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, properties);
  for (const child of children) node.append(child);
  return node;
}

function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** The cells of a CSV line, quotes understood. */
function splitCsvLine(line) {
  const cells = [];
  let cell = '';
  let quoted = false;
  for (let index = 0; index < line.length; index += 1) {
    const character = line[index];
    if (quoted) {
      if (character === '"' && line[index + 1] === '"') {
        cell += '"';
        index += 1;
      } else if (character === '"') quoted = false;
      else cell += character;
    } else if (character === '"') quoted = true;
    else if (character === ',') {
      cells.push(cell);
      cell = '';
    } else cell += character;
  }
  cells.push(cell);
  return cells;
}

const headerKey = (cell) =>
  cell
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s._-]+/g, '');

/** Why the file cannot be sent, read from its first line before any byte leaves the browser; null when fine. */
async function checkFile(file) {
  if (!file) return 'Choose a CSV file first.';
  if (file.size === 0) return `${file.name} is empty.`;
  if (file.size > settings.maxUploadBytes) {
    return `${file.name} is ${formatBytes(file.size)}; files up to ${formatBytes(settings.maxUploadBytes)} are accepted.`;
  }
  const start = await file.slice(0, 65536).text();
  const firstLine = start.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/)[0] ?? '';
  const roles = new Set(splitCsvLine(firstLine).map((cell) => settings.header.roles[headerKey(cell)]));
  const missing = Object.entries(settings.header.titles)
    .filter(([role]) => !roles.has(role))
    .map(([, title]) => `"${title}"`);
  if (missing.length > 0) {
    return `The first line of ${file.name} must name the columns: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing (it reads "${firstLine.slice(0, 120)}").`;
  }
  return null;
}

function show(section, visible = true) {
  $(section).hidden = !visible;
}

function showProblems(problem) {
  const body = $('problems-table').tBodies[0];
  body.replaceChildren();
  const errors = problem.errors ?? [];
  $('problems-summary').textContent =
    `${problem.title ?? 'Refused'}: ${problem.detail ?? ''}`.trim() +
    (problem.total_errors > errors.length
      ? ` (the first ${errors.length} of ${problem.total_errors} are listed)`
      : '');
  for (const error of errors) {
    body.append(
      element('tr', {}, [
        element('td', { textContent: error.line ?? '—' }),
        element('td', { textContent: error.column ?? error.field ?? '—' }),
        element('td', { textContent: error.message }),
      ]),
    );
  }
  show('problems', true);
  $('problems-title').focus?.();
}

function showProgress(status) {
  const { counts } = status;
  const done = counts.images_succeeded + counts.images_failed;
  $('progress-bar').value = status.completion_percentage;
  $('progress-bar').textContent = `${status.completion_percentage}%`;
  $('progress-text').textContent =
    `${status.completion_percentage}% · products ${counts.products_done} of ${counts.products} · images ${done} of ${counts.images}` +
    (counts.images_failed > 0 ? ` (${counts.images_failed} failed)` : '') +
    (status.status === 'pending' ? ' · waiting to start' : '');
}

async function readProblem(answer) {
  try {
    return await answer.json();
  } catch {
    return { title: `HTTP ${answer.status}`, detail: answer.statusText };
  }
}

async function getStatus(id) {
  const answer = await fetch(`/api/status/${id}`, { headers: headers() });
  if (!answer.ok) throw Object.assign(new Error('status'), { problem: await readProblem(answer) });
  return answer.json();
}

/**
 * The request's live stream (server-sent events, read with fetch so that the key can be sent), read until the
 * server ends it: after `completed` or `failed`, or with `reconnect` when the stream has lived long enough.
 */
async function streamEvents(id, onStatus, signal) {
  const answer = await fetch(`/api/status/${id}/events`, {
    headers: headers({ accept: 'text/event-stream' }),
    signal,
  });
  if (!answer.ok || !answer.body) return 'closed';
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let end = 'closed';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return end;
    buffer += value;
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = blocks.pop() ?? '';
    for (const block of blocks) {
      let event = 'message';
      let data = '';
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trimStart();
      }
      if (event === 'progress' || event === 'completed' || event === 'failed') onStatus(JSON.parse(data));
      if (event === 'completed' || event === 'failed') end = 'finished';
      if (event === 'reconnect') end = 'reconnect';
    }
  }
}

/** Follows a request to its end: the live stream while it works, polling every second when it does not. */
async function follow(id) {
  following?.abort();
  following = new AbortController();
  const { signal } = following;
  let status = await getStatus(id);
  showProgress(status);
  let streamFailures = 0;
  while (status.status !== 'completed' && status.status !== 'failed' && !signal.aborted) {
    if (streamFailures < 3) {
      try {
        const end = await streamEvents(
          id,
          (next) => {
            status = next;
            showProgress(next);
          },
          signal,
        );
        if (end === 'finished') break;
        if (end === 'closed') streamFailures += 1;
        continue;
      } catch {
        if (signal.aborted) return;
        streamFailures += 1;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    status = await getStatus(id);
    showProgress(status);
  }
  status = await getStatus(id);
  showProgress(status);
  finished(status);
}

function imageFigure(image) {
  const figure = element('div', { className: 'image' });
  if (image.output_url) {
    const link = element('a', { href: image.output_url, title: 'The compressed image' }, [
      element('img', {
        src: image.output_url,
        alt: 'compressed image',
        loading: 'lazy',
        width: 96,
        height: 72,
      }),
    ]);
    const saving =
      image.input_bytes && image.output_bytes !== null
        ? ` · ${Math.round((1 - image.output_bytes / image.input_bytes) * 100)}% saved`
        : '';
    figure.append(
      link,
      element('span', {
        className: 'sizes',
        textContent: `${formatBytes(image.input_bytes)} → ${formatBytes(image.output_bytes)}${saving}`,
      }),
    );
  } else if (image.error) {
    figure.classList.add('failed');
    figure.append(
      element('span', {
        className: 'error',
        textContent: `Failed: ${image.error.message} (${image.error.code})`,
      }),
    );
  } else {
    figure.append(element('span', { className: 'hint', textContent: 'waiting' }));
  }
  // The original stays on its own host: the page loads nothing from elsewhere, so it is linked, not shown.
  figure.append(
    element('a', {
      className: 'original',
      href: image.input_url,
      rel: 'noreferrer noopener',
      target: '_blank',
      textContent: 'original',
    }),
  );
  return figure;
}

async function loadProducts(id) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE), ...(cursor ? { cursor } : {}) });
  const answer = await fetch(`/api/requests/${id}/products?${query}`, { headers: headers() });
  if (!answer.ok) {
    const problem = await readProblem(answer);
    say(`The products could not be read: ${problem.detail ?? problem.title}`, 'error');
    return;
  }
  const page = await answer.json();
  const body = $('products-table').tBodies[0];
  for (const product of page.products) {
    body.append(
      element('tr', {}, [
        element('td', { textContent: product.serial_number }),
        element('td', { textContent: product.product_name }),
        element('td', {}, [element('div', { className: 'images' }, product.images.map(imageFigure))]),
      ]),
    );
  }
  cursor = page.next_cursor;
  $('more').hidden = cursor === null;
}

function finished(status) {
  const { counts } = status;
  current.finished = true;
  show('results', true);
  $('results-summary').textContent =
    status.status === 'failed'
      ? `The request failed: ${status.error_message ?? 'no reason given'}`
      : `${counts.images_succeeded} of ${counts.images} images succeeded, ${counts.images_failed} failed, in ${counts.products} products.`;
  $('retry').hidden = !(status.status === 'completed' && counts.images_failed > 0 && !status.retried_by);
  $('download-csv').disabled = status.status !== 'completed';
  say(
    status.status === 'completed' ? 'Done.' : 'The request failed.',
    status.status === 'completed' ? 'info' : 'error',
  );
  $('products-table').tBodies[0].replaceChildren();
  cursor = null;
  loadProducts(status.request_id);
}

async function start(accepted) {
  current = { id: accepted.request_id, finished: false };
  show('problems', false);
  show('results', false);
  show('progress', true);
  say(`Accepted: request ${accepted.request_id}.`);
  try {
    await follow(accepted.request_id);
  } catch (error) {
    say(`Following the request stopped: ${error.problem?.detail ?? error.message}`, 'error');
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = fileInput.files[0];
  const refusal = await checkFile(file);
  if (refusal) {
    say(refusal, 'error');
    fileInput.focus();
    return;
  }
  if (settings.keysRequired && !keyInput.value.trim()) {
    say('Enter your API key.', 'error');
    keyInput.focus();
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, keyInput.value.trim());
  const body = new FormData();
  body.append('file', file, file.name);
  if (webhookInput.value.trim()) body.append('webhook_url', webhookInput.value.trim());
  $('send').disabled = true;
  say(`Sending ${file.name}…`);
  try {
    const answer = await fetch('/api/upload', { method: 'POST', body, headers: headers() });
    if (answer.status === 202) {
      await start(await answer.json());
      return;
    }
    const problem = await readProblem(answer);
    if (problem.errors?.length) {
      show('progress', false);
      show('results', false);
      showProblems(problem);
      say(`${file.name} was refused: nothing was stored.`, 'error');
    } else say(`${problem.title ?? 'Refused'}: ${problem.detail ?? ''}`, 'error');
  } catch (error) {
    say(`The service could not be reached: ${error.message}`, 'error');
  } finally {
    $('send').disabled = false;
  }
});

const dropZone = $('drop-zone');
for (const name of ['dragenter', 'dragover']) {
  dropZone.addEventListener(name, (event) => {
    event.preventDefault();
    dropZone.classList.add('dragging');
  });
}
for (const name of ['dragleave', 'drop']) {
  dropZone.addEventListener(name, () => dropZone.classList.remove('dragging'));
}
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  if (event.dataTransfer?.files.length) {
    fileInput.files = event.dataTransfer.files;
    say(`${fileInput.files[0].name} chosen.`);
  }
});

$('more').addEventListener('click', () => current && loadProducts(current.id));

$('download-csv').addEventListener('click', async () => {
  if (!current) return;
  const answer = await fetch(`/api/download/${current.id}`, { headers: headers() });
  if (!answer.ok) {
    const problem = await readProblem(answer);
    say(`The result could not be downloaded: ${problem.detail ?? problem.title}`, 'error');
    return;
  }
  const link = element('a', {
    href: URL.createObjectURL(await answer.blob()),
    download: `result-${current.id}.csv`,
  });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
});

$('retry').addEventListener('click', async () => {
  if (!current) return;
  const answer = await fetch(`/api/requests/${current.id}/retry`, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json' }),
    body: '{}',
  });
  if (answer.status !== 202) {
    const problem = await readProblem(answer);
    say(`The retry was refused: ${problem.detail ?? problem.title}`, 'error');
    return;
  }
  await start(await answer.json());
});
