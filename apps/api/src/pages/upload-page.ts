import { escapeHtml } from './landing-page.js';

/** What the upload page's script needs to know, given to it as a JSON data block (never run as code). */
export interface UploadPageSettings {
  /** Whether /api calls need a key (API_KEYS is set): the page then asks for one. */
  readonly keysRequired: boolean;
  readonly maxUploadBytes: number;
  readonly maxRows: number;
  /** The header names each column may have, by key, and the columns' titles (@imgsvc/csv HEADER_NAMES). */
  readonly header: {
    readonly roles: Readonly<Record<string, string>>;
    readonly titles: Readonly<Record<string, string>>;
  };
}

/** The page at /upload: choose or drop a CSV, follow its processing, see the images, download the result. */
export function renderUploadPage(settings: UploadPageSettings): string {
  // `</` cannot end the data block early: JSON allows it escaped.
  const data = JSON.stringify(settings).replace(/</g, '\\u003c');
  const megabytes = Math.floor(settings.maxUploadBytes / 1_048_576);
  const columns = Object.values(settings.header.titles).map(escapeHtml).join(', ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Upload a catalogue · Image processing service</title>
<link rel="stylesheet" href="/assets/site.css">
<link rel="icon" type="image/svg+xml" href="/assets/icon.svg">
<script type="application/json" id="upload-settings">${data}</script>
<script type="module" src="/assets/upload.js"></script>
</head>
<body>
<header class="site"><div><a class="home" href="/">Image processing service</a><a href="/upload" aria-current="page">Upload</a><a href="/docs">API reference</a></div></header>
<main>
<h1>Upload a catalogue</h1>
<p class="lead">A CSV with the columns ${columns} (several image URLs in one cell, separated by commas). Every image is downloaded, compressed at quality 50 and stored; you get a result CSV with the new URLs.</p>

<form id="upload-form" novalidate>
  <div class="drop-zone" id="drop-zone">
    <label for="file">CSV file <span class="hint">(up to ${megabytes} MB and ${settings.maxRows.toLocaleString('en')} rows)</span></label>
    <input type="file" id="file" name="file" accept=".csv,text/csv" required>
    <p class="hint">or drop it here</p>
  </div>
  <p class="field" id="key-field"${settings.keysRequired ? '' : ' hidden'}>
    <label for="api-key">API key</label>
    <input type="password" id="api-key" autocomplete="off" spellcheck="false" ${settings.keysRequired ? 'required' : ''}>
    <span class="hint">Kept in this tab only (session storage).</span>
  </p>
  <p class="field">
    <label for="webhook-url">Webhook URL <span class="hint">(optional: called when the request finishes)</span></label>
    <input type="url" id="webhook-url" inputmode="url" placeholder="https://shop.example.com/hooks/images">
  </p>
  <p><button type="submit" id="send">Upload</button></p>
</form>

<p id="message" role="status" aria-live="polite"></p>

<section id="problems" hidden aria-labelledby="problems-title">
  <h2 id="problems-title">The file was refused</h2>
  <p id="problems-summary"></p>
  <div class="table-scroll"><table id="problems-table">
    <thead><tr><th scope="col">Line</th><th scope="col">Column</th><th scope="col">Problem</th></tr></thead>
    <tbody></tbody>
  </table></div>
</section>

<section id="progress" hidden aria-labelledby="progress-title">
  <h2 id="progress-title">Processing</h2>
  <progress id="progress-bar" max="100" value="0" aria-describedby="progress-text">0%</progress>
  <p id="progress-text" aria-live="polite"></p>
</section>

<section id="results" hidden aria-labelledby="results-title">
  <h2 id="results-title">Results</h2>
  <p id="results-summary"></p>
  <p class="actions">
    <button type="button" id="download-csv">Download the result CSV</button>
    <button type="button" id="retry" hidden>Retry the failed images</button>
  </p>
  <div class="table-scroll"><table id="products-table">
    <thead><tr><th scope="col">Row</th><th scope="col">Product</th><th scope="col">Images: compressed, and the size before → after</th></tr></thead>
    <tbody></tbody>
  </table></div>
  <p><button type="button" id="more" hidden>Show more products</button></p>
</section>
</main>
</body>
</html>
`;
}
