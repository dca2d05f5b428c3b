// How the benchmarks print: plain-text tables and section titles.

/** A table with the first `alignLeft` columns left-aligned and the rest right-aligned (numbers). */
export function table(headers: string[], rows: string[][], alignLeft = 1): void {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => (c < alignLeft ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ').trimEnd();
  console.log(`  ${line(headers)}`);
  console.log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  rows.forEach((r) => console.log(`  ${line(r)}`));
}

export function section(title: string): void {
  console.log(`\n${title}\n${'='.repeat(title.length)}`);
}
