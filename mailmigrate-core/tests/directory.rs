//! The directory module across its parts: files as spreadsheets and people write them, the
//! inventory's findings, look-ups by alias, and the JSON form of an inventory.

use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use mailmigrate_core::directory::{
    Account, AccountKind, Alias, Directory, DirectoryCapabilities, DirectoryInfo, Finding, Group,
    GroupKind, GroupMember, Inventory, MailboxStats, MemberKind, MemoryDirectory, Permission,
    Place, Right,
};
use mailmigrate_core::{Error, ErrorKind, Result};

/// An inventory with one of every finding, and one clean part.
fn troubled() -> Inventory {
    Inventory::new(vec![
        Account::new("alice@example.com").with_aliases(["a.smith@example.com"]),
        Account::new("ALICE@example.com"), // duplicate primary
        Account::new("bob@example.com").with_aliases(["INFO@example.com"]), // alias = a primary
        Account::new("info@example.com").with_kind(AccountKind::SharedMailbox),
        Account::new(""),                     // empty
        Account::new("carol at example.com"), // invalid
    ])
    .with_groups(vec![Group::new("team@example.com").with_members([
        GroupMember::account("a.smith@example.com"),
        GroupMember::account("nobody@example.com"), // not found
        GroupMember::new("partner@other.example", MemberKind::External),
    ])])
    .with_permissions(vec![Permission::new(
        "info@example.com",
        "team@example.com",
        Right::SendAs,
    )])
}

#[test]
fn validation_lists_every_finding_with_its_place() {
    let findings = troubled().validate();
    assert_eq!(
        findings,
        [
            Finding::DuplicateAddress {
                address: "ALICE@example.com".into(),
                first: Place::Account {
                    index: 0,
                    address: "alice@example.com".into()
                },
                second: Place::Account {
                    index: 1,
                    address: "ALICE@example.com".into()
                },
            },
            Finding::EmptyAddress {
                place: Place::Account {
                    index: 4,
                    address: String::new()
                }
            },
            Finding::InvalidAddress {
                address: "carol at example.com".into(),
                place: Place::Account {
                    index: 5,
                    address: "carol at example.com".into()
                },
            },
            Finding::AliasIsPrimary {
                address: "INFO@example.com".into(),
                alias: Place::Alias {
                    account: 2,
                    address: "bob@example.com".into()
                },
                primary: Place::Account {
                    index: 3,
                    address: "info@example.com".into()
                },
            },
            Finding::NotFound {
                address: "nobody@example.com".into(),
                place: Place::Member {
                    group: 0,
                    address: "team@example.com".into()
                },
            },
        ]
    );
    let text: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        text[3],
        "INFO@example.com, an alias of account #2 <bob@example.com>, is the address of account #3 <info@example.com>"
    );
    let err = troubled().ensure_valid().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
    assert!(
        err.message().starts_with("5 problems in the inventory"),
        "{err}"
    );
}

#[test]
fn lookup_by_alias_ignores_case() {
    let inv = troubled();
    assert_eq!(
        inv.find_account("A.SMITH@EXAMPLE.COM").unwrap().address,
        "alice@example.com"
    );
    assert_eq!(
        inv.find_account(" alice@example.com ").unwrap().address,
        "alice@example.com"
    );
    // A primary address wins over another account's alias.
    assert_eq!(
        inv.find_account("info@example.com").unwrap().address,
        "info@example.com"
    );
    assert!(inv.find_account("team@example.com").is_none());
    assert_eq!(
        inv.find_group("TEAM@example.com").unwrap().kind,
        GroupKind::Distribution
    );
}

#[test]
fn inventory_round_trips_through_json() {
    let mut inv = troubled();
    inv.accounts[0] = inv.accounts[0]
        .clone()
        .with_name("Zoë Ñúñez")
        .with_stats(
            MailboxStats::new()
                .with_messages(3)
                .with_bytes(9_000)
                .with_folders(2),
        )
        .with_enabled(false)
        .with_id("1f3a")
        .with_source_login("alice")
        .with_destination_login("alice@new.example");
    inv.accounts[3].kind = AccountKind::Other("SchedulingMailbox".into());
    inv.groups[0].kind = GroupKind::Other(String::new());
    inv.permissions.push(
        Permission::new(
            "info@example.com",
            "alice@example.com",
            Right::Other("Publishing".into()),
        )
        .with_folder("Calendar"),
    );
    let json = serde_json::to_string_pretty(&inv).unwrap();
    assert!(
        json.contains("\"kind\": \"other:SchedulingMailbox\""),
        "{json}"
    );
    assert!(json.contains("\"right\": \"send_as\""), "{json}");
    let back: Inventory = serde_json::from_str(&json).unwrap();
    assert_eq!(back, inv);

    // Findings serialise too, for a campaign report.
    let findings = serde_json::to_value(inv.validate()).unwrap();
    assert_eq!(
        findings[0]["duplicate_address"]["first"]["account"]["index"],
        0
    );
}

#[test]
fn json_written_by_hand_takes_defaults() {
    let inv: Inventory = serde_json::from_str(
        r#"{"accounts": [{"address": "a@example.com", "kind": "SharedMailbox"}]}"#,
    )
    .unwrap();
    let a = &inv.accounts[0];
    assert!(a.enabled);
    assert_eq!(a.kind, AccountKind::SharedMailbox);
    assert_eq!(a.aliases, Vec::<Alias>::new());
    assert!(inv.groups.is_empty() && !inv.listed.groups);
}

#[test]
fn totals_add_what_is_known_and_count_what_is_not() {
    let inv = Inventory::new(vec![
        Account::new("a@example.com").with_stats(
            MailboxStats::new()
                .with_messages(10)
                .with_bytes(100)
                .with_contacts(4),
        ),
        Account::new("b@example.com")
            .with_kind(AccountKind::Room)
            .with_enabled(false),
        Account::new("c@example.com")
            .with_kind(AccountKind::Equipment)
            .with_stats(MailboxStats::new().with_messages(5)),
        Account::new("d@example.com").with_aliases(["d1@example.com", "d2@example.com"]),
    ]);
    let t = inv.totals();
    assert_eq!(
        (t.accounts, t.users, t.resources, t.disabled, t.aliases),
        (4, 2, 2, 1, 2)
    );
    assert_eq!((t.messages, t.bytes, t.contacts), (15, 100, 4));
    assert_eq!(t.accounts_without_size, 3);
}

/// A directory that fails after its first account, as a paged listing whose second page
/// is refused.
#[derive(Debug)]
struct FailingDirectory(DirectoryInfo);

#[async_trait::async_trait]
impl Directory for FailingDirectory {
    fn info(&self) -> &DirectoryInfo {
        &self.0
    }
    fn accounts(&self) -> BoxStream<'static, Result<Account>> {
        stream::iter([
            Ok(Account::new("a@example.com")),
            Err(Error::new(ErrorKind::Unavailable, "page 2 refused").temporary()),
            Ok(Account::new("c@example.com")),
        ])
        .boxed()
    }
}

#[tokio::test]
async fn inventory_fails_rather_than_drop_accounts() {
    let dir = FailingDirectory(DirectoryInfo::new(
        "test",
        "t",
        DirectoryCapabilities::default(),
    ));
    let err = dir.inventory().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    // Defaults are honest: nothing declared, nothing listed.
    assert_eq!(
        dir.groups().await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        dir.permissions(&Account::new("a@example.com"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
}

#[tokio::test]
async fn shared_directories_forward_everything() {
    let inv = troubled();
    let dir: Arc<dyn Directory> = Arc::new(MemoryDirectory::from_inventory("shared", inv.clone()));
    let boxed: Box<dyn Directory> = Box::new(Arc::clone(&dir));
    let got = boxed.inventory().await.unwrap();
    assert_eq!(got.accounts, inv.accounts);
    assert_eq!(got.groups, inv.groups);
    assert_eq!(got.permissions, inv.permissions);
    assert_eq!(got.listed, boxed.capabilities());
    assert_eq!(boxed.info().label, "shared");
}

#[cfg(feature = "file-directory")]
mod files {
    use mailmigrate_core::directory::{FileDirectory, FileFormat};

    use super::*;

    fn csv(text: &str) -> Result<Inventory> {
        let dir = FileDirectory::parse("accounts.csv", FileFormat::Csv, text)?;
        futures::executor::block_on(dir.inventory())
    }

    fn toml(text: &str) -> Result<Inventory> {
        let dir = FileDirectory::parse("campaign.toml", FileFormat::Toml, text)?;
        futures::executor::block_on(dir.inventory())
    }

    /// A spreadsheet's export: byte-order mark, CRLF, quoted cells with commas and line
    /// breaks, non-ASCII names, upper-case addresses, blank lines and empty trailing rows.
    const SPREADSHEET: &str = "\u{feff}Address,Name,Kind,Aliases,Source_Login,Destination_Login,Messages,Bytes\r\n\
        ALICE@Example.COM,\"Smith, Alice\",UserMailbox,\"a.smith@example.com; alice.s@example.com\",alice,,1200,350000000\r\n\
        \r\n\
        info@example.com,\"Info desk, \"\"front\"\"\",SharedMailbox,hello@example.com contact@example.com,,info@new.example,,\r\n\
        zoe@example.com,Zoë Ñúñez-Łukasiewicz,,,,,,\r\n\
        room1@example.com,\"Room 1\r\n(2nd floor)\",room,,,,0,0\r\n\
        ,,,,,,,\r\n\
        \r\n";

    #[test]
    fn spreadsheet_export_loads() {
        let inv = csv(SPREADSHEET).unwrap();
        let addresses: Vec<&str> = inv.accounts.iter().map(|a| a.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "ALICE@Example.COM",
                "info@example.com",
                "zoe@example.com",
                "room1@example.com"
            ]
        );
        let alice = &inv.accounts[0];
        assert_eq!(alice.name.as_deref(), Some("Smith, Alice"));
        assert_eq!(alice.kind, AccountKind::User);
        assert_eq!(
            alice.aliases,
            [
                Alias::new("a.smith@example.com"),
                Alias::new("alice.s@example.com")
            ]
        );
        assert_eq!(alice.source_login.as_deref(), Some("alice"));
        assert_eq!(alice.destination_login, None);
        assert_eq!(
            alice.stats,
            Some(
                MailboxStats::new()
                    .with_messages(1200)
                    .with_bytes(350_000_000)
            )
        );
        let info = &inv.accounts[1];
        assert_eq!(info.name.as_deref(), Some("Info desk, \"front\""));
        assert_eq!(info.kind, AccountKind::SharedMailbox);
        assert_eq!(info.aliases.len(), 2);
        assert_eq!(info.destination_login_or_address(), "info@new.example");
        assert_eq!(info.stats, None);
        assert_eq!(
            inv.accounts[2].name.as_deref(),
            Some("Zoë Ñúñez-Łukasiewicz")
        );
        assert_eq!(
            inv.accounts[3].name.as_deref(),
            Some("Room 1\r\n(2nd floor)")
        );
        assert_eq!(inv.accounts[3].stats.unwrap().bytes, Some(0));

        assert_eq!(
            inv.find_account("alice@example.com").unwrap().address,
            "ALICE@Example.COM"
        );
        assert_eq!(
            inv.find_account("Contact@Example.com").unwrap().address,
            "info@example.com"
        );
        assert!(inv.validate().is_empty(), "{:?}", inv.validate());
        // A CSV lists accounts only, and says so.
        assert!(!inv.listed.groups && !inv.listed.permissions && inv.listed.stats);
    }

    #[test]
    fn duplicate_addresses_load_and_are_found() {
        let inv = csv("address,aliases\nbob@example.com,\nBOB@example.com,\ncarol@example.com,bob@EXAMPLE.com\n")
            .unwrap();
        let findings = inv.validate();
        assert!(
            matches!(
                &findings[..],
                [
                    Finding::DuplicateAddress {
                        second: Place::Account { index: 1, .. },
                        ..
                    },
                    Finding::AliasIsPrimary {
                        alias: Place::Alias { account: 2, .. },
                        ..
                    },
                ]
            ),
            "{findings:?}"
        );
    }

    #[test]
    fn unknown_kind_fails_the_load_naming_line_and_column() {
        let err = csv("address,name,kind\r\na@example.com,A,user\r\n\r\nb@example.com,B,robot\r\nc@example.com,C,user\r\n")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert_eq!(err.context("file"), Some("accounts.csv"));
        assert_eq!(err.context("line"), Some("4"));
        assert_eq!(err.context("column"), Some("kind"));
        assert!(
            err.message().contains("unknown account kind `robot`"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("(file: accounts.csv, line: 4, column: kind)"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_row_fails_the_whole_load() {
        // An unquoted comma in a name gives the row one cell too many.
        let err = csv(
            "address,name\na@example.com,Alice\nb@example.com,Smith, Bob\nc@example.com,Carol\n",
        )
        .unwrap_err();
        assert_eq!(err.context("line"), Some("3"));
        assert!(
            err.message().contains("3 cells but the header has 2"),
            "{err}"
        );

        let err = csv("address,bytes\na@example.com,1.5 GB\n").unwrap_err();
        assert_eq!(
            (err.context("line"), err.context("column")),
            (Some("2"), Some("bytes"))
        );
        let err = csv("address,messages\na@example.com,-1\n").unwrap_err();
        assert_eq!(err.context("column"), Some("messages"));
    }

    #[test]
    fn password_column_is_refused_without_reading_rows() {
        for header in [
            "password",
            "Password",
            "imap_password",
            "App Password",
            "token",
        ] {
            let text = format!("address,{header}\nalice@example.com,hunter2\n");
            let err = csv(&text).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{header}");
            assert_eq!(err.context("column"), Some(header));
            assert!(
                err.message()
                    .contains("credentials do not belong in the inventory file"),
                "{err}"
            );
            assert!(err.message().contains("job configuration"), "{err}");
            assert!(!format!("{err:?}").contains("hunter2"));
        }
    }

    #[test]
    fn empty_address_cell_loads_and_is_found() {
        let inv = csv("address,name\n,Nobody\n").unwrap();
        assert!(matches!(inv.validate()[..], [Finding::EmptyAddress { .. }]));
    }

    const CAMPAIGN: &str = r#"
# Accounts, groups and delegations of example.com.
[[account]]
address = "Alice@Example.com"
name = "Alice Ünal"
aliases = ["a.unal@example.com"]
source_login = "alice"
messages = 1200
bytes = 350_000_000

[[account]]
address = "info@example.com"
kind = "shared"
enabled = false

[[group]]
address = "team@example.com"
name = "Team, all of it"
kind = "microsoft365"
members = ["a.unal@example.com", "board@example.com", "ghost@example.com", { address = "p@other.example", kind = "external" }]
owners = ["alice@example.com"]

[[group]]
address = "board@example.com"
kind = "security"

[[permission]]
mailbox = "info@example.com"
grantee = "team@example.com"
right = "SendAs"

[[permission]]
mailbox = "info@example.com"
grantee = "alice@example.com"
right = "folder_read"
folder = "Inbox"
"#;

    #[test]
    fn toml_campaign_loads_with_groups_and_permissions() {
        let inv = toml(CAMPAIGN).unwrap();
        assert_eq!(inv.accounts.len(), 2);
        assert_eq!(inv.accounts[0].stats.unwrap().bytes, Some(350_000_000));
        assert!(!inv.accounts[1].enabled);
        let team = &inv.groups[0];
        assert_eq!(team.kind, GroupKind::Microsoft365);
        let kinds: Vec<MemberKind> = team.members.iter().map(|m| m.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                MemberKind::Account,
                MemberKind::Group,
                MemberKind::Account,
                MemberKind::External
            ]
        );
        assert_eq!(inv.permissions.len(), 2);
        assert_eq!(inv.permissions[1].folder.as_deref(), Some("Inbox"));
        assert!(inv.listed.groups && inv.listed.permissions);
        assert_eq!(
            inv.find_account("A.UNAL@example.com").unwrap().address,
            "Alice@Example.com"
        );
        assert_eq!(
            inv.validate(),
            [Finding::NotFound {
                address: "ghost@example.com".into(),
                place: Place::Member {
                    group: 0,
                    address: "team@example.com".into()
                },
            }]
        );
        assert_eq!(inv.totals().disabled, 1);
    }

    #[test]
    fn toml_errors_name_line_and_column() {
        let err = toml("[[account]]\naddress = \"a@example.com\"\n\n[[account]]\naddress = \"b@example.com\"\nkind = \"robot\"\n")
            .unwrap_err();
        assert_eq!(err.context("file"), Some("campaign.toml"));
        assert_eq!(
            (err.context("line"), err.context("column")),
            (Some("6"), Some("8"))
        );

        let err = toml("[[account]]\naddress = \"a@example.com\"\nalias = [\"b@example.com\"]\n")
            .unwrap_err();
        assert!(err.message().contains("unknown field `alias`"), "{err}");
        assert_eq!(err.context("line"), Some("3"));

        let err = toml("[[acount]]\naddress = \"a@example.com\"\n").unwrap_err();
        assert!(err.message().contains("unknown field `acount`"), "{err}");

        let err = toml("[[permission]]\nmailbox = \"a@example.com\"\ngrantee = \"b@example.com\"\nright = \"owner\"\n")
            .unwrap_err();
        assert!(err.message().contains("unknown right `owner`"), "{err}");
        assert_eq!(err.context("line"), Some("4"));
    }

    #[test]
    fn toml_password_is_refused() {
        let err =
            toml("[[account]]\naddress = \"a@example.com\"\npassword = \"hunter2\"\n").unwrap_err();
        assert!(
            err.message()
                .contains("credentials do not belong in the inventory file"),
            "{err}"
        );
        assert!(!format!("{err:?}").contains("hunter2"));
    }

    #[test]
    fn toml_with_bom_and_crlf_loads() {
        let inv =
            toml("\u{feff}[[account]]\r\naddress = \"a@example.com\"\r\nname = \"Ça va\"\r\n")
                .unwrap();
        assert_eq!(inv.accounts[0].name.as_deref(), Some("Ça va"));
    }

    #[test]
    fn files_on_disk_open_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("accounts.csv");
        std::fs::write(&csv_path, SPREADSHEET).unwrap();
        let from_csv = FileDirectory::open(&csv_path).unwrap();
        assert_eq!(from_csv.info().label, csv_path.display().to_string());
        let toml_path = dir.path().join("campaign.TOML");
        std::fs::write(&toml_path, CAMPAIGN).unwrap();
        let from_toml = FileDirectory::open(&toml_path).unwrap();
        assert!(from_toml.capabilities().groups);
        let inv = futures::executor::block_on(from_toml.inventory()).unwrap();
        assert_eq!(inv.groups.len(), 2);

        std::fs::write(&toml_path, "[[account]]\naddress = 3\n").unwrap();
        let err = FileDirectory::open(&toml_path).unwrap_err();
        assert_eq!(
            err.context("file"),
            Some(toml_path.display().to_string().as_str())
        );
        assert_eq!(err.context("line"), Some("2"));
    }
}
