"""propagate-mail, in Python: when proxyAddresses, mail or userPrincipalName change in Active
Directory, retry the person's failed actions downstream, update their downstream accounts (except
those a retry already updates) and re-enforce their managed downstream entitlements.

Settings: `source-system` (default `active-directory`) — the systems, comma-separated, whose changes
are propagated (`identity` for SailPoint's identity-level changes); `attributes` (default
`proxyAddresses,mail,userPrincipalName`) — the attributes watched there; `systems` — comma-separated
downstream systems (default: every system of the person's other than the one where the change
happened).

Built with: componentize-py -d ../../../wit/0.2.0 -w plugin componentize app -o propagate_mail.wasm
"""

from componentize_py_types import Err

import wit_world
from wit_world.imports import actions, log, queries, settings, types
from wit_world.imports.events import Event_AttributeChanged
from wit_world.exports import handler

WATCHED = "proxyAddresses,mail,userPrincipalName"


def info(message: str) -> None:
    log.log(log.Level.INFO, message)


class Tally:
    """What was planned, for the summary."""

    def __init__(self) -> None:
        self.retries = 0
        self.updates = 0
        self.re_enforced = 0
        self.refused = 0

    def planned(self, what: str, call, counter: str):
        """Counts a planned action, or logs and counts a refusal; `unavailable` abandons the run."""
        try:
            receipt = call()
        except Err as err:
            if isinstance(err.value, types.Error_Unavailable):
                raise Err(f"{what}: platform unavailable: {err.value.value}")
            self.refused += 1
            log.log(log.Level.WARN, f"{what}: refused: {err.value}")
            return None
        setattr(self, counter, getattr(self, counter) + 1)
        log.audit_note(receipt.action, f"{what}: planned", False)
        return receipt.action


def items(setting: str) -> list:
    """The items of a comma-separated setting, trimmed, without empty ones."""
    return [s.strip() for s in setting.split(",") if s.strip()]


def kind_name(kind: types.ActionKind) -> str:
    return kind.name.lower()


def on_attribute_changed(event) -> handler.Outcome:
    sources = items(settings.get("source-system") or "active-directory")
    if event.system not in sources:
        info(f"change in {event.system} ignored: only changes in {', '.join(sources)} are propagated")
        return handler.Outcome(f"ignored: change in {event.system}, not {', '.join(sources)}")
    source = event.system
    watched = [a.lower() for a in items(settings.get("attributes") or WATCHED)]
    changed = [c.attribute for c in event.changes if c.attribute.lower() in watched]
    if not changed:
        names = ", ".join(c.attribute for c in event.changes)
        info(f"no mail attribute changed ({names}); nothing to propagate")
        return handler.Outcome("ignored: no mail attribute changed")

    person = event.person
    setting = settings.get("systems")
    named = items(setting) if setting is not None else None
    # One downstream system named: every read asks the host for that system's records only.
    only = named[0] if named is not None and len(named) == 1 else None
    found = read(lambda: queries.get_person(person), f"reading person {person}")
    accounts = read(lambda: queries.list_accounts(person, only), f"reading accounts of {person}")
    entitlements = read(lambda: queries.list_entitlements(person, only), f"reading entitlements of {person}")
    if named is not None:
        systems = named
    else:
        person_systems = []
        for account in accounts:
            if not person_systems or person_systems[-1] != account.system:
                person_systems.append(account.system)
        systems = [s for s in person_systems if s != source]
    reason = f"{', '.join(changed)} changed in {source} by {event.source}"

    tally = Tally()
    failed = read(
        lambda: queries.list_actions(types.ActionFilter(person, types.ActionState.ERROR, only), 500),
        f"reading failed actions of {person}",
    )
    retried_accounts = []
    for action in failed:
        if action.system not in systems:
            continue
        what = f"retry {kind_name(action.kind)} on {action.system}"
        planned = tally.planned(what, lambda: actions.retry_action(action.id, reason), "retries")
        if planned is not None and isinstance(action.target, types.ActionTarget_Account):
            retried_accounts.append(action.target.value)
    for account in accounts:
        if account.system not in systems or account.id in retried_accounts:
            continue
        what = f"UpdateAccount {account.account_reference} on {account.system}"
        tally.planned(what, lambda: actions.update_account(person, account.id, reason), "updates")
    for entitlement in entitlements:
        if not entitlement.managed or entitlement.system not in systems:
            continue
        what = f"re-enforce {entitlement.display_name} on {entitlement.system}"
        tally.planned(what, lambda: actions.re_enforce_entitlement(person, entitlement.id, reason), "re_enforced")

    refused = f"; {tally.refused} refused" if tally.refused else ""
    return handler.Outcome(
        f"{found.display_name()}: {', '.join(changed)} changed; planned {tally.retries} retries, "
        f"{tally.updates} account updates, {tally.re_enforced} re-enforcements in {', '.join(systems)}{refused}"
    )


def read(call, what: str):
    try:
        return call()
    except Err as err:
        raise Err(f"{what}: {err.value}")


class Handler(wit_world.exports.Handler):
    def handle(self, event) -> handler.Outcome:
        if isinstance(event, Event_AttributeChanged):
            return on_attribute_changed(event.value)
        kind = {"Event_ProvisioningCompleted": "provisioning-completed", "Event_ActionFailed": "action-failed"}[type(event).__name__]
        return handler.Outcome(f"{kind} events are not handled by this plugin")
