// README.md says only what is true of this repository: the set-up block is the two commands, every
// `npm run X` and `carebridge <command>` exists, every relative link and in-page anchor resolves,
// every environment variable of the configuration table is read in src/, every config-file key
// is in the config schema, and the sections the code's own messages point to are there.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli.ts';
import type { Io } from '../../src/cli/output.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const FENCE = /^```([\w-]*)\n([\s\S]*?)^```$/gm;

type Json = Record<string, unknown>;

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const match = new RegExp(`^(#+) ${heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`, 'm').exec(README);
  if (!match) {
    throw new Error(`README.md has no heading "${heading}"`);
  }
  const rest = README.slice(match.index + match[0].length);
  const next = new RegExp(`^#{1,${match[1]?.length}} `, 'm').exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

function fencedBlocks(text: string): { lang: string; body: string }[] {
  return [...text.matchAll(FENCE)].map((m) => ({ lang: m[1] ?? '', body: m[2] ?? '' }));
}

/** Shell lines without their comments (a `#` after whitespace), blank ones dropped. */
function shellLines(body: string): string[] {
  return body
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '');
}

const prose = README.replace(FENCE, '');
const inlineCode = [...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] as string);
const shell = fencedBlocks(README)
  .filter((b) => b.lang === 'sh' || b.lang === 'bash' || b.lang === 'shell')
  .flatMap((b) => shellLines(b.body));

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading] of prose.matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = (heading as string)
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    result.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return result;
}

/** The first column of the table under `heading`, one cell per row (header and rule skipped). */
function firstColumn(heading: string): string[] {
  return section(heading)
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2)
    .map((line) => (line.split('|')[1] ?? '').trim());
}

function sourceText(dir: string): string {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'))
    .join('\n');
}

describe('README.md', () => {
  it('starts with the set-up block: exactly the two commands', () => {
    expect(prose.match(/^## .+$/m)?.[0]).toBe('## Set up');
    const block = fencedBlocks(section('Set up'))[0];
    expect(block?.lang).toBe('sh');
    expect(shellLines(block?.body ?? '')).toEqual(['npm ci && npm start', 'npm ci && npm test']);
  });

  it('names only npm scripts that exist', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Json }).scripts;
    const named = [...README.matchAll(/\bnpm run ([\w:.-]+)/g)].map((m) => m[1] as string);
    const lifecycle = [...README.matchAll(/\bnpm (start|test)\b/g)].map((m) => m[1] as string);
    expect(named.length).toBeGreaterThan(3);
    expect([...new Set([...named, ...lifecycle])].filter((name) => !(name in scripts))).toEqual([]);
  });

  it('names only carebridge commands that exist (each answers --help with exit code 0)', () => {
    const quiet: Io = { out: () => undefined, err: () => undefined };
    const commands = new Set([...shell, ...inlineCode].flatMap((text) => [...text.matchAll(/(?:^|[\s(;&|])(?:npx\s+)?carebridge\s+([a-z][\w-]*)/g)].map((m) => m[1] as string)));
    expect([...commands]).toEqual(expect.arrayContaining(['serve', 'validate', 'outbox']));
    expect([...commands].filter((command) => main([command, '--help'], quiet) !== 0)).toEqual([]);
  });

  it('links only to files that exist and to headings it has', () => {
    const headings = anchors();
    const targets = [...prose.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
    expect(targets.length).toBeGreaterThan(10);
    const broken = targets.filter((target) => {
      if (/^[a-z][a-z+.-]*:/i.test(target)) {
        return false; // http(s), mailto: outside the repository
      }
      if (target.startsWith('#')) {
        return !headings.has(target.slice(1));
      }
      return !existsSync(join(ROOT, target.split('#')[0] as string));
    });
    expect(broken).toEqual([]);
  });

  it('has the sections the code\'s own messages send readers to', () => {
    const pointers = [...sourceText(join(ROOT, 'src')).matchAll(/README, "([^"]+)"/g)].map((m) => m[1] as string);
    expect(pointers.length).toBeGreaterThan(0);
    for (const heading of pointers) {
      expect(() => section(heading)).not.toThrow();
    }
  });

  it('lists in its configuration table only environment variables that src/ reads', () => {
    const src = sourceText(join(ROOT, 'src'));
    const names = firstColumn('Environment variables').flatMap((cell) => [...cell.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)].map((m) => m[1] as string));
    expect(names).toEqual(expect.arrayContaining(['CAREBRIDGE_CONFIG', 'CAREBRIDGE_DATABASE', 'PORT', 'PUBLIC_URL']));
    expect(names.filter((name) => !new RegExp(`\\b${name}\\b`).test(src))).toEqual([]);
  });

  it('lists in its config-file table only keys of profiles/carebridge-config.schema.json', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'profiles/carebridge-config.schema.json'), 'utf8')) as Json;
    const deref = (node: Json): Json => (typeof node.$ref === 'string' && node.$ref.startsWith('#/$defs/') ? deref((schema.$defs as Record<string, Json>)[node.$ref.slice('#/$defs/'.length)] as Json) : node);
    const child = (node: Json, key: string): Json | undefined => {
      const here = deref(node);
      const direct = (here.properties as Record<string, Json> | undefined)?.[key];
      if (direct) {
        return direct;
      }
      for (const branch of [...((here.oneOf as Json[] | undefined) ?? []), ...((here.anyOf as Json[] | undefined) ?? [])]) {
        const found = child(branch, key);
        if (found) {
          return found;
        }
      }
      return undefined;
    };
    const keys = firstColumn('The config file').map((cell) => /^`([^`]+)`$/.exec(cell)?.[1] ?? cell);
    expect(keys.length).toBeGreaterThan(20);
    const unknown = keys.filter((key) => {
      let node: Json | undefined = schema;
      for (const part of key.split('.')) {
        const [name, ...brackets] = part.split('[]');
        node = node ? child(node, name as string) : undefined;
        for (let i = 0; node && i < brackets.length; i++) {
          node = deref(node).items as Json | undefined;
        }
      }
      return node === undefined;
    });
    expect(unknown).toEqual([]);
  });
});
