// The ids a transaction gives its entries before writing any: a POST's, or a conditional PUT's,
// found by its condition (grouped once per Bundle) inside the write transaction, and guessed
// before it, so that references and index rows are prepared outside the write lock.
import type { SearchRequest } from '@medplum/core';
import type { BundleEntry, Resource } from '@medplum/fhirtypes';
import { newResourceId } from '../../store/resource-id.ts';
import type { FhirStore, StoreTransaction } from '../../store/fhir-store.ts';
import type { Logger } from '../../log/logger.ts';
import { prepareIndexRows } from '../../search/extract-index.ts';
import type { PreparedIndex } from '../../search/extract-index.ts';
import { rewriteReferences } from './references.ts';
import { conditionSearch } from './search-params.ts';
import { multipleMatchesError } from '../../util/precondition-failed.ts';

/** A Bundle entry as transaction() plans it (plan()), with the id decided for it here. */
export interface PlannedEntry {
  index: number;
  entry: BundleEntry;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  type: string;
  /** Instance id from the URL (PUT/DELETE/GET Type/id). */
  id?: string;
  /** Query of a conditional PUT (Type?query). */
  query?: string;
  /** Id chosen for a POST (or the existing match of its If-None-Exist). */
  assignedId?: string;
  /** assignedId was minted here by newResourceId(): no resource has it, the store need not look. */
  minted?: boolean;
  /** Index rows extracted before the write transaction, from the resource as it would be written then. */
  prepared?: PreparedIndex;
  /** A conditional create's match, as assignIds found it in this transaction: nothing to write. */
  existing?: Resource;
  /** What assignIds found for a conditional PUT, in this same transaction: not searched again. */
  match?: { id: string | undefined };
  /** assignIds searched a POST's If-None-Exist in this transaction and found nothing. */
  searchedAbsent?: boolean;
}

/** The condition an entry is created or updated under: If-None-Exist of a POST, the query of a PUT. */
function conditionOf(p: PlannedEntry): string | undefined {
  return p.method === 'POST' ? p.entry.request?.ifNoneExist : p.method === 'PUT' ? p.query : undefined;
}

/**
 * The entries of a Bundle with one condition (method, type and condition): all get the first
 * one's id, and each later one sees what the first writes.
 */
interface ConditionGroup {
  /** The first of them in the order entries run (within a method, the Bundle's order). */
  first: PlannedEntry;
  size: number;
}

/** An entry's condition, parsed once: the search it stands for or why it is not one, and its group. */
type ParsedCondition = ({ request: SearchRequest; error?: undefined } | { request?: undefined; error: unknown }) & { group: ConditionGroup };

/** The conditions of `ordered` (entries in the order they run), by position, grouped in one pass. */
export function parseConditions(ordered: readonly PlannedEntry[]): (ParsedCondition | undefined)[] {
  const groups = new Map<string, ConditionGroup>();
  return ordered.map((p) => {
    const condition = conditionOf(p);
    if (condition === undefined) {
      return undefined;
    }
    const key = `${p.method} ${p.type}?${condition}`;
    const group = groups.get(key) ?? { first: p, size: 0 };
    group.size++;
    groups.set(key, group);
    try {
      return { request: conditionSearch(p.type, condition), group };
    } catch (error) {
      return { error, group };
    }
  });
}

/** The store's candidates of each parsed condition (conditionCandidates), in one call. */
async function candidatesOf(store: StoreTransaction, parsed: readonly (ParsedCondition | undefined)[]): Promise<(string[] | undefined)[]> {
  const requests = parsed.flatMap((c) => (c?.request ? [c.request] : []));
  const found = requests.length > 0 ? await store.conditionCandidates(requests) : [];
  let next = 0;
  return parsed.map((c) => (c?.request ? found[next++] : undefined));
}

/**
 * What each condition matches, as tx.search(conditionSearch(…)) answers it, entry by entry and in
 * order (the first entry that fails, fails the Bundle); a condition without candidates in the
 * index (conditionCandidates, all at once) is not searched. Undefined for an entry without one.
 * A conditional PUT matches only what the caller may change (SearchOptions.writable), as PUT
 * Type?query does on its own.
 */
async function searchConditions(tx: StoreTransaction, planned: readonly PlannedEntry[], parsed: readonly (ParsedCondition | undefined)[]): Promise<((() => Promise<Resource[]>) | undefined)[]> {
  const candidates = await candidatesOf(tx, parsed);
  return parsed.map((c, i) => {
    if (c === undefined) {
      return undefined;
    }
    if (!c.request) {
      return () => Promise.reject(c.error);
    }
    const request = c.request;
    const writable = planned[i]?.method === 'PUT';
    return candidates[i]?.length === 0 ? () => Promise.resolve([]) : async () => (await tx.search(request, { writable })).resources;
  });
}

/**
 * Ids of POST entries and conditional PUTs, found before anything is written; a new one is taken
 * from `minted` (chosen before the transaction) when it has one for the entry.
 */
export async function assignIds(tx: StoreTransaction, planned: PlannedEntry[], parsed: readonly (ParsedCondition | undefined)[], map: Map<string, string>, mayChooseIds: boolean, minted: ReadonlyMap<PlannedEntry, string>): Promise<void> {
  const matches = await searchConditions(tx, planned, parsed);
  for (const [i, p] of planned.entries()) {
    const search = matches[i];
    const group = parsed[i]?.group;
    if (p.method === 'POST') {
      if (group && search) {
        const found = await search();
        if (found.length > 1) {
          throw multipleMatchesError(`The If-None-Exist condition of Bundle.entry[${p.index}]`);
        }
        if (found[0]?.id) {
          p.assignedId = found[0].id;
          p.existing = found[0];
        } else {
          p.searchedAbsent = group.size === 1;
          // A second entry with the condition finds what the first creates: references to either name it.
          if (group.first !== p) {
            p.assignedId = group.first.assignedId;
            p.minted = true;
          }
        }
      }
      if (p.assignedId === undefined) {
        p.assignedId = minted.get(p) ?? newResourceId();
        p.minted = true;
      }
    } else if (p.method === 'PUT' && group && search) {
      const found = await search();
      // Two entries with one condition: the second must see what the first writes, so search again
      // then; when nothing matches now, it will find what the first creates, under the first's id.
      const { first, size } = group;
      const chosen = found.length === 1 ? found[0]?.id : first !== p && found.length === 0 ? first.assignedId : mayChooseIds ? p.entry.resource?.id : undefined;
      p.assignedId = chosen ?? minted.get(p) ?? newResourceId();
      p.minted = chosen === undefined;
      p.match = found.length <= 1 && size === 1 ? { id: found[0]?.id } : undefined;
    } else if (p.method === 'PUT') {
      p.assignedId = p.id;
    }
    if (p.entry.fullUrl && p.assignedId) {
      map.set(p.entry.fullUrl, `${p.type}/${p.assignedId}`);
    }
  }
}

/** The first attempt's work that needs no database, done before the store's write transaction begins. */
interface FirstAttempt {
  /** Copies of the entries, references rewritten to `tentative`; undefined once used. */
  entries: BundleEntry[] | undefined;
  /** New ids for the entries that create, should their conditions match nothing. */
  minted: Map<PlannedEntry, string>;
  /** fullUrl → Type/id with those ids. */
  tentative: Map<string, string>;
  prepared: (PreparedIndex | undefined)[];
}

/**
 * On SQLite the write lock is shared by every server process: what can be done before taking it
 * is. Entries usually create (their conditions match nothing), so ids are minted for them now,
 * references rewritten to those ids and the index rows extracted. If a condition matches an
 * existing resource after all, the transaction starts that part over (see sameTargets); the store
 * uses prepared rows only for the very content it writes (indexRowsOf).
 */
export function prepareFirstAttempt(ordered: readonly PlannedEntry[], parsed: readonly (ParsedCondition | undefined)[], entries: BundleEntry[], likely: ReadonlyMap<PlannedEntry, string>): FirstAttempt {
  const minted = new Map<PlannedEntry, string>();
  const tentative = new Map<string, string>();
  for (const [i, p] of ordered.entries()) {
    const creates = p.method === 'POST' || (p.method === 'PUT' && p.query !== undefined);
    // Entries with one condition share the first one's id (see assignIds), chosen before theirs.
    const first = parsed[i]?.group.first;
    const shared = first === undefined || first === p ? undefined : (likely.get(first) ?? minted.get(first));
    const id = likely.get(p) ?? shared ?? (creates ? newResourceId() : p.method === 'PUT' ? p.id : undefined);
    if (creates && id && !likely.has(p) && shared === undefined) {
      minted.set(p, id);
    }
    if (p.entry.fullUrl && id) {
      tentative.set(p.entry.fullUrl, `${p.type}/${id}`);
    }
  }
  const prepared = entries.map((entry) => {
    const method = entry.request?.method;
    if ((method !== 'POST' && method !== 'PUT') || !entry.resource) {
      return undefined;
    }
    rewriteReferences(entry.resource, tentative);
    return prepareIndexRows(entry.resource);
  });
  return { entries, minted, tentative, prepared };
}

/**
 * The ids assignIds will most likely give the conditional entries that match what is stored (or,
 * PUT, name the id the caller chose), from one look at the index before the write transaction:
 * most pushes name organizations and practitioners that exist, and with their ids the references
 * and index rows prepared before the transaction are the ones written. Only a guess (the one
 * candidate a condition has, unsearched): assignIds decides, in the transaction, and sameTargets
 * notices when it decided otherwise. When the look fails there is no guess: the transaction looks
 * again itself, and what fails there is what it reports.
 */
export async function likelyIds(store: FhirStore, planned: readonly PlannedEntry[], parsed: readonly (ParsedCondition | undefined)[], mayChooseIds: boolean, logger: Logger | undefined): Promise<Map<PlannedEntry, string>> {
  const likely = new Map<PlannedEntry, string>();
  let candidates: (string[] | undefined)[];
  try {
    candidates = await candidatesOf(store, parsed);
  } catch (error) {
    // The error's kind only: a database's message may quote the values of a condition.
    const code = (error as { code?: unknown } | null)?.code;
    logger?.warn('transaction id guess failed', { errorName: error instanceof Error ? error.name : typeof error, ...(typeof code === 'string' ? { code } : {}) });
    return likely;
  }
  for (const [i, p] of planned.entries()) {
    const ids = candidates[i];
    // A second entry with the condition takes the first one's id, chosen or not (assignIds).
    const chooses = p.method === 'PUT' && ids?.length === 0 && mayChooseIds && parsed[i]?.group.first === p;
    const id = ids?.length === 1 ? ids[0] : chooses ? p.entry.resource?.id : undefined;
    if (id !== undefined) {
      likely.set(p, id);
    }
  }
  return likely;
}

/** Whether assignIds gave every fullUrl the target prepareFirstAttempt rewrote its references to. */
export function sameTargets(map: ReadonlyMap<string, string>, tentative: ReadonlyMap<string, string>): boolean {
  return map.size === tentative.size && [...tentative].every(([url, target]) => map.get(url) === target);
}
