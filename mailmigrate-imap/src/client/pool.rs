//! A small pool of authenticated connections, and the borrowed [`Pooled`] handle.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Connection, Res};
use crate::config::ImapConfig;
use crate::error::ImapError;

/// A small pool of authenticated connections, opened lazily and dropped when broken.
#[derive(Debug)]
pub(crate) struct Pool {
    cfg: ImapConfig,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// A connection borrowed from the [`Pool`]; it goes back on drop unless broken.
#[derive(Debug)]
pub(crate) struct Pooled {
    conn: Option<Connection>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    /// A pool around a first, already open connection.
    pub(crate) fn new(cfg: ImapConfig, first: Connection) -> Arc<Self> {
        let size = cfg.pool_size.max(1);
        Arc::new(Self {
            cfg,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    /// Borrows a connection, opening one if none is idle.
    pub(crate) async fn get(self: &Arc<Self>) -> Res<Pooled> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ImapError::Closed)?;
        let idle = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let conn = match idle {
            Some(c) => c,
            None => Connection::open(&self.cfg).await?.0,
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: Arc::clone(self),
            _permit: permit,
        })
    }
}

impl std::ops::Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until drop")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            if c.is_usable() {
                if let Ok(mut idle) = self.pool.idle.lock() {
                    idle.push(c);
                }
            }
        }
    }
}
