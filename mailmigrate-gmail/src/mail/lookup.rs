//! Look-ups of many messages at once through the batch endpoint \[GM-BATCH\]: the
//! `Message-ID`s of many keys searched together (`rfc822msgid:a OR rfc822msgid:b …`,
//! \[GM-SEARCH\]), then every candidate read in batches of `format=raw` gets.
//!
//! For 60 keys that is one batch of three searches and, at the default batch size of 25,
//! three batches of reads: four requests instead of 120.

use std::collections::{HashMap, HashSet};

use mailmigrate_core::{ContentHash, DedupeKey, ExistingCopy, FolderId, MessageId, Result};

use super::api::{self, Format, ListPage, Message};
use super::Shared;

/// `Message-ID`s searched in one query: keeps its URL near 1,500 characters.
const IDS_PER_QUERY: usize = 20;

/// How a key's candidates are found.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// The search of chunk `n`.
    Chunk(usize),
    /// The whole folder (no usable `Message-ID`, as [`Shared::candidates`] does).
    Folder,
    /// A search of its own (a `Message-ID` an `OR` query would misread).
    Own(usize),
}

impl Shared {
    /// Whether `copy` of a message is a copy of `key` in `folder` (its bytes hash as the
    /// key's), and the copy as the engine wants it.
    pub(super) async fn copy_if_match(
        &self,
        folder: &FolderId,
        key: &DedupeKey,
        m: &Message,
    ) -> Result<Option<ExistingCopy>> {
        if !api::in_folder(folder, &m.label_ids) {
            return Ok(None);
        }
        let bytes = m.raw_bytes()?;
        if key.size.is_some_and(|s| s != bytes.len() as u64) || ContentHash::of(&bytes) != key.hash
        {
            return Ok(None);
        }
        let flags = self.flags_of(folder, &m.label_ids).await?;
        Ok(Some(
            ExistingCopy::new(MessageId::new(&m.id))
                .with_flags(flags)
                .with_internal_date(m.internal_date()),
        ))
    }

    /// [`find_existing`](mailmigrate_core::Destination::find_existing) for many keys, in
    /// a few batch requests (see the module).
    pub(super) async fn find_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        let client = &self.client;
        let mut chunks: Vec<Vec<String>> = Vec::new();
        let mut chunk_of: HashMap<String, usize> = HashMap::new();
        let mut own: Vec<String> = Vec::new();
        let mut via = Vec::with_capacity(keys.len());
        for key in keys {
            let mid = key
                .message_id
                .as_deref()
                .filter(|m| !m.contains([' ', '"']));
            via.push(match mid {
                None => Via::Folder,
                Some(m) if m.contains(['(', ')', '{', '}']) || m.is_empty() => {
                    own.push(m.to_owned());
                    Via::Own(own.len() - 1)
                }
                Some(m) => {
                    let n = *chunk_of.entry(m.to_owned()).or_insert_with(|| {
                        if chunks.last().is_none_or(|c| c.len() >= IDS_PER_QUERY) {
                            chunks.push(Vec::new());
                        }
                        chunks.last_mut().expect("pushed").push(m.to_owned());
                        chunks.len() - 1
                    });
                    Via::Chunk(n)
                }
            });
        }
        // The searches: one per chunk, then one per odd Message-ID, in one batch.
        let queries: Vec<String> = chunks
            .iter()
            .map(|c| {
                c.iter()
                    .map(|m| format!("rfc822msgid:{m}"))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            })
            .chain(own.iter().map(|m| format!("rfc822msgid:{m}")))
            .collect();
        let found = self.search_all(folder, &queries).await?;
        let whole = if via.iter().any(|v| matches!(v, Via::Folder)) {
            tracing::debug!(%folder, "look-up without Message-ID: reading the whole folder");
            api::list_ids(client, folder, None).await?
        } else {
            Vec::new()
        };
        // Every candidate read once, in batches.
        let mut seen = HashSet::new();
        let ids: Vec<&String> = found
            .iter()
            .flatten()
            .chain(&whole)
            .filter(|id| seen.insert(id.as_str()))
            .collect();
        let calls: Vec<_> = ids
            .iter()
            .map(|id| api::get_call(client, id, Format::Raw))
            .collect();
        let answers = client.batch(&calls).await?;
        let mut read: HashMap<&str, Message> = HashMap::new();
        for ((id, call), answer) in ids.iter().zip(&calls).zip(&answers) {
            match api::read::<Message>(answer, call) {
                Ok(m) => {
                    read.insert(id.as_str(), m);
                }
                Err(e) if e.kind() == mailmigrate_core::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let mut out = Vec::with_capacity(keys.len());
        for (key, v) in keys.iter().zip(via) {
            let candidates = match v {
                Via::Chunk(n) => &found[n],
                Via::Own(n) => &found[chunks.len() + n],
                Via::Folder => &whole,
            };
            let mut copies = Vec::new();
            for id in candidates {
                let Some(m) = read.get(id.as_str()) else {
                    continue;
                };
                if let Some(copy) = self.copy_if_match(folder, key, m).await? {
                    copies.push(copy);
                }
            }
            out.push(copies);
        }
        Ok(out)
    }

    /// The ids each query finds in `folder`: first pages in batches, further pages (more
    /// than 500 hits, rare) one by one.
    async fn search_all(&self, folder: &FolderId, queries: &[String]) -> Result<Vec<Vec<String>>> {
        let client = &self.client;
        let calls: Vec<_> = queries
            .iter()
            .map(|q| api::list_call(client, folder, q, None))
            .collect();
        let answers = client.batch(&calls).await?;
        let mut out = Vec::with_capacity(queries.len());
        for ((q, call), answer) in queries.iter().zip(&calls).zip(&answers) {
            let mut page: ListPage = api::read(answer, call)?;
            let mut ids: Vec<String> = page.messages.drain(..).map(|m| m.id).collect();
            while let Some(token) = page.next_page_token.take() {
                let call = api::list_call(client, folder, q, Some(&token));
                page = client.json(&call).await?;
                ids.extend(page.messages.drain(..).map(|m| m.id));
            }
            out.push(ids);
        }
        Ok(out)
    }
}
