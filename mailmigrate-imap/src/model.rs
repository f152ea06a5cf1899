//! Wire-level values: listed mailboxes, FETCH results, checkpoints, ids, dates, flags.

use std::borrow::Cow;
use std::collections::BTreeSet;

use async_imap::imap_proto::{
    AttributeValue, MailboxListData, MessageSection, NameAttribute, SectionPath,
};
use bytes::Bytes;
use mailmigrate_core::{Checkpoint, Flag, Flags, MessageId};
use time::OffsetDateTime;

/// The personal namespace: the prefix every mailbox name starts with, and the separator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Namespace {
    pub(crate) prefix: String,
    pub(crate) delimiter: Option<char>,
}

impl Namespace {
    /// Parses the first personal namespace of a `NAMESPACE` response body, e.g.
    /// `(("INBOX." ".")) NIL NIL` or `(("" "/")) NIL NIL`.
    pub(crate) fn parse_personal(body: &str) -> Option<Self> {
        let rest = body.trim_start().strip_prefix("((")?;
        let (prefix, rest) = parse_quoted(rest.trim_start())?;
        let rest = rest.trim_start();
        let delimiter = if let Some(r) = rest.strip_prefix("NIL") {
            let _ = r;
            None
        } else {
            let (d, _) = parse_quoted(rest)?;
            d.chars().next()
        };
        Some(Self { prefix, delimiter })
    }
}

fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &s[i + 2..])),
            c => out.push(c),
        }
    }
    None
}

/// One `LIST` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedMailbox {
    pub(crate) name: String,
    pub(crate) delimiter: Option<char>,
    pub(crate) attributes: Vec<String>,
}

impl ListedMailbox {
    pub(crate) fn from_proto(l: &MailboxListData<'_>) -> Self {
        let attributes = l
            .name_attributes
            .iter()
            .map(|a| match a {
                NameAttribute::NoInferiors => "\\NoInferiors".to_owned(),
                NameAttribute::NoSelect => "\\Noselect".to_owned(),
                NameAttribute::Marked => "\\Marked".to_owned(),
                NameAttribute::Unmarked => "\\Unmarked".to_owned(),
                NameAttribute::All => "\\All".to_owned(),
                NameAttribute::Archive => "\\Archive".to_owned(),
                NameAttribute::Drafts => "\\Drafts".to_owned(),
                NameAttribute::Flagged => "\\Flagged".to_owned(),
                NameAttribute::Junk => "\\Junk".to_owned(),
                NameAttribute::Sent => "\\Sent".to_owned(),
                NameAttribute::Trash => "\\Trash".to_owned(),
                NameAttribute::Extension(e) => e.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        Self {
            name: l.name.to_string(),
            delimiter: l.delimiter.as_ref().and_then(|d| d.chars().next()),
            attributes,
        }
    }

    /// Parses the body of a raw `* XLIST` / `* LIST` line:
    /// `(\HasNoChildren \Inbox) "/" "INBOX"`. Names sent as literals are not supported.
    pub(crate) fn parse_raw(line: &str) -> Option<Self> {
        let rest = line.trim().strip_prefix('(')?;
        let (attrs, rest) = rest.split_once(')')?;
        let rest = rest.trim_start();
        let (delimiter, rest) = if let Some(r) = rest.strip_prefix("NIL") {
            (None, r)
        } else {
            let (d, r) = parse_quoted(rest)?;
            (d.chars().next(), r)
        };
        let rest = rest.trim();
        let name = if rest.starts_with('"') {
            parse_quoted(rest)?.0
        } else if rest.is_empty() || rest.starts_with('{') {
            return None;
        } else {
            rest.to_owned()
        };
        let name = if name.eq_ignore_ascii_case("INBOX") {
            "INBOX".to_owned()
        } else {
            name
        };
        Some(Self {
            name,
            delimiter,
            attributes: attrs.split_whitespace().map(str::to_owned).collect(),
        })
    }

    /// Whether the mailbox cannot be selected (`\Noselect`, `\NonExistent`).
    pub(crate) fn is_noselect(&self) -> bool {
        self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }
}

/// What `SELECT`/`EXAMINE` reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SelectInfo {
    pub(crate) uidvalidity: u32,
    pub(crate) uidnext: Option<u32>,
    pub(crate) highestmodseq: Option<u64>,
    pub(crate) exists: u32,
}

/// One message from a `FETCH` response.
#[derive(Debug, Clone, Default)]
pub(crate) struct FetchedMessage {
    pub(crate) uid: u32,
    pub(crate) flags: Flags,
    pub(crate) internal_date: Option<OffsetDateTime>,
    pub(crate) size: Option<u32>,
    pub(crate) body: Option<Bytes>,
    /// Gmail labels (`X-GM-LABELS`), decoded from modified UTF-7.
    pub(crate) labels: Option<BTreeSet<String>>,
}

impl FetchedMessage {
    /// Collects the attributes of one FETCH response; `None` without a UID.
    pub(crate) fn from_attrs(attrs: &[AttributeValue<'_>]) -> Option<Self> {
        let mut m = Self::default();
        let mut has_uid = false;
        for a in attrs {
            match a {
                AttributeValue::Uid(u) => {
                    m.uid = *u;
                    has_uid = true;
                }
                AttributeValue::Flags(f) => m.flags = parse_flags(f),
                AttributeValue::InternalDate(d) => m.internal_date = parse_internal_date(d),
                AttributeValue::Rfc822Size(s) => m.size = Some(*s),
                AttributeValue::GmailLabels(l) => {
                    m.labels = Some(l.iter().map(|x| decode_label(x)).collect());
                }
                AttributeValue::BodySection {
                    section: None,
                    data,
                    ..
                } => {
                    m.body = Some(match data {
                        Some(Cow::Borrowed(b)) => Bytes::copy_from_slice(b),
                        Some(Cow::Owned(v)) => Bytes::copy_from_slice(v),
                        None => Bytes::new(),
                    });
                }
                _ => {}
            }
        }
        has_uid.then_some(m)
    }
}

/// One message as the look-up index reads it (`UID FETCH … (UID RFC822.SIZE
/// BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`): no body, no flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexedMessage {
    pub(crate) uid: u32,
    pub(crate) size: u64,
    /// As [`mailmigrate_core::headers::message_id`] reads the returned header field.
    pub(crate) message_id: Option<String>,
}

impl IndexedMessage {
    /// Collects the attributes of one FETCH response; `None` without a UID or a size.
    pub(crate) fn from_attrs(attrs: &[AttributeValue<'_>]) -> Option<Self> {
        let (mut uid, mut size, mut message_id) = (None, None, None);
        for a in attrs {
            match a {
                AttributeValue::Uid(u) => uid = Some(*u),
                AttributeValue::Rfc822Size(s) => size = Some(u64::from(*s)),
                AttributeValue::BodySection {
                    section: Some(SectionPath::Full(MessageSection::Header)),
                    data: Some(data),
                    ..
                } => message_id = mailmigrate_core::headers::message_id(data),
                _ => {}
            }
        }
        Some(Self {
            uid: uid?,
            size: size?,
            message_id,
        })
    }
}

/// Decodes a Gmail label: system labels (`\Important`) stay as they are, others are
/// mailbox names in modified UTF-7.
fn decode_label(l: &str) -> String {
    if l.starts_with('\\') {
        l.to_owned()
    } else {
        mailmigrate_core::utf7::decode(l).unwrap_or_else(|| l.to_owned())
    }
}

/// Renders labels for `STORE +X-GM-LABELS`, skipping any that cannot be quoted.
pub(crate) fn labels_to_wire(labels: &BTreeSet<String>) -> String {
    labels
        .iter()
        .filter_map(|l| {
            if l.starts_with('\\') && is_atom(&l[1..]) {
                Some(l.clone())
            } else {
                crate::client::quote(&mailmigrate_core::utf7::encode(l))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses FETCH flags, dropping the session-only `\Recent`.
pub(crate) fn parse_flags<S: AsRef<str>>(flags: &[S]) -> Flags {
    flags
        .iter()
        .map(AsRef::as_ref)
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(Flag::parse)
        .collect()
}

/// Renders flags for `APPEND`/`STORE`, skipping keywords that are not valid IMAP atoms.
pub(crate) fn flags_to_wire(flags: &Flags) -> String {
    flags
        .iter()
        .filter(|f| match f {
            Flag::Keyword(k) if !is_atom(k) => {
                tracing::warn!(keyword = %k.escape_debug(), "not an IMAP atom: keyword not sent");
                false
            }
            _ => true,
        })
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_atom(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        })
}

const DATE_FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[day]-[month repr:short]-[year] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
);

/// Parses an IMAP date-time (`" 4-Mar-2019 05:06:07 +0200"` or `"04-Mar-2019 …"`).
pub(crate) fn parse_internal_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    let fixed;
    let s = if s.as_bytes().get(1) == Some(&b'-') {
        fixed = format!("0{s}");
        fixed.as_str()
    } else {
        s
    };
    OffsetDateTime::parse(s, DATE_FORMAT).ok()
}

/// Formats an IMAP date-time for `APPEND`.
pub(crate) fn format_internal_date(d: OffsetDateTime) -> Option<String> {
    d.format(DATE_FORMAT).ok()
}

/// An IMAP message id, `"{uidvalidity}:{uid}"`.
pub(crate) fn message_id(uidvalidity: u32, uid: u32) -> MessageId {
    MessageId::new(format!("{uidvalidity}:{uid}"))
}

/// Splits a message id into (uidvalidity, uid).
pub(crate) fn parse_message_id(id: &MessageId) -> Option<(u32, u32)> {
    let (v, u) = id.as_str().split_once(':')?;
    let uid: u32 = u.parse().ok()?;
    (uid > 0).then_some(())?;
    Some((v.parse().ok()?, uid))
}

/// A folder position: UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ (0 without CONDSTORE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) uidvalidity: u32,
    pub(crate) uidnext: u32,
    pub(crate) modseq: u64,
}

impl Position {
    const PREFIX: &'static str = "imap1:";

    pub(crate) fn to_checkpoint(self) -> Checkpoint {
        Checkpoint::new(format!(
            "{}{}:{}:{}",
            Self::PREFIX,
            self.uidvalidity,
            self.uidnext,
            self.modseq
        ))
    }

    pub(crate) fn from_checkpoint(c: &Checkpoint) -> Option<Self> {
        let mut parts = c.as_str().strip_prefix(Self::PREFIX)?.split(':');
        let p = Self {
            uidvalidity: parts.next()?.parse().ok()?,
            uidnext: parts.next()?.parse().ok()?,
            modseq: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(p)
    }
}

/// Renders a sorted UID list as a compact sequence set (`1:3,7,9:10`).
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn namespace_parses_common_shapes() {
        assert_eq!(
            Namespace::parse_personal("((\"\" \"/\")) NIL NIL"),
            Some(Namespace {
                prefix: String::new(),
                delimiter: Some('/')
            })
        );
        assert_eq!(
            Namespace::parse_personal("((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\"))"),
            Some(Namespace {
                prefix: "INBOX.".into(),
                delimiter: Some('.')
            })
        );
        assert_eq!(Namespace::parse_personal("NIL NIL NIL"), None);
    }

    #[test]
    fn raw_list_lines_parse() {
        let l = ListedMailbox::parse_raw(r#"(\HasNoChildren \Spam) "/" "[Gmail]/Spam""#).unwrap();
        assert_eq!(l.name, "[Gmail]/Spam");
        assert_eq!(l.delimiter, Some('/'));
        assert_eq!(l.attributes, ["\\HasNoChildren", "\\Spam"]);
        let l = ListedMailbox::parse_raw(r#"(\Inbox) NIL Inbox"#).unwrap();
        assert_eq!((l.name.as_str(), l.delimiter), ("INBOX", None));
        assert_eq!(ListedMailbox::parse_raw("() \"/\" {5}"), None);
        assert_eq!(ListedMailbox::parse_raw("garbage"), None);
    }

    #[test]
    fn internal_dates_round_trip() {
        let d = parse_internal_date(" 4-Mar-2019 05:06:07 +0200").unwrap();
        assert_eq!(d, datetime!(2019-03-04 05:06:07 +02:00));
        assert_eq!(parse_internal_date("04-Mar-2019 05:06:07 +0200"), Some(d));
        assert_eq!(
            format_internal_date(d).unwrap(),
            "04-Mar-2019 05:06:07 +0200"
        );
        let west = datetime!(2001-12-31 23:59:59 -05:30);
        assert_eq!(
            parse_internal_date(&format_internal_date(west).unwrap()),
            Some(west)
        );
        assert_eq!(parse_internal_date("yesterday"), None);
    }

    #[test]
    fn flags_skip_recent_and_bad_keywords() {
        let f = parse_flags(&["\\Seen", "\\Recent", "$Forwarded"]);
        assert_eq!(f.len(), 2);
        let mut f = f;
        f.insert(Flag::Keyword("bad keyword".into()));
        f.insert(Flag::Keyword("(x)".into()));
        assert_eq!(flags_to_wire(&f), "\\Seen $Forwarded");
    }

    #[test]
    fn ids_and_checkpoints_round_trip() {
        let id = message_id(1713, 42);
        assert_eq!(id.as_str(), "1713:42");
        assert_eq!(parse_message_id(&id), Some((1713, 42)));
        assert_eq!(parse_message_id(&MessageId::new("x:1")), None);
        assert_eq!(parse_message_id(&MessageId::new("1:0")), None);
        let p = Position {
            uidvalidity: 7,
            uidnext: 100,
            modseq: 12345,
        };
        assert_eq!(Position::from_checkpoint(&p.to_checkpoint()), Some(p));
        assert_eq!(
            Position::from_checkpoint(&Checkpoint::new("imap1:1:2")),
            None
        );
        assert_eq!(
            Position::from_checkpoint(&Checkpoint::new("graph:xyz")),
            None
        );
    }

    #[test]
    fn gmail_labels_decode_and_encode() {
        assert_eq!(decode_label("\\Important"), "\\Important");
        assert_eq!(decode_label("Entw&APw-rfe"), "Entwürfe");
        let labels: BTreeSet<String> = ["\\Starred", "Work \"x\"", "Entwürfe"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            labels_to_wire(&labels),
            "\"Entw&APw-rfe\" \"Work \\\"x\\\"\" \\Starred"
        );
    }

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[9, 1, 2, 3, 7, 10, 3]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
    }
}
