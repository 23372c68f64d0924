//! A page of a list, as every list endpoint answers it.

use serde::{Deserialize, Serialize};

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The limit used.
    pub limit: usize,
    /// The offset used.
    pub offset: usize,
    /// The offset of the next page, if there is one.
    pub next_offset: Option<usize>,
}
