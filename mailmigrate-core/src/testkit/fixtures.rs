//! The message corpus the conformance cases append and read back.
//!
//! Each fixture is a real `.eml` file embedded at compile time, chosen for a way messages
//! break migrations: encoded headers, 8-bit and binary bodies, attachments, missing or
//! duplicate Message-IDs, bare LF line endings, odd dates, body lines starting with `From `,
//! NUL bytes and a truncated multipart. [`large_message`] generates the large one.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::{FolderId, MessageId, MessageMeta, RawMessage};

/// One corpus message.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fixture {
    /// A short name, used as the source message id and in failure messages.
    pub name: &'static str,
    /// The raw RFC 5322 bytes.
    pub bytes: &'static [u8],
    /// Whether every destination must accept it. A destination that is not byte-exact may
    /// refuse the others with a per-item `InvalidMessage`.
    pub portable: bool,
}

impl Fixture {
    /// The bytes, shared without copying.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from_static(self.bytes)
    }

    /// The fixture as a message listed in `folder`, with its `Message-ID` in the metadata.
    pub fn message(&self, folder: &FolderId) -> RawMessage {
        message(self.name, folder, self.to_bytes())
    }
}

/// Debug shows the name and length, never content.
impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("name", &self.name)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Wraps raw bytes as a message with source id `name`, parsing its `Message-ID` as a source
/// would.
pub fn message(name: &str, folder: &FolderId, bytes: Bytes) -> RawMessage {
    let message_id = crate::headers::message_id(&bytes);
    let meta = MessageMeta::new(MessageId::new(name), folder.clone()).with_message_id(message_id);
    RawMessage::new(meta, bytes)
}

macro_rules! fixtures {
    ($($(#[$doc:meta])* $konst:ident = $file:literal, portable: $portable:expr;)*) => {
        $(
            $(#[$doc])*
            pub const $konst: Fixture = Fixture {
                name: $file,
                bytes: include_bytes!(concat!("fixtures/", $file, ".eml")),
                portable: $portable,
            };
        )*
    };
}

fixtures! {
    /// RFC 2047 encoded `From`, `To` and `Subject` (UTF-8 and ISO-8859-1, B and Q).
    RFC2047_HEADERS = "rfc2047_headers", portable: true;
    /// A UTF-8 body sent as `8bit`.
    EIGHT_BIT_BODY = "eight_bit_body", portable: true;
    /// A Latin-1 body with bytes that are not UTF-8, including the C1 control range.
    BINARY_BODY = "binary_body", portable: false;
    /// `multipart/mixed` with a base64 attachment holding every byte value.
    MULTIPART_ATTACHMENT = "multipart_attachment", portable: true;
    /// No `Message-ID` header: dedupe must fall back to the content hash.
    NO_MESSAGE_ID = "no_message_id", portable: true;
    /// Shares its `Message-ID` with [`DUPLICATE_MESSAGE_ID_B`] but has another body.
    DUPLICATE_MESSAGE_ID_A = "duplicate_message_id_a", portable: true;
    /// Shares its `Message-ID` with [`DUPLICATE_MESSAGE_ID_A`] but has another body.
    DUPLICATE_MESSAGE_ID_B = "duplicate_message_id_b", portable: true;
    /// Bare LF line endings, as Unix mbox archives hold them.
    BARE_LF = "bare_lf", portable: true;
    /// An obsolete `Date`: two-digit year, leap second, zone name.
    ODD_DATE = "odd_date", portable: true;
    /// A `Date` header that is not a date at all.
    ABSURD_DATE = "absurd_date", portable: true;
    /// Body lines starting with `From ` and `>From ` (mbox escaping).
    FROM_LINE = "from_line", portable: true;
    /// A NUL byte in the body.
    NUL_BYTE = "nul_byte", portable: false;
    /// A multipart message cut off in the middle of its attachment. Still bytes a user may
    /// have, so it travels byte-exact.
    TRUNCATED_MULTIPART = "truncated_multipart", portable: false;
}

/// Every well-formed fixture (all but [`TRUNCATED_MULTIPART`]).
pub const ALL: &[Fixture] = &[
    RFC2047_HEADERS,
    EIGHT_BIT_BODY,
    BINARY_BODY,
    MULTIPART_ATTACHMENT,
    NO_MESSAGE_ID,
    DUPLICATE_MESSAGE_ID_A,
    DUPLICATE_MESSAGE_ID_B,
    BARE_LF,
    ODD_DATE,
    ABSURD_DATE,
    FROM_LINE,
    NUL_BYTE,
];

/// The size of the large message case: 25 MiB, the common provider limit.
pub const LARGE_MESSAGE_LEN: usize = 25 * 1024 * 1024;

const LARGE_HEADER: &str = "From: Large Sender <large@mm-fixtures.example>\r\n\
To: Recipient <recipient@example.net>\r\n\
Subject: Large message with a base64 attachment\r\n\
Date: Thu, 12 Mar 2020 18:00:00 +0000\r\n\
Message-ID: <large.1@mm-fixtures.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"mm-large-boundary\"\r\n\
\r\n\
--mm-large-boundary\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
The attachment holds deterministic pseudo-random bytes.\r\n\
\r\n\
--mm-large-boundary\r\n\
Content-Type: application/octet-stream; name=\"large.bin\"\r\n\
Content-Disposition: attachment; filename=\"large.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n";
const LARGE_TRAILER: &str = "--mm-large-boundary--\r\n";
/// Raw bytes per base64 line: 57 bytes encode to 76 characters.
const LINE_RAW: usize = 57;
const LINE_ENCODED: usize = 76 + 2;

/// Generates a deterministic MIME message of at least `min_len` bytes: a short text part and
/// a base64 attachment of pseudo-random bytes (a BLAKE3 output stream), in 76-character
/// CRLF lines. The same `min_len` always yields the same bytes.
///
/// # Examples
/// ```
/// use mailmigrate_core::testkit::fixtures::large_message;
/// let a = large_message(10_000);
/// assert!(a.len() >= 10_000 && a.len() < 10_100);
/// assert_eq!(a, large_message(10_000));
/// ```
pub fn large_message(min_len: usize) -> Bytes {
    let fixed = LARGE_HEADER.len() + LARGE_TRAILER.len();
    let lines = min_len.saturating_sub(fixed).div_ceil(LINE_ENCODED);
    let mut out = BytesMut::with_capacity(fixed + lines * LINE_ENCODED);
    out.put_slice(LARGE_HEADER.as_bytes());
    let mut rng =
        blake3::Hasher::new_derive_key("mailmigrate testkit large message").finalize_xof();
    let mut raw = [0u8; LINE_RAW];
    let mut encoded = [0u8; LINE_ENCODED];
    for _ in 0..lines {
        rng.fill(&mut raw);
        base64_line(&raw, &mut encoded);
        out.put_slice(&encoded);
    }
    out.put_slice(LARGE_TRAILER.as_bytes());
    out.freeze()
}

/// Encodes 57 bytes as one 76-character base64 line followed by CRLF.
fn base64_line(raw: &[u8; LINE_RAW], out: &mut [u8; LINE_ENCODED]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (chunk, dst) in raw.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        for (i, d) in dst.iter_mut().enumerate() {
            *d = ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize];
        }
    }
    out[76] = b'\r';
    out[77] = b'\n';
}

#[cfg(test)]
mod tests {
    use mail_parser::{MessageParser, MimeHeaders};

    use super::*;

    #[test]
    fn fixtures_keep_their_line_endings() {
        assert!(RFC2047_HEADERS.bytes.windows(2).any(|w| w == b"\r\n"));
        assert!(!BARE_LF.bytes.contains(&b'\r'));
        assert!(BARE_LF.bytes.contains(&b'\n'));
        assert!(NUL_BYTE.bytes.contains(&0));
        assert!(BINARY_BODY.bytes.iter().any(|&b| b >= 0x80));
        assert!(std::str::from_utf8(BINARY_BODY.bytes).is_err());
    }

    #[test]
    fn message_ids_are_as_designed() {
        let id = |f: Fixture| crate::headers::Headers::parse(f.bytes).message_id;
        assert_eq!(id(NO_MESSAGE_ID), None);
        assert_eq!(
            id(DUPLICATE_MESSAGE_ID_A),
            Some("duplicate.1@mm-fixtures.example".to_owned())
        );
        assert_eq!(id(DUPLICATE_MESSAGE_ID_A), id(DUPLICATE_MESSAGE_ID_B));
        assert_ne!(DUPLICATE_MESSAGE_ID_A.bytes, DUPLICATE_MESSAGE_ID_B.bytes);
        let mut ids: Vec<_> = ALL.iter().filter_map(|f| id(*f)).collect();
        let with_id = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            with_id - 1,
            "only the duplicate pair shares an id"
        );
    }

    #[test]
    fn fixture_message_carries_name_and_message_id() {
        let folder = FolderId::new("f");
        let m = RFC2047_HEADERS.message(&folder);
        assert_eq!(m.meta.id.as_str(), "rfc2047_headers");
        assert_eq!(
            m.meta.message_id.as_deref(),
            Some("rfc2047.1@mm-fixtures.example")
        );
        assert_eq!(m.bytes.len(), RFC2047_HEADERS.bytes.len());
        assert!(!format!("{RFC2047_HEADERS:?}").contains("Subject"));
    }

    #[test]
    fn encoded_headers_decode() {
        let h = crate::headers::Headers::parse(RFC2047_HEADERS.bytes);
        assert_eq!(h.subject.as_deref(), Some("Grüße aus Köln — 日本語"));
    }

    #[test]
    fn every_fixture_is_accepted_as_a_message() {
        for f in ALL.iter().chain([&TRUNCATED_MULTIPART]) {
            crate::headers::check_message(f.bytes).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        }
    }

    #[test]
    fn base64_line_matches_reference_encoding() {
        let mut raw = [0u8; LINE_RAW];
        raw[..6].copy_from_slice(b"Man is");
        let mut out = [0u8; LINE_ENCODED];
        base64_line(&raw, &mut out);
        assert_eq!(&out[..8], b"TWFuIGlz");
        assert_eq!(&out[8..76], [b'A'; 68].as_slice());
        assert_eq!(&out[76..], b"\r\n");
    }

    #[test]
    fn large_message_parses_with_its_attachment() {
        let bytes = large_message(200_000);
        assert!(bytes.len() >= 200_000);
        assert!(bytes.len() < 200_000 + LINE_ENCODED);
        let parsed = MessageParser::new().parse(&bytes[..]).expect("parses");
        assert_eq!(parsed.attachment_count(), 1);
        let att = parsed.attachment(0).expect("attachment");
        assert_eq!(att.attachment_name(), Some("large.bin"));
        let lines = (bytes.len() - LARGE_HEADER.len() - LARGE_TRAILER.len()) / LINE_ENCODED;
        assert_eq!(att.contents().len(), lines * LINE_RAW);
    }

    #[test]
    fn large_message_is_deterministic_and_size_dependent() {
        let a = large_message(5_000);
        assert_eq!(a, large_message(5_000));
        let b = large_message(50_000);
        // The attachment stream is the same; a longer message extends it.
        assert_eq!(
            &a[..a.len() - LARGE_TRAILER.len()],
            &b[..a.len() - LARGE_TRAILER.len()]
        );
    }
}
