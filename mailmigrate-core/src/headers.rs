//! The few headers core reads from a raw message (Message-ID, Date, From, Subject), and the
//! checks that decide whether bytes are a message at all.
//!
//! Only this module parses MIME, only the header block, and never to re-serialise.

use mail_parser::{HeaderValue, MessageParser};
use time::OffsetDateTime;

use crate::{Error, ErrorKind, Result};

/// Headers used for dedupe and reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Headers {
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    /// `Date`, when it parses to a real instant.
    pub date: Option<OffsetDateTime>,
    /// The first `From` address.
    pub from: Option<String>,
    /// `Subject`, decoded.
    pub subject: Option<String>,
}

impl Headers {
    /// Parses the header block of `raw`. Malformed headers yield `None` fields, never errors.
    ///
    /// ```
    /// use mailmigrate_core::headers::Headers;
    /// let h = Headers::parse(b"Message-ID: <a@b>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nhi");
    /// assert_eq!(h.message_id.as_deref(), Some("a@b"));
    /// assert_eq!(h.subject.as_deref(), Some("café"));
    /// ```
    pub fn parse(raw: &[u8]) -> Self {
        let Some(msg) = MessageParser::new().parse_headers(raw) else {
            return Self::default();
        };
        let message_id = msg
            .message_id()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let date = msg
            .date()
            .and_then(|d| OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok());
        let from = msg
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned);
        let subject = match msg.header("Subject") {
            Some(HeaderValue::Text(t)) => Some(t.to_string()),
            _ => msg.subject().map(str::to_owned),
        };
        Self {
            message_id,
            date,
            from,
            subject,
        }
    }
}

/// Checks that `raw` can be a message: not empty, and starting with a header field.
///
/// Anything else (8-bit headers, NUL bytes in the body, missing Message-ID, absurd dates) is
/// carried byte-exact: a destination that cannot store it says so for that item.
///
/// # Errors
/// [`ErrorKind::InvalidMessage`] naming the problem.
///
/// ```
/// use mailmigrate_core::headers::check_message;
/// assert!(check_message(b"Subject: x\r\n\r\nbody").is_ok());
/// assert!(check_message(b"").is_err());
/// assert!(check_message(b"\r\njust a body").is_err());
/// ```
pub fn check_message(raw: &[u8]) -> Result<()> {
    if raw.is_empty() {
        return Err(Error::new(ErrorKind::InvalidMessage, "empty message"));
    }
    let first_line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let colon = first_line.iter().position(|&b| b == b':');
    let looks_like_field = colon.is_some_and(|i| {
        i > 0
            && first_line[..i]
                .iter()
                .all(|&b| b.is_ascii_graphic() && b != b':')
    });
    // An mbox "From " line is not part of a message; a message starting with it is malformed.
    if !looks_like_field {
        return Err(Error::new(
            ErrorKind::InvalidMessage,
            "does not start with a header field",
        ));
    }
    Ok(())
}

/// The message with every bare LF turned into CRLF, the line ending IMAP requires
/// (RFC 3501 §4.3). Returns the same bytes, without copying, when there is no bare LF.
///
/// A destination that declares
/// [`Capabilities::requires_crlf`](crate::Capabilities::requires_crlf) stores this form; the
/// engine and verification hash it, so the comparison stays exact for such destinations.
///
/// ```
/// use bytes::Bytes;
/// use mailmigrate_core::headers::canonical_crlf;
/// let lf = Bytes::from_static(b"Subject: x\n\nbody\n");
/// assert_eq!(&canonical_crlf(&lf)[..], b"Subject: x\r\n\r\nbody\r\n");
/// let crlf = Bytes::from_static(b"Subject: x\r\n\r\nbody\r\n");
/// assert_eq!(canonical_crlf(&crlf).as_ptr(), crlf.as_ptr()); // not copied
/// ```
pub fn canonical_crlf(raw: &bytes::Bytes) -> bytes::Bytes {
    if !has_bare_lf(raw) {
        return raw.clone();
    }
    let bare = |i: usize| i == 0 || raw[i - 1] != b'\r';
    let lfs = memchr::memchr_iter(b'\n', raw).filter(|&i| bare(i));
    // Whole runs between bare line feeds are copied at once.
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut from = 0;
    for lf in lfs {
        out.extend_from_slice(&raw[from..lf]);
        out.extend_from_slice(b"\r\n");
        from = lf + 1;
    }
    out.extend_from_slice(&raw[from..]);
    bytes::Bytes::from(out)
}

/// The length of the message's header section: everything before its first empty line
/// (the whole message when it has none). An empty line is a line feed at the start or
/// right after another line ending, with or without its carriage return.
///
/// ```
/// use mailmigrate_core::headers::header_len;
/// assert_eq!(header_len(b"Subject: x\r\n\r\nbody"), 12);
/// assert_eq!(header_len(b"\r\nbody"), 0);
/// assert_eq!(header_len(b"Subject: only"), 13);
/// ```
pub fn header_len(raw: &[u8]) -> usize {
    let mut line = 0;
    for lf in memchr::memchr_iter(b'\n', raw) {
        let content = &raw[line..lf];
        if content.is_empty() || content == b"\r" {
            return line;
        }
        line = lf + 1;
    }
    raw.len()
}

/// The message as a destination that stores header bytes above 0x7F as `X` keeps it (Cyrus
/// IMAP with `munge8bit`, its default): each such byte in the [header section](header_len)
/// becomes `X`, the body is left alone. Returns the same bytes, without copying, when the
/// header section is 7-bit.
///
/// A destination that declares
/// [`Capabilities::replaces_8bit_header_bytes`](crate::Capabilities::replaces_8bit_header_bytes)
/// stores this form; the engine writes and records it, so look-ups and verification compare
/// what the destination holds.
///
/// ```
/// use bytes::Bytes;
/// use mailmigrate_core::headers::replace_8bit_header_bytes;
/// let m = Bytes::from_static("Subject: café\r\n\r\ncafé".as_bytes());
/// assert_eq!(&replace_8bit_header_bytes(&m)[..], "Subject: cafXX\r\n\r\ncafé".as_bytes());
/// let ascii = Bytes::from_static(b"Subject: x\r\n\r\n\xc3\xa9");
/// assert_eq!(replace_8bit_header_bytes(&ascii).as_ptr(), ascii.as_ptr()); // not copied
/// ```
pub fn replace_8bit_header_bytes(raw: &bytes::Bytes) -> bytes::Bytes {
    let end = header_len(raw);
    if raw[..end].is_ascii() {
        return raw.clone();
    }
    let mut out = raw.to_vec();
    for b in &mut out[..end] {
        if !b.is_ascii() {
            *b = b'X';
        }
    }
    bytes::Bytes::from(out)
}

/// Whether `raw` holds a line feed that no carriage return precedes.
///
/// The usual message has none, so this is a scan of the whole message: it compares each
/// byte with its predecessor in fixed blocks, without branches, which the compiler turns
/// into vector instructions. That is a third faster than jumping from line feed to line
/// feed with `memchr`, whose per-call cost dominates on 76-byte base64 lines.
///
/// ```
/// use mailmigrate_core::headers::has_bare_lf;
/// assert!(!has_bare_lf(b"a\r\nb\r\n"));
/// assert!(has_bare_lf(b"a\r\nb\n"));
/// assert!(has_bare_lf(b"\nleading"));
/// ```
pub fn has_bare_lf(raw: &[u8]) -> bool {
    const BLOCK: usize = 4096;
    if raw.first() == Some(&b'\n') {
        return true;
    }
    let mut start = 1;
    while start < raw.len() {
        let end = (start + BLOCK).min(raw.len());
        let bare = raw[start..end]
            .iter()
            .zip(&raw[start - 1..end - 1])
            .fold(false, |acc, (&b, &before)| {
                acc | ((b == b'\n') & (before != b'\r'))
            });
        if bare {
            return true;
        }
        start = end;
    }
    false
}

/// A `Message-ID` as the core carries it: without white space around it and without its
/// angle brackets (`<id@host>` → `id@host`, the form [`message_id`] reads); `None` when
/// nothing is left.
///
/// ```
/// use mailmigrate_core::headers::bare_message_id;
/// assert_eq!(bare_message_id(" <x@y> ").as_deref(), Some("x@y"));
/// assert_eq!(bare_message_id("x@y").as_deref(), Some("x@y"));
/// assert_eq!(bare_message_id("<>"), None);
/// ```
pub fn bare_message_id(id: &str) -> Option<String> {
    let t = id.trim();
    let bare = t
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(t)
        .trim();
    (!bare.is_empty()).then(|| bare.to_owned())
}

/// The `Message-ID` of `raw` without angle brackets: the same as
/// [`Headers::parse`]`(raw).message_id`, found faster.
///
/// The engine needs only this header of every message it writes. A regular header block
/// (every line a field with a printable name, or the continuation of one; at most one
/// `Message-ID` field; a blank line at its end) is scanned line by line, and only the `Message-ID` field itself is
/// parsed; anything else is parsed whole, as [`Headers::parse`] does.
///
/// ```
/// use mailmigrate_core::headers::message_id;
/// let raw = b"Received: from a\r\n\tby b\r\nMessage-Id:\r\n <x@y>\r\n\r\nbody";
/// assert_eq!(message_id(raw).as_deref(), Some("x@y"));
/// assert_eq!(message_id(b"Subject: none\r\n\r\nMessage-ID: <in@body>"), None);
/// ```
pub fn message_id(raw: &[u8]) -> Option<String> {
    match message_id_field(raw) {
        Some(Some(field)) => {
            let mut block = Vec::with_capacity(field.len() + 4);
            block.extend_from_slice(field);
            block.extend_from_slice(b"\r\n\r\n");
            Headers::parse(&block).message_id
        }
        Some(None) => None,
        None => Headers::parse(raw).message_id,
    }
}

/// The lines of the one `Message-ID` field of a regular header block (`Some(None)`: it has
/// none), or `None` when the block is not regular.
fn message_id_field(raw: &[u8]) -> Option<Option<&[u8]>> {
    let mut field: Option<(usize, usize)> = None;
    let mut in_field = false;
    let mut pos = 0;
    while pos < raw.len() {
        let end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..end];
        let text = line
            .strip_suffix(b"\n")
            .map_or(line, |l| l.strip_suffix(b"\r").unwrap_or(l));
        if text.is_empty() {
            return Some(field.map(|(from, to)| &raw[from..to]));
        }
        if matches!(text[0], b' ' | b'\t') {
            if pos == 0 {
                return None;
            }
            if in_field {
                field = field.map(|(from, _)| (from, end));
            }
        } else {
            let colon = memchr::memchr(b':', text)?;
            let name = &text[..colon];
            if name.is_empty() || !name.iter().all(u8::is_ascii_graphic) || text.contains(&b'\r') {
                return None;
            }
            in_field = name.eq_ignore_ascii_case(b"message-id");
            if in_field {
                if field.is_some() {
                    return None;
                }
                field = Some((pos, end));
            }
        }
        pos = end;
    }
    // No blank line ends the block: irregular.
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_are_replaced_as_cyrus_munge8bit_stores_them() {
        // Sent to Cyrus 3.6 with `munge8bit` on, and what it gave back.
        let cases: [(&[u8], &[u8]); 4] = [
            (
                b"From: Pr\xc3\xb6be <p@x.invalid>\r\nX-Fold: a\r\n\tb \xc3\xa9  \r\n\r\n--b\r\nContent-Type: text/plain; name=\"\xc3\xa9\"\r\n\r\n\xc3\xa9",
                b"From: PrXXbe <p@x.invalid>\r\nX-Fold: a\r\n\tb XX  \r\n\r\n--b\r\nContent-Type: text/plain; name=\"\xc3\xa9\"\r\n\r\n\xc3\xa9",
            ),
            (b"\r\nbody \xc3\xa9\r\n", b"\r\nbody \xc3\xa9\r\n"),
            (b"Subject: \xff\x80\r\n\r\n\xff", b"Subject: XX\r\n\r\n\xff"),
            (b"Subject: \xc3\xa9", b"Subject: XX"),
        ];
        for (sent, stored) in cases {
            let got = replace_8bit_header_bytes(&bytes::Bytes::copy_from_slice(sent));
            assert_eq!(&got[..], stored, "{:?}", String::from_utf8_lossy(sent));
        }
        assert_eq!(header_len(b"a: b\n\nc"), 5);
        assert_eq!(header_len(b"a: b\r\n\nc"), 6);
        assert_eq!(header_len(b""), 0);
    }

    #[test]
    fn canonical_crlf_converts_only_bare_lf() {
        let mixed = bytes::Bytes::from_static(b"a\r\nb\nc\rd\n");
        assert_eq!(&canonical_crlf(&mixed)[..], b"a\r\nb\r\nc\rd\r\n");
        let leading = bytes::Bytes::from_static(b"\nx");
        assert_eq!(&canonical_crlf(&leading)[..], b"\r\nx");
        let runs = bytes::Bytes::from_static(b"\n\n\r\n\nend");
        assert_eq!(&canonical_crlf(&runs)[..], b"\r\n\r\n\r\n\r\nend");
    }

    /// Every string of up to 7 bytes over `a`, CR and LF converts as the definition says.
    #[test]
    fn canonical_crlf_matches_its_definition_exhaustively() {
        let reference = |raw: &[u8]| -> Vec<u8> {
            let mut out = Vec::new();
            for (i, &b) in raw.iter().enumerate() {
                if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
                    out.push(b'\r');
                }
                out.push(b);
            }
            out
        };
        for len in 0..=7u32 {
            for n in 0..3u32.pow(len) {
                let raw: Vec<u8> = (0..len)
                    .map(|k| [b'a', b'\r', b'\n'][(n / 3u32.pow(k) % 3) as usize])
                    .collect();
                let got = canonical_crlf(&bytes::Bytes::from(raw.clone()));
                assert_eq!(&got[..], &reference(&raw)[..], "{raw:?}");
            }
        }
    }

    #[test]
    fn has_bare_lf_matches_its_definition_across_blocks() {
        let mut raw = b"x\r\n".repeat(3000); // spans blocks of 4096
        assert!(!has_bare_lf(&raw));
        for at in [1, 4095, 4096, 4097, 8192, raw.len() - 1] {
            let mut with = raw.clone();
            with[at] = b'\n';
            with[at - 1] = b'y';
            assert!(has_bare_lf(&with), "bare LF at {at}");
        }
        // A CR at the end of one block and its LF at the start of the next.
        raw = vec![b'a'; 10_000];
        for at in [4096, 8192] {
            raw[at] = b'\r';
            raw[at + 1] = b'\n';
        }
        assert!(!has_bare_lf(&raw), "CR LF across blocks");
        raw.truncate(4097);
        raw.push(b'\n');
        assert!(!has_bare_lf(&raw), "CR LF at the end");
        assert!(!has_bare_lf(b""));
        assert!(has_bare_lf(b"\n"));
    }

    /// The fast path agrees with the full parse on regular blocks and on every kind of
    /// irregular one.
    #[test]
    fn message_id_agrees_with_the_full_parse() {
        let cases: &[&[u8]] = &[
            b"Message-ID: <a@b>\r\n\r\nbody",
            b"message-id:<a@b>\n\nbody",
            b"Subject: x\r\nMessage-ID:\r\n\t<folded@b>\r\nTo: y\r\n\r\n",
            b"Message-ID: <first@b>\r\nMessage-ID: <second@b>\r\n\r\n",
            b"Message-ID: no brackets\r\n\r\n",
            b"Message-ID: <a@b> (comment)\r\n\r\n",
            b"Message-ID: \r\n\r\n",
            b"From someone Mon Jan  1 00:00:00 2024\nMessage-ID: <a@b>\n\n",
            b" leading continuation\r\nMessage-ID: <a@b>\r\n\r\n",
            b"Bad Name: x\r\nMessage-ID: <a@b>\r\n\r\n",
            b"Subject: x\rMessage-ID: <cr@b>\r\n\r\n",
            b"Subject: no body, no blank line\r\nMessage-ID: <a@b>",
            b"Subject: x\r\n\r\nMessage-ID: <in@body>\r\n",
            b"Subject: Gr\xc3\xbc\xc3\x9fe\r\nMessage-ID: <x@y>\r\n\r\n",
            b"\x00\x01\x02",
            b"",
        ];
        for raw in cases {
            assert_eq!(
                message_id(raw),
                Headers::parse(raw).message_id,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        #[cfg(feature = "testkit")]
        for f in crate::testkit::fixtures::ALL {
            assert_eq!(
                message_id(f.bytes),
                Headers::parse(f.bytes).message_id,
                "{f:?}"
            );
        }
    }

    #[test]
    fn garbage_yields_empty_headers() {
        let h = Headers::parse(b"\x00\x01\x02");
        assert_eq!(h.message_id, None);
    }

    #[test]
    fn absurd_date_is_none_not_panic() {
        let h = Headers::parse(b"Date: Mon, 99 Foo 99999 99:99:99 +9999\r\n\r\n");
        let _ = h.date;
    }

    #[test]
    fn eight_bit_headers_parse() {
        let h = Headers::parse("Subject: Grüße\r\nMessage-ID: <x@y>\r\n\r\n".as_bytes());
        assert_eq!(h.subject.as_deref(), Some("Grüße"));
    }
}
