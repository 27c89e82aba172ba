import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

/** Which of our packages each one may import: lower layers never reach up, and nothing imports an app. */
const ALLOWED_IMPORTS: Readonly<Record<string, readonly string[]>> = {
  domain: [],
  config: [],
  logging: [],
  storage: [],
  imaging: ['domain'],
  fetching: ['domain'],
  queue: [],
  csv: ['domain'],
  db: ['domain'],
  'job-state': ['domain', 'storage'],
  webhooks: ['fetching'],
  requests: ['csv', 'db', 'domain', 'queue'],
  lifecycle: ['config', 'logging'],
  'local-services': ['config'],
};

interface SourceFile {
  readonly path: string;
  readonly text: string;
}

/** Production source of apps and packages (tests and test support left out). */
async function productionSources(): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  for (const top of ['apps', 'packages']) {
    for (const unit of await readdir(join(root, top))) {
      const dir = join(root, top, unit, 'src');
      const entries = await readdir(dir, { recursive: true }).catch(() => []);
      for (const entry of entries) {
        if (!entry.endsWith('.ts') || entry.endsWith('.test.ts')) continue;
        const path = join(dir, entry);
        files.push({ path: relative(root, path), text: await readFile(path, 'utf8') });
      }
    }
  }
  return files;
}

const importsOf = (text: string) =>
  [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((match) => match[1] ?? '');

/** Files that break a rule, as "path: what" lines, so a failure names each one. */
async function breaches(rule: (file: SourceFile) => string | undefined): Promise<string[]> {
  return (await productionSources()).flatMap((file) => {
    const found = rule(file);
    return found ? [`${file.path}: ${found}`] : [];
  });
}

describe('the layering of the code', () => {
  it('has packages import only the packages below them, and nothing import an app', async () => {
    const found = await breaches((file) => {
      const [top, unit] = file.path.split('/');
      const ours = importsOf(file.text)
        .filter((name) => name.startsWith('@imgsvc/'))
        .map((name) => name.slice('@imgsvc/'.length));
      if (ours.some((name) => name === 'api' || name === 'worker')) return 'imports an app';
      if (top !== 'packages' || !unit) return undefined;
      const allowed = ALLOWED_IMPORTS[unit];
      if (!allowed) return `a package the layering does not know (add it to ALLOWED_IMPORTS)`;
      const wrong = ours.filter((name) => name !== unit && !allowed.includes(name));
      return wrong.length > 0 ? `imports ${wrong.join(', ')}` : undefined;
    });
    expect(found).toEqual([]);
  });

  it('keeps sharp inside imaging, Redis scripts inside job-state and the environment inside config', async () => {
    const found = await breaches((file) => {
      const problems: string[] = [];
      if (importsOf(file.text).includes('sharp') && !file.path.startsWith('packages/imaging/')) {
        problems.push('imports sharp');
      }
      if (
        /defineCommand|\.eval(sha)?\(|redis\.call\(/.test(file.text) &&
        !file.path.startsWith('packages/job-state/')
      ) {
        problems.push('runs a Redis script');
      }
      if (/process\.env\b/.test(file.text) && !file.path.startsWith('packages/config/')) {
        problems.push('reads process.env');
      }
      return problems.length > 0 ? problems.join(', ') : undefined;
    });
    expect(found).toEqual([]);
  });

  it('computes counts and the completion percentage only in domain, and builds HTTP problems only in the catalogue', async () => {
    const found = await breaches((file) => {
      if (
        /function (completionPercentage|countsView|addCounts)\b/.test(file.text) &&
        !file.path.startsWith('packages/domain/')
      ) {
        return 'computes counts';
      }
      if (/new HttpProblem\(/.test(file.text) && file.path !== 'apps/api/src/problems.ts') {
        return 'builds a problem outside the catalogue';
      }
      return undefined;
    });
    expect(found).toEqual([]);
  });

  it('declares every package it imports in its package.json', async () => {
    const declared = new Map<string, Set<string>>();
    for (const top of ['apps', 'packages']) {
      for (const unit of await readdir(join(root, top))) {
        const manifest = JSON.parse(await readFile(join(root, top, unit, 'package.json'), 'utf8')) as {
          dependencies?: Record<string, string>;
        };
        declared.set(`${top}/${unit}`, new Set(Object.keys(manifest.dependencies ?? {})));
      }
    }
    const found = await breaches((file) => {
      const [top, unit] = file.path.split('/');
      const deps = declared.get(`${top}/${unit}`) ?? new Set<string>();
      const missing = importsOf(file.text)
        .filter((name) => name.startsWith('@imgsvc/') && name !== `@imgsvc/${unit}`)
        .filter((name) => !deps.has(name));
      return missing.length > 0 ? `imports ${missing.join(', ')} without declaring it` : undefined;
    });
    expect(found).toEqual([]);
  });
});
