//! Comparing messages as parsed, for destinations that store them rewritten.
//!
//! A destination without [`byte_exact`](crate::Capabilities::byte_exact) (Microsoft Graph
//! regenerates the MIME of every message it creates) keeps no byte hash of what it was
//! given, so copies are recognised by what they say instead: their [`parsed_fingerprint`].

use mail_parser::{Message, MessageParser, MimeHeaders};

use crate::ContentHash;

/// One hash of what a message says: its `Message-ID`, subject, sender address, text body
/// (line endings normalised, trailing space trimmed) and each attachment's name and bytes.
/// Not its date (a destination that rewrites MIME writes one where the original had none
/// or an unreadable one), not its other headers, not its MIME structure. A message that
/// does not parse is hashed as bytes.
///
/// ```
/// use mailmigrate_core::verify::parsed_fingerprint;
/// let sent = b"Message-ID: <a@x>\r\nSubject: Hi\r\nFrom: Ann <ann@x.org>\r\n\r\nHello\r\n";
/// let regenerated = b"Subject: Hi\nFrom: \"Ann\" <ANN@x.org>\nMessage-ID: <a@x>\nMIME-Version: 1.0\n\nHello\n";
/// assert_eq!(parsed_fingerprint(sent), parsed_fingerprint(regenerated));
/// assert_ne!(parsed_fingerprint(sent), parsed_fingerprint(b"Subject: Hi\r\n\r\nHello\r\n"));
/// ```
pub fn parsed_fingerprint(bytes: &[u8]) -> ContentHash {
    let Some(m) = MessageParser::new().parse(bytes) else {
        return ContentHash::of(bytes);
    };
    let mut said = String::new();
    let mut field = |v: Option<String>| {
        said.push_str(&format!("{v:?}\u{0}"));
    };
    field(m.message_id().map(str::to_owned));
    field(m.subject().map(str::to_owned));
    field(sender(&m));
    field(text(&m));
    for a in m.attachments() {
        field(a.attachment_name().map(str::to_owned));
        field(Some(ContentHash::of(a.contents()).to_hex()));
    }
    ContentHash::of(said.as_bytes())
}

/// The first sender address, lower case.
pub(crate) fn sender(m: &Message<'_>) -> Option<String> {
    m.from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_ascii_lowercase)
}

/// The first text body, LF line ends, without trailing white space.
pub(crate) fn text(m: &Message<'_>) -> Option<String> {
    m.body_text(0)
        .map(|t| t.replace("\r\n", "\n").trim_end().to_owned())
}
