//! Messages too large for one request (\[I-4MB\]): created with the attachments that fit
//! and the hash stamped partial, the other attachments added one by one (a direct `POST`
//! under 3 MB, an upload session from 3 MB, \[G-ATT\]), then stamped complete.
//!
//! Until the last step the copy is not one: look-ups skip a partial copy and delete it
//! (unless this process is still writing it), so a write killed half-way leaves nothing a
//! rerun could take for the message, and the rerun writes it anew. A write that fails
//! half-way deletes its partial copy itself; if even that fails, its error says the outcome
//! is unknown, and the look-up that settles it does the deleting.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use mailmigrate_core::{
    Appended, ContentHash, Destination, Error, ErrorKind, FolderId, MessageId, RawMessage, Result,
};
use reqwest::Method;
use serde_json::{json, Value};

use super::create::{hash_property, partial_stamp, prepare, Part, Prepared, REQUEST_CAP};
use super::Graph;
use crate::client::{segment, Call};
use crate::PROVIDER;

/// The smallest attachment an upload session takes; smaller ones are `POST`ed directly
/// (\[G-ATT\]: "< 3 MB" one request, "3–150 MB" an upload session).
pub(super) const SESSION_MIN: usize = 3 * 1024 * 1024;

/// What `"attachments":[]` and the comma before it add to a create body.
const ATTACHMENTS_KEY: usize = r#","attachments":[]"#.len();

/// Where each attachment of a staged message goes.
#[derive(Debug)]
pub(super) struct Plan {
    /// The create body: fields, hash stamped partial, the attachments that fit.
    create: Value,
    hash: ContentHash,
    /// How many attachments the create carries.
    inline: usize,
    /// Attachments under [`SESSION_MIN`] that did not fit the create: one `POST` each.
    posted: Vec<Part>,
    /// Attachments from [`SESSION_MIN`]: one upload session each.
    uploaded: Vec<Part>,
}

/// Splits `p` into a create that fits [`REQUEST_CAP`] and the attachments added after it:
/// small attachments ride in the create while they fit, in the message's order.
///
/// # Errors
/// Why the message cannot be written (text and headers alone over the cap, or an
/// attachment too large for one request and too small for an upload session).
pub(super) fn plan(mut p: Prepared) -> Result<Plan, String> {
    let stamp = partial_stamp(&p.hash.to_hex());
    let attachments = std::mem::take(&mut p.attachments);
    let base = serde_json::to_vec(&p.body(&stamp, &[])).map_or(usize::MAX, |b| b.len());
    let mut room = REQUEST_CAP
        .checked_sub(base.saturating_add(ATTACHMENTS_KEY))
        .ok_or_else(|| {
            format!("its text and headers alone need a {base}-byte request; Graph takes at most {REQUEST_CAP}")
        })?;
    let (mut inline, mut posted, mut uploaded) = (Vec::new(), Vec::new(), Vec::new());
    for part in attachments {
        if part.bytes.len() >= SESSION_MIN {
            uploaded.push(part);
            continue;
        }
        let len = part.json_len();
        if len < room {
            room -= len + 1; // and the comma after it
            inline.push(part);
        } else if len <= REQUEST_CAP {
            posted.push(part);
        } else {
            return Err(format!(
                "its attachment {:?} of {} bytes needs a {len}-byte request, over Graph's \
                 {REQUEST_CAP}, and is under the {SESSION_MIN} bytes of an upload session",
                part.name,
                part.bytes.len()
            ));
        }
    }
    Ok(Plan {
        create: p.body(&stamp, &inline),
        hash: p.hash,
        inline: inline.len(),
        posted,
        uploaded,
    })
}

/// The ids of partial copies this process is writing now, which look-ups must leave alone
/// (a twin's look-up must not delete a copy still being uploaded).
#[derive(Debug, Default)]
pub(super) struct Staging(Mutex<HashSet<String>>);

impl Staging {
    /// Marks `id` as being written until the guard drops (also when the write's future
    /// is dropped half-way).
    fn hold(&self, id: &str) -> Held<'_> {
        self.ids().insert(id.to_owned());
        Held {
            staging: self,
            id: id.to_owned(),
        }
    }

    /// Whether this process is writing the partial copy `id`.
    pub(super) fn contains(&self, id: &str) -> bool {
        self.ids().contains(id)
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Holds one id in [`Staging`].
#[derive(Debug)]
struct Held<'a> {
    staging: &'a Staging,
    id: String,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.staging.ids().remove(&self.id);
    }
}

/// `MessageTooLarge` for `msg`, saying `why`.
pub(super) fn too_large(msg: &RawMessage, why: &str) -> Error {
    Error::new(
        ErrorKind::MessageTooLarge,
        format!("message {} cannot be written to Graph: {why}", msg.meta.id),
    )
    .with_provider(PROVIDER)
}

impl Graph {
    /// Writes `msg` (over [`MAX_CREATE_BYTES`](super::create::MAX_CREATE_BYTES)) in
    /// stages; see the module docs.
    pub(super) async fn create_staged(
        &self,
        folder: &FolderId,
        msg: &RawMessage,
    ) -> Result<Appended> {
        let prepared = prepare(msg)?;
        self.note_not_carried(&prepared.not_carried);
        let plan = plan(prepared).map_err(|why| too_large(msg, &why))?;
        // A lost answer here leaves at most a partial copy: the look-up deletes it.
        let id = self.post_message(folder, &plan.create, msg).await?;
        let _held = self.staging.hold(&id);
        if let Err(e) = self.add_attachments(&id, &plan).await {
            return Err(self.discard(folder, &id, e).await);
        }
        match self.stamp_complete(&id, &plan.hash).await {
            Ok(()) => Ok(Appended::new(Some(MessageId::new(id)))),
            // The stamp may have landed: the look-up settles it either way.
            Err(e) if e.is_outcome_unknown() => Err(e),
            Err(e) => Err(self.discard(folder, &id, e).await),
        }
    }

    /// Adds the attachments the create did not carry, one request (or session) at a time.
    async fn add_attachments(&self, id: &str, plan: &Plan) -> Result<()> {
        let mut count = plan.inline;
        for part in &plan.posted {
            // [G-ATT] under 3 MB: POST .../attachments with a fileAttachment.
            let call = Call::json(
                Method::POST,
                self.client
                    .user_url(&format!("/messages/{}/attachments", segment(id))),
                &part.json(),
                format!("add attachment {:?} to message {id}", part.name),
            );
            let answer = self.client.send(&call).await?;
            if !answer.status.is_success() {
                return Err(answer.error(&call));
            }
            count += 1;
        }
        for part in &plan.uploaded {
            self.upload(id, part, count).await?;
            count += 1;
        }
        Ok(())
    }

    /// Stamps the copy `id` with its hash: from now on look-ups find it ([G-UPD]: extended
    /// properties stay writable after creation).
    async fn stamp_complete(&self, id: &str, hash: &ContentHash) -> Result<()> {
        let call = Call::json(
            Method::PATCH,
            self.client.user_url(&format!("/messages/{}", segment(id))),
            &json!({"singleValueExtendedProperties": [
                {"id": hash_property(), "value": hash.to_hex()}
            ]}),
            format!("stamp message {id} complete"),
        );
        let answer = self.client.send(&call).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(answer.error(&call))
        }
    }

    /// Deletes the partial copy `id` after `e`, and returns `e`: as it was when the copy is
    /// gone, of unknown outcome when it may remain (the look-up settling it deletes it).
    async fn discard(&self, folder: &FolderId, id: &str, e: Error) -> Error {
        match self.delete(folder, &[MessageId::new(id)]).await {
            Ok(()) => e,
            Err(d) => {
                tracing::warn!(%id, error = %d, "a partial copy stays until a look-up deletes it");
                e.outcome_unknown()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mailmigrate_core::{FolderId, MessageMeta};

    fn message(parts: &[(&str, usize)]) -> RawMessage {
        use base64::Engine as _;
        let mut m = String::from(
            "Subject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\ntext\r\n",
        );
        for (name, size) in parts {
            let b64 = base64::engine::general_purpose::STANDARD.encode(vec![7u8; *size]);
            m.push_str(&format!(
                "--b\r\nContent-Type: application/octet-stream\r\n\
                 Content-Disposition: attachment; filename={name}\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n"
            ));
        }
        m.push_str("--b--\r\n");
        let meta = MessageMeta::new(MessageId::new("m1"), FolderId::new("f"));
        RawMessage::new(meta, Bytes::from(m))
    }

    fn names(parts: &[Part]) -> Vec<&str> {
        parts.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn small_attachments_ride_in_the_create_while_they_fit() {
        let msg = message(&[
            ("a", 1_000_000),
            ("big", 5_000_000),
            ("b", 1_500_000),
            ("c", 1_000_000),
        ]);
        let plan = plan(prepare(&msg).unwrap()).unwrap();
        let create = serde_json::to_vec(&plan.create).unwrap();
        assert!(create.len() <= REQUEST_CAP);
        assert_eq!(plan.inline, 2, "a and b fit, c does not");
        assert_eq!(names(&plan.posted), ["c"]);
        assert_eq!(names(&plan.uploaded), ["big"]);
        assert_eq!(plan.uploaded[0].bytes.len(), 5_000_000);
        let stamp = plan.create["singleValueExtendedProperties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == hash_property())
            .unwrap()["value"]
            .clone();
        assert_eq!(stamp, json!(partial_stamp(&plan.hash.to_hex())));
    }

    #[test]
    fn json_len_is_the_serialised_length() {
        let msg = message(&[("x.bin", 1001)]);
        let p = prepare(&msg).unwrap();
        let part = &p.attachments[0];
        assert_eq!(
            part.json_len(),
            serde_json::to_vec(&part.json()).unwrap().len()
        );
    }

    #[test]
    fn an_attachment_just_under_the_session_minimum_is_refused_by_name() {
        let msg = message(&[("edge.bin", SESSION_MIN - 1), ("big", SESSION_MIN)]);
        let why = plan(prepare(&msg).unwrap()).unwrap_err();
        assert!(why.contains("\"edge.bin\""), "{why}");
    }
}
