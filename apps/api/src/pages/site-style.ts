/**
 * The stylesheet of the service's own pages, served from /assets/site.css (same origin, so the pages' policy
 * allows nothing from elsewhere). Readable on a phone, follows the system's light or dark scheme.
 */
export const SITE_STYLE = `
:root { color-scheme: light dark; --accent: #2457c5; --muted: #5b6472; --line: #d7dbe2; --panel: #f5f7fa; }
@media (prefers-color-scheme: dark) {
  :root { --accent: #7aa7ff; --muted: #a3abb8; --line: #3a404a; --panel: #1c2026; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 52rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
header.site { border-bottom: 1px solid var(--line); }
header.site div { max-width: 52rem; margin: 0 auto; padding: 0.75rem 1rem; display: flex; gap: 1rem; flex-wrap: wrap; align-items: baseline; }
header.site a.home { font-weight: 600; text-decoration: none; color: inherit; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.5rem 0 0.75rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 0.5rem; }
p.lead { font-size: 1.1rem; color: var(--muted); margin-top: 0; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
ul.links { list-style: none; padding: 0; margin: 0; display: grid; gap: 0.5rem; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); }
ul.links li { border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem 1rem; background: var(--panel); }
ul.links a { font-weight: 600; }
ul.links span { display: block; color: var(--muted); font-size: 0.9rem; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem 1rem; overflow-x: auto; font-size: 0.85rem; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
footer { color: var(--muted); font-size: 0.85rem; margin-top: 3rem; }
`;

/** The service's icon (/assets/icon.svg): a picture frame, squeezed. */
export const SITE_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect x="3" y="6" width="26" height="20" rx="3" fill="#2457c5"/><circle cx="11" cy="13" r="3" fill="#fff"/><path d="M5 24l7-7 4 4 5-6 6 9z" fill="#fff"/></svg>
`;
