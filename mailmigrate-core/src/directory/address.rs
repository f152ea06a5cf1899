//! Comparing and checking mail addresses.

/// The form two addresses are compared in: trimmed and lowercased, as a whole.
///
/// RFC 5321 lets a server treat the local part (before the `@`) as case-sensitive, but no
/// mailbox provider a migration meets does (Exchange, Microsoft 365, Google Workspace,
/// Dovecot and Cyrus with their usual settings all deliver `Alice@` and `alice@` to the same
/// mailbox), and two accounts whose addresses differ only in case are a mistake in an
/// inventory, not two mailboxes. The domain is case-insensitive by DNS rules. Non-ASCII
/// addresses (RFC 6531) are lowercased with Unicode rules.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::address_key;
///
/// assert_eq!(address_key(" Alice.Smith@Example.COM "), "alice.smith@example.com");
/// assert_eq!(address_key("ÉLODIE@exemple.fr"), "élodie@exemple.fr");
/// ```
pub fn address_key(address: &str) -> String {
    address.trim().to_lowercase()
}

/// Whether `address` is a plausible `local@domain` mail address.
///
/// The check is syntactic and deliberately plain: a dot-atom local part of at most 64
/// octets (RFC 5322 `atext`, plus non-ASCII characters as RFC 6531 allows) or a quoted one,
/// one `@`, and a domain of dot-separated labels (letters, digits, hyphens not at either end,
/// non-ASCII for internationalised names) of at most 63 octets each and 255 in all. It does
/// not accept display names (`Alice <alice@example.com>`), comments or IP-literal domains,
/// none of which belong in an inventory.
///
/// # Examples
/// ```
/// use mailmigrate_core::directory::is_valid_address;
///
/// assert!(is_valid_address("alice@example.com"));
/// assert!(is_valid_address("o'brien+news@mail.example.co.uk"));
/// assert!(is_valid_address("zoë@bücher.example"));
/// assert!(!is_valid_address("alice"));
/// assert!(!is_valid_address("alice@@example.com"));
/// assert!(!is_valid_address("alice smith@example.com"));
/// assert!(!is_valid_address("alice@-example.com"));
/// ```
pub fn is_valid_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    valid_local_part(local) && valid_domain(domain)
}

fn valid_local_part(local: &str) -> bool {
    if local.is_empty() || local.len() > 64 {
        return false;
    }
    if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        let inner = &local[1..local.len() - 1];
        return !inner.chars().any(char::is_control);
    }
    local.split('.').all(|atom| {
        !atom.is_empty()
            && atom.chars().all(|c| {
                c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
            })
            && !atom.chars().any(char::is_whitespace)
    })
}

fn valid_domain(domain: &str) -> bool {
    if domain.is_empty() || domain.len() > 255 {
        return false;
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| {
                c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_an_address() {
        for bad in [
            "",
            "@",
            "a@",
            "@example.com",
            "a@b@c.example",
            "a..b@example.com",
            ".a@example.com",
            "a@example..com",
            "a@exa_mple.com",
            "Alice <a@example.com>",
            "a@example.com.",
            "tab\t@example.com",
        ] {
            assert!(!is_valid_address(bad), "{bad:?} passed");
        }
    }

    #[test]
    fn accepts_quoted_and_international_local_parts() {
        assert!(is_valid_address("\"john doe\"@example.com"));
        assert!(is_valid_address("用户@例子.广告"));
        assert!(is_valid_address("a@localhost"));
        assert!(!is_valid_address(&format!(
            "{}@example.com",
            "a".repeat(65)
        )));
    }

    #[test]
    fn key_lowercases_whole_address() {
        assert_eq!(
            address_key("Bob@EXAMPLE.com"),
            address_key("bob@example.COM")
        );
    }
}
