//! Messages created from their MIME by the beta `importMime` action (\[G-IMIME\]), where
//! the caller asked for it ([`GraphBuilder::with_import_mime`](crate::GraphBuilder::with_import_mime))
//! and the tenant offers it.
//!
//! `importMime` keeps the message's MIME as given — every header, the body parts as they
//! were — and creates it "as if delivered": not a draft. It takes nothing but the MIME, so
//! the read state, flag, categories, last verb and the hash stamp follow in one `PATCH`.
//! Between the two requests the copy carries no stamp; a look-up then finds it by its
//! `internetMessageId` and its bytes (`$value` is the MIME as given, so the content hash
//! matches) and stamps it. That needs a `Message-ID`: a message without one takes the JSON
//! path. So do drafts (the action makes delivered mail), messages over the 4 MB request
//! (base64 in the body) and every message once the tenant answered that it does not offer
//! the action.
//!
//! What the action does with `receivedDateTime` is not documented (\[G-IMIME\], and
//! provider-apis.md's open questions): Exchange derives it from the message. Creating with
//! `importMime` therefore declares no kept internal date.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};

use base64::Engine as _;
use bytes::Bytes;
use mailmigrate_core::{ContentHash, Flag, FolderId, MessageId, RawMessage, Result};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::create::{hash_property, verb_properties, REQUEST_CAP};
use super::source::{categories, DeltaItem, LAST_VERB};
use super::Graph;
use crate::client::{segment, Answer, Call};

/// Not tried yet.
const UNKNOWN: u8 = 0;
/// The tenant created a message with it.
const OFFERED: u8 = 1;
/// The tenant answered that it does not know the action, or refused it.
const NOT_OFFERED: u8 = 2;

/// Whether the tenant offers `importMime`, learnt from the first try.
#[derive(Debug)]
pub(super) struct ImportMime(AtomicU8);

impl Default for ImportMime {
    fn default() -> Self {
        Self(AtomicU8::new(UNKNOWN))
    }
}

impl ImportMime {
    /// Whether a message may be tried with the action (not known to be missing).
    pub(super) fn may_try(&self) -> bool {
        self.0.load(Ordering::SeqCst) != NOT_OFFERED
    }

    fn learn(&self, offered: bool) {
        let was = self.0.swap(
            if offered { OFFERED } else { NOT_OFFERED },
            Ordering::SeqCst,
        );
        if !offered && was != NOT_OFFERED {
            tracing::warn!(
                "the tenant does not offer importMime (beta) or the app lacks \
                 Mail-Advanced.ReadWrite.All; messages are created as JSON"
            );
        }
    }
}

/// Whether `msg` can go through `importMime`: it has a `Message-ID` (a look-up finds an
/// unstamped copy by it), it is not a draft (the action makes delivered mail; the unsent
/// bit can only be set at creation, which the JSON path does) and its base64 fits one
/// request.
pub(super) fn fits(msg: &RawMessage) -> bool {
    let has_id = msg.meta.message_id.is_some()
        || mailmigrate_core::headers::message_id(&msg.bytes).is_some();
    has_id
        && !msg.meta.flags.contains(&Flag::Draft)
        && msg.bytes.len().div_ceil(3) * 4 <= REQUEST_CAP
}

/// Whether an answer says the action is not there for this app: the segment unknown (400
/// `Resource not found for the segment`), 404, or the permission missing (403).
fn not_offered(answer: &Answer) -> bool {
    match answer.status {
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => true,
        StatusCode::BAD_REQUEST => {
            String::from_utf8_lossy(&answer.body).contains("Resource not found for the segment")
        }
        _ => false,
    }
}

/// The `PATCH` after the import: read state, flag, categories, last verb, the hash stamp.
fn after_import(msg: &RawMessage, hash: &ContentHash) -> Value {
    let flags = &msg.meta.flags;
    let mut props = vec![json!({"id": hash_property(), "value": hash.to_hex()})];
    if let Some(verb) = verb_properties(flags) {
        props.extend(verb);
    }
    let status = if flags.contains(&Flag::Flagged) {
        "flagged"
    } else {
        "notFlagged"
    };
    json!({
        "isRead": flags.contains(&Flag::Seen),
        "flag": {"flagStatus": status},
        "categories": categories(flags),
        "singleValueExtendedProperties": props,
    })
}

impl Graph {
    /// Creates `msg` in `folder` with `importMime`, then sets what the MIME does not say.
    /// `Ok(None)` when the tenant does not offer the action (learnt for the rest of the
    /// run): the caller takes the JSON path.
    ///
    /// # Errors
    /// Graph's answer to the import; after it, a failed `PATCH` is of unknown outcome (the
    /// copy exists; the look-up settling it stamps it).
    pub(super) async fn import_mime(
        &self,
        imports: &ImportMime,
        folder: &FolderId,
        msg: &RawMessage,
    ) -> Result<Option<MessageId>> {
        let body = base64::engine::general_purpose::STANDARD.encode(&msg.bytes);
        let call = Call::bytes(
            Method::POST,
            self.client.beta_user_url(&format!(
                "/mailFolders/{}/importMime",
                segment(folder.as_str())
            )),
            "text/plain",
            Bytes::from(body),
            format!("import message {} into {folder}", msg.meta.id),
        );
        let answer = self.client.send(&call).await?;
        if !answer.status.is_success() {
            if not_offered(&answer) {
                imports.learn(false);
                return Ok(None);
            }
            return Err(answer.error(&call).with_item(folder, &msg.meta.id));
        }
        imports.learn(true);
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let created: Created = answer.json(&call.what)?;
        let patch = Call::json(
            Method::PATCH,
            self.client
                .user_url(&format!("/messages/{}", segment(&created.id))),
            &after_import(msg, &msg.content_hash()),
            format!("set the flags of imported message {}", created.id),
        );
        match self.client.send(&patch).await {
            Ok(a) if a.status.is_success() => Ok(Some(MessageId::new(created.id))),
            // The copy exists without its stamp: the look-up finds it by its bytes.
            Ok(a) => Err(a.error(&patch).outcome_unknown()),
            Err(e) => Err(e.outcome_unknown()),
        }
    }

    /// Copies in `folder` with `Message-ID` `id` whose MIME hashes to `hash` and that carry
    /// no stamp yet (an import whose `PATCH` did not happen): stamped now, and returned.
    /// Copies in `known` (found by their stamp already) are neither read nor returned.
    pub(super) async fn unstamped_imports(
        &self,
        folder: &FolderId,
        id: &str,
        hash: &ContentHash,
        known: &HashSet<String>,
    ) -> Result<Vec<DeltaItem>> {
        let filter = format!(
            "internetMessageId eq {}",
            crate::extended::literal(&format!("<{id}>"))
        );
        let url = self.client.user_url(&format!(
            "/mailFolders/{}/messages?$filter={}&$select=isRead,isDraft,flag,categories,receivedDateTime&$expand={}&$top=100",
            segment(folder.as_str()),
            segment(&filter),
            segment(&format!("singleValueExtendedProperties($filter=id eq '{LAST_VERB}')"))
        ));
        let candidates: Vec<DeltaItem> = futures::TryStreamExt::try_collect(self.client.items(
            Call::get(url, format!("look up an imported copy in {folder}")),
        ))
        .await?;
        let mut out = Vec::new();
        for c in candidates.into_iter().filter(|c| !known.contains(&c.id)) {
            let raw = super::source::mime_of(&self.client, folder, &MessageId::new(&c.id)).await?;
            if &raw.content_hash() != hash {
                continue;
            }
            let stamp = Call::json(
                Method::PATCH,
                self.client
                    .user_url(&format!("/messages/{}", segment(&c.id))),
                &json!({"singleValueExtendedProperties": [
                    {"id": hash_property(), "value": hash.to_hex()}
                ]}),
                format!("stamp imported message {}", c.id),
            );
            let answer = self.client.send(&stamp).await?;
            if !answer.status.is_success() {
                return Err(answer.error(&stamp));
            }
            out.push(c);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmigrate_core::MessageMeta;

    fn raw(bytes: &'static [u8]) -> RawMessage {
        RawMessage::new(
            MessageMeta::new(MessageId::new("m"), FolderId::new("f")),
            Bytes::from_static(bytes),
        )
    }

    #[test]
    fn only_messages_with_an_id_that_fit_one_request_are_imported() {
        assert!(fits(&raw(b"Message-ID: <a@b>\r\n\r\nx")));
        assert!(!fits(&raw(b"Subject: no id\r\n\r\nx")));
        let mut draft = raw(b"Message-ID: <a@b>\r\n\r\nx");
        draft.meta.flags.insert(Flag::Draft);
        assert!(!fits(&draft));
    }

    #[test]
    fn the_patch_sets_what_the_mime_cannot() {
        let mut m = raw(b"Message-ID: <a@b>\r\n\r\nx");
        m.meta.flags = [Flag::Seen, Flag::Answered, Flag::Keyword("Work".into())]
            .into_iter()
            .collect();
        let v = after_import(&m, &m.content_hash());
        assert_eq!(v["isRead"], json!(true));
        assert_eq!(v["categories"], json!(["Work"]));
        let props = v["singleValueExtendedProperties"].as_array().unwrap();
        assert!(props.iter().any(|p| p["id"] == hash_property()));
        assert!(props.iter().any(|p| p["id"] == LAST_VERB));
    }
}
