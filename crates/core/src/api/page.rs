//! A page of a list, as every list endpoint answers it, and the paging that asks for one.

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

/// Which page of a list: at most `limit` items, past the first `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// At most this many items.
    pub limit: usize,
    /// Skip this many.
    pub offset: usize,
}

impl Paging {
    /// Every item, from the first.
    pub const ALL: Paging = Paging { limit: usize::MAX, offset: 0 };

    /// The same page with one item more, so that what comes back tells whether more follow.
    pub fn and_one(self) -> Paging {
        Paging { limit: self.limit.saturating_add(1), ..self }
    }

    /// A page of `items` fetched with [`Paging::and_one`], so it can tell whether more follow.
    pub fn page<T: Serialize>(self, mut items: Vec<T>) -> Page<T> {
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        Page { next_offset: more.then_some(self.offset + self.limit), limit: self.limit, offset: self.offset, items }
    }

    /// A page cut from a whole list.
    pub fn slice<T: Serialize>(self, all: Vec<T>) -> Page<T> {
        self.page(all.into_iter().skip(self.offset).take(self.limit + 1).collect())
    }
}
