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
    let bare = |i: usize| i == 0 || raw[i - 1] != b'\r';
    let mut lfs = memchr::memchr_iter(b'\n', raw)
        .filter(|&i| bare(i))
        .peekable();
    if lfs.peek().is_none() {
        return raw.clone();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
