//! Messages over one request's 4 MB, up to 150 MB, written through the emulator: created
//! stamped partial, large attachments through upload sessions, stamped complete; kills,
//! failures and lost answers at each step leave exactly one complete copy after a rerun.
#![cfg(feature = "emulator")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use common::UPN;
use futures::StreamExt;
use mail_parser::{MessageParser, MimeHeaders};
use mailmigrate_core::{
    DedupeKey, Destination, ErrorKind, Flag, FolderId, FolderPath, MessageId, MessageMeta,
    Provider, RawMessage, Result, Source,
};
use mailmigrate_graph::emulator::{
    Emulator, EmulatorBuilder, EmulatorHandle, Fault, Limits, StoredMessage,
};
use mailmigrate_graph::Graph;

const HASH_PROPERTY: &str = "String {00020329-0000-0000-C000-000000000046} Name mailmigrate-hash";
const FOLDER: &str = "Large";
const MB: usize = 1_000_000;

/// Deterministic pseudo-random bytes (xorshift), different for each `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// An attachment of a generated message: name, content, content id (inline).
struct Att {
    name: &'static str,
    bytes: Vec<u8>,
    cid: Option<&'static str>,
}

fn att(name: &'static str, len: usize, seed: u64) -> Att {
    Att {
        name,
        bytes: noise(len, seed),
        cid: None,
    }
}

/// A multipart message: a text body and `atts` as base64 parts in 76-character lines.
fn mime(subject: &str, atts: &[Att]) -> Bytes {
    let mut m = format!(
        "From: Bob <bob@example.com>\r\nTo: ada@example.com\r\nSubject: {subject}\r\n\
         Date: Tue, 02 Jan 2024 10:00:00 +0100\r\nMessage-ID: <{subject}@example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mm-b\"\r\n\r\n\
         --mm-b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachments.\r\n"
    );
    for a in atts {
        let disposition = if a.cid.is_some() {
            "inline"
        } else {
            "attachment"
        };
        m.push_str(&format!(
            "--mm-b\r\nContent-Type: application/octet-stream; name=\"{0}\"\r\n\
             Content-Disposition: {disposition}; filename=\"{0}\"\r\n",
            a.name
        ));
        if let Some(cid) = a.cid {
            m.push_str(&format!("Content-ID: <{cid}>\r\n"));
        }
        m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&a.bytes);
        for line in b64.as_bytes().chunks(76) {
            m.push_str(std::str::from_utf8(line).unwrap());
            m.push_str("\r\n");
        }
    }
    m.push_str("--mm-b--\r\n");
    Bytes::from(m)
}

fn raw(folder: &FolderId, id: &str, bytes: Bytes) -> RawMessage {
    let meta = MessageMeta::new(MessageId::new(id), folder.clone())
        .with_flags([Flag::Seen].into_iter().collect());
    RawMessage::new(meta, bytes)
}

async fn start(b: EmulatorBuilder) -> EmulatorHandle {
    b.mailbox(UPN).start().await.unwrap()
}

/// A fresh connection (as a restarted process has) and the test folder.
async fn connect(emu: &EmulatorHandle) -> (Arc<Graph>, FolderId) {
    let graph = emu.graph_builder(UPN).connect().await.unwrap();
    let folder = graph
        .ensure_folder(&FolderPath::parse(FOLDER, '/').unwrap(), None)
        .await
        .unwrap()
        .id;
    (Arc::new(graph), folder)
}

async fn append_one(graph: &Graph, folder: &FolderId, msg: RawMessage) -> Result<MessageId> {
    let mut results = graph.append(folder, vec![msg]).await.unwrap();
    assert_eq!(results.len(), 1);
    results
        .pop()
        .unwrap()
        .map(|a| a.id.expect("Graph returns the id"))
}

/// What the engine does on resume for a write it cannot vouch for: look the message up,
/// and write it only if no copy is found.
async fn resume(graph: &Graph, folder: &FolderId, msg: &RawMessage) {
    let found = graph
        .find_existing(folder, &DedupeKey::of(msg))
        .await
        .unwrap();
    if found.is_empty() {
        append_one(graph, folder, msg.clone()).await.unwrap();
    }
}

fn stored(emu: &EmulatorHandle) -> Vec<StoredMessage> {
    emu.messages(UPN)
        .into_iter()
        .filter(|m| m.folder_path == FOLDER)
        .collect()
}

fn stamp(m: &StoredMessage) -> &str {
    m.extended
        .iter()
        .find(|(k, _)| k == HASH_PROPERTY)
        .map(|(_, v)| v.as_str())
        .expect("every copy carries the hash property")
}

/// The folder holds exactly one copy of `msg`: complete, received (not a draft), its
/// attachments' bytes those of `atts`.
fn assert_one_complete_copy(emu: &EmulatorHandle, msg: &RawMessage, atts: &[Att]) {
    let copies = stored(emu);
    assert_eq!(copies.len(), 1, "exactly one copy, no partial one");
    let m = &copies[0];
    assert_eq!(stamp(m), msg.content_hash().to_hex(), "the stamp is final");
    assert!(!m.is_draft);
    assert!(m.is_read);
    assert_eq!(m.attachments.len(), atts.len());
    for a in atts {
        let got = m
            .attachments
            .iter()
            .find(|s| s.name == a.name)
            .unwrap_or_else(|| panic!("attachment {} is missing", a.name));
        assert!(got.bytes == a.bytes[..], "attachment {} differs", a.name);
        assert_eq!(got.is_inline, a.cid.is_some());
    }
}

#[tokio::test]
async fn ten_and_forty_megabyte_attachments_round_trip() {
    let emu = start(Emulator::builder()).await;
    let (graph, folder) = connect(&emu).await;
    assert_eq!(
        graph.capabilities().append_max_size,
        Some(150 * 1024 * 1024)
    );
    let ten = vec![
        Att {
            name: "logo.png",
            bytes: noise(2_000, 1),
            cid: Some("logo@example.com"),
        },
        att("ten.bin", 10 * MB, 2),
    ];
    // Two small attachments that do not both fit the create (one rides in it, one is
    // POSTed after it) and one for an upload session.
    let forty = vec![
        att("a.bin", 1_500_000, 3),
        att("b.bin", 2_000_000, 4),
        att("forty.bin", 40 * MB, 5),
    ];
    let m10 = raw(&folder, "src-10", mime("ten", &ten));
    let m40 = raw(&folder, "src-40", mime("forty", &forty));
    let results = graph
        .append(&folder, vec![m10.clone(), m40.clone()])
        .await
        .unwrap();
    let ids: Vec<MessageId> = results
        .into_iter()
        .map(|r| r.unwrap().id.unwrap())
        .collect();
    let copies = stored(&emu);
    assert_eq!(copies.len(), 2);
    for (msg, atts) in [(&m10, &ten), (&m40, &forty)] {
        let m = copies
            .iter()
            .find(|c| stamp(c) == msg.content_hash().to_hex())
            .expect("each message has a complete copy");
        assert!(!m.is_draft, "created as received mail");
        for a in atts.iter() {
            let got = m.attachments.iter().find(|s| s.name == a.name).unwrap();
            assert!(got.bytes == a.bytes[..], "attachment {} differs", a.name);
        }
        assert_eq!(m.attachments.len(), atts.len());
        let found = graph
            .find_existing(&folder, &DedupeKey::of(msg))
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
    }
    // Read back as MIME through the source side (`/$value`).
    let fetched: Vec<_> = graph.fetch(&folder, ids).collect().await;
    for ((_, got), atts) in fetched.into_iter().zip([&ten, &forty]) {
        let got = got.unwrap();
        let parsed = MessageParser::default().parse(&got.bytes[..]).unwrap();
        for a in atts.iter() {
            let part = parsed
                .attachments()
                .find(|p| p.attachment_name() == Some(a.name))
                .unwrap_or_else(|| panic!("{} is in the MIME", a.name));
            assert!(part.contents() == &a.bytes[..], "{} differs", a.name);
        }
    }
    let stats = emu.stats();
    assert!(stats.max_concurrent[UPN] <= 4, "{stats:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_write_killed_mid_upload_is_written_once_on_resume() {
    // A throttle with a long Retry-After parks the write on its second chunk.
    let emu = start(
        Emulator::builder().limits(Limits::default().with_retry_after(Duration::from_secs(600))),
    )
    .await;
    let (graph, folder) = connect(&emu).await;
    let atts = vec![att("ten.bin", 10 * MB, 7)];
    let msg = raw(&folder, "src-kill", mime("kill", &atts));
    emu.faults()
        .arm_after("PUT", "/upload/", 1, 100, Fault::Throttle);
    let task = tokio::spawn({
        let (graph, folder, msg) = (Arc::clone(&graph), folder.clone(), msg.clone());
        async move { append_one(&graph, &folder, msg).await }
    });
    while emu.stats().throttled == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let partial = stored(&emu);
    assert_eq!(partial.len(), 1);
    assert!(
        stamp(&partial[0]).starts_with("partial:"),
        "{:?}",
        partial[0].extended
    );
    assert!(partial[0].attachments.is_empty());
    emu.faults().clear();
    // The restarted process: the partial copy is not a copy, and goes.
    let (graph, folder) = connect(&emu).await;
    let found = graph
        .find_existing(&folder, &DedupeKey::of(&msg))
        .await
        .unwrap();
    assert!(found.is_empty());
    assert!(
        stored(&emu).is_empty(),
        "the look-up deleted the partial copy"
    );
    resume(&graph, &folder, &msg).await;
    assert_one_complete_copy(&emu, &msg, &atts);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_refused_chunk_fails_the_write_and_leaves_no_partial_copy() {
    let emu = start(Emulator::builder()).await;
    let (graph, folder) = connect(&emu).await;
    let atts = vec![att("small.bin", 100_000, 8), att("ten.bin", 10 * MB, 9)];
    let msg = raw(&folder, "src-refused", mime("refused", &atts));
    let refused = Fault::Fail {
        status: 400,
        code: "invalidRange".into(),
    };
    emu.faults().arm_after("PUT", "/upload/", 1, 1, refused);
    let e = append_one(&graph, &folder, msg.clone()).await.unwrap_err();
    assert!(e.to_string().contains("ten.bin"), "{e}");
    assert!(
        stored(&emu).is_empty(),
        "the write deleted its partial copy"
    );
    resume(&graph, &folder, &msg).await;
    assert_one_complete_copy(&emu, &msg, &atts);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_partial_copy_that_cannot_be_deleted_is_settled_by_the_look_up() {
    let emu = start(Emulator::builder()).await;
    let (graph, folder) = connect(&emu).await;
    let atts = vec![att("ten.bin", 10 * MB, 10)];
    let msg = raw(&folder, "src-stuck", mime("stuck", &atts));
    // Every chunk after the first fails; so does the clean-up.
    let unavailable = Fault::Fail {
        status: 503,
        code: "serviceNotAvailable".into(),
    };
    emu.faults()
        .arm_after("PUT", "/upload/", 1, 1000, unavailable);
    emu.faults()
        .fail_matching("DELETE", "/messages/", 1, 503, "serviceNotAvailable");
    let e = append_one(&graph, &folder, msg.clone()).await.unwrap_err();
    assert!(e.is_outcome_unknown(), "{e}");
    assert_eq!(stored(&emu).len(), 1, "the partial copy stayed");
    emu.faults().clear();
    resume(&graph, &folder, &msg).await;
    assert_one_complete_copy(&emu, &msg, &atts);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_lost_answer_to_the_final_stamp_is_settled_without_a_second_copy() {
    let emu = start(Emulator::builder()).await;
    let (graph, folder) = connect(&emu).await;
    let atts = vec![att("ten.bin", 10 * MB, 11)];
    let msg = raw(&folder, "src-stamp", mime("stamp", &atts));
    emu.faults().lose_reply_matching("PATCH", "/messages/", 1);
    let e = append_one(&graph, &folder, msg.clone()).await.unwrap_err();
    assert!(e.is_outcome_unknown(), "{e}");
    let found = graph
        .find_existing(&folder, &DedupeKey::of(&msg))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "the look-up finds the complete copy");
    resume(&graph, &folder, &msg).await;
    assert_one_complete_copy(&emu, &msg, &atts);
    emu.shutdown().await;
}

#[tokio::test]
async fn chunks_failing_in_passing_are_resumed_within_the_write() {
    let emu = start(Emulator::builder()).await;
    let (graph, folder) = connect(&emu).await;
    // 10 MB is three chunks; each fault hits one of them.
    let faults = [
        (
            1,
            Fault::Fail {
                status: 503,
                code: "serviceNotAvailable".into(),
            },
        ),
        (1, Fault::Drop),
        (2, Fault::LoseReply), // the last chunk: the session is gone, the attachment is in
        (0, Fault::Throttle),
    ];
    for (n, (skip, fault)) in faults.into_iter().enumerate() {
        let atts = vec![att("ten.bin", 10 * MB, 20 + n as u64)];
        let msg = raw(
            &folder,
            &format!("src-{n}"),
            mime(&format!("resumed{n}"), &atts),
        );
        emu.faults()
            .arm_after("PUT", "/upload/", skip, 1, fault.clone());
        let sent = || {
            let stats = emu.stats();
            stats.requests[UPN] + stats.throttled
        };
        let before = sent();
        append_one(&graph, &folder, msg.clone())
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        // Unhindered: create, session, three chunks, stamp.
        let requests = sent() - before;
        assert!(
            requests > 6,
            "{fault:?} fired and was recovered from: {requests}"
        );
        let copies = stored(&emu);
        let m = copies
            .iter()
            .find(|c| stamp(c) == msg.content_hash().to_hex())
            .unwrap();
        assert_eq!(m.attachments.len(), 1, "{fault:?}: no second attachment");
        assert!(m.attachments[0].bytes == atts[0].bytes[..], "{fault:?}");
    }
    assert_eq!(stored(&emu).len(), 4);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_expired_session_starts_the_attachment_again() {
    // The session lives 2 s; the throttled second chunk waits 3 s and finds it gone.
    let emu = start(
        Emulator::builder()
            .upload_session_lifetime(Duration::from_secs(2))
            .limits(Limits::default().with_retry_after(Duration::from_secs(3))),
    )
    .await;
    let (graph, folder) = connect(&emu).await;
    let atts = vec![att("ten.bin", 10 * MB, 30)];
    let msg = raw(&folder, "src-expired", mime("expired", &atts));
    emu.faults()
        .arm_after("PUT", "/upload/", 1, 1, Fault::Throttle);
    let before = emu.stats().requests[UPN];
    append_one(&graph, &folder, msg.clone()).await.unwrap();
    assert_one_complete_copy(&emu, &msg, &atts);
    // Create, session, chunk, attachment count, session again, three chunks, stamp (the
    // 429 and the expired session's two 404s are not admitted, so not counted).
    assert_eq!(emu.stats().requests[UPN] - before, 9);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_message_over_150_mb_is_refused_by_name() {
    let emu = start(Emulator::builder()).await;
    let (graph, folder) = connect(&emu).await;
    let max = graph.capabilities().append_max_size.unwrap() as usize;
    // Zeroed memory is mapped lazily: only the header's page is written.
    let mut bytes = vec![0u8; max + 1];
    let header = b"Subject: huge\r\n\r\n";
    bytes[..header.len()].copy_from_slice(header);
    let before = emu.stats().requests[UPN];
    let e = append_one(&graph, &folder, raw(&folder, "huge-1", Bytes::from(bytes)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
    assert_eq!(e.context("message"), Some("huge-1"), "{e}");
    assert!(e.to_string().contains("huge-1"), "{e}");
    assert_eq!(
        emu.stats().requests[UPN],
        before,
        "refused before any request"
    );
    emu.shutdown().await;
}
