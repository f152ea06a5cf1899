//! [`CampaignStore`] on PostgreSQL: records as JSON text, moves as a compare-and-set in
//! SQL, leases judged by the database's clock.

use std::time::Duration;

use async_trait::async_trait;

use super::{PostgresState, StoreError};
use crate::campaign::{
    check_apply, worker_taken, CampaignRecord, CampaignStore, MailboxStatus, NameGuard, Stage,
    Transition, WorkerHold,
};
use crate::Result;

/// The longest lease stored (a century): a longer time-to-live is capped to it.
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 86_400);

fn to_json<T: serde::Serialize>(value: &T) -> std::result::Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::corrupt(format!("cannot encode: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> std::result::Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(format!("unreadable {what}: {e}")))
}

fn parse_stage(s: &str) -> std::result::Result<Stage, StoreError> {
    Stage::parse(s).ok_or_else(|| StoreError::corrupt(format!("unknown campaign stage {s:?}")))
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
impl CampaignStore for PostgresState {
    async fn campaign(&self, name: &str) -> Result<Option<CampaignRecord>> {
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached("SELECT record FROM campaigns WHERE campaign = $1")
                .await?;
            let row = c.query_opt(&stmt, &[&name]).await?;
            row.map(|r| from_json(r.get(0), "campaign record"))
                .transpose()
        })
        .await
        .map_err(|e| scoped(e, name, None))
    }

    async fn put_campaign(&self, record: &CampaignRecord) -> Result<()> {
        self.run(async {
            let text = to_json(record)?;
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "INSERT INTO campaigns (campaign, record) VALUES ($1, $2)
                     ON CONFLICT (campaign) DO UPDATE SET record = EXCLUDED.record",
                )
                .await?;
            c.execute(&stmt, &[&record.name, &text]).await?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, &record.name, None))
    }

    /// The mailbox's row is locked (`FOR UPDATE`) for the check, and written only where
    /// its stage is still the one checked: a rival's move waits for this transaction, then
    /// finds the new stage and is refused.
    async fn apply(
        &self,
        campaign: &str,
        status: &MailboxStatus,
        transition: Option<&Transition>,
    ) -> Result<()> {
        let mailbox = status.mailbox.as_str();
        self.run(async {
            let text = to_json(status)?;
            let history = transition.map(to_json).transpose()?;
            let stage = status.stage.as_str();
            let c = &mut self.conn().await?;
            let tx = c.transaction().await?;
            let stored = tx
                .query_opt(
                    "SELECT stage FROM campaign_mailboxes
                      WHERE campaign = $1 AND mailbox = $2 FOR UPDATE",
                    &[&campaign, &mailbox],
                )
                .await?
                .map(|r| parse_stage(r.get(0)))
                .transpose()?;
            let refuse = |stored| {
                check_apply(campaign, stored, status, transition)
                    .map_err(|e| StoreError::Refused(Box::new(e)))
            };
            refuse(stored)?;
            let written = match stored {
                None => {
                    tx.execute(
                        "INSERT INTO campaign_mailboxes (campaign, mailbox, stage, status)
                         VALUES ($1, $2, $3, $4) ON CONFLICT (campaign, mailbox) DO NOTHING",
                        &[&campaign, &mailbox, &stage, &text],
                    )
                    .await?
                }
                Some(from) => {
                    tx.execute(
                        "UPDATE campaign_mailboxes SET stage = $3, status = $4
                          WHERE campaign = $1 AND mailbox = $2 AND stage = $5",
                        &[&campaign, &mailbox, &stage, &text, &from.as_str()],
                    )
                    .await?
                }
            };
            if written != 1 {
                // A rival created the mailbox meanwhile (no row to lock before it did).
                let now = tx
                    .query_opt(
                        "SELECT stage FROM campaign_mailboxes WHERE campaign = $1 AND mailbox = $2",
                        &[&campaign, &mailbox],
                    )
                    .await?
                    .map(|r| parse_stage(r.get(0)))
                    .transpose()?;
                refuse(now)?;
                return Err(StoreError::corrupt(
                    "the mailbox's row changed under its lock",
                ));
            }
            if let Some(t) = &history {
                tx.execute(
                    "INSERT INTO campaign_history (campaign, mailbox, seq, transition)
                     SELECT $1, $2, coalesce(max(seq), 0) + 1, $3 FROM campaign_history
                      WHERE campaign = $1 AND mailbox = $2",
                    &[&campaign, &mailbox, t],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, campaign, Some(mailbox)))
    }

    async fn mailbox(&self, campaign: &str, mailbox: &str) -> Result<Option<MailboxStatus>> {
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "SELECT status FROM campaign_mailboxes WHERE campaign = $1 AND mailbox = $2",
                )
                .await?;
            let row = c.query_opt(&stmt, &[&campaign, &mailbox]).await?;
            row.map(|r| from_json(r.get(0), "mailbox status"))
                .transpose()
        })
        .await
        .map_err(|e| scoped(e, campaign, Some(mailbox)))
    }

    async fn mailboxes(&self, campaign: &str) -> Result<Vec<MailboxStatus>> {
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "SELECT status FROM campaign_mailboxes WHERE campaign = $1 ORDER BY mailbox",
                )
                .await?;
            c.query(&stmt, &[&campaign])
                .await?
                .iter()
                .map(|r| from_json(r.get(0), "mailbox status"))
                .collect()
        })
        .await
        .map_err(|e| scoped(e, campaign, None))
    }

    async fn history(&self, campaign: &str, mailbox: &str) -> Result<Vec<Transition>> {
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "SELECT transition FROM campaign_history WHERE campaign = $1 AND mailbox = $2
                      ORDER BY seq",
                )
                .await?;
            c.query(&stmt, &[&campaign, &mailbox])
                .await?
                .iter()
                .map(|r| from_json(r.get(0), "transition"))
                .collect()
        })
        .await
        .map_err(|e| scoped(e, campaign, Some(mailbox)))
    }

    /// One upsert, judged by the database's clock: a row of another worker is taken over
    /// only once it has expired.
    async fn claim(
        &self,
        campaign: &str,
        mailbox: &str,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let millis = ttl.min(MAX_TTL).as_secs_f64() * 1000.0;
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "INSERT INTO campaign_leases (campaign, mailbox, worker, expires)
                     VALUES ($1, $2, $3, clock_timestamp() + $4::float8 * interval '1 millisecond')
                     ON CONFLICT (campaign, mailbox) DO UPDATE SET
                         worker = EXCLUDED.worker, expires = EXCLUDED.expires
                      WHERE campaign_leases.worker = EXCLUDED.worker
                         OR campaign_leases.expires <= clock_timestamp()",
                )
                .await?;
            let changed = c
                .execute(&stmt, &[&campaign, &mailbox, &worker, &millis])
                .await?;
            Ok(changed == 1)
        })
        .await
        .map_err(|e| scoped(e, campaign, Some(mailbox)))
    }

    async fn release(&self, campaign: &str, mailbox: &str, worker: &str) -> Result<()> {
        self.run(async {
            let c = &mut self.conn().await?;
            let stmt = c
                .prepare_cached(
                    "DELETE FROM campaign_leases
                      WHERE campaign = $1 AND mailbox = $2 AND worker = $3",
                )
                .await?;
            c.execute(&stmt, &[&campaign, &mailbox, &worker]).await?;
            Ok(())
        })
        .await
        .map_err(|e| scoped(e, campaign, Some(mailbox)))
    }

    /// A session advisory lock, keyed by the schema, campaign and worker names, on a
    /// connection taken out of the pool for the hold (returned to the pool, the session
    /// and its lock would outlive the hold). Dropping the hold closes the connection; the
    /// server ends the session and its lock with it, as it does when the process dies.
    async fn hold_worker(&self, campaign: &str, worker: &str) -> Result<WorkerHold> {
        // Lengths first, so no two (schema, campaign, worker) make one key.
        let schema = &*self.schema;
        let key = format!(
            "mailmigrate-worker:{}:{schema}{}:{campaign}{worker}",
            schema.len(),
            campaign.len()
        );
        let held = self
            .run(async {
                let client = deadpool_postgres::Object::take(self.conn().await?);
                let row = client
                    .query_one(
                        "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                        &[&key],
                    )
                    .await?;
                Ok(row.get::<_, bool>(0).then_some(client))
            })
            .await
            .map_err(|e| scoped(e, campaign, None))?;
        match held {
            Some(client) => Ok(WorkerHold::new(Session(client))),
            None => Err(worker_taken(campaign, worker)),
        }
    }
}

/// The connection whose session holds a worker name's advisory lock.
struct Session(deadpool_postgres::ClientWrapper);

impl NameGuard for Session {
    /// A closed connection has lost its session, and the lock with it.
    fn is_held(&self) -> bool {
        !self.0.is_closed()
    }
}
