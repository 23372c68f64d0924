//! Statements prepared once per connection and kept with it. The client prepares a statement
//! given as text on every call, a round trip of its own before the one that runs it; a statement
//! kept runs in one. Every unit and read of the store runs its SQL through [`Cached`].

use std::collections::HashMap;

use postgres::types::{ToSql, Type};
use postgres::{GenericClient, Row, Statement, Transaction};

/// How many statements one connection keeps; past it, the connection starts over. The store's
/// SQL is a fixed set well under it.
const KEPT: usize = 256;

/// One connection's prepared statements, by their SQL.
#[derive(Default)]
pub(super) struct Statements(HashMap<String, Statement>);

/// A connection or a transaction on it, with the statements its connection keeps.
pub(super) struct Cached<'a, C> {
    /// The connection or transaction itself, for what takes more than a statement and its values.
    pub(super) client: &'a mut C,
    statements: &'a mut Statements,
    /// The channels this transaction has notified ([`super::wakeups::announce`]): PostgreSQL
    /// delivers one notification per channel and transaction, so a second `NOTIFY` is only a
    /// round trip.
    pub(super) announced: Vec<&'static str>,
}

/// A transaction with its connection's statements: what a unit of work runs in.
pub(super) type Tx<'a, 'c> = Cached<'a, Transaction<'c>>;

/// Parameter values of a statement.
type Values<'v> = &'v [&'v (dyn ToSql + Sync)];

impl<'a, C: GenericClient> Cached<'a, C> {
    pub(super) fn new(client: &'a mut C, statements: &'a mut Statements) -> Self {
        Self { client, statements, announced: Vec::new() }
    }

    /// The statement for `sql`, prepared on this connection the first time it is run.
    fn prepared(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        if self.statements.0.len() >= KEPT {
            self.statements.0.clear();
        }
        self.statements.0.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs `sql` with `values`; the number of rows it changed.
    pub(super) fn execute(&mut self, sql: &str, values: Values<'_>) -> Result<u64, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.execute(&statement, values)
    }

    /// The rows of `sql` with `values`.
    pub(super) fn query(&mut self, sql: &str, values: Values<'_>) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query(&statement, values)
    }

    /// The one row of `sql` with `values`; an error when there is none or more.
    pub(super) fn query_one(&mut self, sql: &str, values: Values<'_>) -> Result<Row, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query_one(&statement, values)
    }

    /// The row of `sql` with `values`, if any; an error when there are more.
    pub(super) fn query_opt(&mut self, sql: &str, values: Values<'_>) -> Result<Option<Row>, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query_opt(&statement, values)
    }

    /// The rows of `sql` planned with these `values`, in one round trip: for a read whose filters
    /// not given are `NULL`, which only a plan made with the values folds away (a kept statement
    /// is planned once for any values after its first runs). The statement kept for `sql` gives
    /// the types of its values; the run itself is of the unnamed statement, planned anew.
    pub(super) fn query_planned(&mut self, sql: &str, values: Values<'_>) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.prepared(sql)?;
        let typed: Vec<(&(dyn ToSql + Sync), Type)> =
            values.iter().copied().zip(statement.params().iter().cloned()).collect();
        self.client.query_typed(sql, &typed)
    }

    /// Runs `sql`, one or more statements without values, as the simple protocol does.
    pub(super) fn batch_execute(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(sql)
    }
}
