// Sums the V8 CPU profiles a benchmark wrote (BENCH_CPU_PROF=<dir>): self and inclusive time per
// function, over every .cpuprofile in the folder (a server writes one per thread: the main
// thread, and the SQLite checkpointer's). Inclusive time counts a function once per sample even
// when it recurses. Async functions are charged to whoever resumed them, so read inclusive times
// of async code with care; self times are exact.
// Run: node bench/profile-summary.ts <dir> [top=40] [filter, e.g. "src/store"]
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [dir, topArg, filter] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node bench/profile-summary.ts <dir> [top] [filter]');
  process.exit(2);
}
const top = Number(topArg ?? 40);
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;

const name = (node: ProfileNode): string => {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*\/node_modules\//, '').replace(/^.*\/(src|bench|test)\//, '$1/');
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
};

for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parent.set(child, node.id);
    }
  }
  const timeOf = new Map<number, number>();
  profile.samples.forEach((id, i) => timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  for (const [id, micros] of timeOf) {
    total += micros;
    const node = byId.get(id) as ProfileNode;
    self.set(name(node), (self.get(name(node)) ?? 0) + micros);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = name(byId.get(at) as ProfileNode);
      if (!seen.has(key)) {
        seen.add(key);
        inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
      }
    }
  }
}

function print(title: string, times: Map<string, number>): void {
  console.log(`${title} (of ${(total / 1000).toFixed(0)} ms sampled)`);
  const rows = [...times].filter(([key]) => !filter || key.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, micros] of rows) {
    console.log(`${((100 * micros) / total).toFixed(1).padStart(5)} %  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${key}`);
  }
}

print('self', self);
print('inclusive', inclusive);
