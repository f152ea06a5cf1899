//! Writing: messages created as received mail (large ones in stages, see `stage`),
//! found again by their hash, re-flagged, deleted.

use std::collections::HashSet;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use mailmigrate_core::{
    Appended, ContentHash, DedupeKey, Destination, EnsuredFolder, ExistingCopy, Flag, FlagChange,
    FolderId, FolderPath, MessageId, RawMessage, Result, SpecialUse,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::create::{
    hash_property, partial_stamp, prepare, verb_properties, MAX_CREATE_BYTES, MAX_MESSAGE_BYTES,
    REQUEST_CAP,
};
use super::source::{DeltaItem, FORWARDED, LAST_VERB};
use super::stage::too_large;
use super::{folders, Graph};
use crate::client::{segment, Call};

/// The listing of `folder`'s messages whose hash property is `stamp`, with what a look-up
/// answers (flags, date, last verb), relative to the mailbox.
fn stamped_path(folder: &FolderId, stamp: &str) -> String {
    // [G-EXT]: items are found by an extended property's value with a lambda filter.
    let filter = crate::extended::value_filter(&hash_property(), stamp);
    format!(
        "/mailFolders/{}/messages?$filter={}&$select=isRead,isDraft,flag,categories,receivedDateTime&$expand={}&$top=100",
        segment(folder.as_str()),
        segment(&filter),
        segment(&format!("singleValueExtendedProperties($filter=id eq '{LAST_VERB}')"))
    )
}

impl Graph {
    /// Creates one message in `folder`: in one request up to
    /// [`MAX_CREATE_BYTES`], in stages above it (see `stage`).
    async fn create(&self, folder: &FolderId, msg: RawMessage) -> Result<Appended> {
        // Before anything is sent: a copy whose answer is lost is still looked up.
        self.stamps.writing(folder, &msg.content_hash());
        let size = msg.bytes.len() as u64;
        if size > MAX_MESSAGE_BYTES {
            return Err(too_large(
                &msg,
                &format!("it is {size} bytes; Graph takes messages up to {MAX_MESSAGE_BYTES}"),
            ));
        }
        if size > MAX_CREATE_BYTES {
            return self.create_staged(folder, &msg).await;
        }
        if let Some(imports) = self.imports.as_ref().filter(|i| i.may_try()) {
            if super::import::fits(&msg) {
                if let Some(id) = self.import_mime(imports, folder, &msg).await? {
                    return Ok(Appended::new(Some(id)));
                }
            }
        }
        let prepared = prepare(&msg)?;
        self.note_not_carried(&prepared.not_carried);
        let body = prepared.body(&prepared.hash.to_hex(), &prepared.attachments);
        let id = self.post_message(folder, &body, &msg).await?;
        Ok(Appended::new(Some(MessageId::new(id))))
    }

    /// `POST`s the create `body` of `msg` to `folder` and returns the new message's id.
    ///
    /// # Errors
    /// `MessageTooLarge` for a body over [`REQUEST_CAP`] (\[I-4MB\]), or Graph's answer.
    pub(super) async fn post_message(
        &self,
        folder: &FolderId,
        body: &Value,
        msg: &RawMessage,
    ) -> Result<String> {
        let call = Call::json(
            Method::POST,
            self.client.user_url(&format!(
                "/mailFolders/{}/messages",
                segment(folder.as_str())
            )),
            body,
            format!("create message {} in {folder}", msg.meta.id),
        );
        let size = call.body.as_ref().map_or(0, |(_, b)| b.len());
        if size > REQUEST_CAP {
            return Err(too_large(
                msg,
                &format!("it needs a {size}-byte request; Graph takes at most {REQUEST_CAP}"),
            ));
        }
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let created: Created = self.client.json(&call).await?;
        Ok(created.id)
    }

    /// The copies in `folder` whose hash property is `stamp`.
    async fn stamped(&self, folder: &FolderId, stamp: &str) -> Result<Vec<DeltaItem>> {
        let url = self.client.user_url(&stamped_path(folder, stamp));
        self.client
            .items(Call::get(url, format!("look up a copy in {folder}")))
            .try_collect()
            .await
    }

    /// [`stamped`](Self::stamped) for up to 20 stamps in one `$batch` request \[G-BAT\]:
    /// one answer per stamp, `None` where the batch did not answer it with one complete
    /// page (a throttled item, a second page), for the caller to ask alone.
    async fn stamped_batch(
        &self,
        folder: &FolderId,
        stamps: &[String],
    ) -> Result<Vec<Option<Vec<DeltaItem>>>> {
        #[derive(Deserialize)]
        struct Responses {
            responses: Vec<Response>,
        }
        #[derive(Deserialize)]
        struct Response {
            id: String,
            status: u16,
            #[serde(default)]
            body: Option<Page>,
        }
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            value: Vec<DeltaItem>,
            #[serde(rename = "@odata.nextLink")]
            next: Option<String>,
        }
        let requests: Vec<Value> = stamps
            .iter()
            .enumerate()
            .map(|(i, stamp)| {
                json!({
                    "id": i.to_string(),
                    "method": "GET",
                    "url": self.client.user_path(&stamped_path(folder, stamp)),
                    // Each item carries its own headers: without this one it answers
                    // the ids that change on a move [G-IMM][G-BAT].
                    "headers": {"Prefer": crate::client::IMMUTABLE_IDS},
                })
            })
            .collect();
        let call = Call::json(
            Method::POST,
            self.client.batch_url(),
            &json!({ "requests": requests }),
            format!("look up {} copies in {folder}", stamps.len()),
        )
        // Graph runs four items of a batch at once, each counting as a request [G-THR].
        .with_slots(u32::try_from(stamps.len().min(4)).unwrap_or(4));
        let answers: Responses = self.client.json(&call).await?;
        let mut out: Vec<Option<Vec<DeltaItem>>> = (0..stamps.len()).map(|_| None).collect();
        for r in answers.responses {
            let (Ok(i), Some(page)) = (r.id.parse::<usize>(), r.body) else {
                continue;
            };
            if r.status == 200 && page.next.is_none() && i < out.len() {
                out[i] = Some(page.value);
            }
        }
        Ok(out)
    }

    /// The copies in `folder` with `Message-ID` `id` whose MIME hashes to `hash` but that
    /// carry no hash stamp (an import whose answer or stamping `PATCH` was lost), stamped
    /// now and returned as copies. Called when the stamped look-up found none, so no copy
    /// is known yet.
    pub(crate) async fn unstamped_copies(
        &self,
        folder: &FolderId,
        id: &str,
        hash: &ContentHash,
    ) -> Result<Vec<ExistingCopy>> {
        let none = std::collections::HashSet::new();
        let found = self.unstamped_imports(folder, id, hash, &none).await?;
        Ok(found.into_iter().map(existing_copy).collect())
    }

    /// The message's current categories (a full-list property: a change rewrites it).
    async fn categories_of(&self, id: &MessageId) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Cats {
            #[serde(default)]
            categories: Vec<String>,
        }
        let call = Call::get(
            self.client.user_url(&format!(
                "/messages/{}?$select=categories",
                segment(id.as_str())
            )),
            format!("GET message {id}"),
        );
        Ok(self.client.json::<Cats>(&call).await?.categories)
    }
}

#[async_trait]
impl Destination for Graph {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        folders::ensure(self, path, role).await
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let results = futures::stream::iter(messages)
            .map(|msg| {
                let id = msg.meta.id.clone();
                async move {
                    self.create(folder, msg)
                        .await
                        .map_err(|e| e.with_item(folder, &id))
                }
            })
            .buffered(4)
            .collect()
            .await;
        Ok(results)
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        let mut patch = serde_json::Map::new();
        let touches = |f: &Flag| change.add.contains(f) || change.remove.contains(f);
        if touches(&Flag::Seen) {
            patch.insert("isRead".into(), json!(change.add.contains(&Flag::Seen)));
        }
        if touches(&Flag::Flagged) {
            let status = if change.add.contains(&Flag::Flagged) {
                "flagged"
            } else {
                "notFlagged"
            };
            patch.insert("flag".into(), json!({ "flagStatus": status }));
        }
        let verb_changed = [Flag::Answered, Flag::Keyword(FORWARDED.into())]
            .iter()
            .any(touches);
        if verb_changed {
            let props = verb_properties(&change.add).map_or_else(
                // Neither is set any more: no last verb.
                || vec![json!({"id": LAST_VERB, "value": "0"})],
                Vec::from,
            );
            patch.insert("singleValueExtendedProperties".into(), json!(props));
        }
        let category = |f: &Flag| matches!(f, Flag::Keyword(k) if k != FORWARDED);
        if change.add.iter().any(category) || change.remove.iter().any(category) {
            let mut cats = self.categories_of(id).await?;
            cats.retain(|c| !change.remove.contains(&Flag::Keyword(c.clone())));
            for f in change.add.iter().filter(|f| category(f)) {
                if let Flag::Keyword(k) = f {
                    if !cats.iter().any(|c| c == k) {
                        cats.push(k.clone());
                    }
                }
            }
            patch.insert("categories".into(), json!(cats));
        }
        if patch.is_empty() {
            return Ok(());
        }
        // [G-UPD]: isRead, flag and categories stay writable after creation.
        let call = Call::json(
            Method::PATCH,
            self.client
                .user_url(&format!("/messages/{}", segment(id.as_str()))),
            &Value::Object(patch),
            format!("update flags of {id}"),
        );
        let answer = self.client.send(&call).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(answer.error(&call).with_item(folder, id))
        }
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        let hex = key.hash.to_hex();
        let mut found = self.stamped(folder, &hex).await?;
        // An import whose PATCH did not happen carries no stamp yet: found by its bytes.
        // Also beside stamped copies: a byte-identical twin's copy may be stamped while
        // this one is not, and a look-up answers every copy (decision 0004).
        if let (Some(_), Some(id)) = (&self.imports, &key.message_id) {
            let known: HashSet<String> = found.iter().map(|f| f.id.clone()).collect();
            let unstamped = self
                .unstamped_imports(folder, id, &key.hash, &known)
                .await?;
            found.extend(unstamped);
        }
        // Only a message over MAX_CREATE_BYTES is staged, so only its key (or one without
        // a size) can have partial copies: a killed or failed staged write's. They are
        // not copies; deleted, they leave the message to be written anew.
        if key.size.is_none_or(|s| s > MAX_CREATE_BYTES) {
            let partial: Vec<MessageId> = self
                .stamped(folder, &partial_stamp(&hex))
                .await?
                .into_iter()
                .filter(|p| !self.staging.contains(&p.id))
                .map(|p| MessageId::new(p.id))
                .collect();
            if !partial.is_empty() {
                tracing::debug!(%folder, n = partial.len(), "deleting partial copies");
                self.delete(folder, &partial).await?;
            }
        }
        Ok(found.into_iter().map(existing_copy).collect())
    }

    /// The look-ups of a batch, twenty to a `$batch` request \[G-BAT\]: the engine asks
    /// before writing into a folder that holds mail (an Inbox with a welcome message is
    /// one), and one look-up per round trip would make every write wait one. Keys whose
    /// look-up does more than one query (a message large enough to have been staged, a
    /// mailbox that imports MIME) and items the batch did not answer are looked up alone,
    /// four at a time.
    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        let simple =
            |k: &DedupeKey| self.imports.is_none() && k.size.is_some_and(|s| s <= MAX_CREATE_BYTES);
        let mut out: Vec<Option<Vec<ExistingCopy>>> = vec![None; keys.len()];
        // A message whose hash no copy in the folder carries is not there (see `stamps`).
        let hashes: Vec<ContentHash> = keys.iter().map(|k| k.hash).collect();
        for (i, may) in self
            .may_hold(folder, &hashes)
            .await?
            .into_iter()
            .enumerate()
        {
            if !may && simple(&keys[i]) {
                out[i] = Some(Vec::new());
            }
        }
        let batchable: Vec<usize> = (0..keys.len())
            .filter(|&i| out[i].is_none() && simple(&keys[i]))
            .collect();
        for chunk in batchable.chunks(20) {
            let stamps: Vec<String> = chunk.iter().map(|&i| keys[i].hash.to_hex()).collect();
            for (&i, found) in chunk.iter().zip(self.stamped_batch(folder, &stamps).await?) {
                out[i] = found.map(|items| items.into_iter().map(existing_copy).collect());
            }
        }
        let rest: Vec<_> = (0..keys.len())
            .filter(|&i| out[i].is_none())
            .map(|i| async move { self.find_existing(folder, &keys[i]).await.map(|f| (i, f)) })
            .collect();
        let alone: Vec<(usize, Vec<ExistingCopy>)> = futures::stream::iter(rest)
            .buffered(4)
            .try_collect()
            .await?;
        for (i, found) in alone {
            out[i] = Some(found);
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        for id in ids {
            let call = Call {
                method: Method::DELETE,
                ..Call::get(
                    self.client
                        .user_url(&format!("/messages/{}", segment(id.as_str()))),
                    format!("delete message {id}"),
                )
            };
            let answer = self.client.send(&call).await?;
            // Gone already is what was asked.
            if !(answer.status.is_success() || answer.status == StatusCode::NOT_FOUND) {
                return Err(answer.error(&call).with_item(folder, id));
            }
        }
        Ok(())
    }
}

/// A copy a look-up found, with the flags and date its listing says.
fn existing_copy(f: DeltaItem) -> ExistingCopy {
    let (flags, date) = (f.flags(), f.received());
    ExistingCopy::new(MessageId::new(f.id))
        .with_flags(flags)
        .with_internal_date(date)
}
