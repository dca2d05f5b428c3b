// What each vital sign is in LOINC and which UCUM units a report threshold may use for it.
import type { VitalSign } from './transition-plan.ts';

export interface VitalSignDefinition {
  loinc: string;
  display: string;
  units: readonly string[];
}

export const VITAL_SIGNS: Record<VitalSign, VitalSignDefinition> = {
  'body-weight': { loinc: '29463-7', display: 'Body weight', units: ['kg', '[lb_av]', 'g'] },
  'heart-rate': { loinc: '8867-4', display: 'Heart rate', units: ['/min'] },
  'systolic-blood-pressure': { loinc: '8480-6', display: 'Systolic blood pressure', units: ['mm[Hg]'] },
  'diastolic-blood-pressure': { loinc: '8462-4', display: 'Diastolic blood pressure', units: ['mm[Hg]'] },
  'oxygen-saturation': {
    loinc: '59408-5',
    display: 'Oxygen saturation in Arterial blood by Pulse oximetry',
    units: ['%'],
  },
  'body-temperature': { loinc: '8310-5', display: 'Body temperature', units: ['Cel', '[degF]'] },
  'respiratory-rate': { loinc: '9279-1', display: 'Respiratory rate', units: ['/min'] },
  'blood-glucose': {
    loinc: '41653-7',
    display: 'Glucose [Mass/volume] in Capillary blood by Glucometer',
    units: ['mg/dL'],
  },
};
