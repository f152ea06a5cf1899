//! The tenant inventory through `GraphDirectory` against the emulator's directory: a
//! tenant of 250-odd users listed over several pages, kinds, aliases, groups and members,
//! retries mid-paging, permission errors, and `$select` as the emulator enforces it.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use mailmigrate_core::directory::{AccountKind, Directory, GroupKind, GroupMember, MemberKind};
use mailmigrate_core::ErrorKind;
use mailmigrate_graph::emulator::{
    Emulator, EmulatorBuilder, EmulatorHandle, Fault, Limits, Seed, TenantContact, TenantGroup,
    TenantUser,
};
use serde_json::Value;

/// Member users with a person's mailbox, besides the special ones below.
const MEMBERS: usize = 245;

fn member(i: usize) -> String {
    format!("user{i:03}@example.com")
}

/// A tenant of 253 users (three pages of 100): members (every seventh with an alias and
/// a SIP address), two shared mailboxes, a room, an equipment mailbox, a leaver, a
/// guest, a user without a mailbox, a user whose address is not its UPN; a contact;
/// a security group without mail, a Microsoft 365 group, a distribution list and a
/// mail-enabled security group nesting it.
fn tenant() -> EmulatorBuilder {
    let mut b = Emulator::builder()
        .directory_page_cap(100)
        .limits(Limits::default().with_retry_after(Duration::from_millis(20)));
    for i in 0..MEMBERS {
        let mut u = TenantUser::member(&member(i)).with_name(&format!("User {i}"));
        if i % 7 == 0 {
            u = u
                .with_alias(&format!("u{i}.alias@example.com"))
                .with_proxy_address(&format!("SIP:{}", member(i)));
        }
        b = b.user(u);
    }
    b.user(TenantUser::shared("info@example.com").with_alias("hello@example.com"))
        .user(TenantUser::shared("sales@example.com"))
        .user(TenantUser::room("room-1@example.com"))
        .user(TenantUser::equipment("projector@example.com"))
        .user(TenantUser::member("leaver@example.com").disabled())
        .user(TenantUser::guest(
            "bob_partner.example#EXT#@example.onmicrosoft.com",
            "bob@partner.example",
        ))
        .user(TenantUser::member("svc@example.com").without_mailbox())
        .user(TenantUser::member("carol@example.onmicrosoft.com").with_primary("carol@example.com"))
        .contact(TenantContact::new("partner@other.example"))
        .group(TenantGroup::security("Admins").with_members([member(0)]))
        .group(TenantGroup::microsoft365("team@example.com").with_members([member(1), member(2)]))
        .group(
            TenantGroup::distribution("sales-dl@example.com").with_members([
                member(3),
                "info@example.com".to_owned(),
                "team@example.com".to_owned(),
                "partner@other.example".to_owned(),
                "bob@partner.example".to_owned(),
                "svc@example.com".to_owned(),
                "Admins".to_owned(),
            ]),
        )
        .group(
            TenantGroup::mail_security("staff@example.com")
                .with_alias("everyone@example.com")
                .with_members(["sales-dl@example.com", "leaver@example.com"]),
        )
}

async fn directory(emu: &EmulatorHandle) -> mailmigrate_graph::GraphDirectory {
    emu.graph_builder("example.com")
        .connect_directory()
        .await
        .unwrap()
}

/// The addresses the inventory must list: every mailbox, no guest, no user without one.
fn expected_accounts() -> HashSet<String> {
    let mut all: HashSet<String> = (0..MEMBERS).map(member).collect();
    for a in [
        "info@example.com",
        "sales@example.com",
        "room-1@example.com",
        "projector@example.com",
        "leaver@example.com",
        "carol@example.com",
    ] {
        all.insert(a.to_owned());
    }
    all
}

#[tokio::test]
async fn inventory_lists_exactly_the_seeded_mailboxes_and_groups() {
    let emu = tenant().start().await.unwrap();
    let dir = directory(&emu).await;
    assert!(dir.capabilities().groups && !dir.capabilities().permissions);
    let inv = dir.inventory().await.unwrap();

    let listed: Vec<&str> = inv.accounts.iter().map(|a| a.address.as_str()).collect();
    assert_eq!(listed.len(), expected_accounts().len(), "each mailbox once");
    assert_eq!(
        listed
            .iter()
            .map(|a| (*a).to_owned())
            .collect::<HashSet<_>>(),
        expected_accounts()
    );
    let find = |a: &str| inv.find_account(a).unwrap_or_else(|| panic!("{a} missing"));
    assert_eq!(find("info@example.com").kind, AccountKind::SharedMailbox);
    assert!(!find("info@example.com").enabled);
    assert_eq!(find("hello@example.com").address, "info@example.com");
    assert_eq!(find("room-1@example.com").kind, AccountKind::Room);
    assert_eq!(find("projector@example.com").kind, AccountKind::Equipment);
    let leaver = find("leaver@example.com");
    assert_eq!(
        (leaver.kind.clone(), leaver.enabled),
        (AccountKind::User, false)
    );
    let carol = find("carol@example.com");
    assert_eq!(
        carol.source_login.as_deref(),
        Some("carol@example.onmicrosoft.com")
    );
    assert_eq!(
        carol.source_login_or_address(),
        "carol@example.onmicrosoft.com"
    );
    assert!(carol
        .aliases
        .iter()
        .any(|a| a.address == "carol@example.onmicrosoft.com"));
    let u7 = find(&member(7));
    assert_eq!(u7.name.as_deref(), Some("User 7"));
    assert_eq!(
        u7.aliases
            .iter()
            .map(|a| a.address.as_str())
            .collect::<Vec<_>>(),
        ["u7.alias@example.com"],
        "SIP: is not a mail alias"
    );
    assert!(u7.id.is_some());
    assert!(find(&member(8)).aliases.is_empty());
    assert!(
        inv.find_account("bob@partner.example").is_none(),
        "guests are left out"
    );
    assert!(
        inv.find_account("svc@example.com").is_none(),
        "no mailbox, no account"
    );
    assert!(inv.accounts.iter().all(|a| a.stats.is_none()));
    let t = inv.totals();
    assert_eq!(
        (t.users, t.shared_mailboxes, t.resources, t.disabled),
        (MEMBERS + 2, 2, 2, 5)
    );

    // Groups: the mail-enabled ones, with their kinds and members.
    let mut groups: Vec<&str> = inv.groups.iter().map(|g| g.address.as_str()).collect();
    groups.sort_unstable();
    assert_eq!(
        groups,
        [
            "sales-dl@example.com",
            "staff@example.com",
            "team@example.com"
        ]
    );
    let team = inv.find_group("team@example.com").unwrap();
    assert_eq!(team.kind, GroupKind::Microsoft365);
    assert_eq!(
        team.members,
        [
            GroupMember::account(member(1)),
            GroupMember::account(member(2))
        ]
    );
    let dl = inv.find_group("sales-dl@example.com").unwrap();
    assert_eq!(dl.kind, GroupKind::Distribution);
    assert_eq!(
        dl.members,
        [
            GroupMember::account(member(3)),
            GroupMember::account("info@example.com"),
            GroupMember::new("team@example.com", MemberKind::Group),
            GroupMember::new("partner@other.example", MemberKind::External),
            GroupMember::new("bob@partner.example", MemberKind::External),
        ],
        "a user without a mailbox has no address to name, a group without mail receives none"
    );
    let staff = inv.find_group("staff@example.com").unwrap();
    assert_eq!(staff.kind, GroupKind::Security);
    assert_eq!(
        staff.members,
        [
            GroupMember::new("sales-dl@example.com", MemberKind::Group),
            GroupMember::account("leaver@example.com"),
        ]
    );
    assert_eq!(inv.validate(), [], "a consistent inventory");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_429_and_a_503_mid_paging_are_retried() {
    let emu = tenant().start().await.unwrap();
    let faults = emu.faults();
    // The second page of users is throttled, the third fails once with 503; the first
    // page of members of a group fails once with 503 too.
    faults.arm_on_path("GET", "/v1.0/users", 1, 1, Fault::Throttle);
    faults.arm_on_path(
        "GET",
        "/v1.0/users",
        2,
        1,
        Fault::Fail {
            status: 503,
            code: "serviceNotAvailable".into(),
        },
    );
    faults.fail_matching("GET", "/members", 1, 503, "serviceNotAvailable");
    let inv = directory(&emu).await.inventory().await.unwrap();
    assert_eq!(faults.remaining(), 0, "every fault fired");
    assert!(emu.stats().throttled >= 1);
    let listed: HashSet<String> = inv.accounts.iter().map(|a| a.address.clone()).collect();
    assert_eq!(listed.len(), inv.accounts.len(), "no page listed twice");
    assert_eq!(listed, expected_accounts());
    assert_eq!(inv.groups.len(), 3);
    assert_eq!(inv.validate(), []);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_missing_permission_is_permission_denied_naming_it() {
    for (permission, needs) in [
        ("User.Read.All", "User.Read.All"),
        ("MailboxSettings.Read", "MailboxSettings.Read"),
        ("Group.Read.All", "Group.Read.All"),
    ] {
        let emu = Emulator::builder()
            .user(TenantUser::member("ada@example.com"))
            .group(TenantGroup::distribution("all@example.com").with_members(["ada@example.com"]))
            .without_permission(permission)
            .start()
            .await
            .unwrap();
        let err = directory(&emu).await.inventory().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        assert_eq!(err.context("needs"), Some(needs), "{err}");
        assert!(!err.is_temporary());
        let code = if permission == "MailboxSettings.Read" {
            "ErrorAccessDenied"
        } else {
            "Authorization_RequestDenied"
        };
        assert!(err.to_string().contains(code), "{err}");
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn stats_count_folders_and_items_without_guessing_bytes() {
    let emu = Emulator::builder()
        .user(TenantUser::member("ada@example.com"))
        .user(TenantUser::shared("info@example.com"))
        .start()
        .await
        .unwrap();
    for (folder, n) in [("Inbox", 3), ("Inbox/Projects/2026", 2), ("Archive", 1)] {
        for i in 0..n {
            let mime =
                format!("Subject: {folder} {i}\r\nMessage-ID: <{folder}{i}@x>\r\n\r\nbody\r\n");
            emu.seed_message("ada@example.com", folder, mime.as_bytes(), Seed::default());
        }
    }
    let dir = directory(&emu).await;
    assert!(!dir.capabilities().stats);
    let dir = dir.with_stats(true);
    assert!(dir.capabilities().stats);
    let inv = dir.inventory().await.unwrap();
    let ada = inv.find_account("ada@example.com").unwrap().stats.unwrap();
    let default_folders = emu.folders("ada@example.com").len() as u64;
    assert_eq!(ada.messages, Some(6));
    assert_eq!(ada.folders, Some(default_folders));
    assert_eq!(ada.bytes, None, "Graph v1.0 gives no folder size");
    let info = inv.find_account("info@example.com").unwrap().stats.unwrap();
    assert_eq!(info.messages, Some(0));
    assert_eq!(inv.totals().accounts_without_size, 2);
    emu.shutdown().await;
}

/// Direct requests: what a client that forgets `$select` gets, paging, `$top`, filters.
#[tokio::test]
async fn the_emulated_directory_honours_select_top_and_filter_as_graph_does() {
    let t = common::setup(tenant()).await;
    // No $select: the default properties only; no proxyAddresses, accountEnabled, userType.
    let (status, page) = t.get("/users").await;
    assert_eq!(status, 200, "{page}");
    let users = page["value"].as_array().unwrap();
    assert_eq!(users.len(), 100, "100 a page by default");
    for u in users {
        let o = u.as_object().unwrap();
        assert!(
            o.contains_key("mail") && o.contains_key("userPrincipalName") && o.contains_key("id")
        );
        for absent in [
            "proxyAddresses",
            "accountEnabled",
            "userType",
            "assignedLicenses",
        ] {
            assert!(
                !o.contains_key(absent),
                "{absent} came without $select: {u}"
            );
        }
    }
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("%24skiptoken="), "{next}");
    // $select: exactly what was named.
    let (_, page) = t
        .get("/users?$select=userPrincipalName,proxyAddresses&$top=5")
        .await;
    let first = page["value"][0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["proxyAddresses", "userPrincipalName"]);
    let next = page["@odata.nextLink"].as_str().unwrap();
    let (_, page2) = t.get(next).await;
    assert_eq!(page2["value"].as_array().unwrap().len(), 5);
    assert!(
        page2["value"][0].get("mail").is_none(),
        "the link keeps $select"
    );
    assert_ne!(page2["value"][0], page["value"][0]);
    // Following every link lists each user once.
    let mut seen = HashSet::new();
    let mut link = Some("/users?$select=id".to_owned());
    while let Some(l) = link {
        let (status, page) = t.get(&l).await;
        assert_eq!(status, 200);
        for u in page["value"].as_array().unwrap() {
            assert!(seen.insert(u["id"].as_str().unwrap().to_owned()));
        }
        link = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    // The eight special users, and the plain mailbox `common::setup` adds (a member user).
    assert_eq!(seen.len(), MEMBERS + 8 + 1);
    // $top bounds, $skip, unknown properties, filters.
    let (status, v) = t.get("/users?$top=1000").await;
    assert_eq!(status, 400);
    common::assert_envelope(&v, "Request_UnsupportedQuery");
    let (status, v) = t.get("/users?$skip=10").await;
    assert_eq!(status, 400);
    common::assert_envelope(&v, "Request_BadRequest");
    let (status, v) = t.get("/users?$select=id,nickname").await;
    assert_eq!(status, 400);
    common::assert_envelope(&v, "Request_BadRequest");
    let (status, v) = t.get("/users?$filter=userType%20eq%20'Member'").await;
    assert_eq!(status, 400);
    common::assert_envelope(&v, "Request_UnsupportedQuery");
    let (status, v) = t.get("/groups?$filter=startswith(mail,'s')").await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["code"].as_str().unwrap().starts_with("Request_"));
    let (_, all) = t.get("/groups").await;
    assert_eq!(all["value"].as_array().unwrap().len(), 4);
    let (_, mail) = t.get("/groups?$filter=mailEnabled%20eq%20true").await;
    assert_eq!(mail["value"].as_array().unwrap().len(), 3);
    let (_, plain) = t.get("/groups?$filter=mailEnabled%20eq%20false").await;
    assert_eq!(plain["value"][0]["displayName"], "Admins");
    // Members carry their type; userPurpose; a user without a mailbox.
    let dl = mail["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["mail"] == "sales-dl@example.com")
        .unwrap();
    let (_, members) = t
        .get(&format!(
            "/groups/{}/members?$select=mail",
            dl["id"].as_str().unwrap()
        ))
        .await;
    let types: Vec<&str> = members["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "#microsoft.graph.user",
            "#microsoft.graph.user",
            "#microsoft.graph.group",
            "#microsoft.graph.orgContact",
            "#microsoft.graph.user",
            "#microsoft.graph.user",
            "#microsoft.graph.group",
        ]
    );
    let (status, v) = t
        .get("/users/info@example.com/mailboxSettings/userPurpose")
        .await;
    assert_eq!((status, v["value"].as_str()), (200, Some("shared")));
    let (status, v) = t
        .get("/users/svc@example.com/mailboxSettings/userPurpose")
        .await;
    assert_eq!(status, 404);
    common::assert_envelope(&v, "MailboxNotEnabledForRESTAPI");
    let (status, v) = t.get("/users/nobody@example.com").await;
    assert_eq!(status, 404);
    common::assert_envelope(&v, "Request_ResourceNotFound");
    let (status, v) = t
        .get("/users/svc@example.com?$select=mail,proxyAddresses")
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["mail"], Value::Null);
    assert_eq!(v["proxyAddresses"], serde_json::json!([]));
    t.emu.shutdown().await;
}
