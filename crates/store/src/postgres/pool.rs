//! A bounded pool of connections to one PostgreSQL database. A connection that broke is dropped
//! instead of being handed out again; a caller past the bound waits for one to come back.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use postgres::{Client, NoTls};

use super::statements::Statements;
use crate::StoreError;

/// How long a caller waits for a free connection before the store reports that it is exhausted.
const WAIT: Duration = Duration::from_secs(30);

/// Connections to one database, opened on demand up to `max`.
pub(super) struct Pool {
    config: postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
    max: usize,
    state: Mutex<State>,
    returned: Condvar,
}

#[derive(Default)]
struct State {
    idle: Vec<Connection>,
    open: usize,
}

/// An open connection with the statements prepared on it.
pub(super) struct Connection {
    pub(super) client: Client,
    pub(super) statements: Statements,
}

impl Pool {
    pub(super) fn new(config: postgres::Config, shown: String, max: usize) -> Self {
        Self { config, shown, max, state: Mutex::default(), returned: Condvar::new() }
    }

    /// The URL without its password.
    pub(super) fn shown(&self) -> &str {
        &self.shown
    }

    /// The database's connection settings.
    pub(super) fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// A connection, opening one when none is idle and the bound allows.
    pub(super) fn take(&self) -> Result<Pooled<'_>, StoreError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(client) = state.idle.pop() {
                if client.client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(Pooled { client: Some(client), pool: self });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match connect(&self.config, &self.shown) {
                    Ok(client) => Ok(Pooled {
                        client: Some(Connection { client, statements: Statements::default() }),
                        pool: self,
                    }),
                    Err(e) => {
                        self.forget();
                        Err(e)
                    }
                };
            }
            let (next, waited) = self.returned.wait_timeout(state, WAIT).unwrap_or_else(|p| p.into_inner());
            if waited.timed_out() && next.idle.is_empty() && next.open >= self.max {
                return Err(StoreError::Backend(format!(
                    "all {} connections to {} stayed busy for {}s; raise the pool size or lower the load",
                    self.max,
                    self.shown,
                    WAIT.as_secs()
                )));
            }
            state = next;
        }
    }

    /// A connection that will not come back (it broke, or never opened).
    fn forget(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.open -= 1;
        self.returned.notify_one();
    }
}

/// Opens a connection with `config`, over TLS when it asks for `sslmode=require`; errors name the
/// database as `shown`. Kept statements are planned as PostgreSQL chooses (once for any values,
/// after their first runs, when that plan is no worse); the filtered reads that rely on the
/// planner folding away the filters not given run through [`super::statements::Cached::query_planned`].
pub(super) fn connect(config: &postgres::Config, shown: &str) -> Result<Client, StoreError> {
    let connected =
        if super::tls::wanted(config) { config.connect(super::tls::Rustls::new()) } else { config.connect(NoTls) };
    connected.map_err(|e| StoreError::open(shown, super::described(&e)))
}

/// A connection taken from the pool, given back when dropped.
pub(super) struct Pooled<'a> {
    client: Option<Connection>,
    pool: &'a Pool,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.client.as_ref().expect("a pooled connection is held until dropped")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.client.as_mut().expect("a pooled connection is held until dropped")
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.state.get_mut().unwrap_or_else(|p| p.into_inner()).idle);
        // A client closes with a blocking call, which must not run inside an asynchronous runtime
        // (a server drops its store as its runtime ends).
        super::off_runtime(move || drop(idle));
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        if client.client.is_closed() {
            self.pool.forget();
            return;
        }
        let mut state = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
        state.idle.push(client);
        self.pool.returned.notify_one();
    }
}
