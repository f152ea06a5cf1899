//! Reading: full listings (messages.list, then each message's labels), listings since a
//! history id, and raw fetches \[GM-DISC\]\[GM-HIST\].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use mailmigrate_core::{
    Change, Checkpoint, Error, ErrorKind, FolderId, ItemResult, MessageId, MessageMeta, RawMessage,
    Result, Source,
};

use super::api::{self, Format};
use super::labels::ALL_MAIL;
use super::{Gmail, Shared};

/// Messages read at once while listing or fetching.
const READ_AHEAD: usize = 8;

/// What a history listing says about one message.
#[derive(Debug, Default)]
struct Seen {
    /// It left the folder: deleted, its label removed, or (for All Mail) moved to Spam or
    /// Trash.
    left: bool,
}

impl Shared {
    /// The metadata of message `id` as listed in `folder`; `None` when it is gone or not
    /// in the folder.
    async fn listed(self: Arc<Self>, folder: FolderId, id: String) -> Result<Option<MessageMeta>> {
        let Some(m) = api::get(&self.client, &id, Format::Metadata).await? else {
            return Ok(None);
        };
        if !api::in_folder(&folder, &m.label_ids) {
            return Ok(None);
        }
        let (date, mid) = (m.internal_date(), m.message_id());
        self.meta_of(&folder, &m.id, &m.label_ids, date, mid)
            .await
            .map(Some)
    }

    /// Everything in `folder`, with the history id taken before listing (so nothing that
    /// changes meanwhile is missed next time).
    async fn full(self: Arc<Self>, folder: FolderId, reset: bool) -> Result<Vec<Result<Change>>> {
        let baseline = api::history_id(&self.client).await?;
        let ids = api::list_ids(&self.client, &folder, None).await?;
        let mut out: Vec<Result<Change>> = Vec::with_capacity(ids.len() + 2);
        if reset {
            out.push(Ok(Change::Reset));
        }
        let metas: Vec<Result<Option<MessageMeta>>> = stream::iter(ids)
            .map(|id| Arc::clone(&self).listed(folder.clone(), id))
            .buffered(READ_AHEAD)
            .collect()
            .await;
        for m in metas {
            match m {
                Ok(Some(meta)) => out.push(Ok(Change::Upsert(meta))),
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
        out.push(Ok(Change::Checkpoint(Checkpoint::new(
            baseline.to_string(),
        ))));
        Ok(out)
    }

    /// What changed in `folder` since history id `start`; a full listing after
    /// [`Change::Reset`] when Gmail no longer has that history (404, \[GM-HIST\]).
    async fn since(self: Arc<Self>, folder: FolderId, start: u64) -> Result<Vec<Result<Change>>> {
        let Some((records, last)) = api::history(&self.client, start).await? else {
            tracing::info!(%folder, start, "history id out of date; listing everything");
            return self.full(folder, true).await;
        };
        let mut touched: BTreeMap<String, Seen> = BTreeMap::new();
        let label = folder.as_str();
        for r in records {
            for m in r.messages {
                touched.entry(m.id).or_default();
            }
            for m in r.messages_deleted {
                touched.entry(m.message.id).or_default().left = true;
            }
            for t in r.labels_removed {
                let left = t.label_ids.iter().any(|l| l == label);
                touched.entry(t.message.id).or_default().left |= left;
            }
            for t in r.labels_added {
                let left =
                    label == ALL_MAIL && t.label_ids.iter().any(|l| l == "SPAM" || l == "TRASH");
                touched.entry(t.message.id).or_default().left |= left;
            }
        }
        let ids: Vec<(String, bool)> = touched.into_iter().map(|(id, s)| (id, s.left)).collect();
        let metas: Vec<(String, bool, Result<Option<MessageMeta>>)> = stream::iter(ids)
            .map(|(id, left)| {
                let me = Arc::clone(&self);
                let folder = folder.clone();
                async move {
                    let r = me.listed(folder, id.clone()).await;
                    (id, left, r)
                }
            })
            .buffered(READ_AHEAD)
            .collect()
            .await;
        let mut out = Vec::with_capacity(metas.len() + 1);
        let mut removed = BTreeSet::new();
        for (id, left, meta) in metas {
            match meta? {
                Some(meta) => out.push(Ok(Change::Upsert(meta))),
                None if left && removed.insert(id.clone()) => {
                    out.push(Ok(Change::Removed(MessageId::new(id))))
                }
                None => {}
            }
        }
        out.push(Ok(Change::Checkpoint(Checkpoint::new(last.to_string()))));
        Ok(out)
    }
}

/// The stream of one listing: its changes, or its error (after which it ends, without a
/// checkpoint).
fn as_stream(result: Result<Vec<Result<Change>>>) -> BoxStream<'static, Result<Change>> {
    match result {
        Ok(changes) => stream::iter(changes).boxed(),
        Err(e) => stream::iter(vec![Err(e)]).boxed(),
    }
}

#[async_trait]
impl Source for Gmail {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let me = self.handle();
        let folder = folder.clone();
        let start = since.as_ref().map(|c| c.as_str().parse::<u64>());
        stream::once(async move {
            let result = match start {
                None => me.full(folder, false).await,
                Some(Ok(start)) => me.since(folder, start).await,
                // Not a history id (a checkpoint of another provider): start over.
                Some(Err(_)) => me.full(folder, true).await,
            };
            as_stream(result)
        })
        .flatten()
        .boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let me = self.handle();
        let folder = folder.clone();
        stream::iter(ids)
            .map(move |id| {
                let me = Arc::clone(&me);
                let folder = folder.clone();
                async move {
                    let result = me.raw(&folder, &id).await;
                    (id, result)
                }
            })
            .buffer_unordered(READ_AHEAD)
            .boxed()
    }
}

impl Shared {
    /// `get format=raw`: the bytes as stored, with the message's flags and labels.
    async fn raw(&self, folder: &FolderId, id: &MessageId) -> Result<RawMessage> {
        let m = api::get(&self.client, id.as_str(), Format::Raw)
            .await
            .map_err(|e| e.with_item(folder, id))?
            .ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("no message {id}"))
                    .with_provider(crate::PROVIDER)
                    .with_item(folder, id)
            })?;
        let bytes = m.raw_bytes().map_err(|e| e.with_item(folder, id))?;
        let meta = self
            .meta_of(folder, &m.id, &m.label_ids, m.internal_date(), None)
            .await?;
        Ok(RawMessage::new(meta, bytes))
    }
}
