// propagate-mail, in JavaScript: when proxyAddresses, mail or userPrincipalName change in Active
// Directory, retry the person's failed actions downstream, update their downstream accounts (except
// those a retry already updates) and re-enforce their managed downstream entitlements.
//
// Settings: `source-system` (default `active-directory`) — the systems, comma-separated, whose
// changes are propagated (`identity` for SailPoint's identity-level changes); `attributes` (default
// `proxyAddresses,mail,userPrincipalName`) — the attributes watched there; `systems` —
// comma-separated downstream systems (default: every system of the person's other than the one
// where the change happened).

import { retryAction, updateAccount, reEnforceEntitlement } from 'provhost:plugin/actions@0.2.0';
import { getPerson, listAccounts, listEntitlements, listActions } from 'provhost:plugin/queries@0.2.0';
import { log, auditNote } from 'provhost:plugin/log@0.2.0';
import { get as config } from 'provhost:plugin/settings@0.2.0';

const WATCHED = 'proxyAddresses,mail,userPrincipalName';

/** The items of a comma-separated setting, trimmed, without empty ones. */
function items(setting) {
  return setting.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** The WIT error a refused host call threw, as `{ tag, val }`. */
function refusal(e) {
  return e && e.payload !== undefined ? e.payload : { tag: 'unavailable', val: String(e) };
}

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

class Tally {
  constructor() {
    this.retries = 0;
    this.updates = 0;
    this.reEnforced = 0;
    this.refused = 0;
  }

  /** Counts a planned action, or logs and counts a refusal; `unavailable` abandons the run. */
  planned(what, call, counter) {
    let receipt;
    try {
      receipt = call();
    } catch (e) {
      const error = refusal(e);
      if (error.tag === 'unavailable') {
        throw `${what}: platform unavailable: ${error.val}`;
      }
      this.refused += 1;
      log('warn', `${what}: refused: ${describe(error)}`);
      return undefined;
    }
    this[counter] += 1;
    auditNote(receipt.action, `${what}: planned`, false);
    return receipt.action;
  }
}

function onAttributeChanged(event) {
  const sources = items(config('source-system') ?? 'active-directory');
  if (!sources.includes(event.system)) {
    log('info', `change in ${event.system} ignored: only changes in ${sources.join(', ')} are propagated`);
    return { summary: `ignored: change in ${event.system}, not ${sources.join(', ')}` };
  }
  const source = event.system;
  const watched = items(config('attributes') ?? WATCHED).map((a) => a.toLowerCase());
  const changed = event.changes.map((c) => c.attribute).filter((a) => watched.includes(a.toLowerCase()));
  if (changed.length === 0) {
    const names = event.changes.map((c) => c.attribute).join(', ');
    log('info', `no mail attribute changed (${names}); nothing to propagate`);
    return { summary: 'ignored: no mail attribute changed' };
  }

  const person = event.person;
  const setting = config('systems');
  const named = setting !== undefined ? items(setting) : undefined;
  // One downstream system named: every read asks the host for that system's records only.
  const only = named !== undefined && named.length === 1 ? named[0] : undefined;
  const found = read(() => getPerson(person), `reading person ${person}`);
  const accounts = read(() => listAccounts(person, only), `reading accounts of ${person}`);
  const entitlements = read(() => listEntitlements(person, only), `reading entitlements of ${person}`);
  let systems = named;
  if (systems === undefined) {
    const personSystems = [];
    for (const account of accounts) {
      if (personSystems[personSystems.length - 1] !== account.system) personSystems.push(account.system);
    }
    systems = personSystems.filter((s) => s !== source);
  }
  const reason = `${changed.join(', ')} changed in ${source} by ${event.source}`;

  const tally = new Tally();
  const failed = read(
    () => listActions({ person, state: 'error', system: only }, 500),
    `reading failed actions of ${person}`,
  );
  const retriedAccounts = [];
  for (const action of failed.filter((a) => systems.includes(a.system))) {
    const planned = tally.planned(`retry ${action.kind} on ${action.system}`, () => retryAction(action.id, reason), 'retries');
    if (planned !== undefined && action.target.tag === 'account') retriedAccounts.push(action.target.val);
  }
  for (const account of accounts.filter((a) => systems.includes(a.system) && !retriedAccounts.includes(a.id))) {
    const what = `UpdateAccount ${account.accountReference} on ${account.system}`;
    tally.planned(what, () => updateAccount(person, account.id, reason), 'updates');
  }
  for (const entitlement of entitlements.filter((e) => e.managed && systems.includes(e.system))) {
    const what = `re-enforce ${entitlement.displayName} on ${entitlement.system}`;
    tally.planned(what, () => reEnforceEntitlement(person, entitlement.id, reason), 'reEnforced');
  }

  const refused = tally.refused > 0 ? `; ${tally.refused} refused` : '';
  return {
    summary: `${found.displayName()}: ${changed.join(', ')} changed; planned ${tally.retries} retries, `
      + `${tally.updates} account updates, ${tally.reEnforced} re-enforcements in ${systems.join(', ')}${refused}`,
  };
}

export const handler = {
  handle(event) {
    if (event.tag === 'attribute-changed') return onAttributeChanged(event.val);
    return { summary: `${event.tag} events are not handled by this plugin` };
  },
};
