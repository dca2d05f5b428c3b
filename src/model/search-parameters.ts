// carebridge's own SearchParameters (beside R4's, indexed by validation/definitions.ts).
import type { SearchParameter } from '@medplum/fhirtypes';
import { CAREBRIDGE_BASE, SYSTEMS } from './terminology.ts';

/**
 * `Task?open-deadline=lt<now>`: the due time (restriction.period.end) of a TCM deadline Task that
 * is still open — neither met nor marked overdue. A deadline leaves this index the moment the sweep
 * settles it, so the sweep reads exactly the deadlines that fell due, never all transitions
 * (R4 has no search parameter on Task.restriction at all).
 */
export const OPEN_DEADLINE: SearchParameter = {
  resourceType: 'SearchParameter',
  id: 'Task-open-deadline',
  url: `${CAREBRIDGE_BASE}/SearchParameter/Task-open-deadline`,
  name: 'open-deadline',
  status: 'active',
  description: 'Due time of a TCM deadline Task that is neither met nor marked overdue',
  code: 'open-deadline',
  base: ['Task'],
  type: 'date',
  expression: `Task.where(code.coding.where(system = '${SYSTEMS.tcmDeadline}').exists() and (status = 'requested' or status = 'ready' or status = 'in-progress') and businessStatus.coding.where(system = '${SYSTEMS.tcmDeadline}').empty()).restriction.period.end`,
};

export const CAREBRIDGE_SEARCH_PARAMETERS: readonly SearchParameter[] = [OPEN_DEADLINE];

/** Date parameters whose index rows are few by design ("Type:code"): a search by them may start from their index. */
export const SPARSE_DATE_PARAMETERS: ReadonlySet<string> = new Set(['Task:open-deadline']);
