//! A MIME message as the JSON of a received Graph message ([G-CMSG]).
//!
//! Exchange makes every message created through Graph a draft unless `PR_MESSAGE_FLAGS`
//! (`Integer 0x0E07`) is given at creation without `MSGFLAG_UNSENT` (0x8); the delivery and
//! submit times (`SystemTime 0x0E06`, `SystemTime 0x0039`) are likewise only taken at
//! creation ([G-CMSG][MS-OXCMSG][MAPI-MF][I-DRAFT]). So everything is set in the one
//! `POST`: fields parsed from the MIME, those properties, categories and the follow-up
//! flag, attachments, and two named properties of this crate's own: the original header
//! block and the content hash look-ups go by.

use base64::Engine as _;
use mail_parser::{Address, MessageParser, MimeHeaders, PartType};
use mailmigrate_core::{ContentHash, Flag, RawMessage};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::source::{categories, FORWARDED, LAST_VERB, VERB_FORWARD, VERB_REPLY};

/// Graph refuses a request body over 4 MB ([I-4MB]).
pub(super) const REQUEST_CAP: usize = 4 * 1024 * 1024;

/// The largest message created in one request: base64 and JSON escaping grow a message
/// by up to a third on the way, so a message this size still fits [`REQUEST_CAP`].
pub(super) const MAX_CREATE_BYTES: u64 = 3 * 1024 * 1024;

/// `PS_PUBLIC_STRINGS`, the property set of named properties any client may define
/// ([G-EXT]).
const PUBLIC_STRINGS: &str = "{00020329-0000-0000-C000-000000000046}";

/// The named property holding the content hash (hex BLAKE3) of the message a copy was
/// made from.
pub(super) fn hash_property() -> String {
    format!("String {PUBLIC_STRINGS} Name mailmigrate-hash")
}

/// The named property holding the original header block, which the JSON fields cannot
/// carry.
pub(super) fn headers_property() -> String {
    format!("String {PUBLIC_STRINGS} Name mailmigrate-headers")
}

/// `MSGFLAG_READ` ([MAPI-MF]).
const MSGFLAG_READ: u32 = 0x1;
/// `MSGFLAG_UNSENT`: the draft bit ([MAPI-MF]).
const MSGFLAG_UNSENT: u32 = 0x8;
/// `PR_ICON_INDEX` values for a replied and a forwarded message.
const ICON_REPLIED: u32 = 261;
const ICON_FORWARDED: u32 = 262;

/// `PR_LAST_VERB_EXECUTED` and `PR_ICON_INDEX` for `\Answered` or `$Forwarded`; `None`
/// for neither.
pub(super) fn verb_properties(flags: &mailmigrate_core::Flags) -> Option<[Value; 2]> {
    let (verb, icon) = if flags.contains(&Flag::Answered) {
        (VERB_REPLY, ICON_REPLIED)
    } else if flags.contains(&Flag::Keyword(FORWARDED.into())) {
        (VERB_FORWARD, ICON_FORWARDED)
    } else {
        return None;
    };
    Some([
        json!({"id": LAST_VERB, "value": verb.to_string()}),
        json!({"id": "Integer 0x1080", "value": icon.to_string()}),
    ])
}

/// The JSON body creating `msg`, and the hash it is stamped with.
///
/// # Errors
/// `InvalidMessage` for an empty message: there is nothing to create.
pub(super) fn message_json(msg: &RawMessage) -> mailmigrate_core::Result<(Value, ContentHash)> {
    if msg.bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(mailmigrate_core::Error::new(
            mailmigrate_core::ErrorKind::InvalidMessage,
            format!("message {} is empty", msg.meta.id),
        )
        .with_provider(crate::PROVIDER));
    }
    let hash = msg.content_hash();
    let parsed = MessageParser::default().parse(&msg.bytes[..]);
    let mut m = Map::new();
    let mut sent = None;
    match &parsed {
        Some(p) => {
            fields(p, &mut m);
            sent = p
                .date()
                .filter(|d| d.is_valid())
                .and_then(|d| OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok());
            let attachments: Vec<Value> = p
                .attachments()
                .enumerate()
                .map(|(i, a)| attachment(i, a))
                .collect();
            if !attachments.is_empty() {
                m.insert("attachments".into(), Value::Array(attachments));
            }
        }
        None => {
            // Not MIME we can read: its text is the body, and the original travels whole as
            // an attachment, so nothing is lost.
            m.insert(
                "body".into(),
                json!({"contentType": "text", "content": String::from_utf8_lossy(&msg.bytes)}),
            );
            m.insert(
                "attachments".into(),
                json!([file_attachment(
                    "original.eml",
                    "message/rfc822",
                    &msg.bytes,
                    None,
                    false
                )]),
            );
        }
    }
    let flags = &msg.meta.flags;
    let mut bits = 0;
    if flags.contains(&Flag::Seen) {
        bits |= MSGFLAG_READ;
    }
    if flags.contains(&Flag::Draft) {
        bits |= MSGFLAG_UNSENT;
    }
    let received = msg.meta.internal_date.or(sent);
    let mut props = vec![
        json!({"id": "Integer 0x0E07", "value": bits.to_string()}),
        json!({"id": hash_property(), "value": hash.to_hex()}),
        json!({"id": headers_property(), "value": header_block(&msg.bytes)}),
    ];
    if let Some(t) = received {
        props.push(json!({"id": "SystemTime 0x0E06", "value": iso(t)}));
    }
    if let Some(t) = sent.or(received) {
        props.push(json!({"id": "SystemTime 0x0039", "value": iso(t)}));
    }
    props.extend(verb_properties(flags).into_iter().flatten());
    m.insert("singleValueExtendedProperties".into(), Value::Array(props));
    let cats = categories(flags);
    if !cats.is_empty() {
        m.insert("categories".into(), json!(cats));
    }
    if flags.contains(&Flag::Flagged) {
        m.insert("flag".into(), json!({"flagStatus": "flagged"}));
    }
    Ok((Value::Object(m), hash))
}

/// Subject, addresses, `Message-ID` and body.
fn fields(p: &mail_parser::Message<'_>, m: &mut Map<String, Value>) {
    if let Some(s) = p.subject() {
        m.insert("subject".into(), json!(s));
    }
    if let Some(from) = p.from().and_then(|a| recipients(a).into_iter().next()) {
        m.insert("from".into(), from.clone());
        let sender = p.sender().and_then(|a| recipients(a).into_iter().next());
        m.insert("sender".into(), sender.unwrap_or(from));
    }
    for (field, list) in [
        ("toRecipients", p.to()),
        ("ccRecipients", p.cc()),
        ("bccRecipients", p.bcc()),
        ("replyTo", p.reply_to()),
    ] {
        if let Some(list) = list {
            m.insert(field.into(), Value::Array(recipients(list)));
        }
    }
    if let Some(id) = p.message_id() {
        m.insert("internetMessageId".into(), json!(format!("<{id}>")));
    }
    let html = p.html_part(0).and_then(|part| match &part.body {
        PartType::Html(h) => Some(h.to_string()),
        _ => None,
    });
    let body = match html {
        Some(h) => json!({"contentType": "html", "content": h}),
        None => json!({"contentType": "text", "content": p.body_text(0).unwrap_or_default()}),
    };
    m.insert("body".into(), body);
}

fn recipients(list: &Address<'_>) -> Vec<Value> {
    list.iter()
        .filter_map(|a| {
            let address = a.address()?;
            let mut e = json!({ "address": address });
            if let Some(name) = a.name() {
                e["name"] = json!(name);
            }
            Some(json!({ "emailAddress": e }))
        })
        .collect()
}

fn attachment(i: usize, a: &mail_parser::MessagePart<'_>) -> Value {
    let kind = a.content_type().map_or_else(
        || "application/octet-stream".to_owned(),
        |t| match t.subtype() {
            Some(sub) => format!("{}/{sub}", t.ctype()),
            None => t.ctype().to_owned(),
        },
    );
    let nested = matches!(a.body, PartType::Message(_));
    let name = a.attachment_name().map_or_else(
        || {
            if nested {
                format!("attachment-{}.eml", i + 1)
            } else {
                format!("attachment-{}", i + 1)
            }
        },
        str::to_owned,
    );
    let inline = a
        .content_disposition()
        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"));
    file_attachment(&name, &kind, a.contents(), a.content_id(), inline)
}

fn file_attachment(
    name: &str,
    kind: &str,
    bytes: &[u8],
    content_id: Option<&str>,
    inline: bool,
) -> Value {
    let mut v = json!({
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentType": kind,
        "contentBytes": base64::engine::general_purpose::STANDARD.encode(bytes),
        "isInline": inline,
    });
    if let Some(cid) = content_id {
        v["contentId"] = json!(cid);
    }
    v
}

/// The header section of a message: up to the first empty line.
fn header_block(bytes: &[u8]) -> String {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| bytes.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn iso(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use mailmigrate_core::{FolderId, MessageId, MessageMeta};

    fn raw(bytes: &'static [u8], flags: &[Flag]) -> RawMessage {
        let meta = MessageMeta::new(MessageId::new("1"), FolderId::new("f"))
            .with_flags(flags.iter().cloned().collect());
        RawMessage::new(meta, Bytes::from_static(bytes))
    }

    fn prop<'a>(v: &'a Value, id: &str) -> Option<&'a str> {
        v["singleValueExtendedProperties"]
            .as_array()?
            .iter()
            .find(|p| p["id"] == id)?["value"]
            .as_str()
    }

    #[test]
    fn a_read_message_is_created_received_with_its_dates_and_fields() {
        let m = raw(
            b"From: Bob <bob@example.com>\r\nTo: ada@example.com, Cy <cy@example.com>\r\n\
              Subject: Hello\r\nDate: Tue, 02 Jan 2024 10:00:00 +0100\r\n\
              Message-ID: <m1@example.com>\r\n\r\nText.\r\n",
            &[Flag::Seen, Flag::Flagged, Flag::Keyword("Work".into())],
        );
        let (v, hash) = message_json(&m).unwrap();
        assert_eq!(v["subject"], "Hello");
        assert_eq!(v["internetMessageId"], "<m1@example.com>");
        assert_eq!(v["from"]["emailAddress"]["address"], "bob@example.com");
        assert_eq!(v["toRecipients"][1]["emailAddress"]["name"], "Cy");
        assert_eq!(v["body"]["contentType"], "text");
        assert_eq!(prop(&v, "Integer 0x0E07"), Some("1"));
        assert_eq!(prop(&v, "SystemTime 0x0039"), Some("2024-01-02T09:00:00Z"));
        assert_eq!(prop(&v, "SystemTime 0x0E06"), Some("2024-01-02T09:00:00Z"));
        assert_eq!(prop(&v, &hash_property()), Some(hash.to_hex().as_str()));
        assert!(prop(&v, &headers_property())
            .unwrap()
            .starts_with("From: Bob"));
        assert_eq!(v["categories"], json!(["Work"]));
        assert_eq!(v["flag"]["flagStatus"], "flagged");
    }

    #[test]
    fn unread_drafts_and_answered_messages_get_their_bits() {
        let (v, _) = message_json(&raw(b"Subject: x\r\n\r\nx\r\n", &[])).unwrap();
        assert_eq!(prop(&v, "Integer 0x0E07"), Some("0"));
        let (v, _) = message_json(&raw(b"Subject: x\r\n\r\nx\r\n", &[Flag::Draft])).unwrap();
        assert_eq!(prop(&v, "Integer 0x0E07"), Some("8"));
        let (v, _) = message_json(&raw(b"Subject: x\r\n\r\nx\r\n", &[Flag::Answered])).unwrap();
        assert_eq!(prop(&v, "Integer 0x1081"), Some("102"));
    }

    #[test]
    fn attachments_travel_as_file_attachments() {
        let m = raw(
            b"Subject: a\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
              --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
              --b\r\nContent-Type: application/pdf; name=r.pdf\r\n\
              Content-Disposition: attachment; filename=r.pdf\r\n\
              Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n",
            &[],
        );
        let (v, _) = message_json(&m).unwrap();
        let a = &v["attachments"][0];
        assert_eq!(a["name"], "r.pdf");
        assert_eq!(a["contentType"], "application/pdf");
        assert_eq!(a["contentBytes"], "JVBERi0=");
        assert_eq!(v["body"]["content"], "see attached");
    }
}
