//! [`CampaignStore`] on the SQLite file: three tables of schema version 5 (see
//! `MIGRATIONS`), records as JSON, each call one transaction; the leases of schema 6.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{SqliteState, StoreError};
use crate::campaign::{
    check_apply, worker_taken, CampaignRecord, CampaignStore, MailboxStatus, NameGuard, Stage,
    Transition, WorkerHold,
};
use crate::{Error, ErrorKind, Operation, Result};

fn to_json<T: serde::Serialize>(value: &T) -> std::result::Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::corrupt(format!("cannot encode: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> std::result::Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(format!("unreadable {what}: {e}")))
}

/// Adds the campaign (and mailbox) to an error's context.
fn scoped(e: crate::Error, campaign: &str, mailbox: Option<&str>) -> crate::Error {
    let e = if e.context("campaign").is_none() {
        e.with_context("campaign", campaign)
    } else {
        e
    };
    match mailbox {
        Some(m) if e.context("mailbox").is_none() => e.with_context("mailbox", m),
        _ => e,
    }
}

#[async_trait]
impl CampaignStore for SqliteState {
    async fn campaign(&self, name: &str) -> Result<Option<CampaignRecord>> {
        let n = name.to_owned();
        self.run(move |conn| {
            let text: Option<String> = conn
                .prepare_cached("SELECT record FROM campaigns WHERE campaign = ?1")?
                .query_row([&n], |r| r.get(0))
                .optional()?;
            text.map(|t| from_json(&t, "campaign record")).transpose()
        })
        .await
        .map_err(|e| scoped(e, name, None))
    }

    async fn put_campaign(&self, record: &CampaignRecord) -> Result<()> {
        let name = record.name.clone();
        let text = to_json(record).map_err(|e| e.into_error(&self.label))?;
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO campaigns (campaign, record) VALUES (?1, ?2)
                 ON CONFLICT (campaign) DO UPDATE SET record = excluded.record",
            )?
            .execute(params![name, text])?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, &record.name, None))
    }

    async fn apply(
        &self,
        campaign: &str,
        status: &MailboxStatus,
        transition: Option<&Transition>,
    ) -> Result<()> {
        let (c, status, transition) = (campaign.to_owned(), status.clone(), transition.cloned());
        let mailbox = status.mailbox.clone();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored: Option<String> = tx
                .prepare_cached(
                    "SELECT stage FROM campaign_mailboxes WHERE campaign = ?1 AND mailbox = ?2",
                )?
                .query_row(params![c, status.mailbox], |r| r.get(0))
                .optional()?;
            let stored = stored
                .map(|s| {
                    Stage::parse(&s)
                        .ok_or_else(|| StoreError::corrupt(format!("unknown campaign stage {s:?}")))
                })
                .transpose()?;
            check_apply(&c, stored, &status, transition.as_ref())
                .map_err(|e| StoreError::Refused(Box::new(e)))?;
            tx.prepare_cached(
                "INSERT INTO campaign_mailboxes (campaign, mailbox, stage, status)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (campaign, mailbox) DO UPDATE SET
                     stage = excluded.stage, status = excluded.status",
            )?
            .execute(params![
                c,
                status.mailbox,
                status.stage.as_str(),
                to_json(&status)?
            ])?;
            if let Some(t) = &transition {
                tx.prepare_cached(
                    "INSERT INTO campaign_history (campaign, mailbox, seq, transition)
                     SELECT ?1, ?2, coalesce(max(seq), 0) + 1, ?3 FROM campaign_history
                      WHERE campaign = ?1 AND mailbox = ?2",
                )?
                .execute(params![c, status.mailbox, to_json(t)?])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, campaign, Some(&mailbox)))
    }

    async fn mailbox(&self, campaign: &str, mailbox: &str) -> Result<Option<MailboxStatus>> {
        let (c, m) = (campaign.to_owned(), mailbox.to_owned());
        self.run(move |conn| {
            let text: Option<String> = conn
                .prepare_cached(
                    "SELECT status FROM campaign_mailboxes WHERE campaign = ?1 AND mailbox = ?2",
                )?
                .query_row(params![c, m], |r| r.get(0))
                .optional()?;
            text.map(|t| from_json(&t, "mailbox status")).transpose()
        })
        .await
        .map_err(|e| scoped(e, campaign, Some(mailbox)))
    }

    async fn mailboxes(&self, campaign: &str) -> Result<Vec<MailboxStatus>> {
        let c = campaign.to_owned();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT status FROM campaign_mailboxes WHERE campaign = ?1 ORDER BY mailbox",
            )?;
            let texts = stmt
                .query_map([&c], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            texts
                .iter()
                .map(|t| from_json(t, "mailbox status"))
                .collect()
        })
        .await
        .map_err(|e| scoped(e, campaign, None))
    }

    async fn history(&self, campaign: &str, mailbox: &str) -> Result<Vec<Transition>> {
        let (c, m) = (campaign.to_owned(), mailbox.to_owned());
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT transition FROM campaign_history WHERE campaign = ?1 AND mailbox = ?2
                 ORDER BY seq",
            )?;
            let texts = stmt
                .query_map(params![c, m], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            texts.iter().map(|t| from_json(t, "transition")).collect()
        })
        .await
        .map_err(|e| scoped(e, campaign, Some(mailbox)))
    }

    /// One upsert: a row of another worker is taken over only once it has expired, by the
    /// machine's clock (processes sharing a file share a clock).
    async fn claim(
        &self,
        campaign: &str,
        mailbox: &str,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let (c, m, w) = (campaign.to_owned(), mailbox.to_owned(), worker.to_owned());
        let now = unix_millis(SystemTime::now());
        let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        self.run(move |conn| {
            let changed = conn
                .prepare_cached(
                    "INSERT INTO campaign_leases (campaign, mailbox, worker, expires)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (campaign, mailbox) DO UPDATE SET
                         worker = excluded.worker, expires = excluded.expires
                      WHERE campaign_leases.worker = excluded.worker
                         OR campaign_leases.expires <= ?5",
                )?
                .execute(params![c, m, w, until, now])?;
            Ok(changed == 1)
        })
        .await
        .map_err(|e| scoped(e, campaign, Some(mailbox)))
    }

    async fn release(&self, campaign: &str, mailbox: &str, worker: &str) -> Result<()> {
        let (c, m, w) = (campaign.to_owned(), mailbox.to_owned(), worker.to_owned());
        self.run(move |conn| {
            conn.prepare_cached(
                "DELETE FROM campaign_leases WHERE campaign = ?1 AND mailbox = ?2 AND worker = ?3",
            )?
            .execute(params![c, m, w])?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, campaign, Some(mailbox)))
    }

    /// An exclusive lock on `<file>-worker-<digest>.lock` beside the database, the digest
    /// of the campaign and worker names (the file holds the names, for an operator who
    /// wonders whose it is). The kernel drops the lock with its process.
    async fn hold_worker(&self, campaign: &str, worker: &str) -> Result<WorkerHold> {
        let Some(db) = &self.path else {
            return self.names.hold(campaign, worker);
        };
        let digest = blake3::hash(format!("{campaign}\0{worker}").as_bytes());
        let mut path = db.as_os_str().to_owned();
        path.push(format!("-worker-{}.lock", &digest.to_hex()[..16]));
        let path = std::path::PathBuf::from(path);
        let failed = |what: &str, e: std::io::Error| {
            Error::new(
                ErrorKind::Unavailable,
                format!("cannot {what} the worker lock file"),
            )
            .with_operation(Operation::State)
            .with_context("path", path.display())
            .with_source(e)
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| failed("open", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(worker_taken(campaign, worker).with_context("lock", path.display()))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(failed("lock", e)),
        }
        use std::io::Write as _;
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(file, "campaign {campaign:?} worker {worker:?}"));
        Ok(WorkerHold::new(LockedFile(file)))
    }
}

/// A worker lock file, locked; closing it unlocks.
struct LockedFile(#[allow(dead_code, reason = "held for its lock")] std::fs::File);

impl NameGuard for LockedFile {}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
