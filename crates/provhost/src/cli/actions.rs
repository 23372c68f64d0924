//! `provhost actions list|show`.

use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;

use super::{ApiKeyArg, DataDir, print_json};

use crate::executor::{DEFAULT_LEASE, Executor};
use crate::model::{Action, ActionFilter, ActionKind, ActionState, ActionTarget};
use crate::policy::Scope;
use crate::store::{DEMO_TENANT, HistoryEntry, Verdict};

/// `provhost actions …`
#[derive(Debug, Subcommand)]
pub enum ActionsCommand {
    /// List entitlement actions, newest first.
    List {
        /// The tenant.
        #[arg(long, default_value = DEMO_TENANT)]
        tenant: String,
        /// Only this person's actions.
        #[arg(long)]
        person: Option<String>,
        /// Only actions in this state (pending, waiting, running, success, error, blocked).
        #[arg(long)]
        state: Option<ActionState>,
        /// Only actions against this target system.
        #[arg(long)]
        system: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List actions blocked by a threshold, waiting for approval.
    Blocked {
        /// The tenant.
        #[arg(long, default_value = DEMO_TENANT)]
        tenant: String,
        /// Only against this system.
        #[arg(long)]
        system: Option<String>,
    },
    /// Approve blocked actions and run them (needs `actions:approve`).
    Approve(Decide),
    /// Reject blocked actions; they end `rejected` (needs `actions:approve`).
    Reject(Decide),
    /// Show one action with its history, as JSON.
    Show {
        /// The action's id.
        id: String,
        /// The tenant.
        #[arg(long, default_value = DEMO_TENANT)]
        tenant: String,
    },
}

/// Which blocked actions to decide on, and under which key.
#[derive(Debug, clap::Args)]
pub struct Decide {
    /// The actions' ids.
    ids: Vec<String>,
    /// Every blocked action against this system (with `--kind`).
    #[arg(long, requires = "kind", conflicts_with = "ids")]
    system: Option<String>,
    /// Every blocked action of this kind (with `--system`).
    #[arg(long, requires = "system")]
    kind: Option<ActionKind>,
    #[command(flatten)]
    key: ApiKeyArg,
}

impl Decide {
    fn run(self, data: &DataDir, decision: Verdict) -> anyhow::Result<()> {
        let store = data.open_store()?;
        let key = self.key.authenticate(&*store, Scope::ActionsApprove)?;
        let tenant = key.tenant.as_str();
        let ids = match (&self.system, self.kind) {
            (Some(system), Some(kind)) => {
                let filter = ActionFilter {
                    state: Some(ActionState::Blocked),
                    system: Some(system.clone()),
                    ..Default::default()
                };
                store
                    .actions(tenant, &filter, usize::MAX >> 1)?
                    .into_iter()
                    .filter(|a| a.kind == kind)
                    .map(|a| a.id)
                    .collect()
            }
            _ => self.ids,
        };
        if ids.is_empty() {
            anyhow::bail!("no blocked actions to decide on: name their ids, or --system and --kind");
        }
        let context = data.tenant(&store, &key)?.request_context((&key).into(), "cli");
        let progress = data.progress(None, &format!("deciding on {} blocked actions", ids.len()));
        let done = crate::pipeline::decide(&context, &Executor::new(DEFAULT_LEASE), &ids, decision)?;
        drop(progress);
        print_json(&done)
    }
}

#[derive(Serialize)]
struct ActionDetail {
    #[serde(flatten)]
    action: Action,
    history: Vec<HistoryEntry>,
}

fn target(a: &Action) -> String {
    match &a.target {
        ActionTarget::Entitlement(id) => format!("entitlement {id}"),
        ActionTarget::Account(id) => format!("account {id}"),
    }
}

impl ActionsCommand {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        match self {
            ActionsCommand::List { tenant, person, state, system, limit, json } => {
                let store = data.open_tenant(&tenant)?;
                let actions =
                    store.actions(&tenant, &ActionFilter { person, state, system, ..Default::default() }, limit)?;
                if json {
                    print_json(&actions)?;
                } else {
                    println!("{:<38} {:<9} {:<8} {:<17} {:<14} TARGET", "ID", "KIND", "STATE", "SYSTEM", "ORIGIN");
                    for a in &actions {
                        println!(
                            "{:<38} {:<9} {:<8} {:<17} {:<14} {}",
                            a.id,
                            a.kind,
                            a.state,
                            a.system,
                            a.origin,
                            target(a)
                        );
                    }
                }
            }
            ActionsCommand::Blocked { tenant, system } => {
                let store = data.open_tenant(&tenant)?;
                let filter = ActionFilter { state: Some(ActionState::Blocked), system, ..Default::default() };
                print_json(&store.actions(&tenant, &filter, usize::MAX >> 1)?)?;
            }
            ActionsCommand::Approve(decide) => decide.run(data, Verdict::Approve)?,
            ActionsCommand::Reject(decide) => decide.run(data, Verdict::Reject)?,
            ActionsCommand::Show { id, tenant } => {
                let store = data.open_tenant(&tenant)?;
                print_json(&ActionDetail {
                    history: store.action_history(&tenant, &id)?,
                    action: store.action(&tenant, &id)?,
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
