// Canonical URLs of carebridge's profiles (StructureDefinitions in profiles/).
import { PROFILE_BASE } from './terminology.ts';

export const PROFILES = {
  transitionCarePlan: `${PROFILE_BASE}/carebridge-transition-careplan`,
  transitionCareTeam: `${PROFILE_BASE}/carebridge-transition-careteam`,
  caregiverTask: `${PROFILE_BASE}/carebridge-caregiver-task`,
  referralTask: `${PROFILE_BASE}/carebridge-referral-task`,
  referralRequest: `${PROFILE_BASE}/carebridge-referral-request`,
  followUpAppointment: `${PROFILE_BASE}/carebridge-follow-up-appointment`,
  transitionCoverage: `${PROFILE_BASE}/carebridge-transition-coverage`,
} as const;

export type ProfileName = keyof typeof PROFILES;
