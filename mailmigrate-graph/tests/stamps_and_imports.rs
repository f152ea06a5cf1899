//! The look-ups behind exactly-once on Graph under faults: the folder's stamp cache after
//! writes of unknown outcome and per-item `$batch` failures, and `importMime` copies whose
//! flags `PATCH` was lost, byte-identical twins included. Each test counts the copies in
//! the emulator's own store.
#![cfg(feature = "emulator")]

use bytes::Bytes;
use mailmigrate_core::{
    DedupeKey, Destination, Flag, FolderId, FolderPath, MessageId, MessageMeta, RawMessage,
};
use mailmigrate_graph::emulator::{Emulator, EmulatorHandle, Seed};
use mailmigrate_graph::Graph;

const UPN: &str = "ada@example.com";

fn mime(n: u32) -> Vec<u8> {
    format!(
        "From: Bo <bo@example.org>\r\nTo: ada@example.com\r\nSubject: Note {n}\r\n\
         Message-ID: <note-{n}@example.org>\r\nDate: Tue, 3 Mar 2020 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody {n}.\r\n"
    )
    .into_bytes()
}

fn message(src: &str, bytes: Vec<u8>, flags: &[Flag]) -> RawMessage {
    RawMessage::new(
        MessageMeta::new(MessageId::new(src), FolderId::new("x"))
            .with_flags(flags.iter().cloned().collect()),
        Bytes::from(bytes),
    )
}

async fn start(import_mime: bool) -> EmulatorHandle {
    Emulator::builder()
        .mailbox(UPN)
        .import_mime(import_mime)
        .start()
        .await
        .unwrap()
}

/// A fresh connection, as a restarted process has.
async fn connect(emu: &EmulatorHandle, import_mime: bool) -> (Graph, FolderId) {
    let graph = emu
        .graph_builder(UPN)
        .with_import_mime(import_mime)
        .connect()
        .await
        .unwrap();
    let inbox = graph
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    (graph, inbox)
}

/// How many messages of the mailbox have this subject.
fn copies(emu: &EmulatorHandle, subject: &str) -> usize {
    emu.messages(UPN)
        .iter()
        .filter(|m| m.subject.as_deref() == Some(subject))
        .count()
}

/// An Inbox with a welcome message (so the engine looks every message up) whose stamps
/// were read before the writes: a create whose answer was lost, and a look-up whose
/// `$batch` item was throttled or failed, still find the copy; a create refused with a
/// 503 (nothing happened) is absent. Written where absent, each message is there once.
#[tokio::test]
async fn the_stamp_cache_never_hides_a_write_of_unknown_outcome() {
    for inner in [429u16, 500, 503] {
        let emu = start(false).await;
        emu.seed_message(
            UPN,
            "Inbox",
            b"Subject: Welcome\r\n\r\nHello.\r\n",
            Seed::default(),
        );
        let (graph, inbox) = connect(&emu, false).await;
        let (a, b) = (message("a", mime(1), &[]), message("b", mime(2), &[]));
        let keys = [DedupeKey::of(&a), DedupeKey::of(&b)];
        let before = graph.find_existing_many(&inbox, &keys).await.unwrap();
        assert!(before.iter().all(Vec::is_empty), "{before:?}");
        // a: created, the answer lost. b: refused, nothing created.
        emu.faults().lose_reply_matching("POST", "/mailFolders/", 1);
        let e = graph
            .append(&inbox, vec![a.clone()])
            .await
            .unwrap()
            .remove(0);
        assert!(e.unwrap_err().is_outcome_unknown());
        emu.faults()
            .fail_matching("POST", "/mailFolders/", 1, 503, "serviceNotAvailable");
        let e = graph
            .append(&inbox, vec![b.clone()])
            .await
            .unwrap()
            .remove(0);
        assert!(e.unwrap_err().is_outcome_unknown());
        assert_eq!((copies(&emu, "Note 1"), copies(&emu, "Note 2")), (1, 0));
        // The batched look-up: its first inner request fails.
        if inner == 429 {
            emu.faults().throttle_matching("GET", "/messages", 1);
        } else {
            emu.faults()
                .fail_matching("GET", "/messages", 1, inner, "generalException");
        }
        let found = graph.find_existing_many(&inbox, &keys).await.unwrap();
        assert_eq!(
            (found[0].len(), found[1].len()),
            (1, 0),
            "inner {inner}: {found:?}"
        );
        // What the engine then does: write what is absent, and only that.
        graph
            .append(&inbox, vec![b])
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        assert_eq!(
            (copies(&emu, "Note 1"), copies(&emu, "Note 2")),
            (1, 1),
            "inner {inner}"
        );
        let again = graph.find_existing_many(&inbox, &keys).await.unwrap();
        assert_eq!((again[0].len(), again[1].len()), (1, 1));
        emu.shutdown().await;
    }
}

/// Byte-identical twins (one mail filed twice) imported with `importMime`: the first's
/// flags `PATCH` never arrives, so its copy carries no stamp; the second's is stamped. A look-up
/// must answer both copies (decision 0004: every copy with the same bytes), or the first
/// twin's row finds only the second's copy, claimed already, and is written a third time.
#[tokio::test]
async fn an_unstamped_import_is_found_beside_its_stamped_twin() {
    let emu = start(true).await;
    let (graph, inbox) = connect(&emu, true).await;
    let first = message("t1", mime(7), &[Flag::Seen]);
    let second = message("t2", mime(7), &[]);
    let key = DedupeKey::of(&first);
    // The connection is cut before the PATCH is handled: the copy stays unstamped.
    emu.faults().drop_matching("PATCH", "/messages/", 1);
    let e = graph.append(&inbox, vec![first]).await.unwrap().remove(0);
    assert!(e.unwrap_err().is_outcome_unknown());
    graph
        .append(&inbox, vec![second])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(copies(&emu, "Note 7"), 2);
    let found = graph.find_existing(&inbox, &key).await.unwrap();
    assert_eq!(found.len(), 2, "both twins' copies: {found:?}");
    let ids: std::collections::HashSet<_> = found.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids.len(), 2, "each copy once: {found:?}");
    let many = graph
        .find_existing_many(&inbox, std::slice::from_ref(&key))
        .await
        .unwrap();
    assert_eq!(many[0].len(), 2, "{many:?}");
    assert_eq!(copies(&emu, "Note 7"), 2, "a look-up creates nothing");
    emu.shutdown().await;
}

/// An import whose own answer was lost (the copy exists, unstamped, its flags unset): the
/// look-up of a restarted process finds it by its bytes, and it is then given its flags;
/// written once.
#[tokio::test]
async fn an_import_whose_answer_was_lost_is_found_and_not_imported_again() {
    let emu = start(true).await;
    let (graph, inbox) = connect(&emu, true).await;
    let msg = message("a", mime(3), &[Flag::Seen, Flag::Flagged]);
    let key = DedupeKey::of(&msg);
    emu.faults().lose_reply_matching("POST", "/importMime", 1);
    let e = graph.append(&inbox, vec![msg]).await.unwrap().remove(0);
    assert!(e.unwrap_err().is_outcome_unknown());
    assert_eq!(copies(&emu, "Note 3"), 1);
    let (restarted, inbox) = connect(&emu, true).await;
    let found = restarted.find_existing(&inbox, &key).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let copy = &found[0];
    let have = copy.flags.clone().expect("a Graph look-up reports flags");
    assert!(!have.contains(&Flag::Seen), "the PATCH never happened");
    // What the engine does with a found copy: the row's flags, exactly.
    let want: mailmigrate_core::Flags = [Flag::Seen, Flag::Flagged].into_iter().collect();
    restarted
        .update_flags(
            &inbox,
            &copy.id,
            &mailmigrate_core::FlagChange::between(&have, &want),
        )
        .await
        .unwrap();
    let stored = emu.messages(UPN);
    let m = stored
        .iter()
        .find(|m| m.subject.as_deref() == Some("Note 3"))
        .unwrap();
    assert!(m.is_read && m.flag_status == "flagged");
    assert_eq!(copies(&emu, "Note 3"), 1);
    emu.shutdown().await;
}
