// Words and tones for what carebridge answers. Dates are shown as the hospital wrote them: a due
// time is the end of a day in the hospital's zone, and converting it to the reader's zone would
// move it to another day.
import type { Tone } from './dom.ts';
import type { DeadlineState, Finding } from './types.ts';

const DAY = new Intl.DateTimeFormat('en-US', { weekday: 'short', month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });

/** "Wed, Dec 2, 2026" for the calendar day written in an ISO date or dateTime. */
export function day(value: string | undefined): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(value ?? '');
  return match ? DAY.format(new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])))) : '—';
}

/** "Wed, Dec 2, 2026, 14:00" (the time as written, when there is one). */
export function dayTime(value: string | undefined): string {
  const time = /T(\d{2}:\d{2})/.exec(value ?? '')?.[1];
  return time ? `${day(value)}, ${time}` : day(value);
}

/** An instant in the reader's own zone (when carebridge did something: deliveries, polls). */
export function instant(value: string | number | undefined): string {
  if (value === undefined) {
    return '—';
  }
  return new Date(value).toLocaleString('en-US', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export function age(seconds: number | undefined): string {
  if (seconds === undefined) {
    return '—';
  }
  if (seconds < 120) {
    return `${seconds} s`;
  }
  if (seconds < 7200) {
    return `${Math.round(seconds / 60)} min`;
  }
  return seconds < 172_800 ? `${Math.round(seconds / 3600)} h` : `${Math.round(seconds / 86_400)} days`;
}

export const DEADLINE: Record<DeadlineState, { tone: Tone; label: string }> = {
  overdue: { tone: 'danger', label: 'Overdue' },
  open: { tone: 'info', label: 'Due' },
  met: { tone: 'ok', label: 'Met' },
  'met-late': { tone: 'warning', label: 'Met late' },
  ended: { tone: 'muted', label: 'Ended' },
};

export function referralTone(status: string): Tone {
  if (['accepted', 'in-progress', 'completed'].includes(status)) {
    return 'ok';
  }
  if (['rejected', 'failed'].includes(status)) {
    return 'danger';
  }
  if (status === 'on-hold') {
    return 'warning';
  }
  return ['cancelled', 'entered-in-error'].includes(status) ? 'muted' : 'info';
}

export const REFERRAL_STATE: Record<string, { tone: Tone; label: string }> = {
  none: { tone: 'warning', label: 'No agency referred' },
  open: { tone: 'warning', label: 'No agency yet' },
  placed: { tone: 'ok', label: 'Placed' },
  withdrawn: { tone: 'muted', label: 'Referrals withdrawn' },
  'declined-by-all': { tone: 'danger', label: 'Declined by every agency' },
};

export function findingTone(finding: Finding): Tone {
  return finding.severity === 'error' ? 'danger' : finding.severity === 'warning' ? 'warning' : 'ok';
}

/** A finding in a few words, for the list ("eligibility-not-checked" → "Eligibility not checked"); the detail has its sentence. */
export function findingLabel(finding: Finding): string {
  const words = finding.code.replace(/-/g, ' ');
  return `${words.charAt(0).toUpperCase()}${words.slice(1)}`;
}

export const SEVERITY: Record<Finding['severity'], string> = { error: 'Problem', warning: 'Check', information: 'OK' };

export function roleName(role: string): string {
  return { hospital: 'hospital', agency: 'home-care agency', 'case-management': 'case management', admin: 'administrator' }[role] ?? role;
}
