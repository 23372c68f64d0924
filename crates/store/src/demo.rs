//! The demo tenant `provhost init` creates: a handful of persons in Active Directory, Exchange
//! Online, TOPdesk (service desk) and AFAS (HR), with fixed ids so examples can name them.

use super::{Store, StoreError};
use provhost_core::model::{
    Account, Action, ActionKind, ActionState, ActionTarget, Attribute, Entitlement, EntitlementType, Person, System,
    now_rfc3339,
};

/// The demo tenant's id.
pub const DEMO_TENANT: &str = "demo";

/// One of the demo's persons.
pub(super) struct DemoPerson {
    pub(super) id: &'static str,
    given: &'static str,
    family: &'static str,
    login: &'static str,
    department: &'static str,
}

/// The demo's persons.
pub(super) const PERSONS: &[DemoPerson] = &[
    DemoPerson {
        id: "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01",
        given: "Jan",
        family: "Jansen",
        login: "jan.jansen",
        department: "Sales",
    },
    DemoPerson {
        id: "7a9e2b14-5c3d-4e8f-8b12-6d4a1f0e9c02",
        given: "Sanne",
        family: "de Vries",
        login: "sanne.devries",
        department: "Finance",
    },
    DemoPerson {
        id: "c2d8f0a6-1b4e-4f3a-a7c5-9e2b6d8f1a03",
        given: "Pieter",
        family: "Bakker",
        login: "pieter.bakker",
        department: "IT",
    },
    DemoPerson {
        id: "e5b7c9d1-3f2a-4c6e-b8d4-1a9f7e5c3b04",
        given: "Fatima",
        family: "El Amrani",
        login: "fatima.elamrani",
        department: "HR",
    },
    // Identities as SailPoint names them, so that SailPoint's published trigger samples run as they are.
    DemoPerson {
        id: "2c91808568c529c60168cca6f90c1313",
        given: "William",
        family: "Wilson",
        login: "william.wilson",
        department: "Sales",
    },
    DemoPerson {
        id: "2c7180a46faadee4016fb4e018c20642",
        given: "Michael",
        family: "Michaels",
        login: "michael.michaels",
        department: "Marketing",
    },
];

/// The downstream systems and the person attributes their update step writes.
fn systems() -> Vec<System> {
    let system = |id: &str, name: &str, consumes: &[&str]| System {
        id: id.into(),
        name: name.into(),
        consumes: consumes.iter().map(|s| s.to_string()).collect(),
        failure: None,
    };
    vec![
        system("active-directory", "Active Directory", &["mail", "proxyAddresses", "userPrincipalName", "department"]),
        system("exchange-online", "Exchange Online", &["mail", "proxyAddresses", "userPrincipalName"]),
        system("topdesk", "TOPdesk", &["mail", "department"]),
        system("afas-hr", "AFAS Profit (HR)", &["mail"]),
    ]
}

fn attr(name: &str, values: &[String]) -> Attribute {
    Attribute { name: name.into(), values: values.to_vec() }
}

fn demo_person(p: &DemoPerson) -> Person {
    let mail = format!("{}@contoso.example", p.login);
    Person {
        id: p.id.into(),
        display_name: format!("{} {}", p.given, p.family),
        attributes: vec![
            attr("mail", std::slice::from_ref(&mail)),
            attr("proxyAddresses", &[format!("SMTP:{mail}"), format!("smtp:{}@contoso.onmicrosoft.example", p.login)]),
            attr("userPrincipalName", &[mail]),
            attr("department", &[p.department.to_string()]),
            attr("employeeType", &["employee".to_string()]),
        ],
    }
}

/// A derived id that stays the same across `init` runs: the person's GUID with a per-record suffix.
fn derived_id(person: &str, suffix: u32) -> String {
    format!("{}{:04x}", &person[..32], suffix)
}

/// Creates the demo tenant. Fails if it already exists (the store is left as it was).
pub fn seed_demo(store: &dyn Store) -> Result<(), StoreError> {
    seed_demo_as(store, DEMO_TENANT, "Contoso (demo)")
}

/// Creates `tenant` with the demo's persons, systems and history, e.g. a second tenant to test
/// isolation and fair share with. Its ids are the demo's (ids are per tenant); the history's
/// invocation, whose id is global, gets a fresh one outside the demo tenant.
pub fn seed_demo_as(store: &dyn Store, tenant: &str, name: &str) -> Result<(), StoreError> {
    store.insert_tenant(tenant, name)?;
    let systems = systems();
    for system in &systems {
        store.insert_system(tenant, system)?;
    }
    for p in PERSONS {
        let person = demo_person(p);
        store.insert_person(tenant, &person)?;
        for (n, system) in systems.iter().enumerate() {
            let n = n as u32;
            let attributes = person.attributes.iter().filter(|a| system.consumes.contains(&a.name)).cloned().collect();
            store.insert_account(
                tenant,
                &Account {
                    id: derived_id(p.id, 0x100 + n),
                    person: person.id.clone(),
                    system: system.id.clone(),
                    account_reference: account_reference(&system.id, p),
                    enabled: true,
                    attributes,
                },
            )?;
            store.insert_entitlement(
                tenant,
                &Entitlement {
                    id: derived_id(p.id, 0x200 + n),
                    person: person.id.clone(),
                    system: system.id.clone(),
                    kind: EntitlementType::Account,
                    display_name: format!("{} account", system.name),
                    managed: true,
                },
            )?;
        }
        let group = format!("{} team", p.department);
        store.insert_entitlement(
            tenant,
            &Entitlement {
                id: derived_id(p.id, 0x300),
                person: person.id.clone(),
                system: "active-directory".into(),
                kind: EntitlementType::Permission,
                display_name: group,
                managed: true,
            },
        )?;
        store.insert_entitlement(
            tenant,
            &Entitlement {
                id: derived_id(p.id, 0x301),
                person: person.id.clone(),
                system: "exchange-online".into(),
                kind: EntitlementType::Permission,
                display_name: format!("{} shared mailbox", p.department),
                managed: true,
            },
        )?;
    }
    seed_failed_action(store, tenant)
}

fn account_reference(system: &str, p: &DemoPerson) -> String {
    match system {
        "active-directory" => format!("CN={} {},OU={},DC=contoso,DC=example", p.given, p.family, p.department),
        "exchange-online" => format!("{}@contoso.example", p.login),
        _ => p.login.to_string(),
    }
}

/// Jan Jansen's last TOPdesk update failed, so that a retry has something to act on.
fn seed_failed_action(store: &dyn Store, tenant: &str) -> Result<(), StoreError> {
    let jan = PERSONS[0].id;
    let at = now_rfc3339();
    let failed = Action {
        id: derived_id(jan, 0x900),
        person: jan.into(),
        system: "topdesk".into(),
        target: ActionTarget::Account(derived_id(jan, 0x102)),
        kind: ActionKind::Update,
        state: ActionState::Error,
        origin: "enforcement".into(),
        message: "TOPdesk API answered 503 Service Unavailable".into(),
        retry_of: None,
        invocation: None,
        created_at: at.clone(),
        updated_at: at,
    };
    let invocation = if tenant == DEMO_TENANT { derived_id(jan, 0x901) } else { provhost_core::model::new_id() };
    let record = provhost_core::audit::InvocationRecord::history(
        &invocation,
        tenant,
        "provhost init",
        "demo history: one failed TOPdesk update",
    );
    store.commit_invocation(&record, &[failed])
}
