//! `proxyAddresses`: the addresses Exchange delivers to an object, by type prefix.

use mailmigrate_core::directory::address_key;

/// The mail addresses of one user or group, read from `proxyAddresses` and `mail`.
///
/// Each entry is `type:address`; `SMTP:` in capitals marks the primary address, `smtp:`
/// the secondary ones (\[G-USER\]: "The proxy address prefixed with SMTP (capitalized) is
/// the primary proxy address"). Other types (`SIP:`, `X500:`, `SPO:`, `EUM:`) are not
/// mail addresses and are left out: the core [`Alias`](mailmigrate_core::directory::Alias)
/// has no type to keep them with. The doc's own examples write a space after the colon
/// (`"SMTP: bob@contoso.com"`), so the address is trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MailAddresses {
    /// The `SMTP:` address, else `mail`, else none.
    pub(crate) primary: Option<String>,
    /// The `smtp:` addresses, without the primary and without repeats (compared as
    /// [`address_key`] does).
    pub(crate) aliases: Vec<String>,
}

impl MailAddresses {
    /// Reads `proxy_addresses`, falling back on `mail` for the primary address (an object
    /// whose `proxyAddresses` were not returned, or that has none).
    pub(crate) fn parse(proxy_addresses: &[String], mail: Option<&str>) -> Self {
        let mut primary = None;
        let mut secondary = Vec::new();
        for entry in proxy_addresses {
            let Some((kind, address)) = entry.split_once(':') else {
                continue;
            };
            let address = address.trim();
            if address.is_empty() || !kind.eq_ignore_ascii_case("smtp") {
                continue;
            }
            if kind == "SMTP" && primary.is_none() {
                primary = Some(address.to_owned());
            } else {
                secondary.push(address.to_owned());
            }
        }
        let primary = primary.or_else(|| {
            mail.map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
        });
        let mut seen: Vec<String> = primary.iter().map(|p| address_key(p)).collect();
        let mut aliases = Vec::new();
        for address in secondary {
            let key = address_key(&address);
            if !seen.contains(&key) {
                seen.push(key);
                aliases.push(address);
            }
        }
        Self { primary, aliases }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn upper_case_smtp_is_primary_and_other_types_are_left_out() {
        let got = MailAddresses::parse(
            &strings(&[
                "smtp:ada.l@contoso.com",
                "SIP:ada@contoso.com",
                "SMTP:Ada@Contoso.com",
                "X500:/o=ExchangeLabs/ou=Exchange/cn=Recipients/cn=ada",
                "smtp: a.lovelace@contoso.com",
                "smtp:ADA@contoso.com",
                "smtp:ada.l@contoso.com",
            ]),
            Some("other@contoso.com"),
        );
        assert_eq!(got.primary.as_deref(), Some("Ada@Contoso.com"));
        assert_eq!(got.aliases, ["ada.l@contoso.com", "a.lovelace@contoso.com"]);
    }

    #[test]
    fn mail_is_the_primary_without_an_smtp_entry() {
        let got = MailAddresses::parse(&strings(&["smtp:b@contoso.com"]), Some("a@contoso.com"));
        assert_eq!(got.primary.as_deref(), Some("a@contoso.com"));
        assert_eq!(got.aliases, ["b@contoso.com"]);
        let none = MailAddresses::parse(&[], None);
        assert_eq!(none.primary, None);
        assert!(none.aliases.is_empty());
    }
}
