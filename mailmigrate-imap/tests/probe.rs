//! The campaign's validation against real servers: the send-and-receive probe through
//! Dovecot's LMTP into Dovecot, and the folder-ACL review on Cyrus.
//!
//! Targets come from the env file `.ci/imap-servers.sh start` writes
//! (`MAILMIGRATE_TEST_IMAP_DOVECOT_*`, `MAILMIGRATE_TEST_IMAP_DOVECOT_LMTP_PORT`,
//! `MAILMIGRATE_TEST_IMAP_CYRUS_*`). A missing target is skipped with a message, unless
//! `MAILMIGRATE_TEST_REQUIRE` contains `imap`, which makes it fail.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;
use mailmigrate_core::campaign::permissions::{
    compare_acl_views, AclMapping, DifferenceKind, FolderAcl, FolderAclView,
};
use mailmigrate_core::campaign::probe::{
    probe_mailbox, Envelope, ProbeMessage, ProbeOptions, Submission,
};
use mailmigrate_core::{Change, Destination, FolderPath, MessageId, Provider, Source};
use mailmigrate_imap::{AclEntry, Imap, ImapBuilder, SmtpSubmission};

fn required() -> bool {
    std::env::var("MAILMIGRATE_TEST_REQUIRE")
        .map(|v| v.split(',').any(|s| s.trim().eq_ignore_ascii_case("imap")))
        .unwrap_or(false)
}

/// The variable, or `None` (a skip, or a failure when imap is required).
fn var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) => Some(v),
        Err(_) => {
            assert!(
                !required(),
                "{name} is not set but MAILMIGRATE_TEST_REQUIRE asks for imap"
            );
            eprintln!("skipping: {name} is not set (run .ci/imap-servers.sh start)");
            None
        }
    }
}

async fn login(server: &str, user: &str) -> Option<Imap> {
    let prefix = format!("MAILMIGRATE_TEST_IMAP_{server}_");
    var(&format!("{prefix}HOST"))?;
    Some(
        ImapBuilder::from_env_prefix(&prefix)
            .with_user(user)
            .allow_plaintext(true)
            .with_pool_size(2)
            .build()
            .await
            .unwrap_or_else(|e| panic!("{server} {user}: cannot connect: {e:?}")),
    )
}

async fn lmtp() -> Option<SmtpSubmission> {
    let host = var("MAILMIGRATE_TEST_IMAP_DOVECOT_HOST")?;
    let port = var("MAILMIGRATE_TEST_IMAP_DOVECOT_LMTP_PORT")?;
    Some(SmtpSubmission::lmtp(host, port.parse().unwrap()).with_timeout(Duration::from_secs(10)))
}

/// The inbox's messages that carry `message_id`, as the headers say.
async fn copies(imap: &Imap, message_id: &str) -> Vec<MessageId> {
    let inbox = imap
        .list_folders()
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.path.is_inbox())
        .unwrap()
        .id;
    let changes: Vec<_> = imap.list_changes(&inbox, None).collect().await;
    let ids: Vec<_> = changes
        .into_iter()
        .filter_map(|c| match c {
            Ok(Change::Upsert(m)) => Some(m.id),
            _ => None,
        })
        .collect();
    let fetched: Vec<_> = imap.fetch(&inbox, ids).collect().await;
    fetched
        .into_iter()
        .filter_map(|(id, raw)| {
            let raw = raw.ok()?;
            (mailmigrate_core::headers::message_id(&raw.bytes).as_deref() == Some(message_id))
                .then_some(id)
        })
        .collect()
}

#[tokio::test]
async fn a_probe_through_lmtp_arrives_in_dovecot_and_is_removed() {
    let (Some(sub), Some(imap)) = (lmtp().await, login("DOVECOT", "mmtest2").await) else {
        return;
    };
    let msg = ProbeMessage::new(
        "probe-test",
        "probe@mailmigrate.invalid",
        "mmtest2@localhost",
    );
    let options = ProbeOptions::default()
        .with_timeout(Duration::from_secs(20))
        .with_poll_interval(Duration::from_millis(200));
    let r = probe_mailbox(&sub, &imap, &msg, &options).await;
    assert!(r.is_ok(), "{r:?}");
    assert!(r.found_after.unwrap() < Duration::from_secs(10), "{r:?}");
    assert!(r.deleted);
    assert!(
        copies(&imap, &msg.message_id).await.is_empty(),
        "the probe is removed afterwards"
    );
}

#[tokio::test]
async fn a_kept_probe_stays_in_the_inbox() {
    let (Some(sub), Some(imap)) = (lmtp().await, login("DOVECOT", "mmtest2").await) else {
        return;
    };
    let msg = ProbeMessage::new(
        "probe-test",
        "probe@mailmigrate.invalid",
        "mmtest2@localhost",
    );
    let options = ProbeOptions::default()
        .with_timeout(Duration::from_secs(20))
        .with_poll_interval(Duration::from_millis(200))
        .with_keep(true);
    let r = probe_mailbox(&sub, &imap, &msg, &options).await;
    assert!(r.is_ok() && !r.deleted, "{r:?}");
    let ids = copies(&imap, &msg.message_id).await;
    assert_eq!(ids.len(), 1);
    // Clean up after ourselves.
    let inbox = imap
        .list_folders()
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.path.is_inbox())
        .unwrap()
        .id;
    imap.delete(&inbox, &ids).await.unwrap();
}

/// Accepts every message and delivers none: a mailbox that never receives the probe.
#[derive(Debug)]
struct BlackHole;

#[async_trait]
impl Submission for BlackHole {
    async fn submit(&self, _: &Envelope, _: &[u8]) -> mailmigrate_core::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_probe_that_never_arrives_times_out_without_hanging() {
    let Some(imap) = login("DOVECOT", "mmtest2").await else {
        return;
    };
    let msg = ProbeMessage::new(
        "probe-test",
        "probe@mailmigrate.invalid",
        "mmtest2@localhost",
    );
    let options = ProbeOptions::default()
        .with_timeout(Duration::from_secs(2))
        .with_poll_interval(Duration::from_millis(200));
    let started = Instant::now();
    let r = probe_mailbox(&BlackHole, &imap, &msg, &options).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.found_after, None);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .starts_with("not found in INBOX within 2s"),
        "{r:?}"
    );
}

#[tokio::test]
async fn an_unreachable_submission_server_is_reported() {
    let Some(imap) = login("DOVECOT", "mmtest2").await else {
        return;
    };
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sub = SmtpSubmission::lmtp("127.0.0.1", port).with_timeout(Duration::from_secs(2));
    let msg = ProbeMessage::new(
        "probe-test",
        "probe@mailmigrate.invalid",
        "mmtest2@localhost",
    );
    let r = probe_mailbox(&sub, &imap, &msg, &ProbeOptions::default()).await;
    let e = r.error.unwrap();
    assert!(
        e.starts_with("submission failed:") && e.contains("cannot connect"),
        "{e}"
    );
}

fn unique(side: &str) -> FolderPath {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    FolderPath::new([format!("mm-acl-{}-{nanos}-{side}", std::process::id())]).unwrap()
}

#[tokio::test]
async fn folder_acls_on_cyrus_are_compared_with_identifiers_mapped() {
    let (Some(src), Some(dst)) = (
        login("CYRUS", "mmtest1").await,
        login("CYRUS", "mmtest2").await,
    ) else {
        return;
    };
    let (src_path, dst_path) = (unique("src"), unique("dst"));
    let src_folder = src.ensure_folder(&src_path, None).await.unwrap().id;
    let dst_folder = dst.ensure_folder(&dst_path, None).await.unwrap().id;
    src.set_acl(&src_folder, &AclEntry::new("mmtest2", "lrs"))
        .await
        .unwrap();
    dst.set_acl(&dst_folder, &AclEntry::new("mmtest1", "lr"))
        .await
        .unwrap();

    // Each side's view, narrowed to the test's folder (other tests use these mailboxes).
    let only = |acls: Vec<FolderAcl>, name: String| -> Vec<FolderAcl> {
        acls.into_iter().filter(|a| a.folder == name).collect()
    };
    let src_view = only(src.folder_acls().await.unwrap(), src_path.join("/"));
    let dst_view = only(dst.folder_acls().await.unwrap(), dst_path.join("/"));
    assert!(
        src_view
            .iter()
            .any(|a| a.identifier == "mmtest2" && a.rights == "lrs"),
        "{src_view:?}"
    );

    // mmtest1's mailbox moves to mmtest2 and the other way round.
    let mapping = AclMapping::new()
        .with_identifier("mmtest1", "mmtest2")
        .with_identifier("mmtest2", "mmtest1")
        .with_folder(src_path.join("/"), dst_path.join("/"));
    let c = compare_acl_views("mmtest1@localhost", &src_view, &dst_view, &mapping)
        .await
        .unwrap();
    assert_eq!(c.differences.len(), 1, "{:#?}", c.differences);
    let d = &c.differences[0];
    assert_eq!(d.kind, DifferenceKind::Changed);
    assert_eq!(d.grantee, "mmtest1");
    assert_eq!(d.folder.as_deref(), Some(dst_path.join("/").as_str()));
    assert_eq!(
        (d.source.as_deref(), d.destination.as_deref()),
        (Some("lrs"), Some("lr"))
    );
    assert_eq!(c.grants, 2, "the owner's entry and the grant");
    // Take the grants back: other tests list these users' folders, shared ones included.
    src.set_acl(&src_folder, &AclEntry::new("mmtest2", ""))
        .await
        .unwrap();
    dst.set_acl(&dst_folder, &AclEntry::new("mmtest1", ""))
        .await
        .unwrap();
    let review = c.to_review();
    assert_eq!(
        review.differences[0].issue,
        "changed at the destination: source lrs, destination lr"
    );
}

#[tokio::test]
async fn dovecot_without_the_acl_plugin_says_unsupported() {
    let Some(imap) = login("DOVECOT", "mmtest1").await else {
        return;
    };
    match imap.folder_acls().await {
        Err(e) => assert_eq!(e.kind(), mailmigrate_core::ErrorKind::Unsupported),
        Ok(acls) => eprintln!("this Dovecot has ACLs: {} entries", acls.len()),
    }
}
