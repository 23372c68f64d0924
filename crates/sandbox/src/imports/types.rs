//! `provhost:plugin/types`: turns a [`CallError`] into the WIT `error` the plugin receives, or
//! into a trap.

use super::{CallError, HostState};
use crate::bindings::types::{self, Error, ThresholdHit};
use provhost_core::refusal::Refusal;

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Forbidden(m) => Error::Forbidden(m),
            Refusal::Excluded(m) => Error::Excluded(m),
            Refusal::ThresholdExceeded { system, kind, limit, count, message } => {
                Error::ThresholdExceeded(ThresholdHit { system, kind: kind.into(), limit, count, message })
            }
            Refusal::NotFound(m) => Error::NotFound(m),
            Refusal::Invalid(m) => Error::Invalid(m),
            Refusal::Conflict(m) => Error::Conflict(m),
            Refusal::Unavailable(m) => Error::Unavailable(m),
            Refusal::BudgetExhausted(m) => Error::BudgetExhausted(m),
        }
    }
}

impl types::Host for HostState {
    fn convert_error(&mut self, err: CallError) -> wasmtime::Result<Error> {
        match err {
            CallError::Refused(refusal) => Ok(refusal.into()),
            CallError::Trap(trap) => Err(trap),
        }
    }
}
