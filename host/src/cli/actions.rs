//! `provhost actions list|show`.

use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;

use super::{DataDir, print_json};
use crate::model::{Action, ActionFilter, ActionState, ActionTarget};
use crate::store::{DEMO_TENANT, HistoryEntry};

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
    /// Show one action with its history, as JSON.
    Show {
        /// The action's id.
        id: String,
        /// The tenant.
        #[arg(long, default_value = DEMO_TENANT)]
        tenant: String,
    },
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
                let actions = store.actions(&tenant, &ActionFilter { person, state, system }, limit)?;
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
