//! The directory: tenants, target systems, persons, entitlements and accounts.

use super::StoreError;
use provhost_core::model::{Account, Entitlement, Person, System};

/// Tenants and their directory: the persons, systems, entitlements and accounts the
/// embedded platform holds.
pub trait DirectoryStore {
    /// Whether the store answers a read.
    fn ping(&self) -> Result<(), StoreError>;

    /// Every tenant's id, in order.
    fn tenant_ids(&self) -> Result<Vec<String>, StoreError>;

    /// Whether the tenant exists.
    fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError>;

    /// Creates a tenant.
    fn insert_tenant(&self, id: &str, name: &str) -> Result<(), StoreError>;

    /// Creates a target system in a tenant.
    fn insert_system(&self, tenant: &str, system: &System) -> Result<(), StoreError>;

    /// Makes every action executed against a system fail with `failure`, or succeed again with `None`.
    /// The change is an audit record of its own.
    fn set_system_failure(&self, tenant: &str, system: &str, failure: Option<&str>) -> Result<(), StoreError>;

    /// Creates a person in a tenant.
    fn insert_person(&self, tenant: &str, person: &Person) -> Result<(), StoreError>;

    /// Creates an entitlement.
    fn insert_entitlement(&self, tenant: &str, e: &Entitlement) -> Result<(), StoreError>;

    /// Creates an account.
    fn insert_account(&self, tenant: &str, a: &Account) -> Result<(), StoreError>;

    /// The person with this id.
    fn person(&self, tenant: &str, id: &str) -> Result<Person, StoreError>;

    /// Every person of the tenant, by display name.
    fn persons(&self, tenant: &str) -> Result<Vec<Person>, StoreError>;

    /// The target system with this id.
    fn system(&self, tenant: &str, id: &str) -> Result<System, StoreError>;

    /// Every target system of the tenant.
    fn systems(&self, tenant: &str) -> Result<Vec<System>, StoreError>;

    /// The entitlement with this id.
    fn entitlement(&self, tenant: &str, id: &str) -> Result<Entitlement, StoreError>;

    /// Every entitlement the person holds.
    fn entitlements_of(&self, tenant: &str, person: &str) -> Result<Vec<Entitlement>, StoreError>;

    /// How many entitlements the system holds.
    fn entitlement_count(&self, tenant: &str, system: &str) -> Result<u32, StoreError>;

    /// The account with this id.
    fn account(&self, tenant: &str, id: &str) -> Result<Account, StoreError>;

    /// Every account the person owns.
    fn accounts_of(&self, tenant: &str, person: &str) -> Result<Vec<Account>, StoreError>;
}
