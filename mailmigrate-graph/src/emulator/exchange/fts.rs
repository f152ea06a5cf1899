//! The emulator's stand-in for a FastTransfer stream: the stored message, serialized.
//!
//! Real `exportItems` data is an FTS stream of MAPI properties, "not intended for
//! parsing" (\[G-EXP\]\[G-IMP\]\[IE-GA\]). Clients must treat it as opaque; the emulator
//! only needs it to round-trip between two emulated tenants with full fidelity, so it is
//! a private JSON rendering of the whole stored message (MIME, write-once properties such
//! as the draft bit and the dates, flags, categories, extended properties, attachments)
//! behind a magic prefix, base64-encoded on the wire by the caller.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::super::store::{Attachment, CreatedBy, Message, Recipient};

/// Marks the emulator's streams (a real FTS stream starts otherwise).
const MAGIC: &[u8] = b"MMFTS1\n";

fn time(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

fn parse_time(v: &Value) -> Option<OffsetDateTime> {
    v.as_str()
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

fn who(r: &Recipient) -> Value {
    json!({"name": r.name, "address": r.address})
}

fn parse_who(v: &Value) -> Option<Recipient> {
    Some(Recipient {
        name: v["name"].as_str().map(str::to_owned),
        address: v["address"].as_str()?.to_owned(),
    })
}

fn whos(v: &Value) -> Vec<Recipient> {
    v.as_array()
        .map(|a| a.iter().filter_map(parse_who).collect())
        .unwrap_or_default()
}

fn pairs(p: &[(String, String)]) -> Value {
    Value::Array(p.iter().map(|(k, v)| json!([k, v])).collect())
}

fn parse_pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p[0].as_str()?.to_owned(), p[1].as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The stream of `m`: everything an item is, ids and folder aside (the importing
/// mailbox gives its own).
pub(crate) fn export(m: &Message) -> Vec<u8> {
    let attachments: Vec<Value> = m
        .attachments
        .iter()
        .map(|a| {
            json!({"name": a.name, "contentType": a.content_type, "isInline": a.is_inline,
                   "contentId": a.content_id, "bytes": STANDARD.encode(&a.bytes)})
        })
        .collect();
    let v = json!({
        "subject": m.subject, "bodyType": m.body_type, "body": m.body,
        "from": m.from.as_ref().map(who), "sender": m.sender.as_ref().map(who),
        "to": m.to.iter().map(who).collect::<Vec<_>>(),
        "cc": m.cc.iter().map(who).collect::<Vec<_>>(),
        "bcc": m.bcc.iter().map(who).collect::<Vec<_>>(),
        "replyTo": m.reply_to.iter().map(who).collect::<Vec<_>>(),
        "received": time(m.received), "sent": time(m.sent), "created": time(Some(m.created)),
        "isRead": m.is_read, "isDraft": m.is_draft, "importance": m.importance,
        "flagStatus": m.flag_status, "categories": m.categories,
        "internetMessageId": m.internet_message_id,
        "headers": pairs(&m.headers), "extended": pairs(&m.extended),
        "attachments": attachments,
        "mime": m.mime.as_ref().map(|b| STANDARD.encode(b)),
        "conversationId": m.conversation_id,
    });
    let mut out = MAGIC.to_vec();
    out.extend(serde_json::to_vec(&v).unwrap_or_default());
    out
}

/// The message a stream describes, as a new item of `folder_id`; `None` for data that
/// is not an (emulated) stream.
pub(crate) fn import(data: &[u8], folder_id: &str) -> Option<Message> {
    let v: Value = serde_json::from_slice(data.strip_prefix(MAGIC)?).ok()?;
    let mut m = Message::new(folder_id, CreatedBy::ImportItem);
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    m.subject = text("subject");
    m.body_type = text("bodyType").unwrap_or_else(|| "text".into());
    m.body = text("body").unwrap_or_default();
    m.from = parse_who(&v["from"]);
    m.sender = parse_who(&v["sender"]);
    m.to = whos(&v["to"]);
    m.cc = whos(&v["cc"]);
    m.bcc = whos(&v["bcc"]);
    m.reply_to = whos(&v["replyTo"]);
    m.received = parse_time(&v["received"]);
    m.sent = parse_time(&v["sent"]);
    m.created = parse_time(&v["created"]).unwrap_or(m.created);
    m.is_read = v["isRead"].as_bool().unwrap_or(false);
    // The draft bit is write-once ([MS-OXCMSG]); the stream carries it as it was.
    m.is_draft = v["isDraft"].as_bool().unwrap_or(false);
    m.importance = text("importance").unwrap_or_else(|| "normal".into());
    m.flag_status = text("flagStatus").unwrap_or_else(|| "notFlagged".into());
    m.categories = v["categories"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    m.internet_message_id = text("internetMessageId");
    m.headers = parse_pairs(&v["headers"]);
    m.extended = parse_pairs(&v["extended"]);
    m.mime = v["mime"]
        .as_str()
        .and_then(|s| STANDARD.decode(s).ok())
        .map(Bytes::from);
    if let Some(c) = text("conversationId") {
        m.conversation_id = c;
    }
    for a in v["attachments"].as_array().into_iter().flatten() {
        m.attachments.push(Attachment {
            id: super::super::ids::new_id("AAMkAGAtt"),
            name: a["name"].as_str().unwrap_or_default().to_owned(),
            content_type: a["contentType"].as_str().unwrap_or_default().to_owned(),
            is_inline: a["isInline"].as_bool().unwrap_or(false),
            content_id: a["contentId"].as_str().map(str::to_owned),
            bytes: Bytes::from(STANDARD.decode(a["bytes"].as_str()?).ok()?),
        });
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_restores_the_write_once_properties() {
        let mut m = Message::new("f1", CreatedBy::Seed);
        m.is_draft = false;
        m.is_read = true;
        m.categories = vec!["Red".into()];
        m.mime = Some(Bytes::from_static(b"Subject: x\r\n\r\nbody\r\n"));
        m.extended = vec![("Integer 0x1081".into(), "102".into())];
        let back = import(&export(&m), "f2").unwrap();
        assert_eq!(back.folder_id, "f2");
        assert!(!back.is_draft && back.is_read);
        assert_eq!(back.categories, m.categories);
        assert_eq!(back.mime, m.mime);
        assert_eq!(back.received, m.received);
        assert_eq!(back.extended, m.extended);
        assert_ne!(back.imm_id, m.imm_id);
        assert!(import(b"not a stream", "f").is_none());
    }
}
