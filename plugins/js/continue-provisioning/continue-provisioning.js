// continue-provisioning, in JavaScript: SailPoint's "Provisioning Completed" carried on in
// provhost, account request by account request.
//
// - A request that failed (`provisioningResult` FAILED; or, when the run reports `errors`, one that
//   did not succeed) retries provhost's failed actions of the person in the system the request's
//   source is: the latest one of each entitlement or account. A failed request with nothing to
//   retry is noted in the audit trail.
// - A request that succeeded re-enforces the person's managed entitlements in the systems that
//   depend on what it changed, as the setting `dependent-systems` says.
// - Errors of the run that no failed request accounts for are noted.
//
// Settings: `sources` (which provhost system each SailPoint source is) and `dependent-systems`. A
// refused call is logged and counted, and the rest goes on; `unavailable` abandons the run.

import { retryAction, reEnforceEntitlement } from 'provhost:plugin/actions@0.2.0';
import { getPerson, listEntitlements, listActions } from 'provhost:plugin/queries@0.2.0';
import { log, auditNote } from 'provhost:plugin/log@0.2.0';
import { get as config } from 'provhost:plugin/settings@0.2.0';

/** The `;`-separated `LEFT=RIGHT` entries of a setting; a malformed one abandons the run. */
function entries(key, form) {
  const found = [];
  for (const entry of (config(key) ?? '').split(';').map((e) => e.trim())) {
    if (entry.length === 0) continue;
    const at = entry.indexOf('=');
    const [left, right] = at < 0 ? ['', ''] : [entry.slice(0, at).trim(), entry.slice(at + 1).trim()];
    if (left.length === 0 || right.length === 0) throw `setting \`${key}\`: entry '${entry}' is not ${form}`;
    found.push([left, right]);
  }
  return found;
}

function readDependents() {
  const form = 'SYSTEM:ATTRIBUTE=SYSTEM,SYSTEM';
  return entries('dependent-systems', form).map(([left, right]) => {
    const at = left.indexOf(':');
    const [system, attribute] = at < 0 ? ['', ''] : [left.slice(0, at).trim(), left.slice(at + 1).trim()];
    if (system.length === 0 || attribute.length === 0) {
      throw `setting \`dependent-systems\`: entry '${left}=${right}' is not ${form}`;
    }
    const systems = right.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    return { system, attribute: attribute.toLowerCase(), systems };
  });
}

/** The provhost system a source is: by its id, else by its name. */
function systemOf(sources, source) {
  const find = (key) => sources.find(([k]) => k === key)?.[1];
  return find(source.id) ?? find(source.name);
}

function dependentsOf(dependents, system, attributes) {
  const changed = attributes.map((a) => a.toLowerCase());
  const found = [];
  for (const d of dependents.filter((d) => d.system === system && changed.includes(d.attribute))) {
    for (const s of d.systems) if (!found.includes(s)) found.push(s);
  }
  return found;
}

/** The WIT error a refused host call threw, as `{ tag, val }`. */
function refusal(e) {
  return e && e.payload !== undefined ? e.payload : { tag: 'unavailable', val: String(e) };
}

/** A refusal as `tag: message`, as the Rust and Python versions write it too. */
function describe(error) {
  return typeof error.val === 'string' ? `${error.tag}: ${error.val}` : `${error.tag}: ${error.val.message}`;
}

function read(call, what) {
  try {
    return call();
  } catch (e) {
    throw `${what}: ${describe(refusal(e))}`;
  }
}

function ended(request, runHasErrors) {
  const result = request.provisioningResult.toUpperCase();
  if (result === 'SUCCESS' || result === 'FAILED') return result;
  return runHasErrors ? 'FAILED' : 'UNFINISHED';
}

/** One event's run: what it planned and noted so far. */
class Run {
  constructor(event, name, dependents) {
    this.event = event;
    this.person = event.recipient.id;
    this.name = name;
    this.dependents = dependents;
    this.retries = 0;
    this.reEnforced = [];
    this.retriedIn = [];
    this.noted = 0;
    this.refused = 0;
  }

  /** Notes a planned action, or logs and counts a refusal; `unavailable` abandons the run. */
  planned(what, call) {
    let receipt;
    try {
      receipt = call();
    } catch (e) {
      const error = refusal(e);
      if (error.tag === 'unavailable') throw `${what}: platform unavailable: ${error.val}`;
      this.refused += 1;
      log('warn', `${what}: refused: ${describe(error)}`);
      return false;
    }
    auditNote(receipt.action, `${what}: planned`, false);
    return true;
  }

  note(message, isError) {
    auditNote(undefined, message, isError);
    this.noted += 1;
  }

  retryFailed(request, system, what) {
    if (this.retriedIn.includes(system)) return;
    this.retriedIn.push(system);
    const failed = read(
      () => listActions({ person: this.person, state: 'error', system }, 500),
      `reading the failed actions of ${this.person} in ${system}`,
    );
    // Newest first: the first of each target is its latest failure; older ones were retried.
    const seen = new Set();
    const latest = failed.filter((a) => {
      const key = `${a.kind}/${a.target.val}`;
      const first = !seen.has(key);
      seen.add(key);
      return first;
    });
    if (latest.length === 0) {
      const errors = this.event.errors.length > 0 ? ` (${this.event.errors.join('; ')})` : '';
      this.note(
        `${what} of account ${request.accountId} failed${errors}; ${this.name} has no failed action in ${system} to retry`,
        true,
      );
      return;
    }
    const reason = `SailPoint provisioning ${this.event.trackingNumber}: ${what} failed`;
    for (const action of latest) {
      if (this.planned(`retry ${action.kind} on ${system}`, () => retryAction(action.id, reason))) this.retries += 1;
    }
  }

  reEnforceDependents(request, system, what) {
    const changed = request.attributeRequests.map((a) => a.name);
    const dependents = dependentsOf(this.dependents, system, changed);
    if (dependents.length === 0) {
      const names = changed.length > 0 ? changed.join(', ') : 'no attribute';
      log('info', `${what} succeeded; no system depends on ${names} in ${system}`);
      return;
    }
    const entitlements = read(() => listEntitlements(this.person, undefined), `reading the entitlements of ${this.person}`);
    const reason = `SailPoint provisioning ${this.event.trackingNumber}: ${changed.join(', ')} changed in ${system}`;
    for (const entitlement of entitlements) {
      if (!entitlement.managed || !dependents.includes(entitlement.system)) continue;
      if (this.reEnforced.includes(entitlement.id)) continue;
      const planned = this.planned(
        `re-enforce ${entitlement.displayName} on ${entitlement.system}`,
        () => reEnforceEntitlement(this.person, entitlement.id, reason),
      );
      if (planned) this.reEnforced.push(entitlement.id);
    }
  }
}

function onProvisioningCompleted(event) {
  const sources = entries('sources', 'SOURCE=SYSTEM');
  const dependents = readDependents();
  const person = event.recipient.id;
  const found = read(() => getPerson(person), `reading person ${person}`);
  const run = new Run(event, found.displayName(), dependents);
  const runHasErrors = event.errors.length > 0;
  let errorsAccounted = false;
  for (const request of event.accountRequests) {
    const what = `${request.accountOperation} in ${request.source.name}`;
    const system = systemOf(sources, request.source);
    if (system === undefined) {
      run.note(
        `${what}: SailPoint source '${request.source.name}' (${request.source.id}) is not in the setting \`sources\`; nothing done for it`,
        false,
      );
      continue;
    }
    const result = ended(request, runHasErrors);
    if (result === 'FAILED') {
      errorsAccounted = true;
      run.retryFailed(request, system, what);
    } else if (result === 'SUCCESS') {
      run.reEnforceDependents(request, system, what);
    } else {
      log('info', `${what} is ${request.provisioningResult}; nothing to do until it ends`);
    }
  }
  if (runHasErrors && !errorsAccounted) {
    run.note(
      `SailPoint provisioning ${event.trackingNumber} reported errors no failed account request accounts for: ${event.errors.join('; ')}`,
      true,
    );
  }
  const refused = run.refused > 0 ? `; ${run.refused} refused` : '';
  return {
    summary: `${run.name}: provisioning ${event.trackingNumber} (${event.action}): planned ${run.retries} retries, `
      + `${run.reEnforced.length} re-enforcements; ${run.noted} noted${refused}`,
  };
}

export const handler = {
  handle(event) {
    if (event.tag === 'provisioning-completed') return onProvisioningCompleted(event.val);
    return { summary: `${event.tag} events are not handled by this plugin` };
  },
};
