//! The TOML inventory format: `[[account]]`, `[[group]]` and `[[permission]]` tables.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::{is_secret_name, located, NO_CREDENTIALS};
use crate::directory::{
    address_key, Account, AccountKind, Group, GroupKind, GroupMember, Inventory, MailboxStats,
    MemberKind, Permission, Right,
};
use crate::Result;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    account: Vec<TomlAccount>,
    #[serde(default)]
    group: Vec<TomlGroup>,
    #[serde(default)]
    permission: Vec<TomlPermission>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlAccount {
    address: String,
    name: Option<String>,
    kind: Option<AccountKind>,
    #[serde(default)]
    aliases: Vec<String>,
    enabled: Option<bool>,
    id: Option<String>,
    source_login: Option<String>,
    destination_login: Option<String>,
    messages: Option<u64>,
    bytes: Option<u64>,
    contacts: Option<u64>,
    events: Option<u64>,
    folders: Option<u64>,
    #[serde(
        default,
        rename = "password",
        alias = "passwd",
        alias = "pass",
        alias = "secret",
        alias = "token",
        alias = "app_password",
        alias = "source_password",
        alias = "destination_password"
    )]
    _password: Option<Forbidden>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlGroup {
    address: String,
    name: Option<String>,
    kind: Option<GroupKind>,
    #[serde(default)]
    members: Vec<TomlMember>,
    #[serde(default)]
    owners: Vec<String>,
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlPermission {
    mailbox: String,
    grantee: String,
    right: Right,
    folder: Option<String>,
}

/// A member: a plain address, or `{ address = "…", kind = "…" }`.
struct TomlMember {
    address: String,
    kind: Option<MemberKind>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlMemberTable {
    address: String,
    kind: Option<MemberKind>,
}

impl<'de> Deserialize<'de> for TomlMember {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct MemberVisitor;
        impl<'de> Visitor<'de> for MemberVisitor {
            type Value = TomlMember;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address or a table with `address` and `kind`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<TomlMember, E> {
                Ok(TomlMember {
                    address: v.to_owned(),
                    kind: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<TomlMember, A::Error> {
                let t = TomlMemberTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(TomlMember {
                    address: t.address,
                    kind: t.kind,
                })
            }
        }
        d.deserialize_any(MemberVisitor)
    }
}

/// A key that must not be there: deserializing it always fails.
struct Forbidden;

impl<'de> Deserialize<'de> for Forbidden {
    fn deserialize<D: Deserializer<'de>>(_: D) -> std::result::Result<Self, D::Error> {
        Err(de::Error::custom(format!("{NO_CREDENTIALS} key")))
    }
}

/// Reads a TOML inventory. See [`FileDirectory`](super::FileDirectory) for the format.
pub(super) fn parse(file: &str, text: &str) -> Result<Inventory> {
    let parsed: TomlFile = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((None, None), |span| {
            let (l, c) = line_and_column(text, span.start);
            (Some(l), Some(c.to_string()))
        });
        // The error's Display quotes the offending line, which may hold a secret: use the
        // bare message only.
        let mut message = e.message().trim().to_owned();
        if let Some(field) = unknown_field(&message) {
            if is_secret_name(field) {
                message = format!("key `{field}`: {NO_CREDENTIALS} key");
            }
        }
        located(file, line, column.as_deref(), message)
    })?;

    let accounts = parsed
        .account
        .into_iter()
        .map(|a| {
            let stats = MailboxStats {
                messages: a.messages,
                bytes: a.bytes,
                contacts: a.contacts,
                events: a.events,
                folders: a.folders,
            };
            let mut account = Account::new(a.address.trim())
                .with_kind(a.kind.unwrap_or_default())
                .with_enabled(a.enabled.unwrap_or(true))
                .with_aliases(a.aliases.iter().map(|s| s.trim()));
            account.name = a.name;
            account.id = a.id;
            account.source_login = a.source_login;
            account.destination_login = a.destination_login;
            account.stats = (!stats.is_empty()).then_some(stats);
            account
        })
        .collect();

    let group_keys: HashSet<String> = parsed
        .group
        .iter()
        .map(|g| address_key(&g.address))
        .collect();
    let groups = parsed
        .group
        .into_iter()
        .map(|g| {
            let members = g.members.into_iter().map(|m| {
                let kind = m.kind.unwrap_or_else(|| {
                    if group_keys.contains(&address_key(&m.address)) {
                        MemberKind::Group
                    } else {
                        MemberKind::Account
                    }
                });
                GroupMember::new(m.address.trim(), kind)
            });
            let mut group = Group::new(g.address.trim())
                .with_kind(g.kind.unwrap_or_default())
                .with_members(members)
                .with_owners(g.owners.iter().map(|s| s.trim()));
            group.name = g.name;
            group.id = g.id;
            group
        })
        .collect();

    let permissions = parsed
        .permission
        .into_iter()
        .map(|p| {
            let mut perm = Permission::new(p.mailbox.trim(), p.grantee.trim(), p.right);
            perm.folder = p.folder;
            perm
        })
        .collect();

    Ok(Inventory::new(accounts)
        .with_groups(groups)
        .with_permissions(permissions))
}

/// The field an "unknown field `x`" message names.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(field, _)| field)
}

/// The 1-based line and character column of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (u64, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn plain_members_become_groups_when_the_file_has_the_group() {
        let inv = parse(
            "t.toml",
            r#"
[[group]]
address = "all@example.com"
members = ["team@example.com", "alice@example.com", { address = "p@other.example", kind = "external" }]

[[group]]
address = "Team@example.com"
kind = "security"
"#,
        )
        .unwrap();
        let kinds: Vec<_> = inv.groups[0]
            .members
            .iter()
            .map(|m| m.kind.clone())
            .collect();
        assert_eq!(
            kinds,
            [MemberKind::Group, MemberKind::Account, MemberKind::External]
        );
        assert_eq!(inv.groups[1].kind, GroupKind::Security);
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let err = parse(
            "t.toml",
            "[[account]]\naddress = \"a@example.com\"\nkind = \"robot\"\n",
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert_eq!(
            (err.context("line"), err.context("column")),
            (Some("3"), Some("8"))
        );
        assert!(
            err.message().contains("unknown account kind `robot`"),
            "{err}"
        );

        let err = parse(
            "t.toml",
            "[[account]]\naddress = \"a@example.com\"\nmessages = -3\n",
        )
        .unwrap_err();
        assert_eq!(err.context("line"), Some("3"));

        let err = parse("t.toml", "[[account]]\nname = \"no address\"\n").unwrap_err();
        assert!(err.message().contains("missing field `address`"), "{err}");
    }

    #[test]
    fn secret_keys_are_refused_without_echoing_them() {
        for key in ["password", "imap_password", "token"] {
            let text = format!("[[account]]\naddress = \"a@example.com\"\n{key} = \"hunter2\"\n");
            let err = parse("t.toml", &text).unwrap_err();
            assert!(
                err.message().contains("credentials do not belong"),
                "{key}: {err}"
            );
            assert!(!format!("{err:?}").contains("hunter2"), "{key}: {err:?}");
            assert_eq!(err.context("line"), Some("3"), "{key}");
        }
    }

    #[test]
    fn column_counts_characters_not_bytes() {
        // Line 2 starts at byte 7; byte 11 is the space after the two 2-byte letters.
        assert_eq!(line_and_column("ä = 1\nöü = x", 11), (2, 3));
    }
}
