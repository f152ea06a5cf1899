//! The backup phase of a campaign: each mailbox's backup read back into a manifest kept in
//! its status (and surviving a reopened SQLite state), verified against the backup,
//! tampering found; and a restore from the backup — the same engine in reverse — into a
//! wiped source, contacts included, equal to the original, a second restore writing
//! nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mailmigrate_core::campaign::*;
use mailmigrate_core::directory::{Account, Inventory};
use mailmigrate_core::engine::SyncOptions;
use mailmigrate_core::pim::{
    Collection, CollectionId, Contact, ItemId, ItemMeta, MemoryPim, Payload, PimDestination,
    PimItem, PimKind, PimSource, VdirStore,
};
use mailmigrate_core::state::{SqliteState, StateStore};
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::verify::{pair_by_path, verify, VerifyOptions};
use mailmigrate_core::{
    Destination, Flag, Flags, FolderId, FolderPath, MessageId, MessageMeta, Provider, RawMessage,
    Result,
};

const CAMPAIGN: &str = "acme";

#[derive(Clone)]
struct Mailbox {
    src: MemoryStore,
    dst: MemoryStore,
    backup: MemoryStore,
    pim_src: MemoryPim,
    pim_dst: MemoryPim,
    vdir: VdirStore,
}

fn user(i: usize) -> String {
    format!("user{i}@old.example")
}

fn msg(folder: &FolderId, tag: &str, n: u32) -> RawMessage {
    let bytes = format!("Message-ID: <{tag}.{n}@test>\r\nSubject: {tag} {n}\r\n\r\nbody {n}\r\n");
    let flags: Flags = if n.is_multiple_of(2) {
        [Flag::Seen].into()
    } else {
        Flags::new()
    };
    RawMessage::new(
        MessageMeta::new(MessageId::new(n.to_string()), folder.clone()).with_flags(flags),
        Bytes::from(bytes),
    )
}

async fn add_mail(store: &MemoryStore, path: &str, tag: &str, n: u32) {
    let f = store
        .ensure_folder(&FolderPath::parse(path, '/').unwrap(), None)
        .await
        .unwrap()
        .id;
    for r in store
        .append(&f, (0..n).map(|k| msg(&f, tag, k)).collect())
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

async fn mailbox(i: usize, dir: &Path) -> Mailbox {
    let m = Mailbox {
        src: MemoryStore::new(user(i)),
        dst: MemoryStore::new(format!("new-{i}")),
        backup: MemoryStore::new(format!("backup-{i}")),
        pim_src: MemoryPim::new(user(i)),
        pim_dst: MemoryPim::new(format!("new-{i}")),
        vdir: VdirStore::open(dir.join(user(i))).unwrap(),
    };
    add_mail(&m.src, "INBOX", &format!("u{i}"), 4).await;
    add_mail(&m.src, "Archive/2024", &format!("u{i}a"), 3).await;
    let book = m
        .pim_src
        .ensure_collection(&Collection::new(
            CollectionId::new("b"),
            PimKind::Contacts,
            "Friends",
        ))
        .await
        .unwrap();
    for k in 0..2 {
        let mut c = Contact::new(format!("Friend {k} of {i}"));
        c.uid = Some(format!("friend-{i}-{k}"));
        m.pim_src.put(
            &book.id,
            PimItem::new(
                ItemMeta::new(ItemId::new(format!("f{k}.vcf"))),
                Payload::Contact(Box::new(c)),
            ),
        );
    }
    m
}

async fn contacts_in(pim: &MemoryPim) -> usize {
    let book = pim
        .ensure_collection(&Collection::new(
            CollectionId::new("any"),
            PimKind::Contacts,
            "Friends",
        ))
        .await
        .unwrap();
    pim.items(&book.id).len()
}

fn factory(boxes: Vec<Mailbox>) -> Arc<dyn StoreFactory> {
    Arc::new(move |pair: &MailboxPair| -> Result<MailboxStores> {
        let i: usize = pair.key()["user".len()..]
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let m = &boxes[i];
        let pim = PimStores::new(Arc::new(m.pim_src.clone()), Arc::new(m.pim_dst.clone()))
            .with_backup_store(Arc::new(m.vdir.clone()));
        Ok(
            MailboxStores::new(Arc::new(m.src.clone()), Arc::new(m.dst.clone()))
                .with_backup_store(Arc::new(m.backup.clone()))
                .with_pim(pim),
        )
    })
}

fn plan(n: usize) -> ValidPlan {
    let users: Vec<String> = (0..n).map(user).collect();
    let inventory = Inventory::new(users.iter().map(Account::new).collect());
    CampaignPlan::new(CAMPAIGN, Strategy::Cutover)
        .with_rewrite(DomainRewrite::new("old.example", "new.example"))
        .with_grace_period(Duration::ZERO)
        .with_backup(BackupPlan::new("memory:{mailbox}"))
        .with_batch(Batch::new("all", users))
        .validate(&inventory)
        .unwrap()
}

fn options() -> RunnerOptions {
    RunnerOptions::default()
        .with_retry(None)
        .with_sync(SyncOptions::default().with_settle_grace(Duration::ZERO))
}

#[tokio::test]
async fn each_backup_gets_a_manifest_that_proves_what_is_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut boxes = Vec::new();
    for i in 0..3 {
        boxes.push(mailbox(i, dir.path()).await);
    }
    let state_path = dir.path().join("state.sqlite");
    let state = Arc::new(SqliteState::open(&state_path).unwrap());
    let runner = CampaignRunner::open(plan(3), state, factory(boxes.clone()))
        .await
        .unwrap()
        .with_options(options());
    let report = runner.run().await.unwrap();
    assert_eq!(report.synced.len(), 3, "{report:?}");
    drop(runner);

    // The manifests survive a reopened state file (they are in the status's JSON).
    let state = SqliteState::open(&state_path).unwrap();
    let statuses = state.mailboxes(CAMPAIGN).await.unwrap();
    for (i, m) in boxes.iter().enumerate() {
        let st = statuses.iter().find(|s| s.mailbox == user(i)).unwrap();
        let manifest = st.backup.as_ref().expect("a manifest");
        assert_eq!(manifest.mailbox, user(i));
        assert_eq!(
            manifest.job,
            format!("{}#backup", CampaignRunner::job_of(CAMPAIGN, &user(i)))
        );
        // Every folder, the empty parent `Archive` included.
        assert_eq!((manifest.messages, manifest.folders.len()), (7, 3));
        let paths: Vec<String> = manifest
            .folders
            .iter()
            .map(|f| f.path.to_string())
            .collect();
        assert_eq!(paths, ["Archive", "Archive/2024", "INBOX"]);
        let counts: Vec<u64> = manifest.folders.iter().map(|f| f.messages).collect();
        assert_eq!(counts, [0, 3, 4]);
        assert_eq!(
            manifest.bytes,
            manifest.folders.iter().map(|f| f.bytes).sum::<u64>()
        );
        // The backup holds exactly the source: the source read the same way agrees.
        let of_source = BackupManifest::read_back(&m.src, &user(i), "x")
            .await
            .unwrap();
        assert_eq!(of_source.folders, manifest.folders);
        assert_eq!(of_source.digest, manifest.digest);
        assert!(verify_backup(manifest, &m.backup).await.unwrap().is_empty());
        assert_eq!(st.counts.backup_messages, 7);

        let path = manifest.write_manifest(dir.path()).unwrap();
        assert_eq!(&BackupManifest::read_file(&path).unwrap(), manifest);
    }

    // Tampering is found: one more message in INBOX, a new folder, a folder gone.
    let m = &boxes[0];
    let manifest = statuses[0].backup.clone().unwrap();
    let inbox = m
        .backup
        .ensure_folder(&FolderPath::inbox(), None)
        .await
        .unwrap()
        .id;
    m.backup
        .append(&inbox, vec![msg(&inbox, "intruder", 99)])
        .await
        .unwrap();
    add_mail(&m.backup, "Stray", "s", 1).await;
    let diffs = verify_backup(&manifest, &m.backup).await.unwrap();
    assert_eq!(diffs.len(), 2, "{diffs:?}");
    assert!(matches!(&diffs[0], Difference::Changed { expected, found }
        if expected.messages == 4 && found.messages == 5 && expected.digest != found.digest));
    assert!(matches!(&diffs[1], Difference::Extra { messages: 1, .. }));
    let archive = m
        .backup
        .list_folders()
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.path.to_string() == "Archive/2024")
        .unwrap();
    m.backup.remove_folder(&archive.id).unwrap();
    let diffs = verify_backup(&manifest, &m.backup).await.unwrap();
    assert!(
        diffs
            .iter()
            .any(|d| matches!(d, Difference::Missing { messages: 3, .. })),
        "{diffs:?}"
    );
    assert!(diffs
        .iter()
        .any(|d| d.to_string().contains("gone from the backup")));
}

#[tokio::test]
async fn a_wiped_source_comes_back_from_its_backup_and_a_second_restore_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = mailbox(0, dir.path()).await;
    let state = Arc::new(SqliteState::open(dir.path().join("state.sqlite")).unwrap());
    let runner = CampaignRunner::open(
        plan(1),
        Arc::clone(&state) as Arc<dyn CampaignStore>,
        factory(vec![m.clone()]),
    )
    .await
    .unwrap()
    .with_options(options());
    assert_eq!(runner.run().await.unwrap().synced, [user(0)]);
    let manifest = state
        .mailbox(CAMPAIGN, &user(0))
        .await
        .unwrap()
        .unwrap()
        .backup
        .unwrap();

    // The source is lost: a fresh, empty store stands in its place.
    let wiped = MemoryStore::new(user(0));
    let wiped_pim = MemoryPim::new(user(0));
    let job = restore_job(CAMPAIGN, &user(0));
    assert_eq!(job, "acme/user0@old.example#restore");
    let restore = Restore::new(
        Arc::new(m.backup.clone()),
        Arc::new(wiped.clone()),
        Arc::clone(&state) as Arc<dyn StateStore>,
        job.clone(),
    )
    .with_retry(None)
    .with_options(SyncOptions::default().with_settle_grace(Duration::ZERO))
    .with_pim(
        Arc::new(m.vdir.clone()) as Arc<dyn PimSource>,
        Arc::new(wiped_pim.clone()) as Arc<dyn PimDestination>,
    );
    let report = restore.run().await.unwrap();
    report.check().unwrap();
    assert_eq!(report.mail.job, job);
    assert_eq!(report.mail.totals.copied, 7);
    assert_eq!(report.written(), 9, "7 messages and 2 contacts");
    assert_eq!(wiped.message_count(), 7);
    assert_eq!(contacts_in(&wiped_pim).await, 2);

    // Equal to the original, flags included, and to the manifest.
    let pairs = pair_by_path(&m.src, &wiped).await.unwrap();
    let v = verify(&m.src, &wiped, &pairs, &VerifyOptions::default())
        .await
        .unwrap();
    assert!(v.is_clean(), "{v}");
    assert!(verify_backup(&manifest, &wiped).await.unwrap().is_empty());

    // A second restore (or one resumed after a kill) writes nothing.
    let again = restore.run().await.unwrap();
    again.check().unwrap();
    assert_eq!(again.written(), 0);
    assert_eq!(wiped.message_count(), 7);
    assert_eq!(contacts_in(&wiped_pim).await, 2);

    // The shorthand, into yet another store, under its own job.
    let elsewhere = MemoryStore::new("elsewhere");
    let r = mailmigrate_core::campaign::restore(
        Arc::new(m.backup.clone()),
        Arc::new(elsewhere.clone()),
        state as Arc<dyn StateStore>,
        &format!("{job}-2"),
    )
    .await
    .unwrap();
    r.check().unwrap();
    assert_eq!((r.written(), elsewhere.message_count()), (7, 7));
}
