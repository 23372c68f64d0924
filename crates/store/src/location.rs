//! Where the store is: the embedded SQLite file (the default) or a PostgreSQL database that
//! several hosts share.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::{PostgresStore, SqliteStore, Store, StoreError};

/// Where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    File(PathBuf),
    /// A PostgreSQL database, by URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl Location {
    /// A PostgreSQL URL, or else the path of a SQLite file.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_owned())
        } else {
            Location::File(PathBuf::from(text))
        }
    }

    /// Whether there is a store here to open: a file that exists, or any database (which
    /// [`Location::open`] migrates when it is new).
    pub fn exists(&self) -> bool {
        match self {
            Location::File(path) => path.exists(),
            Location::Postgres(_) => true,
        }
    }

    /// Opens the store, creating (a file) or migrating (either) its schema as needed.
    pub fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Location::File(path) => Arc::new(SqliteStore::open(path)?),
            Location::Postgres(url) => Arc::new(PostgresStore::open(url)?),
        })
    }
}

impl fmt::Display for Location {
    /// The file's path, or the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&super::postgres::without_password(url)),
        }
    }
}
