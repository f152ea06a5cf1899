//! Writing: messages created as received mail (large ones in stages, see `stage`),
//! found again by their hash, re-flagged, deleted.

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use mailmigrate_core::{
    Appended, DedupeKey, Destination, EnsuredFolder, ExistingCopy, Flag, FlagChange, FolderId,
    FolderPath, MessageId, RawMessage, Result, SpecialUse,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::create::{
    hash_property, message_json, partial_stamp, verb_properties, MAX_CREATE_BYTES,
    MAX_MESSAGE_BYTES, REQUEST_CAP,
};
use super::source::{DeltaItem, FORWARDED, LAST_VERB};
use super::stage::too_large;
use super::{folders, Graph};
use crate::client::{segment, Call};

impl Graph {
    /// Creates one message in `folder`: in one request up to
    /// [`MAX_CREATE_BYTES`], in stages above it (see `stage`).
    async fn create(&self, folder: &FolderId, msg: RawMessage) -> Result<Appended> {
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
        let (body, _) = message_json(&msg)?;
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
        // [G-EXT]: items are found by an extended property's value with a lambda filter.
        let filter = crate::extended::value_filter(&hash_property(), stamp);
        let url = self.client.user_url(&format!(
            "/mailFolders/{}/messages?$filter={}&$select=isRead,isDraft,flag,categories,receivedDateTime&$expand={}&$top=100",
            segment(folder.as_str()),
            segment(&filter),
            segment(&format!("singleValueExtendedProperties($filter=id eq '{LAST_VERB}')"))
        ));
        self.client
            .items(Call::get(url, format!("look up a copy in {folder}")))
            .try_collect()
            .await
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
        if let (Some(_), Some(id), true) = (&self.imports, &key.message_id, found.is_empty()) {
            found = self.unstamped_imports(folder, id, &key.hash).await?;
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
        Ok(found
            .into_iter()
            .map(|f| {
                let (flags, date) = (f.flags(), f.received());
                ExistingCopy::new(MessageId::new(f.id))
                    .with_flags(flags)
                    .with_internal_date(date)
            })
            .collect())
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
