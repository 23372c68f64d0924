//! The lock that puts a tenant's governed decisions one after another on every host. A commit
//! re-checks the tenant's window budgets, retries, managed entitlements and the person's attribute
//! bounds against everything committed before it; an approval re-checks the windows; an executor
//! ending actions that unmanage or revoke entitlements changes what a commit checks. Each takes
//! this lock first, so two hosts can never both pass a budget's last slot. It is a transaction's
//! advisory lock on a key of the tenant, released when the transaction ends, and comes before
//! any row a transaction locks and before the tenant's chain head, which every transaction that
//! appends takes last, for its append alone: the executor's claims and ends, which check no budget,
//! then wait only for the tail of a commit, not for all of it.

use super::StoreError;
use super::statements::Tx;

/// The statement that takes the budget lock of the tenant named by its one value.
pub(super) const LOCK_BUDGET: &str = "SELECT pg_advisory_xact_lock(hashtextextended('provhost budget ' || $1, 0))";

/// Takes the tenant's budget lock in `tx`, waiting for any transaction on any host that holds it
/// (a transaction that holds it already takes it again at once).
pub(super) fn lock_budget(tx: &mut Tx<'_, '_>, tenant: &str) -> Result<(), StoreError> {
    tx.execute(LOCK_BUDGET, &[&tenant])?;
    Ok(())
}
