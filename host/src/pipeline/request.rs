//! A targeted request on the HTTP API (re-enforce, update account(s), unmanage, retry): the same
//! planner, thresholds, commit and audit as a plugin's call, without a plugin.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::conclude::conclude;
use super::{ActionSummary, RunError};
use crate::imports::TenantContext;
use crate::model::{Action, new_id, now_rfc3339};
use crate::planner::Planner;
use crate::refusal::Refusal;
use crate::store::InvocationRecord;

/// What a targeted request did: the answer of the targeted endpoints, which the HelloID backend
/// reads back when provhost fronts a platform serving the same contract.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestReport {
    /// The invocation's id (its audit records carry it).
    pub invocation: String,
    /// Whether the actions were committed (a dry run: whether they would be).
    pub committed: bool,
    /// The actions, in their final states.
    pub actions: Vec<ActionSummary>,
    /// Thresholds reached: those actions were committed `blocked`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<String>,
    /// Why they were not committed after all, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_at_commit: Option<String>,
}

/// Runs one targeted request for the key in `context`. `summary` names the request (method and
/// path) in its records. A refusal is recorded and returned as `Err` inside `Ok`.
pub fn run_request(
    context: Arc<TenantContext>,
    summary: &str,
    dry_run: bool,
    request: impl FnOnce(&mut Planner) -> Result<Vec<Action>, Refusal>,
) -> Result<Result<RequestReport, Refusal>, RunError> {
    let id = new_id();
    let mut planner = Planner::new(&id, context.clone(), u32::MAX);
    let started = std::time::Instant::now();
    let result = request(&mut planner);
    let mut record = InvocationRecord {
        id: id.clone(),
        tenant: context.tenant.clone(),
        plugin_name: "api".into(),
        plugin_sha256: String::new(),
        event_kind: "request".into(),
        outcome: match &result {
            Ok(_) => "completed".into(),
            Err(refusal) => refusal.code().into(),
        },
        detail: match &result {
            Ok(actions) => format!("{summary}: {} actions planned", actions.len()),
            Err(refusal) => format!("{summary}: {refusal}"),
        },
        dry_run,
        started_at: now_rfc3339(),
        duration_us: started.elapsed().as_micros() as u64,
        fuel_used: 0,
        peak_memory: 0,
        host_calls: planner.journal.calls.len() as u32,
        guest_output: String::new(),
        key_id: Some(context.permission.key_id.clone()),
        event_digest: String::new(),
        event_summary: summary.to_owned(),
    };
    let plan = planner.plan.take_actions();
    let done = conclude(&context, &mut record, plan, &planner.journal, result.is_ok(), None)?;
    Ok(result.map(|_| RequestReport {
        invocation: id,
        committed: done.committed,
        actions: done.actions.iter().map(ActionSummary::from).collect(),
        thresholds: done.thresholds,
        refused_at_commit: done.refused_at_commit,
    }))
}
