//! A MIME message as the JSON of a received Graph message ([G-CMSG]).
//!
//! Exchange makes every message created through Graph a draft unless `PR_MESSAGE_FLAGS`
//! (`Integer 0x0E07`) is given at creation without `MSGFLAG_UNSENT` (0x8); the delivery and
//! submit times (`SystemTime 0x0E06`, `SystemTime 0x0039`) are likewise only taken at
//! creation ([G-CMSG][MS-OXCMSG][MAPI-MF][I-DRAFT]). So everything is set in the one
//! `POST`: fields parsed from the MIME, those properties, categories and the follow-up
//! flag, attachments, and two named properties of this crate's own: the original header
//! block and the content hash look-ups go by.

use std::borrow::Cow;

use base64::Engine as _;
use bytes::Bytes;
use mail_parser::{Address, MessageParser, MimeHeaders, PartType};
use mailmigrate_core::{ContentHash, Flag, RawMessage};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::source::{categories, FORWARDED, LAST_VERB, VERB_FORWARD, VERB_REPLY};

/// Graph refuses a request body over 4 MB ([I-4MB]).
pub(super) const REQUEST_CAP: usize = 4 * 1024 * 1024;

/// The largest message created in one request: base64 and JSON escaping grow a message
/// by up to a third on the way, so a message this size still fits [`REQUEST_CAP`]. A
/// larger one is staged (see `stage`): created stamped partial, its large attachments
/// uploaded after. Look-ups go by the same line, so it depends on the size alone.
pub(super) const MAX_CREATE_BYTES: u64 = 3 * 1024 * 1024;

/// The largest message this crate writes: 150 MB, the most an upload session takes for
/// one attachment ([G-ATT]); a larger message is refused before any request.
pub(super) const MAX_MESSAGE_BYTES: u64 = 150 * 1024 * 1024;

/// The named property holding the content hash (hex BLAKE3) of the message a copy was
/// made from; a staged copy holds [`partial_stamp`] until its last attachment is in.
pub(crate) fn hash_property() -> String {
    crate::extended::named_string("mailmigrate-hash")
}

/// The hash stamp of a copy whose attachments are still being added: look-ups do not take
/// it for a copy, and delete it.
pub(super) fn partial_stamp(hex: &str) -> String {
    format!("partial:{hex}")
}

/// The named property holding the original header block, which the JSON fields cannot
/// carry.
pub(super) fn headers_property() -> String {
    crate::extended::named_string("mailmigrate-headers")
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

/// A message as Graph takes it: its JSON fields and properties, and its attachments
/// apart, each decoded once and shared from then on.
#[derive(Debug)]
pub(super) struct Prepared {
    /// The JSON object without attachments and without the hash stamp.
    fields: Map<String, Value>,
    /// The content hash look-ups go by.
    pub(super) hash: ContentHash,
    /// The attachments, in the message's order.
    pub(super) attachments: Vec<Part>,
    /// The header fields (lower-case names, each once) that neither a JSON field nor
    /// `internetMessageHeaders` carries: they live on in the header-block property only.
    pub(super) not_carried: Vec<String>,
}

impl Prepared {
    /// The body of the create request: the fields, the hash property stamped `stamp`, and
    /// `inline` as file attachments ([G-CMSG]).
    pub(super) fn body<'a>(
        &self,
        stamp: &str,
        inline: impl IntoIterator<Item = &'a Part>,
    ) -> Value {
        let mut m = self.fields.clone();
        if let Some(Value::Array(props)) = m.get_mut("singleValueExtendedProperties") {
            props.push(json!({"id": hash_property(), "value": stamp}));
        }
        let attachments: Vec<Value> = inline.into_iter().map(Part::json).collect();
        if !attachments.is_empty() {
            m.insert("attachments".into(), Value::Array(attachments));
        }
        Value::Object(m)
    }
}

/// One attachment: what its `fileAttachment` says, and its decoded content (a slice of
/// the message's own bytes where it was not encoded, so never copied).
#[derive(Debug, Clone)]
pub(super) struct Part {
    pub(super) name: String,
    pub(super) content_type: String,
    pub(super) content_id: Option<String>,
    pub(super) inline: bool,
    pub(super) bytes: Bytes,
}

impl Part {
    /// As a `#microsoft.graph.fileAttachment` with `contentBytes` ([G-CMSG][G-ATT]).
    pub(super) fn json(&self) -> Value {
        self.file_attachment(base64::engine::general_purpose::STANDARD.encode(&self.bytes))
    }

    /// The bytes [`json`](Self::json) serialises to, computed without encoding the
    /// content.
    pub(super) fn json_len(&self) -> usize {
        let empty = serde_json::to_vec(&self.file_attachment(String::new()));
        // base64 is plain ASCII: 4 characters per 3 bytes, padded, nothing escaped.
        empty.map_or(0, |j| j.len()) + self.bytes.len().div_ceil(3) * 4
    }

    fn file_attachment(&self, content_bytes: String) -> Value {
        let mut v = self.meta();
        v["@odata.type"] = json!("#microsoft.graph.fileAttachment");
        v["contentBytes"] = json!(content_bytes);
        v
    }

    /// The `AttachmentItem` of an upload session ([G-ATT]).
    pub(super) fn item(&self) -> Value {
        let mut v = self.meta();
        v["attachmentType"] = json!("file");
        v["size"] = json!(self.bytes.len());
        json!({ "AttachmentItem": v })
    }

    fn meta(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "contentType": self.content_type,
            "isInline": self.inline,
        });
        if let Some(cid) = &self.content_id {
            v["contentId"] = json!(cid);
        }
        v
    }
}

/// The JSON body creating `msg` in one request, and the hash it is stamped with.
///
/// # Errors
/// As [`prepare`].
#[cfg(test)]
pub(super) fn message_json(msg: &RawMessage) -> mailmigrate_core::Result<(Value, ContentHash)> {
    let p = prepare(msg)?;
    Ok((p.body(&p.hash.to_hex(), &p.attachments), p.hash))
}

/// Parses `msg` into the JSON fields of a received message and its attachments.
///
/// # Errors
/// `InvalidMessage` for an empty message: there is nothing to create.
pub(super) fn prepare(msg: &RawMessage) -> mailmigrate_core::Result<Prepared> {
    if msg.bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(mailmigrate_core::Error::new(
            mailmigrate_core::ErrorKind::InvalidMessage,
            format!("message {} is empty", msg.meta.id),
        )
        .with_provider(crate::PROVIDER));
    }
    let hash = msg.content_hash();
    let mut parsed = MessageParser::default().parse(&msg.bytes[..]);
    let mut m = Map::new();
    let mut sent = None;
    let attachments = match &mut parsed {
        Some(p) => {
            fields(p, &mut m);
            sent = p
                .date()
                .filter(|d| d.is_valid())
                .and_then(|d| OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok());
            attachments(&msg.bytes, p)
        }
        None => {
            // Not MIME we can read: its text is the body, and the original travels whole as
            // an attachment, so nothing is lost.
            m.insert(
                "body".into(),
                json!({"contentType": "text", "content": String::from_utf8_lossy(&msg.bytes)}),
            );
            vec![Part {
                name: "original.eml".into(),
                content_type: "message/rfc822".into(),
                content_id: None,
                inline: false,
                bytes: msg.bytes.clone(),
            }]
        }
    };
    let flags = &msg.meta.flags;
    let mut bits = 0;
    if flags.contains(&Flag::Seen) {
        bits |= MSGFLAG_READ;
    }
    if flags.contains(&Flag::Draft) {
        bits |= MSGFLAG_UNSENT;
    }
    let received = msg.meta.internal_date.or(sent);
    let block = header_block(&msg.bytes);
    let custom = custom_headers(&block);
    if !custom.carried.is_empty() {
        // [G-MSG][I-IMH]: custom headers are set at creation only, and an empty list is
        // refused, so the field is sent only with something in it.
        let list: Vec<Value> = custom
            .carried
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect();
        m.insert("internetMessageHeaders".into(), Value::Array(list));
    }
    let mut props = vec![
        json!({"id": "Integer 0x0E07", "value": bits.to_string()}),
        json!({"id": headers_property(), "value": block}),
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
    Ok(Prepared {
        fields: m,
        hash,
        attachments,
        not_carried: custom.not_carried,
    })
}

/// Most `internetMessageHeaders` one message takes: a sixth (or an empty list) is refused
/// with `InvalidInternetMessageHeaderCollection` \[I-IMH\].
pub(super) const MAX_CUSTOM_HEADERS: usize = 5;

/// Most bytes (`Name: value` and line end, each) the carried custom headers add up to:
/// Exchange Online's limit on a message's header \[EXO-LIM\], which they are part of.
pub(super) const MAX_CUSTOM_HEADER_BYTES: usize = 256 * 1024;

/// Prefixes of headers a MIME writer should not create from a named property
/// (\[MS-OXCMAIL\]): Exchange's own, never carried.
const RESERVED_PREFIXES: [&str; 2] = [
    "x-microsoft-exchange-organization",
    "x-microsoft-exchange-forest",
];

/// The header fields a created message's JSON fields carry (addresses, subject, ids,
/// date, the MIME structure its body and attachments are read from) \[G-CMSG\].
const AS_FIELDS: [&str; 14] = [
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "message-id",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
];

/// A header block's custom headers as Graph takes them, and what is left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct CustomHeaders {
    /// `X-` headers for `internetMessageHeaders`, in the message's order, unfolded.
    pub(super) carried: Vec<(String, String)>,
    /// Lower-case names of the fields carried neither as a JSON field nor here, each once:
    /// other header fields, `X-` headers over [`MAX_CUSTOM_HEADERS`] or
    /// [`MAX_CUSTOM_HEADER_BYTES`], a second field of a name already carried (Exchange
    /// keeps one value per name, \[MS-OXCMAIL\]), Exchange's reserved ones.
    pub(super) not_carried: Vec<String>,
}

/// Splits `block` into the `X-` headers Graph's `internetMessageHeaders` can carry
/// (\[G-MSG\]: only names starting with `x-`, set at creation; at most
/// [`MAX_CUSTOM_HEADERS`], \[I-IMH\]) and the rest.
pub(super) fn custom_headers(block: &str) -> CustomHeaders {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in block.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            // A folded line continues the field before it (RFC 5322 2.2.3: unfolding
            // removes the line break, not the white space).
            if let Some((_, value)) = fields.last_mut() {
                value.push_str(line);
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        // RFC 5322 3.6.8: a field name is printable US-ASCII other than the colon.
        if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b)) {
            continue;
        }
        fields.push((name.to_owned(), value.to_owned()));
    }
    let mut out = CustomHeaders::default();
    let mut bytes = 0;
    for (name, value) in fields {
        let lower = name.to_ascii_lowercase();
        if AS_FIELDS.contains(&lower.as_str()) {
            continue;
        }
        let value = value.trim().to_owned();
        let size = name.len() + 2 + value.len() + 2;
        let custom = lower.starts_with("x-")
            && !RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p))
            && !out
                .carried
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(&name))
            && out.carried.len() < MAX_CUSTOM_HEADERS
            && bytes + size <= MAX_CUSTOM_HEADER_BYTES;
        if custom {
            bytes += size;
            out.carried.push((name, value));
        } else if !out.not_carried.contains(&lower) {
            out.not_carried.push(lower);
        }
    }
    out
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

/// The attachments of `p`, their contents taken out of the parse (moved, not copied)
/// once the body fields are read.
fn attachments(whole: &Bytes, p: &mut mail_parser::Message<'_>) -> Vec<Part> {
    let ids = p.attachments.clone();
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        let Some(a) = p.parts.get_mut(id as usize) else {
            continue;
        };
        let content_type = a.content_type().map_or_else(
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
        let content_id = a.content_id().map(str::to_owned);
        let bytes = match &mut a.body {
            PartType::Binary(b) | PartType::InlineBinary(b) => shared(whole, std::mem::take(b)),
            PartType::Message(m) => shared(whole, std::mem::take(&mut m.raw_message)),
            PartType::Text(t) | PartType::Html(t) => match std::mem::take(t) {
                Cow::Owned(s) => Bytes::from(s.into_bytes()),
                Cow::Borrowed(s) => shared(whole, Cow::Borrowed(s.as_bytes())),
            },
            PartType::Multipart(_) => Bytes::new(),
        };
        out.push(Part {
            name,
            content_type,
            content_id,
            inline,
            bytes,
        });
    }
    out
}

/// Decoded content as `Bytes`: a decoded buffer is moved in, an undecoded slice of `whole`
/// is shared with it.
fn shared(whole: &Bytes, content: Cow<'_, [u8]>) -> Bytes {
    match content {
        Cow::Owned(v) => Bytes::from(v),
        Cow::Borrowed(b) => {
            let (outer, inner) = (whole.as_ptr_range(), b.as_ptr_range());
            if b.is_empty() || (outer.start <= inner.start && inner.end <= outer.end) {
                whole.slice_ref(b)
            } else {
                Bytes::copy_from_slice(b)
            }
        }
    }
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

    #[test]
    fn x_headers_travel_as_internet_message_headers_within_the_limits() {
        let m = raw(
            b"From: a@example.com\r\nSubject: s\r\nX-Ticket: 42\r\nList-Id: <t.example.com>\r\n\
              X-Folded: one\r\n two\r\nx-lower: l\r\nX-Ticket: again\r\n\
              X-Microsoft-Exchange-Organization-AuthAs: Internal\r\nX-C: 3\r\nX-D: 4\r\n\
              X-E: 5\r\nReceived: by mx\r\n\r\nbody\r\n",
            &[],
        );
        let p = prepare(&m).unwrap();
        let v = p.body("h", &p.attachments);
        assert_eq!(
            v["internetMessageHeaders"],
            json!([
                {"name": "X-Ticket", "value": "42"},
                {"name": "X-Folded", "value": "one two"},
                {"name": "x-lower", "value": "l"},
                {"name": "X-C", "value": "3"},
                {"name": "X-D", "value": "4"},
            ])
        );
        assert_eq!(
            p.not_carried,
            [
                "list-id",
                "x-ticket",
                "x-microsoft-exchange-organization-authas",
                "x-e",
                "received"
            ]
        );
    }

    #[test]
    fn no_x_headers_send_no_list_and_a_large_one_is_left_out() {
        let (v, _) = message_json(&raw(b"Subject: x\r\n\r\nx\r\n", &[])).unwrap();
        assert!(v.get("internetMessageHeaders").is_none(), "{v}");
        let big = format!(
            "Subject: x\r\nX-Big: {}\r\nX-Small: s\r\n\r\nx\r\n",
            "a".repeat(MAX_CUSTOM_HEADER_BYTES)
        );
        let c = custom_headers(&big);
        assert_eq!(c.carried, [("X-Small".to_owned(), "s".to_owned())]);
        assert_eq!(c.not_carried, ["x-big"]);
    }
}
