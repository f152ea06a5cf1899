//! Modified UTF-7 (RFC 3501 §5.1.3): how IMAP servers name mailboxes on the wire, and how
//! Dovecot names Maildir++ folder directories on disk.
//!
//! - Printable US-ASCII (`0x20`..=`0x7e`) other than `&` stands for itself.
//! - `&` is written `&-`.
//! - Every other run of characters is written as its UTF-16 code units (big-endian),
//!   base64-encoded without padding and with `,` in place of `/`, between `&` and `-`.
//!   Characters outside the Basic Multilingual Plane travel as surrogate pairs.
//!
//! The result is printable ASCII only and never holds `/` from the base64 alphabet, so the
//! hierarchy separators around it (`/`, `.`) keep their meaning.
//!
//! # Examples
//! ```
//! use mailmigrate_core::utf7;
//!
//! assert_eq!(utf7::encode("Entwürfe & Notizen"), "Entw&APw-rfe &- Notizen");
//! assert_eq!(
//!     utf7::decode("Entw&APw-rfe &- Notizen").as_deref(),
//!     Some("Entwürfe & Notizen")
//! );
//! // Raw 8-bit text is not modified UTF-7.
//! assert_eq!(utf7::decode("Entwürfe"), None);
//! ```

/// The modified base64 alphabet: standard base64 with `,` in place of `/`.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Whether `c` is written as itself (inside an encoded name, or after decoding a literal).
fn is_direct(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// Encodes `name` into modified UTF-7. Every string has an encoding; the result is ASCII.
///
/// # Examples
/// ```
/// use mailmigrate_core::utf7::encode;
///
/// assert_eq!(encode("INBOX"), "INBOX");
/// assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
/// assert_eq!(encode("Gelöschte Elemente"), "Gel&APY-schte Elemente");
/// // A character outside the BMP is a surrogate pair inside one run.
/// assert_eq!(encode("📁 Files"), "&2D3cwQ- Files");
/// ```
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            push_run(&mut run, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    push_run(&mut run, &mut out);
    out
}

/// Writes a pending run of UTF-16 code units as `&<base64>-` and empties it.
fn push_run(run: &mut Vec<u16>, out: &mut String) {
    if run.is_empty() {
        return;
    }
    let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        // Three bytes make four characters; a shorter last chunk makes one more than its
        // length, the unused low bits being zero.
        for i in 0..=chunk.len() {
            let sextet = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[sextet as usize]));
        }
    }
    out.push('-');
    run.clear();
}

/// Decodes a modified UTF-7 name, or returns `None` when `encoded` is not valid modified
/// UTF-7.
///
/// Invalid are: a byte outside printable ASCII, an `&` run without its closing `-`, a
/// character outside the modified base64 alphabet, a run whose bits do not make whole
/// UTF-16 code units (or end in non-zero padding), unpaired surrogates, and a run that
/// encodes printable ASCII, which must be written as itself. Callers that must not fail
/// over a foreign name take it literally on `None`.
///
/// # Examples
/// ```
/// use mailmigrate_core::utf7::decode;
///
/// assert_eq!(decode("Tom &- Jerry").as_deref(), Some("Tom & Jerry"));
/// assert_eq!(decode("&2D3cwQ- Files").as_deref(), Some("📁 Files"));
/// assert_eq!(decode("&U,BTFw").as_deref(), None); // no closing `-`
/// assert_eq!(decode("&AGE-").as_deref(), None); // "a" must be written as itself
/// ```
pub fn decode(encoded: &str) -> Option<String> {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(start) = rest.find('&') {
        out.push_str(literal(&rest[..start])?);
        let after = &rest[start + 1..];
        let end = after.find('-')?;
        match &after[..end] {
            "" => out.push('&'),
            run => out.push_str(&decode_run(run)?),
        }
        rest = &after[end + 1..];
    }
    out.push_str(literal(rest)?);
    Some(out)
}

/// `text` if it is printable ASCII, which stands for itself outside a run.
fn literal(text: &str) -> Option<&str> {
    text.chars().all(is_direct).then_some(text)
}

/// Decodes the base64 between `&` and `-` into the characters it stands for.
fn decode_run(run: &str) -> Option<String> {
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut bytes = Vec::with_capacity(run.len());
    for c in run.bytes() {
        let sextet = ALPHABET.iter().position(|&a| a == c)?;
        acc = ((acc << 6) | sextet as u32) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
        }
    }
    // What is left must be fewer than six bits of zero padding.
    let padding_ok = bits < 6 && acc & ((1 << bits) - 1) == 0;
    if !padding_ok || bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    let text = String::from_utf16(&units).ok()?;
    if text.chars().any(is_direct) {
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_passes_through_and_ampersand_is_escaped() {
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(encode("&"), "&-");
        assert_eq!(encode("&-x"), "&--x");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode("&-").as_deref(), Some("&"));
        assert_eq!(decode("&-&-").as_deref(), Some("&&"));
        assert_eq!(decode("&--x").as_deref(), Some("&-x"));
        assert_eq!(decode("a-b").as_deref(), Some("a-b"));
        assert_eq!(decode("").as_deref(), Some(""));
    }

    #[test]
    fn rfc3501_example_round_trips() {
        // RFC 3501 §5.1.3: "~peter/mail/台北/日本語"
        let wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        let name = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(decode(wire).as_deref(), Some(name));
        assert_eq!(encode(name), wire);
    }

    #[test]
    fn names_as_dovecot_writes_them() {
        // Each pair was produced by `doveadm mailbox create` on a Maildir++ tree.
        for (name, disk) in [
            ("Entwürfe & Notizen", "Entw&APw-rfe &- Notizen"),
            ("Früh", "Fr&APw-h"),
            ("Spät", "Sp&AOQ-t"),
            ("📁 Files", "&2D3cwQ- Files"),
            ("&AGE-", "&-AGE-"),
        ] {
            assert_eq!(encode(name), disk);
            assert_eq!(decode(disk).as_deref(), Some(name));
        }
    }

    #[test]
    fn non_bmp_characters_are_surrogate_pairs() {
        let wire = encode("\u{1F600}");
        assert_eq!(wire, "&2D3eAA-");
        assert_eq!(decode(&wire).as_deref(), Some("\u{1F600}"));
        // A lone high surrogate (U+D83D) is not text.
        assert_eq!(decode("&2D0-"), None);
    }

    #[test]
    fn everything_round_trips() {
        for name in [
            "Entwürfe",
            "Gelöschte Elemente",
            "Éléments envoyés",
            "📁 Files",
            "Ж",
            "a\tb",
            "日本語 & 🎉🎉 mixed",
            "",
        ] {
            let wire = encode(name);
            assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{wire}");
            assert_eq!(decode(&wire).as_deref(), Some(name), "{wire}");
        }
    }

    #[test]
    fn rejects_invalid_input() {
        assert_eq!(decode("&U,BTFw"), None, "unterminated run");
        assert_eq!(decode("&"), None, "lone ampersand");
        assert_eq!(decode("&AGE-"), None, "encodes printable ASCII");
        assert_eq!(decode("&*-"), None, "bad base64 character");
        assert_eq!(decode("&AP/-"), None, "standard base64 slash");
        assert_eq!(decode("&APx-"), None, "non-zero padding bits");
        assert_eq!(decode("&AP-"), None, "not a whole code unit");
        assert_eq!(decode("&APwA-"), None, "an odd number of bytes");
        let three = encode("äää");
        let padded = format!("{}A-", three.trim_end_matches('-'));
        assert_eq!(decode(&padded), None, "a superfluous character: {padded}");
        assert_eq!(decode("caf\u{e9}"), None, "raw 8-bit at the end");
        assert_eq!(decode("caf\u{e9}&-"), None, "raw 8-bit before a run");
        assert_eq!(decode("a\tb"), None, "a control character");
    }
}
