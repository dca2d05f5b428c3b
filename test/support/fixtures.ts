// Reads the plan fixtures of fixtures/ for tests.
import { readFileSync, readdirSync } from 'node:fs';
import type { TransitionPlan } from '../../src/model/transition-plan.ts';

export const FIXTURES_DIR = new URL('../../fixtures/', import.meta.url);

export function readJson(relative: string): unknown {
  return JSON.parse(readFileSync(new URL(relative, FIXTURES_DIR), 'utf8'));
}

export function validPlanNames(): string[] {
  return readdirSync(new URL('plans/', FIXTURES_DIR)).filter((f) => f.endsWith('.json')).sort();
}

export function readPlan(name: string): TransitionPlan {
  return readJson(`plans/${name}`) as TransitionPlan;
}
