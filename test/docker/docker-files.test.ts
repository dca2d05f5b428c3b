// Docker cannot run here, so the Dockerfile and docker-compose.yml are kept correct by reading them
// against the repository: what they copy exists (or a stage makes it), the npm scripts and the
// carebridge commands they run are real, the health route is served, the environment variables
// are ones carebridge reads, the Node major is the one package.json asks for, and the compose
// services agree on their image, volumes, secrets, mounts and start order.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { COMMANDS } from '../../src/cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

interface Stage {
  name: string;
  from: string;
  workdir: string;
  steps: Instruction[];
}

function stages(all: Instruction[]): Stage[] {
  const result: Stage[] = [];
  for (const step of all) {
    if (step.keyword === 'FROM') {
      const [image = '', , name = `stage-${result.length}`] = step.args.split(/\s+/);
      result.push({ name, from: image, workdir: '/', steps: [] });
      continue;
    }
    const stage = result.at(-1);
    if (!stage) {
      continue;
    }
    if (step.keyword === 'WORKDIR') {
      stage.workdir = step.args;
    }
    stage.steps.push(step);
  }
  return result;
}

/** A JSON-form instruction's words (CMD ["serve"]); undefined for the shell form. */
function jsonWords(args: string): string[] | undefined {
  const value = args.startsWith('[') ? (JSON.parse(args) as unknown) : undefined;
  return Array.isArray(value) ? (value as string[]) : undefined;
}

/** COPY [--from=x] [--chown=…] src… dest */
function copyOf(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1) as string };
}

/** What a stage's RUN steps make, by the path they leave under its WORKDIR. */
const MADE_BY: Record<string, RegExp> = {
  node_modules: /\bnpm ci\b/,
  dist: /\bnpm run build\b/,
};

const SOURCE_FILES: string[] = (function walk(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(ROOT, path)).isDirectory() ? walk(path) : [path];
  });
})('src');
const SOURCES = SOURCE_FILES.map((file) => read(file)).join('\n');

/** carebridge reads it (process.env.X, env.X) — or, for NODE_ENV, the web framework does. */
function isReadByCarebridge(name: string): boolean {
  if (new RegExp(`\\benv\\.${name}\\b|\\benv\\[['"]${name}['"]\\]`).test(SOURCES)) {
    return true;
  }
  return name === 'NODE_ENV' && /process\.env\.NODE_ENV/.test(readFileSync(join(ROOT, 'node_modules/express/lib/application.js'), 'utf8'));
}

/** The routes the app serves at its root (app.get('/healthz', …)). */
function servesRoute(path: string): boolean {
  return new RegExp(`app\\.get\\(\\s*['"]${path.replace(/\//g, '\\/')}['"]`).test(read('src/api/app.ts'));
}

function healthPath(command: string): string | undefined {
  return /127\.0\.0\.1:[^/]*(\/[a-z]+)/.exec(command)?.[1];
}

const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string>; engines: { node: string } };
const NODE_MAJOR = /^>=?\s*(\d+)/.exec(packageJson.engines.node)?.[1];
const DOCKERFILE = instructions(read('Dockerfile'));
const STAGES = stages(DOCKERFILE);
const RUNTIME = STAGES.at(-1) as Stage;
const envOf = (stage: Stage): Record<string, string> =>
  Object.fromEntries(stage.steps.filter((s) => s.keyword === 'ENV').flatMap((s) => [...s.args.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1] as string, m[2] as string])));

describe('the Dockerfile', () => {
  it('builds on the Node major package.json asks for, in every stage', () => {
    expect(NODE_MAJOR).toBeDefined();
    expect(STAGES.map((s) => s.from)).toEqual(STAGES.map(() => expect.stringMatching(new RegExp(`^node:${NODE_MAJOR}(-|$)`))));
  });

  it('copies only what exists in the repository, or what an earlier stage makes', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const stage of STAGES) {
      for (const step of stage.steps.filter((s) => s.keyword === 'COPY')) {
        const { from, sources } = copyOf(step.args);
        for (const source of sources) {
          if (!from) {
            expect({ stage: stage.name, source, exists: existsSync(join(ROOT, source)) }).toEqual({ stage: stage.name, source, exists: true });
            expect({ source, ignored: ignored.includes(source) }).toEqual({ source, ignored: false });
            continue;
          }
          const maker = STAGES.find((s) => s.name === from);
          const made = maker && source.startsWith(`${maker.workdir}/`) ? source.slice(maker.workdir.length + 1) : undefined;
          const recipe = made === undefined ? undefined : MADE_BY[made];
          const runs = maker?.steps.filter((s) => s.keyword === 'RUN').map((s) => s.args) ?? [];
          expect({ stage: stage.name, from, source, made: recipe !== undefined && runs.some((r) => recipe.test(r)) }).toEqual({ stage: stage.name, from, source, made: true });
        }
      }
    }
  });

  it('builds the board (npm run build) and runs only npm scripts that exist', () => {
    const runs = DOCKERFILE.filter((s) => s.keyword === 'RUN').map((s) => s.args);
    const scripts = runs.flatMap((r) => [...r.matchAll(/\bnpm run ([\w:-]+)/g)].map((m) => m[1] as string));
    expect(scripts).toContain('build');
    for (const script of scripts) {
      expect({ script, defined: script in packageJson.scripts }).toEqual({ script, defined: true });
    }
    expect(copyOf(RUNTIME.steps.find((s) => s.keyword === 'COPY' && s.args.includes('--from=build'))?.args ?? '').dest).toBe('./dist');
  });

  it('starts a real carebridge command as a non-root user, and checks its health at a real route', () => {
    const entrypoint = jsonWords(RUNTIME.steps.find((s) => s.keyword === 'ENTRYPOINT')?.args ?? '');
    expect(entrypoint).toEqual(['node', 'bin/carebridge.js']);
    expect(RUNTIME.steps.some((s) => s.keyword === 'COPY' && copyOf(s.args).sources.includes('bin'))).toBe(true);
    const cmd = jsonWords(RUNTIME.steps.find((s) => s.keyword === 'CMD')?.args ?? '') ?? [];
    expect(Object.keys(COMMANDS)).toContain(cmd[0]);
    expect(RUNTIME.steps.find((s) => s.keyword === 'USER')?.args).toBe('node');
    const healthcheck = RUNTIME.steps.find((s) => s.keyword === 'HEALTHCHECK')?.args ?? '';
    expect(healthPath(healthcheck)).toBe('/healthz');
    expect(servesRoute('/healthz')).toBe(true);
  });

  it('keeps SQLite in the data volume and sets only variables carebridge reads', () => {
    const env = envOf(RUNTIME);
    const volume = jsonWords(RUNTIME.steps.find((s) => s.keyword === 'VOLUME')?.args ?? '') ?? [];
    expect(env.CAREBRIDGE_DATABASE).toMatch(/^sqlite:/);
    expect(volume.some((dir) => env.CAREBRIDGE_DATABASE?.startsWith(`sqlite:${dir}/`))).toBe(true);
    expect(RUNTIME.steps.find((s) => s.keyword === 'EXPOSE')?.args).toBe(env.PORT);
    for (const name of Object.keys(env)) {
      expect({ name, read: isReadByCarebridge(name) }).toEqual({ name, read: true });
    }
  });
});

interface ComposeService {
  build?: string | { context: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  secrets?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
}

interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file: string }>;
}

const COMPOSE = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const SERVICES = Object.entries(COMPOSE.services);
/** The services that run the image this repository builds. */
const CAREBRIDGE = SERVICES.filter(([, s]) => s.build !== undefined);

describe('docker-compose.yml', () => {
  it('runs PostgreSQL and two carebridge servers of the image built here, on one database', () => {
    expect(SERVICES.some(([, s]) => s.image?.startsWith('postgres:'))).toBe(true);
    for (const [name, service] of CAREBRIDGE) {
      expect({ name, context: typeof service.build === 'string' ? service.build : service.build?.context }).toEqual({ name, context: '.' });
    }
    expect(new Set(CAREBRIDGE.map(([, s]) => s.image)).size).toBe(1);
    const servers = CAREBRIDGE.filter(([, s]) => s.command?.[0] === 'serve');
    expect(servers).toHaveLength(2);
    const databases = new Set(CAREBRIDGE.map(([, s]) => s.environment?.CAREBRIDGE_DATABASE));
    expect(databases.size).toBe(1);
    const database = new URL([...databases][0]?.replace(/\$\{[^}]*\}/, 'secret') ?? '');
    expect(database.protocol).toBe('postgres:');
    expect(COMPOSE.services[database.hostname]?.image).toMatch(/^postgres:/);
  });

  it('runs real carebridge commands, with only variables carebridge reads', () => {
    for (const [name, service] of CAREBRIDGE) {
      expect({ name, command: Object.keys(COMMANDS).includes(service.command?.[0] ?? 'serve') }).toEqual({ name, command: true });
      for (const variable of Object.keys(service.environment ?? {})) {
        expect({ name, variable, read: isReadByCarebridge(variable) }).toEqual({ name, variable, read: true });
      }
    }
  });

  it('gives the servers one signing key as a secret, and their config file read-only', () => {
    for (const [name, service] of CAREBRIDGE.filter(([, s]) => s.command?.[0] === 'serve')) {
      const keyFile = service.environment?.CAREBRIDGE_TOKEN_KEY_FILE;
      expect({ name, keyFile }).toEqual({ name, keyFile: expect.stringMatching(/^\/run\/secrets\//) });
      const secret = keyFile?.slice('/run/secrets/'.length) as string;
      expect(service.secrets).toContain(secret);
      // Made by `carebridge clients keygen`, in a folder that is never committed nor sent to a build.
      const file = COMPOSE.secrets?.[secret]?.file ?? '';
      expect(file).toMatch(/^\.\/docker\/secrets\//);
      expect(read('docker/secrets/.gitignore')).toMatch(/^\*$/m);
      expect(read('.dockerignore')).toMatch(/^docker\/secrets$/m);
      const config = service.environment?.CAREBRIDGE_CONFIG;
      const mount = service.volumes?.find((v) => v.split(':')[1] === config);
      expect({ name, mount }).toEqual({ name, mount: expect.stringMatching(/:ro$/) });
    }
  });

  it('mounts only files that exist and volumes that are declared, and declares none unused', () => {
    const used = new Set<string>();
    for (const [name, service] of SERVICES) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] as string;
        if (source.startsWith('./') || source.startsWith('/')) {
          expect({ name, source, exists: existsSync(join(ROOT, source)) }).toEqual({ name, source, exists: true });
        } else {
          used.add(source);
          expect({ name, source, declared: Object.keys(COMPOSE.volumes ?? {}).includes(source) }).toEqual({ name, source, declared: true });
        }
      }
    }
    expect([...used].sort()).toEqual(Object.keys(COMPOSE.volumes ?? {}).sort());
    for (const secret of SERVICES.flatMap(([, s]) => s.secrets ?? [])) {
      expect(Object.keys(COMPOSE.secrets ?? {})).toContain(secret);
    }
  });

  it('starts each service after what it needs, waiting on healthchecks that exist', () => {
    for (const [name, service] of SERVICES) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        const target = COMPOSE.services[dependency];
        expect({ name, dependency, exists: target !== undefined }).toEqual({ name, dependency, exists: true });
        expect(['service_healthy', 'service_completed_successfully', 'service_started']).toContain(condition);
        if (condition === 'service_healthy') {
          expect({ name, dependency, healthcheck: target?.healthcheck?.test !== undefined && target.healthcheck.disable !== true }).toEqual({ name, dependency, healthcheck: true });
        }
        if (condition === 'service_completed_successfully') {
          expect(target?.command?.[0]).toBe('migrate');
        }
      }
      const path = healthPath(service.healthcheck?.test?.join(' ') ?? '');
      if (path) {
        expect({ name, path, served: servesRoute(path) }).toEqual({ name, path, served: true });
      }
    }
    // The servers wait for the schema, the schema for the database.
    for (const [name, service] of CAREBRIDGE.filter(([, s]) => s.command?.[0] === 'serve')) {
      expect({ name, after: Object.keys(service.depends_on ?? {}).sort() }).toEqual({ name, after: ['migrate', 'postgres'] });
    }
  });

  it('balances over exactly the two servers, on the port PUBLIC_URL names', () => {
    const balancer = SERVICES.find(([, s]) => s.image?.startsWith('nginx:'))?.[1];
    const conf = balancer?.volumes?.find((v) => v.endsWith(':/etc/nginx/nginx.conf:ro'))?.split(':')[0] as string;
    const upstreams = [...read(conf).matchAll(/^\s*server\s+([\w-]+):(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`);
    const servers = CAREBRIDGE.filter(([, s]) => s.command?.[0] === 'serve').map(([name]) => `${name}:${envOf(RUNTIME).PORT}`);
    expect(upstreams.sort()).toEqual(servers.sort());
    const publicUrls = new Set(CAREBRIDGE.filter(([, s]) => s.command?.[0] === 'serve').map(([, s]) => s.environment?.PUBLIC_URL));
    // One issuer for both: a token from either is good at both.
    expect(publicUrls.size).toBe(1);
    const publicUrl = new URL(/:-([^}]+)\}/.exec([...publicUrls][0] ?? '')?.[1] ?? '');
    expect(balancer?.ports).toContain(`${publicUrl.port}:${/listen\s+(\d+)/.exec(read(conf))?.[1]}`);
  });
});
