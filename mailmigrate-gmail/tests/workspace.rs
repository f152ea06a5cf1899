//! The Admin SDK directory, the batch endpoint and the daily quota, against the emulator.
#![cfg(feature = "emulator")]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mailmigrate_core::directory::{Directory, MemberKind};
use mailmigrate_core::engine::{Engine, SyncOptions};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{
    DedupeKey, Destination, ErrorKind, FolderId, FolderPath, MessageId, MessageMeta, Provider,
    RawMessage,
};
use mailmigrate_gmail::emulator::{
    Emulator, EmulatorHandle, Fault, Quota, WorkspaceGroup, WorkspaceUser,
};
use mailmigrate_gmail::GmailLimits;

const ADMIN: &str = "root@example.com";
const USER: &str = "ada@example.com";

async fn domain() -> EmulatorHandle {
    Emulator::builder()
        .admin(ADMIN)
        .workspace_user(
            WorkspaceUser::new(USER)
                .with_name("Ada Lovelace")
                .with_alias("a.lovelace@example.com")
                .with_non_editable_alias("ada@example.test-google-a.com"),
        )
        .workspace_user(WorkspaceUser::new("bob@example.com").suspended(true))
        .workspace_user(
            WorkspaceUser::new("cy@example.com")
                .with_alias("c@example.com")
                .with_delegate("dee@example.com")
                .with_send_as("team@example.com"),
        )
        .workspace_user(WorkspaceUser::new("new@example.com").mailbox_setup(false))
        .user("dee@example.com")
        .workspace_group(
            WorkspaceGroup::new("team@example.com")
                .with_name("Team")
                .with_members([USER, "bob@example.com", "cy@example.com"]),
        )
        .workspace_group(WorkspaceGroup::new("all@example.com").with_members([
            "team@example.com",
            "dee@example.com",
            "partner@other.example",
        ]))
        .workspace_group(WorkspaceGroup::new("empty@example.com"))
        .directory_page_size(2)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_directory_lists_users_aliases_groups_and_members_across_pages() {
    let emu = domain().await;
    emu.seed_message(
        USER,
        b"Subject: a\r\n\r\nx\r\n",
        &["INBOX"],
        1_700_000_000_000,
    );
    emu.seed_message(
        USER,
        b"Subject: b\r\n\r\ny\r\n",
        &["INBOX"],
        1_700_000_000_001,
    );
    let handle = emu.clone();
    let dir = emu
        .gmail_builder(ADMIN)
        .connect_directory()
        .unwrap()
        .with_stats(move |user| handle.gmail_builder(user));
    let inv = dir.inventory().await.unwrap();
    let addresses: BTreeSet<&str> = inv.accounts.iter().map(|a| a.address.as_str()).collect();
    // Five users with a mailbox, over three pages; `new@` has none yet.
    assert_eq!(
        addresses,
        BTreeSet::from([
            ADMIN,
            USER,
            "bob@example.com",
            "cy@example.com",
            "dee@example.com"
        ])
    );
    let ada = inv.find_account("A.Lovelace@example.com").unwrap();
    assert_eq!(ada.address, USER);
    assert_eq!(ada.name.as_deref(), Some("Ada Lovelace"));
    assert!(ada.matches("ada@example.test-google-a.com"));
    assert_eq!(ada.stats.unwrap().messages, Some(2));
    assert!(
        ada.stats.unwrap().folders.unwrap() > 5,
        "system labels count"
    );
    assert!(!inv.find_account("bob@example.com").unwrap().enabled);
    assert!(inv.find_account("c@example.com").is_some());
    assert_eq!(inv.groups.len(), 3);
    let team = inv.find_group("team@example.com").unwrap();
    assert_eq!(team.name.as_deref(), Some("Team"));
    assert_eq!(team.members.len(), 3, "two pages of members");
    let all = inv.find_group("all@example.com").unwrap();
    let kinds: Vec<(&str, &MemberKind)> = all
        .members
        .iter()
        .map(|m| (m.address.as_str(), &m.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("team@example.com", &MemberKind::Group),
            ("dee@example.com", &MemberKind::Account),
            ("partner@other.example", &MemberKind::External),
        ]
    );
    assert!(inv
        .find_group("empty@example.com")
        .unwrap()
        .members
        .is_empty());
    assert!(inv.validate().is_empty(), "{:?}", inv.validate());
    assert!(
        !inv.listed.permissions && inv.permissions.is_empty(),
        "permissions only when asked"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn the_directory_lists_delegates_and_send_as_addresses_when_asked() {
    use mailmigrate_core::directory::{Permission, Right};
    let emu = domain().await;
    let handle = emu.clone();
    let dir = emu
        .gmail_builder(ADMIN)
        .connect_directory()
        .unwrap()
        .with_permissions(move |user| handle.gmail_builder(user));
    assert!(dir.capabilities().permissions && !dir.capabilities().stats);
    let inv = dir.inventory().await.unwrap();
    assert!(inv.listed.permissions);
    assert!(
        inv.accounts.iter().all(|a| a.stats.is_none()),
        "no stats asked"
    );
    assert_eq!(
        inv.permissions,
        [
            Permission::new("cy@example.com", "dee@example.com", Right::FullAccess),
            Permission::new("team@example.com", "cy@example.com", Right::SendAs),
        ]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_non_admin_is_refused_with_a_clear_permission_error() {
    let emu = domain().await;
    let dir = emu.gmail_builder(USER).connect_directory().unwrap();
    let err = dir.inventory().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("Not Authorized to access this resource/api"),
        "{text}"
    );
    assert!(text.contains("admin"), "{text}");
    // The service account acting for a non-admin subject is refused the same way.
    let emu2 = Emulator::builder()
        .admin(ADMIN)
        .user(USER)
        .service_account_scopes([
            "https://mail.google.com/",
            mailmigrate_gmail::DIRECTORY_USER_SCOPE,
            mailmigrate_gmail::DIRECTORY_GROUP_SCOPE,
        ])
        .start()
        .await
        .unwrap();
    let key = emu2.service_account_key();
    let as_admin = mailmigrate_gmail::GmailBuilder::new(ADMIN)
        .with_api_url(emu2.base_url())
        .with_admin_url(emu2.base_url())
        .with_service_account(&key)
        .allow_plaintext(true)
        .connect_directory()
        .unwrap();
    assert_eq!(as_admin.inventory().await.unwrap().accounts.len(), 2);
    let as_user = mailmigrate_gmail::GmailBuilder::new(USER)
        .with_api_url(emu2.base_url())
        .with_admin_url(emu2.base_url())
        .with_service_account(&key)
        .allow_plaintext(true)
        .connect_directory()
        .unwrap();
    let err = as_user.inventory().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    emu.shutdown().await;
    emu2.shutdown().await;
}

fn mime(i: usize) -> Bytes {
    Bytes::from(format!(
        "From: bob@example.org\r\nSubject: message {i}\r\nMessage-ID: <m{i}@example.org>\r\n\
         Date: Mon, 02 Nov 2026 10:00:{:02} +0000\r\n\r\nbody {i}\r\n",
        i % 60
    ))
}

fn key(bytes: Bytes) -> DedupeKey {
    let meta = MessageMeta::new(MessageId::new("k"), FolderId::new("INBOX"));
    DedupeKey::of(&RawMessage::new(meta, bytes))
}

/// 60 messages (one with a twin), and keys for them, one absent and one without a
/// Message-ID.
fn seeded(emu: &EmulatorHandle) -> Vec<DedupeKey> {
    for i in 0..60 {
        emu.seed_message(USER, &mime(i), &["INBOX"], 1_700_000_000_000 + i as i64);
    }
    emu.seed_message(USER, &mime(7), &["INBOX"], 1_600_000_000_000);
    let mut keys: Vec<DedupeKey> = (0..60).map(|i| key(mime(i))).collect();
    keys.push(key(mime(999)));
    keys
}

#[tokio::test]
async fn many_look_ups_take_three_requests_and_match_single_ones() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let keys = seeded(&emu);
    let gmail = emu
        .gmail_builder(USER)
        .with_limits(GmailLimits::default().with_batch_size(31))
        .build()
        .unwrap();
    gmail.list_folders().await.unwrap(); // the label book, read once
    let inbox = FolderId::new("INBOX");
    let before = emu.stats().requests;
    let many = gmail.find_existing_many(&inbox, &keys).await.unwrap();
    let used = emu.stats().requests - before;
    assert!(used <= 3, "{used} requests");
    assert_eq!(many.len(), keys.len());
    assert_eq!(many[7].len(), 2, "the twin");
    assert!(many[60].is_empty(), "the absent key");
    for (k, found) in keys.iter().zip(&many) {
        assert_eq!(found, &gmail.find_existing(&inbox, k).await.unwrap());
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_part_refused_429_is_retried_alone_and_the_answer_stays_right() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let keys = seeded(&emu);
    let gmail = emu
        .gmail_builder(USER)
        .with_limits(
            GmailLimits::default()
                .with_batch_size(20)
                .with_backoff(Duration::from_millis(5), Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    gmail.list_folders().await.unwrap();
    let fault = Fault::Fail {
        status: 429,
        reason: "rateLimitExceeded".into(),
    };
    emu.faults().arm("GET", "/messages/", 5, 3, fault);
    let inbox = FolderId::new("INBOX");
    let many = gmail.find_existing_many(&inbox, &keys).await.unwrap();
    assert_eq!(emu.faults().remaining(), 0, "the faults fired");
    for (k, found) in keys.iter().zip(&many) {
        assert_eq!(found, &gmail.find_existing(&inbox, k).await.unwrap());
    }
    assert_eq!(many[7].len(), 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_batch_of_more_than_100_parts_is_refused() {
    let emu = Emulator::builder().user(USER).start().await.unwrap();
    let mut body = String::new();
    for _ in 0..101 {
        body.push_str("--b\r\nContent-Type: application/http\r\n\r\nGET /gmail/v1/users/me/profile HTTP/1.1\r\n\r\n\r\n");
    }
    body.push_str("--b--\r\n");
    let resp = reqwest::Client::new()
        .post(format!("{}/batch/gmail/v1", emu.base_url()))
        .header("Content-Type", "multipart/mixed; boundary=b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn the_daily_limit_parks_the_pass_and_the_next_day_finishes_with_one_copy_each() {
    // Enough units for about 15 imports a day (25 each) and the label reads: 20 take two days.
    let emu = Emulator::builder()
        .user(USER)
        .quota(Quota::default().with_daily_units(Some(400), None))
        .start()
        .await
        .unwrap();
    let src = MemoryStore::new("old");
    let inbox = src
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    let batch: Vec<RawMessage> = (0..20)
        .map(|i| {
            RawMessage::new(
                MessageMeta::new(MessageId::new(format!("s{i}")), inbox.clone()),
                mime(i),
            )
        })
        .collect();
    for r in src.append(&inbox, batch).await.unwrap() {
        r.unwrap();
    }
    let dest = Arc::new(
        emu.gmail_builder(USER)
            .with_limits(
                GmailLimits::default()
                    .with_backoff(Duration::from_millis(5), Duration::from_millis(50)),
            )
            .build()
            .unwrap(),
    );
    let state: Arc<dyn mailmigrate_core::state::StateStore> = Arc::new(MemoryState::new());
    let engine = Engine::new(Arc::new(src.clone()), dest, state)
        .with_options(SyncOptions::new("daily").with_settle_grace(Duration::from_millis(50)));
    let first = engine.run().await.unwrap();
    assert!(!first.is_complete(), "{first}");
    let parked = first
        .folders
        .iter()
        .find(|f| !f.complete)
        .expect("a folder stopped");
    assert_eq!(parked.error_kind, Some(ErrorKind::QuotaExceeded), "{first}");
    assert!(first.failures.iter().all(|f| !f.final_for_item), "{first}");
    let refused = emu.stats().daily_refused;
    assert!(refused <= 8, "{refused} refusals: no retry loop");
    let written = emu.messages(USER).len();
    assert!(written > 0 && written < 20, "{written}");
    emu.reset_daily_quota();
    emu.faults().clear();
    // A new day.
    let second = engine.run().await.unwrap();
    assert!(second.is_complete(), "{second}");
    let stored = emu.messages(USER);
    let distinct: BTreeSet<&Bytes> = stored.iter().map(|m| &m.raw).collect();
    assert_eq!((stored.len(), distinct.len()), (20, 20));
    emu.shutdown().await;
}
