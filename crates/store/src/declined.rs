//! [`Declined`]: why a governed unit of work (a commit, a decision on blocked actions) did not
//! happen. A rule refused it, a governed answer that is on record, or the store failed. Every
//! unit that can be refused returns `Result<_, Declined>`, so `?` carries either up and the
//! caller still tells them apart.

use provhost_core::refusal::Refusal;

use crate::StoreError;

/// Why a governed unit of work did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Declined {
    /// A rule checked inside the unit's transaction refused it: nothing changed but what the unit
    /// records of the refusal.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The store failed; nothing of the unit was kept.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A governed unit's end as its write transaction sees it: done, or refused, and committed
/// either way with what it wrote (a refusal's audit record); a store failure rolls it back.
pub(crate) enum Settled<T> {
    /// The unit did its work.
    Done(T),
    /// A rule refused it.
    Refused(Refusal),
}

impl Declined {
    /// The store failure of a unit no rule refuses (an invocation's record with nothing planned):
    /// should one refuse it all the same, the refusal is a conflict, with its reason.
    pub fn into_store_error(self) -> StoreError {
        match self {
            Declined::Refused(refusal) => StoreError::Conflict(refusal.to_string()),
            Declined::Store(e) => e,
        }
    }
}

impl<T> Settled<T> {
    /// What the transaction does with `unit`'s result: a store failure is the transaction's error.
    pub(crate) fn of(unit: Result<T, Declined>) -> Result<Self, StoreError> {
        match unit {
            Ok(value) => Ok(Settled::Done(value)),
            Err(Declined::Refused(refusal)) => Ok(Settled::Refused(refusal)),
            Err(Declined::Store(e)) => Err(e),
        }
    }

    /// The unit's result, once its transaction committed.
    pub(crate) fn declined(self) -> Result<T, Declined> {
        match self {
            Settled::Done(value) => Ok(value),
            Settled::Refused(refusal) => Err(Declined::Refused(refusal)),
        }
    }
}

impl From<rusqlite::Error> for Declined {
    fn from(e: rusqlite::Error) -> Self {
        Declined::Store(e.into())
    }
}

impl From<postgres::Error> for Declined {
    fn from(e: postgres::Error) -> Self {
        Declined::Store(e.into())
    }
}
