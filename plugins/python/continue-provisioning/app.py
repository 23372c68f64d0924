"""continue-provisioning, in Python: SailPoint's "Provisioning Completed" carried on in provhost,
account request by account request.

- A request that failed (`provisioningResult` FAILED; or, when the run reports `errors`, one that
  did not succeed) retries provhost's failed actions of the person in the system the request's
  source is: the latest one of each entitlement or account. A failed request with nothing to retry
  is noted in the audit trail.
- A request that succeeded re-enforces the person's managed entitlements in the systems that
  depend on what it changed, as the setting `dependent-systems` says.
- Errors of the run that no failed request accounts for are noted.

Settings: `sources` (which provhost system each SailPoint source is) and `dependent-systems`. A
refused call is logged and counted, and the rest goes on; `unavailable` abandons the run.

Built with: componentize-py -d ../../../wit/0.2.0 -w plugin componentize app -o continue_provisioning.wasm
"""

import re

from componentize_py_types import Err

import wit_world
from wit_world.imports import actions, log, queries, settings, types
from wit_world.imports.events import Event_ProvisioningCompleted
from wit_world.exports import handler


def entries(key: str, form: str) -> list:
    """The `;`-separated `LEFT=RIGHT` entries of a setting; a malformed one abandons the run."""
    text = settings.get(key)
    found = []
    for entry in (e.strip() for e in (text or "").split(";")):
        if not entry:
            continue
        left, sep, right = entry.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise Err(f"setting `{key}`: entry '{entry}' is not {form}")
        found.append((left.strip(), right.strip()))
    return found


def read_sources() -> dict:
    return dict(reversed(entries("sources", "SOURCE=SYSTEM")))


def read_dependents() -> list:
    form = "SYSTEM:ATTRIBUTE=SYSTEM,SYSTEM"
    dependents = []
    for left, right in entries("dependent-systems", form):
        system, sep, attribute = left.partition(":")
        if not sep or not system.strip() or not attribute.strip():
            raise Err(f"setting `dependent-systems`: entry '{left}={right}' is not {form}")
        systems = [s.strip() for s in right.split(",") if s.strip()]
        dependents.append((system.strip(), attribute.strip().lower(), systems))
    return dependents


def system_of(sources: dict, source):
    """The provhost system a source is: by its id, else by its name."""
    return sources.get(source.id) or sources.get(source.name)


def dependents_of(dependents: list, system: str, attributes: list) -> list:
    found = []
    changed = [a.lower() for a in attributes]
    for of_system, attribute, systems in dependents:
        if of_system == system and attribute in changed:
            found.extend(s for s in systems if s not in found)
    return found


def describe(error) -> str:
    """A refusal as `tag: message`, as the Rust and JavaScript versions write it too."""
    tag = re.sub(r"(?<!^)(?=[A-Z])", "-", type(error).__name__.removeprefix("Error_")).lower()
    message = error.value.message if isinstance(error, types.Error_ThresholdExceeded) else error.value
    return f"{tag}: {message}"


def ended(request, run_has_errors: bool) -> str:
    result = request.provisioning_result.upper()
    if result in ("SUCCESS", "FAILED"):
        return result
    return "FAILED" if run_has_errors else "UNFINISHED"


class Run:
    """One event's run: what it planned and noted so far."""

    def __init__(self, event, name: str, dependents: list) -> None:
        self.event = event
        self.person = event.recipient.id
        self.name = name
        self.dependents = dependents
        self.retries = 0
        self.re_enforced = []
        self.retried_in = []
        self.noted = 0
        self.refused = 0

    def planned(self, what: str, call) -> bool:
        """Notes a planned action, or logs and counts a refusal; `unavailable` abandons the run."""
        try:
            receipt = call()
        except Err as err:
            if isinstance(err.value, types.Error_Unavailable):
                raise Err(f"{what}: platform unavailable: {err.value.value}")
            self.refused += 1
            log.log(log.Level.WARN, f"{what}: refused: {describe(err.value)}")
            return False
        log.audit_note(receipt.action, f"{what}: planned", False)
        return True

    def note(self, message: str, is_error: bool) -> None:
        log.audit_note(None, message, is_error)
        self.noted += 1

    def retry_failed(self, request, system: str, what: str) -> None:
        if system in self.retried_in:
            return
        self.retried_in.append(system)
        failed = read(
            lambda: queries.list_actions(types.ActionFilter(self.person, types.ActionState.ERROR, system), 500),
            f"reading the failed actions of {self.person} in {system}",
        )
        # Newest first: the first of each target is its latest failure; older ones were retried.
        seen, latest = [], []
        for action in failed:
            key = (action.kind, action.target.value)
            if key not in seen:
                latest.append(action)
            seen.append(key)
        if not latest:
            errors = f" ({'; '.join(self.event.errors)})" if self.event.errors else ""
            self.note(
                f"{what} of account {request.account_id} failed{errors}; "
                f"{self.name} has no failed action in {system} to retry",
                True,
            )
            return
        reason = f"SailPoint provisioning {self.event.tracking_number}: {what} failed"
        for action in latest:
            kind = action.kind.name.lower()
            if self.planned(f"retry {kind} on {system}", lambda: actions.retry_action(action.id, reason)):
                self.retries += 1

    def re_enforce_dependents(self, request, system: str, what: str) -> None:
        changed = [a.name for a in request.attribute_requests]
        dependents = dependents_of(self.dependents, system, changed)
        if not dependents:
            names = ", ".join(changed) if changed else "no attribute"
            log.log(log.Level.INFO, f"{what} succeeded; no system depends on {names} in {system}")
            return
        entitlements = read(lambda: queries.list_entitlements(self.person, None), f"reading the entitlements of {self.person}")
        reason = f"SailPoint provisioning {self.event.tracking_number}: {', '.join(changed)} changed in {system}"
        for entitlement in entitlements:
            if not entitlement.managed or entitlement.system not in dependents or entitlement.id in self.re_enforced:
                continue
            what = f"re-enforce {entitlement.display_name} on {entitlement.system}"
            call = lambda: actions.re_enforce_entitlement(self.person, entitlement.id, reason)  # noqa: E731
            if self.planned(what, call):
                self.re_enforced.append(entitlement.id)


def read(call, what: str):
    try:
        return call()
    except Err as err:
        raise Err(f"{what}: {describe(err.value)}")


def on_provisioning_completed(event) -> handler.Outcome:
    sources = read_sources()
    dependents = read_dependents()
    person = event.recipient.id
    found = read(lambda: queries.get_person(person), f"reading person {person}")
    run = Run(event, found.display_name(), dependents)
    run_has_errors = bool(event.errors)
    errors_accounted = False
    for request in event.account_requests:
        what = f"{request.account_operation} in {request.source.name}"
        system = system_of(sources, request.source)
        if system is None:
            run.note(
                f"{what}: SailPoint source '{request.source.name}' ({request.source.id}) "
                "is not in the setting `sources`; nothing done for it",
                False,
            )
            continue
        result = ended(request, run_has_errors)
        if result == "FAILED":
            errors_accounted = True
            run.retry_failed(request, system, what)
        elif result == "SUCCESS":
            run.re_enforce_dependents(request, system, what)
        else:
            log.log(log.Level.INFO, f"{what} is {request.provisioning_result}; nothing to do until it ends")
    if run_has_errors and not errors_accounted:
        run.note(
            f"SailPoint provisioning {event.tracking_number} reported errors no failed account request "
            f"accounts for: {'; '.join(event.errors)}",
            True,
        )
    refused = f"; {run.refused} refused" if run.refused else ""
    return handler.Outcome(
        f"{run.name}: provisioning {event.tracking_number} ({event.action}): planned {run.retries} retries, "
        f"{len(run.re_enforced)} re-enforcements; {run.noted} noted{refused}"
    )


class Handler(wit_world.exports.Handler):
    def handle(self, event) -> handler.Outcome:
        if isinstance(event, Event_ProvisioningCompleted):
            return on_provisioning_completed(event.value)
        kind = {"Event_AttributeChanged": "attribute-changed", "Event_ActionFailed": "action-failed"}[type(event).__name__]
        return handler.Outcome(f"{kind} events are not handled by this plugin")
