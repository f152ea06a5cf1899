//! Writing: messages created as received mail, found again by their hash, re-flagged,
//! deleted.

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use mailmigrate_core::{
    Appended, DedupeKey, Destination, EnsuredFolder, Error, ErrorKind, ExistingCopy, Flag,
    FlagChange, FolderId, FolderPath, MessageId, RawMessage, Result, SpecialUse,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::create::{hash_property, message_json, verb_properties, REQUEST_CAP};
use super::source::{DeltaItem, FORWARDED, LAST_VERB};
use super::{folders, Graph};
use crate::client::{segment, Call};
use crate::PROVIDER;

/// OData string literal: quotes doubled ([G-EXT]'s filter syntax).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Graph {
    /// Creates one message in `folder`.
    async fn create(&self, folder: &FolderId, msg: RawMessage) -> Result<Appended> {
        let (body, _) = message_json(&msg)?;
        let call = Call::json(
            Method::POST,
            self.client.user_url(&format!(
                "/mailFolders/{}/messages",
                segment(folder.as_str())
            )),
            &body,
            format!("create message {} in {folder}", msg.meta.id),
        );
        let size = call.body.as_ref().map_or(0, |(_, b)| b.len());
        if size > REQUEST_CAP {
            return Err(Error::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "message {} needs a {size}-byte request; Graph takes at most {REQUEST_CAP}",
                    msg.meta.id
                ),
            )
            .with_provider(PROVIDER));
        }
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let created: Created = self.client.json(&call).await?;
        Ok(Appended::new(Some(MessageId::new(created.id))))
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
        // [G-EXT]: items are found by an extended property's value with a lambda filter.
        let filter = format!(
            "singleValueExtendedProperties/any(ep: ep/id eq {} and ep/value eq {})",
            literal(&hash_property()),
            literal(&key.hash.to_hex())
        );
        let url = self.client.user_url(&format!(
            "/mailFolders/{}/messages?$filter={}&$select=isRead,isDraft,flag,categories,receivedDateTime&$expand={}&$top=100",
            segment(folder.as_str()),
            segment(&filter),
            segment(&format!("singleValueExtendedProperties($filter=id eq '{LAST_VERB}')"))
        ));
        let found: Vec<DeltaItem> = self
            .client
            .items(Call::get(url, format!("look up a copy in {folder}")))
            .try_collect()
            .await?;
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
