//! Writing: imports with labels, look-ups by `rfc822msgid:` and content, label changes
//! for flags \[GM-IMPORT\]\[GM-LBL\].

use async_trait::async_trait;
use futures::StreamExt;
use mailmigrate_core::{
    Appended, DedupeKey, Destination, EnsuredFolder, Error, ErrorKind, ExistingCopy, Flag,
    FlagChange, FolderId, FolderPath, MessageId, RawMessage, Result, SpecialUse,
};

use super::api::{self, Format};
use super::{labels, Gmail, Shared};
use crate::PROVIDER;

/// Imports in flight at once for one append call.
const IMPORTS_AT_ONCE: usize = 4;

impl Shared {
    /// Imports one message into `folder` \[GM-IMPORT\].
    async fn import_one(&self, folder: &FolderId, msg: &RawMessage) -> Result<Appended> {
        let size = msg.bytes.len() as u64;
        if size > self.settings.max_message {
            return Err(Error::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "it is {size} bytes; this mailbox imports at most {}",
                    self.settings.max_message
                ),
            )
            .with_provider(PROVIDER));
        }
        if msg.bytes.is_empty() {
            // [GM-IMPORT] Gmail refuses an empty message ("'raw' RFC822 payload … required").
            return Err(Error::new(
                ErrorKind::InvalidMessage,
                "an empty message cannot be imported",
            )
            .with_provider(PROVIDER));
        }
        let labels = self.label_ids_for(folder, &msg.meta).await?;
        let what = format!("import {} into {folder}", msg.meta.id);
        let id = if size > self.settings.resumable_threshold {
            // [GM-UPL] large messages: resumable, so a broken connection costs one chunk.
            super::upload::import(
                &self.client,
                &msg.bytes,
                &labels,
                &what,
                self.settings.chunk,
            )
            .await?
        } else {
            api::import(&self.client, &msg.bytes, &labels, what).await?
        };
        Ok(Appended::new(Some(MessageId::new(id))))
    }

    /// The candidates for `key` in `folder`: by `rfc822msgid:` where it has a Message-ID,
    /// otherwise every message of the folder.
    async fn candidates(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<String>> {
        match key
            .message_id
            .as_deref()
            .filter(|m| !m.contains([' ', '"']))
        {
            Some(mid) => {
                api::list_ids(&self.client, folder, Some(&format!("rfc822msgid:{mid}"))).await
            }
            None => {
                tracing::debug!(%folder, "look-up without Message-ID: reading the whole folder");
                api::list_ids(&self.client, folder, None).await
            }
        }
    }
}

#[async_trait]
impl Destination for Gmail {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        labels::ensure(&self.shared, path, role).await
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let shared = &self.shared;
        Ok(futures::stream::iter(messages)
            .map(|msg| async move {
                shared
                    .import_one(folder, &msg)
                    .await
                    .map_err(|e| e.with_item(folder, &msg.meta.id))
            })
            .buffered(IMPORTS_AT_ONCE)
            .collect()
            .await)
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        let shared = &self.shared;
        let draft = if change.add.contains(&Flag::Draft) {
            Some(true)
        } else if change.remove.contains(&Flag::Draft) {
            Some(false)
        } else {
            None
        };
        let (mut add, mut remove) = (Vec::new(), Vec::new());
        if let Some(want) = draft {
            let m = api::get(&shared.client, id.as_str(), Format::Metadata)
                .await?
                .ok_or_else(|| not_found(folder, id))?;
            let gmail_draft = m.label_ids.iter().any(|l| l == "DRAFT");
            if gmail_draft || folder.as_str() == "DRAFT" {
                // [GM-LBL] DRAFT cannot be applied or removed by hand: only a change
                // already in effect is possible.
                if gmail_draft != want {
                    return Err(Error::unsupported(
                        "Gmail cannot add or remove DRAFT after import",
                    )
                    .with_provider(PROVIDER)
                    .with_item(folder, id));
                }
            } else if let Some(label) = shared.draft_keyword_label(want).await? {
                // Outside Drafts the flag is the keyword label `label_ids_for` gave it.
                if want {
                    add.push(label);
                } else {
                    remove.push(label);
                }
            }
        }
        for f in &change.add {
            if let Some(label) = shared.label_for_flag(f, true).await? {
                // UNREAD is the absence of \Seen.
                if *f == Flag::Seen {
                    remove.push(label)
                } else {
                    add.push(label)
                }
            }
        }
        for f in &change.remove {
            if let Some(label) = shared.label_for_flag(f, false).await? {
                if *f == Flag::Seen {
                    add.push(label)
                } else {
                    remove.push(label)
                }
            }
        }
        if add.is_empty() && remove.is_empty() {
            if draft.is_none() {
                // Nothing to send; still say whether the message exists.
                api::get(&shared.client, id.as_str(), Format::Metadata)
                    .await?
                    .ok_or_else(|| not_found(folder, id))?;
            }
            return Ok(());
        }
        api::modify(&shared.client, id.as_str(), &add, &remove)
            .await
            .map_err(|e| e.with_item(folder, id))
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        let shared = &self.shared;
        let ids = shared.candidates(folder, key).await?;
        let read: Vec<Result<Option<api::Message>>> = futures::stream::iter(ids)
            .map(|id| async move { api::get(&shared.client, &id, Format::Raw).await })
            .buffered(8)
            .collect()
            .await;
        let mut copies = Vec::new();
        for m in read {
            let Some(m) = m? else { continue };
            if let Some(copy) = shared.copy_if_match(folder, key, &m).await? {
                copies.push(copy);
            }
        }
        Ok(copies)
    }

    /// Many keys in a few batch requests: their `Message-ID`s searched together, every
    /// candidate read in batches \[GM-BATCH\] (see [`Gmail`](super::Gmail)).
    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        self.shared.find_many(folder, keys).await
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        let _ = ids;
        Err(Error::unsupported(
            "deleting from Gmail (remove the label, trash, or delete for good) is not decided yet",
        )
        .with_provider(PROVIDER)
        .with_context("folder", folder))
    }
}

fn not_found(folder: &FolderId, id: &MessageId) -> Error {
    Error::new(ErrorKind::NotFound, format!("no message {id}"))
        .with_provider(PROVIDER)
        .with_item(folder, id)
}
