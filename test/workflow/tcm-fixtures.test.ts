// Every plan fixture has its expected TCM timeline (fixtures/timelines/, worked out by hand from
// the calendar): the clock must agree with each one.
import { describe, expect, it } from '@jest/globals';
import { DEFAULT_CLOCK, clockRulesFor } from '../../src/config/clock.ts';
import { tcmDeadlines } from '../../src/workflow/tcm-clock.ts';
import { readJson, readPlan, validPlanNames } from '../support/fixtures.ts';

interface ExpectedTimeline {
  tcmComplexity: string;
  deadlines: { kind: string; dueDay: string; due: string }[];
}

describe('expected timelines of the plan fixtures', () => {
  it.each(validPlanNames())('%s', (name) => {
    const plan = readPlan(name);
    const expected = readJson(`timelines/${name}`) as ExpectedTimeline;
    expect(plan.tcmComplexity).toBe(expected.tcmComplexity);
    const actual = tcmDeadlines(plan.hospitalStay.dischargedAt, plan.tcmComplexity, clockRulesFor(DEFAULT_CLOCK, plan.hospitalStay.dischargingOrganization.identifier));
    expect(actual.map(({ kind, dueDay, due }) => ({ kind, dueDay, due }))).toEqual(expected.deadlines);
  });
});
