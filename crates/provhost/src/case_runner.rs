//! `provhost test`: a plugin against a fixture tenant and a folder of cases. Each case is a folder
//! with `event.json` (and optionally `settings.json`, an object of plugin settings); its outcome —
//! plan with final states, refusals, audit notes, log — is compared with `expected.json`.
//! Actions are named `#1`, `#2`… in plan order, so that expectations do not depend on random ids.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::InvocationRecord;
use crate::event::Event;
use crate::executor::{DEFAULT_LEASE, Executor};
use crate::limits::LimitSettings;
use crate::model::{Account, Action, Entitlement, Person, System};
use crate::pipeline::{Execution, Mode, Plugins, RunReport, fan_out};
use crate::policy::Grants;
use crate::runtime::{Runtime, plugin_name};
use crate::store::{DEMO_TENANT, Store, seed_demo};
use crate::tenant::{Requester, Tenant, install};

/// A fixture tenant (`fixture.json` in the cases folder); without one, the demo tenant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Target systems.
    pub systems: Vec<System>,
    /// Persons.
    pub persons: Vec<Person>,
    /// Entitlements.
    #[serde(default)]
    pub entitlements: Vec<Entitlement>,
    /// Accounts.
    #[serde(default)]
    pub accounts: Vec<Account>,
    /// Entitlement actions already on record (e.g. failed ones to retry).
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// What one case found.
#[derive(Debug)]
pub struct CaseResult {
    /// The case's folder name.
    pub name: String,
    /// A unified diff of expected against actual, when they differ.
    pub diff: Option<String>,
    /// Whether `--update` rewrote the expectation.
    pub updated: bool,
}

const FIXTURE_TENANT: &str = "fixture";

fn load_fixture(store: &dyn Store, cases: &Path) -> anyhow::Result<&'static str> {
    let path = cases.join("fixture.json");
    if !path.exists() {
        seed_demo(store)?;
        return Ok(DEMO_TENANT);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let f: Fixture = serde_json::from_str(&text).with_context(|| format!("{} is not a fixture", path.display()))?;
    store.insert_tenant(FIXTURE_TENANT, "test fixture")?;
    f.systems.iter().try_for_each(|s| store.insert_system(FIXTURE_TENANT, s))?;
    f.persons.iter().try_for_each(|p| store.insert_person(FIXTURE_TENANT, p))?;
    f.entitlements.iter().try_for_each(|e| store.insert_entitlement(FIXTURE_TENANT, e))?;
    f.accounts.iter().try_for_each(|a| store.insert_account(FIXTURE_TENANT, a))?;
    if !f.actions.is_empty() {
        let record = InvocationRecord::history("fixture", FIXTURE_TENANT, "fixture", "fixture history");
        store.commit_invocation(&record, &f.actions)?;
    }
    Ok(FIXTURE_TENANT)
}

/// The report with random ids replaced by `#n` in plan order and timings left out.
fn normalise(report: &RunReport) -> Value {
    let refs: BTreeMap<&str, String> =
        report.actions.iter().enumerate().map(|(i, a)| (a.id.as_str(), format!("#{}", i + 1))).collect();
    let name = |id: &Option<String>| id.as_deref().map(|i| refs.get(i).cloned().unwrap_or_else(|| i.to_owned()));
    json!({
        "outcome": report.outcome,
        "committed": report.committed,
        "actions": report.actions.iter().map(|a| json!({
            "ref": refs[a.id.as_str()],
            "kind": a.kind,
            "system": a.system,
            "entitlement": a.entitlement,
            "account": a.account,
            "origin": a.origin,
            "state": a.state,
            "message": a.message,
        })).collect::<Vec<_>>(),
        "thresholds": report.thresholds,
        "refused": report.refused.iter().map(|r| json!({"function": r.function, "ids": r.ids, "decision": r.decision, "reason": r.reason})).collect::<Vec<_>>(),
        "audit_notes": report.audit_notes.iter().map(|n| json!({"action": name(&n.action), "message": n.message, "is_error": n.is_error})).collect::<Vec<_>>(),
        "log": report.log,
    })
}

fn run_case(runtime: &Runtime, component: &Path, cases: &Path, case: &Path) -> anyhow::Result<Value> {
    let store: Arc<dyn Store> = Arc::new(crate::store::SqliteStore::in_memory()?);
    let tenant = load_fixture(&*store, cases)?;
    let event_path = case.join("event.json");
    let text = std::fs::read_to_string(&event_path).with_context(|| format!("cannot read {}", event_path.display()))?;
    let event = Event::from_json(&text).with_context(|| format!("event {}", event_path.display()))?;
    let mut installed = install(runtime, &plugin_name(component), component, None, &LimitSettings::default())?;
    let settings_path = case.join("settings.json");
    if settings_path.exists() {
        let text = std::fs::read_to_string(&settings_path)?;
        let extra: BTreeMap<String, String> = serde_json::from_str(&text)
            .with_context(|| format!("{} must be an object of text settings", settings_path.display()))?;
        installed.plugin.settings.extend(extra);
    }
    let caller = Requester { key_id: "test", grants: &Grants::everything() };
    let executor = Executor::new(DEFAULT_LEASE);
    let tenant = Tenant::unconfigured(tenant, &store);
    let plugins = Plugins::One { plugin: &installed, limits: installed.plugin.limits };
    let mut done = fan_out(runtime, &tenant, caller, event, plugins, Mode::commit(Execution::Now(&executor)))?;
    Ok(normalise(&done.reports.pop().expect("one plugin, one report")))
}

/// The case folders (those holding an `event.json`), in name order.
fn case_dirs(cases: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases)
        .with_context(|| format!("cannot read the cases folder {}", cases.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("event.json").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        anyhow::bail!("{} holds no cases: a case is a folder with an event.json", cases.display());
    }
    Ok(dirs)
}

/// Runs every case; with `update`, rewrites each `expected.json` with what happened.
pub fn run_cases(runtime: &Runtime, component: &Path, cases: &Path, update: bool) -> anyhow::Result<Vec<CaseResult>> {
    case_dirs(cases)?
        .into_iter()
        .map(|dir| {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let actual = run_case(runtime, component, cases, &dir).with_context(|| format!("case {name}"))?;
            let actual_text = serde_json::to_string_pretty(&actual)? + "\n";
            let expected_path = dir.join("expected.json");
            if update {
                std::fs::write(&expected_path, &actual_text)?;
                return Ok(CaseResult { name, diff: None, updated: true });
            }
            let expected_text = std::fs::read_to_string(&expected_path).unwrap_or_default();
            let expected: Value = serde_json::from_str(&expected_text).unwrap_or(Value::Null);
            let diff = (expected != actual).then(|| {
                let expected_pretty = serde_json::to_string_pretty(&expected).unwrap_or_default() + "\n";
                similar::TextDiff::from_lines(&expected_pretty, &actual_text)
                    .unified_diff()
                    .header("expected.json", "actual")
                    .to_string()
            });
            Ok(CaseResult { name, diff, updated: false })
        })
        .collect()
}
