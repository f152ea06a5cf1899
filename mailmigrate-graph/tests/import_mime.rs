//! Messages created by the beta `importMime` action: byte-exact MIME, not drafts, flags
//! set after the import; a tenant without the action falls back to JSON; an import whose
//! flags `PATCH` was lost or refused is found by its bytes and stamped, never written twice.
#![cfg(feature = "emulator")]

use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::{
    DedupeKey, Destination, Flag, FolderPath, MessageId, MessageMeta, Provider, RawMessage, Source,
};
use mailmigrate_graph::emulator::{CreatedBy, Emulator, EmulatorHandle};
use mailmigrate_graph::Graph;

const UPN: &str = "ada@example.com";
const HASH: &str = "String {00020329-0000-0000-C000-000000000046} Name mailmigrate-hash";

const MIME: &[u8] =
    b"Received: from mx.example.org by mx.example.com; Tue, 3 Mar 2020 10:00:05 +0000\r\n\
From: Bo <bo@example.org>\r\nTo: ada@example.com\r\nSubject: Quarterly figures\r\n\
Message-ID: <q1@example.org>\r\nDate: Tue, 3 Mar 2020 10:00:00 +0000\r\n\
X-Mailer: Old Client 1.0\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Figures attached in spirit.\r\n";

async fn setup(offered: bool) -> (EmulatorHandle, Graph) {
    let emu = Emulator::builder()
        .mailbox(UPN)
        .import_mime(offered)
        .start()
        .await
        .unwrap();
    let graph = emu
        .graph_builder(UPN)
        .with_import_mime(true)
        .connect()
        .await
        .unwrap();
    (emu, graph)
}

fn message(bytes: &'static [u8], flags: &[Flag]) -> RawMessage {
    RawMessage::new(
        MessageMeta::new(
            MessageId::new("src-1"),
            mailmigrate_core::FolderId::new("x"),
        )
        .with_flags(flags.iter().cloned().collect()),
        Bytes::from_static(bytes),
    )
}

fn stamp(m: &mailmigrate_graph::emulator::StoredMessage) -> Option<String> {
    m.extended
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(HASH))
        .map(|(_, v)| v.clone())
}

#[tokio::test]
async fn an_imported_message_keeps_its_mime_byte_for_byte_and_its_flags() {
    let (emu, graph) = setup(true).await;
    assert!(!graph.capabilities().append_with_internal_date);
    let inbox = graph
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    let msg = message(
        MIME,
        &[Flag::Seen, Flag::Flagged, Flag::Keyword("Finance".into())],
    );
    let hash = msg.content_hash();
    let id = graph
        .append(&inbox, vec![msg])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    let stored = emu.messages(UPN);
    assert_eq!(stored.len(), 1);
    let m = &stored[0];
    assert_eq!(m.created_by, CreatedBy::ImportMime);
    assert_eq!(m.mime.as_deref(), Some(MIME), "the MIME as given");
    assert!(!m.is_draft && m.is_read);
    assert_eq!(m.flag_status, "flagged");
    assert_eq!(m.categories, ["Finance"]);
    assert_eq!(stamp(m), Some(hash.to_hex()));
    // Read back through the source side: the same bytes.
    let id = id.id.unwrap();
    let (_, fetched) = graph.fetch(&inbox, vec![id]).next().await.unwrap();
    assert_eq!(&fetched.unwrap().bytes[..], MIME);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_tenant_without_the_action_gets_json_and_drafts_never_try_it() {
    let (emu, graph) = setup(false).await;
    let inbox = graph
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    for r in graph
        .append(
            &inbox,
            vec![message(MIME, &[]), message(MIME, &[Flag::Draft])],
        )
        .await
        .unwrap()
    {
        r.unwrap();
    }
    let stored = emu.messages(UPN);
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|m| m.created_by == CreatedBy::JsonCreate));
    assert_eq!(stored.iter().filter(|m| m.is_draft).count(), 1);
    emu.shutdown().await;
}

/// The import happened and its flags `PATCH` did not (the answer lost, or a 500): the
/// write is of unknown outcome, and the look-up finds the unstamped copy by its bytes,
/// stamps it, and answers it — one copy, never two.
#[tokio::test]
async fn an_import_whose_patch_failed_is_found_by_its_bytes_and_stamped() {
    for lost in [true, false] {
        let (emu, graph) = setup(true).await;
        let inbox = graph
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap()
            .id;
        if lost {
            emu.faults().lose_reply_matching("PATCH", "/messages/", 1);
        } else {
            emu.faults()
                .fail_matching("PATCH", "/messages/", 1, 500, "InternalServerError");
        }
        let msg = message(MIME, &[Flag::Seen]);
        let key = DedupeKey::of(&msg);
        let e = graph
            .append(&inbox, vec![msg])
            .await
            .unwrap()
            .remove(0)
            .unwrap_err();
        assert!(e.is_outcome_unknown(), "lost {lost}: {e}");
        let found = graph.find_existing(&inbox, &key).await.unwrap();
        assert_eq!(found.len(), 1, "lost {lost}: {found:?}");
        let stored = emu.messages(UPN);
        assert_eq!(stored.len(), 1, "one copy");
        assert_eq!(
            stamp(&stored[0]),
            Some(key.hash.to_hex()),
            "stamped by the look-up"
        );
        // A second look-up finds it by its stamp alone.
        assert_eq!(graph.find_existing(&inbox, &key).await.unwrap().len(), 1);
        emu.shutdown().await;
    }
}
