//! Modified UTF-7 (RFC 3501 §5.1.3), the encoding of IMAP mailbox names.
//!
//! The codec lives in [`mailmigrate_core::utf7`], shared with the Maildir store (Dovecot
//! names Maildir++ folder directories the same way); this module keeps the names the rest
//! of the crate uses.

pub(crate) use mailmigrate_core::utf7::{decode, encode};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_passes_through_and_ampersand_is_escaped() {
        assert_eq!(encode("INBOX"), "INBOX");
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode("Tom &- Jerry").as_deref(), Some("Tom & Jerry"));
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
    fn european_and_astral_characters_round_trip() {
        for name in [
            "Entwürfe",
            "Gelöschte Elemente",
            "Éléments envoyés",
            "📁 Files",
            "Ж",
        ] {
            let wire = encode(name);
            assert!(wire.is_ascii(), "{wire}");
            assert_eq!(decode(&wire).as_deref(), Some(name), "{wire}");
        }
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
    }

    #[test]
    fn rejects_invalid_input() {
        assert_eq!(decode("&U,BTFw"), None, "unterminated run");
        assert_eq!(decode("&AGE-"), None, "encodes printable ASCII");
        assert_eq!(decode("&*-"), None, "bad base64 character");
        assert_eq!(decode("caf\u{e9}"), None, "raw 8-bit");
    }
}
