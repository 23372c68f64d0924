//! `provhost persons list|show`.

use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;

use super::{DataDir, print_json};
use crate::model::{Account, Entitlement, Person};
use crate::store::DEMO_TENANT;

/// `provhost persons …`
#[derive(Debug, Subcommand)]
pub enum PersonsCommand {
    /// List the tenant's persons.
    List {
        /// The tenant.
        #[arg(long, default_value = DEMO_TENANT)]
        tenant: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one person with their accounts and entitlements, as JSON.
    Show {
        /// The person's id.
        id: String,
        /// The tenant.
        #[arg(long, default_value = DEMO_TENANT)]
        tenant: String,
    },
}

#[derive(Serialize)]
struct PersonDetail {
    #[serde(flatten)]
    person: Person,
    accounts: Vec<Account>,
    entitlements: Vec<Entitlement>,
}

fn first_value<'a>(person: &'a Person, name: &str) -> &'a str {
    person.attributes.iter().find(|a| a.name == name).and_then(|a| a.values.first()).map(String::as_str).unwrap_or("")
}

impl PersonsCommand {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        match self {
            PersonsCommand::List { tenant, json } => {
                let persons = data.open_tenant(&tenant)?.persons(&tenant)?;
                if json {
                    print_json(&persons)?;
                } else {
                    println!("{:<38} {:<20} MAIL", "ID", "NAME");
                    for p in &persons {
                        println!("{:<38} {:<20} {}", p.id, p.display_name, first_value(p, "mail"));
                    }
                }
            }
            PersonsCommand::Show { id, tenant } => {
                let store = data.open_tenant(&tenant)?;
                let person = store.person(&tenant, &id)?;
                print_json(&PersonDetail {
                    accounts: store.accounts_of(&tenant, &id)?,
                    entitlements: store.entitlements_of(&tenant, &id)?,
                    person,
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
