//! Labels carried as keywords verify clean: the verification expects the keywords the engine
//! made of the source's labels, instead of reporting each as a flag difference.

use std::sync::Arc;

use mailmigrate_core::engine::{Engine, LabelPolicy, SyncOptions};
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::verify::{pair_by_path, verify, VerifyOptions};
use mailmigrate_core::{
    Capabilities, Destination, Flag, FolderPath, MessageId, MessageMeta, Provider, RawMessage,
};

#[tokio::test]
async fn labels_as_keywords_are_expected_by_the_verification() {
    let src = MemoryStore::new("labelled");
    let inbox = src
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    let mut meta = MessageMeta::new(MessageId::new("1"), inbox.clone());
    meta.flags.insert(Flag::Seen);
    meta.labels
        .extend(["Work (old)".to_owned(), "\\Important".to_owned()]);
    let msg = RawMessage::new(
        meta,
        bytes::Bytes::from_static(b"Message-ID: <l@example.com>\r\n\r\nlabelled"),
    );
    src.append(&inbox, vec![msg]).await.unwrap();

    // A destination that keeps keywords but not labels, as IMAP.
    let caps = Capabilities {
        append_with_labels: false,
        ..MemoryStore::capabilities()
    };
    let dst = MemoryStore::with_capabilities("keywords", caps);
    let report = Engine::new(
        Arc::new(src.clone()),
        Arc::new(dst.clone()),
        Arc::new(MemoryState::new()),
    )
    .with_options(SyncOptions::new("labels"))
    .run()
    .await
    .unwrap();
    assert!(report.is_complete(), "{report}");
    let copied = dst.messages(&inbox).unwrap();
    assert!(
        copied[0]
            .meta
            .flags
            .contains(&Flag::Keyword("Work__old_".into())),
        "{:?}",
        copied[0].meta.flags
    );

    let caps = dst.info().capabilities;
    let pairs = pair_by_path(&src, &dst).await.unwrap();
    let plain = VerifyOptions::for_destination(&caps);
    let naive = verify(&src, &dst, &pairs, &plain).await.unwrap();
    assert_eq!(naive.totals.counts.flag_differences, 1, "{naive}");
    let aware = plain.with_labels_as_keywords(LabelPolicy::default().as_keywords(&caps));
    let report = verify(&src, &dst, &pairs, &aware).await.unwrap();
    assert!(report.is_clean(), "{report}");
}
