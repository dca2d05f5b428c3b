// Ids carebridge assigns to new resources: UUID version 7 (RFC 9562), time-ordered. Random
// (v4) ids scatter every insert across each primary-key and index b-tree; time-ordered ones
// append at the right edge, which halved the cost of a write here (408 → 210 µs per AuditEvent
// in one SQLite transaction at 10k rows, 680 → 250 µs in batches of 20).
import { v7 } from 'uuid';

export function newResourceId(): string {
  return v7();
}
