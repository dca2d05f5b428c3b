// POST /fhir/$process-message: Da Vinci Unsolicited Notifications of admissions and discharges
// (http://hl7.org/fhir/us/davinci-alerts/) from hospitals. What a notification does is in
// workflow/notifications.ts; here: who may send one, and the answer.
//
// The answer, per the IG (guidance.md, "Sending Unsolicited Notifications" and "Reliable
// Delivery"): no response message is expected (the operation's async and response-url are not
// used); "For successful transactions 200, 202, or 204 SHALL be used", and an error SHOULD carry
// an OperationOutcome. carebridge processes the message synchronously, in one transaction, before
// it answers, so it answers 200 with an OperationOutcome saying what it did, as the IG's example
// exchange does (process-message-discharge-example: "HTTP/1.1 200 OK" with an informational
// OperationOutcome); 202 would promise processing still to come. A malformed message is 400, one
// carebridge cannot act on 422, a sender that is not the caller 403; nothing is written then.
import type { Identifier } from '@medplum/fhirtypes';
import { forbiddenError } from '../../auth/access/policy.ts';
import type { FhirStore } from '../../store/fhir-store.ts';
import { readNotificationMessage } from '../../workflow/notification-message.ts';
import { receiveNotification } from '../../workflow/notifications.ts';
import type { FhirRequest, FhirResponse } from './request.ts';

/**
 * The identifier the sending Organization is known by. A hospital sends its own notifications:
 * the sender must carry the hospital's identifier (as a pushed plan's discharging organization
 * must, push.ts). An admin sends on anyone's behalf, keyed by the sender's first identifier.
 */
function senderKeyOf(request: FhirRequest, identifiers: readonly Identifier[]): Identifier {
  const principal = request.principal;
  if (!principal || principal.role === 'admin') {
    return identifiers[0] as Identifier;
  }
  const own = identifiers.find((i) => i.system === principal.organization.system && i.value === principal.organization.value);
  if (!own) {
    throw forbiddenError("A hospital sends notifications of its own admissions and discharges: this message's sender is another organization");
  }
  return own;
}

export async function processMessage(store: FhirStore, request: FhirRequest): Promise<FhirResponse> {
  const role = request.principal?.role;
  // Before the message is read: an agency learns nothing from how its message would have fared.
  if (role !== undefined && role !== 'hospital' && role !== 'admin') {
    throw forbiddenError('Only a hospital (or an admin) sends admit and discharge notifications');
  }
  const message = readNotificationMessage(request.body);
  const senderKey = senderKeyOf(request, message.senderIdentifiers);
  const answer = await receiveNotification(store, message, senderKey);
  return { status: 200, body: answer.outcome, headers: {} };
}
