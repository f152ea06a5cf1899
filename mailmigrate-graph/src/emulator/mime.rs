//! MIME in (mail-parser) and out (Outlook renders MIME on the fly \[G-GMIME\]).

use bytes::Bytes;
use mail_parser::{Address, MessageParser, MimeHeaders};
use time::OffsetDateTime;

use super::ids;
use super::render::fmt_time;
use super::store::{Attachment, Message, Recipient};

/// The fields Exchange promotes from a MIME message.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) subject: Option<String>,
    pub(crate) from: Option<Recipient>,
    pub(crate) sender: Option<Recipient>,
    pub(crate) to: Vec<Recipient>,
    pub(crate) cc: Vec<Recipient>,
    pub(crate) bcc: Vec<Recipient>,
    pub(crate) reply_to: Vec<Recipient>,
    pub(crate) date: Option<OffsetDateTime>,
    pub(crate) received: Option<OffsetDateTime>,
    pub(crate) message_id: Option<String>,
    pub(crate) body_type: String,
    pub(crate) body: String,
    pub(crate) attachments: Vec<Attachment>,
    pub(crate) headers: Vec<(String, String)>,
}

fn addrs(a: Option<&Address<'_>>) -> Vec<Recipient> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| {
                Some(Recipient {
                    name: x.name().map(str::to_owned),
                    address: x.address()?.to_owned(),
                })
            })
            .collect()
    })
    .unwrap_or_default()
}

fn to_time(d: &mail_parser::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok()
}

/// Parses a MIME message; `None` if it has no header at all.
pub(crate) fn parse(raw: &[u8]) -> Option<Parsed> {
    let msg = MessageParser::default().parse(raw)?;
    if msg.headers().is_empty() {
        return None;
    }
    let (body_type, body) = match msg.body_html(0) {
        Some(h)
            if msg.text_body_count() == 0
                || msg.html_body_count() > 0 && msg.body_text(0).is_none() =>
        {
            ("html".to_owned(), h.into_owned())
        }
        _ => match msg.body_text(0) {
            Some(t) => ("text".to_owned(), t.into_owned()),
            None => ("text".to_owned(), String::new()),
        },
    };
    let attachments = msg
        .attachments()
        .map(|part| {
            let ct = part
                .content_type()
                .map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{}", c.ctype(), sub),
                    None => c.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into());
            let inline = part
                .content_disposition()
                .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"))
                && part.content_id().is_some();
            Attachment {
                id: ids::new_id("AAMkAGAtt"),
                name: part.attachment_name().unwrap_or("attachment").to_owned(),
                content_type: ct,
                is_inline: inline,
                content_id: part.content_id().map(str::to_owned),
                bytes: Bytes::copy_from_slice(part.contents()),
            }
        })
        .collect();
    let from = addrs(msg.from()).into_iter().next();
    Some(Parsed {
        subject: msg.subject().map(str::to_owned),
        sender: addrs(msg.sender())
            .into_iter()
            .next()
            .or_else(|| from.clone()),
        from,
        to: addrs(msg.to()),
        cc: addrs(msg.cc()),
        bcc: addrs(msg.bcc()),
        reply_to: addrs(msg.reply_to()),
        date: msg.date().and_then(to_time),
        received: msg
            .received()
            .and_then(|r| r.date.as_ref())
            .and_then(to_time),
        message_id: msg.message_id().map(|id| format!("<{id}>")),
        body_type,
        body,
        attachments,
        headers: msg
            .headers_raw()
            .map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
            .collect(),
    })
}

impl Parsed {
    /// Copies the promoted fields onto `m`.
    pub(crate) fn apply(self, m: &mut Message) {
        m.subject = self.subject;
        m.from = self.from;
        m.sender = self.sender;
        m.to = self.to;
        m.cc = self.cc;
        m.bcc = self.bcc;
        m.reply_to = self.reply_to;
        m.sent = self.date;
        m.internet_message_id = self.message_id;
        m.body_type = self.body_type;
        m.body = self.body;
        m.attachments = self.attachments;
        m.headers = self.headers;
    }
}

fn fmt_addr(r: &Recipient) -> String {
    match &r.name {
        Some(n) if !n.is_empty() => format!("\"{}\" <{}>", n.replace('"', ""), r.address),
        _ => format!("<{}>", r.address),
    }
}

fn rfc2822(t: OffsetDateTime) -> String {
    use time::format_description::well_known::Rfc2822;
    t.format(&Rfc2822).unwrap_or_else(|_| fmt_time(t))
}

/// Renders a MIME message from the fields (for items that did not arrive as MIME)
/// \[G-GMIME\].
pub(crate) fn render(m: &Message) -> Vec<u8> {
    let mut out = String::new();
    let mut h = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    };
    if let Some(f) = &m.from {
        h("From", &fmt_addr(f));
    }
    let list = |v: &[Recipient]| v.iter().map(fmt_addr).collect::<Vec<_>>().join(", ");
    if !m.to.is_empty() {
        h("To", &list(&m.to));
    }
    if !m.cc.is_empty() {
        h("CC", &list(&m.cc));
    }
    if let Some(s) = &m.subject {
        h("Subject", s);
    }
    h("Date", &rfc2822(m.sent.or(m.received).unwrap_or(m.created)));
    if let Some(id) = &m.internet_message_id {
        h("Message-ID", id);
    }
    // [MS-OXCMAIL]: a custom header (a PS_INTERNET_HEADERS property) is written
    // into the MIME generated for the message, under its name.
    for (n, v) in &m.headers {
        h(n, v);
    }
    h("MIME-Version", "1.0");
    let body_ct = if m.body_type == "html" {
        "text/html; charset=\"utf-8\""
    } else {
        "text/plain; charset=\"utf-8\""
    };
    let body_b64 = wrap(&ids::encode_std(m.body.as_bytes()));
    if m.attachments.is_empty() {
        h("Content-Type", body_ct);
        h("Content-Transfer-Encoding", "base64");
        out.push_str("\r\n");
        out.push_str(&body_b64);
    } else {
        let boundary = format!("_000_{}_", ids::new_token(12));
        h(
            "Content-Type",
            &format!("multipart/mixed; boundary=\"{boundary}\""),
        );
        out.push_str("\r\n");
        out.push_str(&format!("--{boundary}\r\nContent-Type: {body_ct}\r\nContent-Transfer-Encoding: base64\r\n\r\n{body_b64}"));
        for a in &m.attachments {
            let disp = if a.is_inline { "inline" } else { "attachment" };
            out.push_str(&format!(
                "--{boundary}\r\nContent-Type: {}; name=\"{}\"\r\nContent-Disposition: {disp}; filename=\"{}\"\r\n",
                a.content_type, a.name, a.name
            ));
            if let Some(cid) = &a.content_id {
                out.push_str(&format!(
                    "Content-ID: <{}>\r\n",
                    cid.trim_matches(['<', '>'])
                ));
            }
            out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
            out.push_str(&wrap(&ids::encode_std(&a.bytes)));
        }
        out.push_str(&format!("--{boundary}--\r\n"));
    }
    out.into_bytes()
}

fn wrap(b64: &str) -> String {
    let mut out = String::with_capacity(b64.len() + b64.len() / 38 + 2);
    for chunk in b64.as_bytes().chunks(76) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push_str("\r\n");
    }
    out
}

/// Re-renders the header block of stored MIME: unfolded, CRLF, with an added
/// `X-MS-Exchange-Organization-*` header, body untouched (Outlook does not keep MIME
/// \[G-GMIME\]).
pub(crate) fn regenerate(stored: &[u8]) -> Vec<u8> {
    let (head, body) = split_head(stored);
    let text = String::from_utf8_lossy(head);
    let mut lines: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(last) = lines.last_mut() {
                last.push(' ');
                last.push_str(line.trim_start());
            }
        } else if !line.is_empty() {
            lines.push(line.to_owned());
        }
    }
    let mut out = Vec::with_capacity(stored.len() + 128);
    out.extend_from_slice(b"X-MS-Exchange-Organization-AuthAs: Internal\r\n");
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        return (&raw[..i], &raw[i + 4..]);
    }
    if let Some(i) = raw.windows(2).position(|w| w == b"\n\n") {
        return (&raw[..i], &raw[i + 2..]);
    }
    (raw, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_promotes_headers() {
        let raw = b"Received: from a by b; Tue, 2 Jan 2024 10:00:00 +0000\r\nFrom: Ada <ada@example.com>\r\nTo: bob@example.com\r\nSubject: Hi\r\nDate: Mon, 1 Jan 2024 09:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\n\r\nHello\r\n";
        let p = parse(raw).unwrap();
        assert_eq!(p.subject.as_deref(), Some("Hi"));
        assert_eq!(p.message_id.as_deref(), Some("<m1@example.com>"));
        assert_eq!(p.from.unwrap().address, "ada@example.com");
        assert!(p.received.unwrap() > p.date.unwrap());
    }

    #[test]
    fn regenerate_unfolds_and_adds_a_header() {
        let out = regenerate(b"Subject: a\r\n b\r\n\r\nbody");
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("Subject: a b\r\n"));
        assert!(s.starts_with("X-MS-Exchange-Organization-"));
        assert!(s.ends_with("\r\n\r\nbody"));
    }
}
