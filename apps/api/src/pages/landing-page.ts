/** The page at `/`: what the service is, and where each kind of visitor goes next. */

export interface LandingLink {
  readonly href: string;
  readonly title: string;
  readonly description: string;
}

export interface LandingPage {
  readonly publicBaseUrl: string;
  /** Whether /api calls need a key (API_KEYS is set). */
  readonly keysRequired: boolean;
  /** Whether the operators' dashboard exists (ADMIN_KEYS is set). */
  readonly dashboard: boolean;
}

/** Escapes text for HTML content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character] ?? '',
  );
}

/** The links of the page, by audience; the same list is the JSON answer for clients that ask for JSON. */
export function landingLinks(
  page: LandingPage,
): Record<'people' | 'developers' | 'operators', LandingLink[]> {
  return {
    people: [
      {
        href: '/upload',
        title: 'Upload a catalogue',
        description: 'Choose a CSV, follow it, download the result',
      },
    ],
    developers: [
      { href: '/docs', title: 'API reference', description: 'Every route, tried from the browser' },
      {
        href: '/openapi.json',
        title: 'OpenAPI document',
        description: 'For generated clients (OpenAPI 3.1)',
      },
    ],
    operators: [
      { href: '/health/ready', title: 'Readiness', description: 'MongoDB, Redis and the storage' },
      { href: '/health/live', title: 'Liveness', description: 'The process answers' },
      ...(page.dashboard
        ? [{ href: '/admin/queues', title: 'Queue dashboard', description: 'Operators only (ADMIN_KEYS)' }]
        : []),
      { href: '/metrics', title: 'Metrics', description: 'Prometheus text (METRICS_TOKEN when set)' },
    ],
  };
}

function linkList(links: readonly LandingLink[]): string {
  const items = links.map(
    (link) =>
      `<li><a href="${escapeHtml(link.href)}">${escapeHtml(link.title)}</a><span>${escapeHtml(link.description)}</span></li>`,
  );
  return `<ul class="links">${items.join('')}</ul>`;
}

export function renderLandingPage(page: LandingPage): string {
  const links = landingLinks(page);
  const base = escapeHtml(page.publicBaseUrl);
  const key = page.keysRequired ? ' \\\n  -H "Authorization: Bearer $IMGSVC_KEY"' : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Image processing service</title>
<link rel="stylesheet" href="/assets/site.css">
<link rel="icon" type="image/svg+xml" href="/assets/icon.svg">
</head>
<body>
<header class="site"><div><a class="home" href="/">Image processing service</a><a href="/upload">Upload</a><a href="/docs">API reference</a></div></header>
<main>
<h1>Image processing service</h1>
<p class="lead">Upload a CSV of products and their image URLs. Every image is downloaded, compressed at quality 50 and stored; you follow the progress, download a result CSV with the new image URLs, and can be called back by webhook when it is done.</p>

<h2>Send a catalogue</h2>
<p>The CSV has three columns, <code>S. No.</code>, <code>Product Name</code> and <code>Input Image Urls</code> (URLs separated by commas).${page.keysRequired ? ' Calls need one of the service’s API keys.' : ''}</p>
${linkList(links.people)}
<p>From a terminal, with the command-line client in the service's repository:</p>
<pre><code>npx imgsvc upload products.csv --wait --out result.csv</code></pre>
<p>With any HTTP client:</p>
<pre><code>curl -F file=@products.csv ${base}/api/upload${key}</code></pre>
<p>The answer names the request; <code>GET /api/status/{id}</code> follows it and <code>GET /api/download/{id}</code> returns the result.</p>

<h2>For developers</h2>
${linkList(links.developers)}

<h2>For operators</h2>
${linkList(links.operators)}

<footer>Errors are answered as RFC 9457 problem details (<code>application/problem+json</code>).</footer>
</main>
</body>
</html>
`;
}
