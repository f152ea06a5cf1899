//! Campaigns end to end on in-memory stores and a SQLite state file: a staged campaign of
//! 22 mailboxes with a pilot and two batches, backups, new mail between passes, one
//! destination that refuses writes failing alone, a restart in the middle, retry, the
//! grace period and validation; plan validation errors of every kind; the status machine.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use mailmigrate_core::campaign::*;
use mailmigrate_core::directory::{Account, Inventory};
use mailmigrate_core::engine::{Engine, Filter, MappingRules, Rename, SyncOptions};
use mailmigrate_core::layer::{Fault, FaultLayer, Layer, Trigger};
use mailmigrate_core::pim::{
    Collection, CollectionId, Contact, ItemId, ItemMeta, MemoryPim, Payload, PimDestination,
    PimItem, PimKind,
};
use mailmigrate_core::state::{SqliteState, StateStore};
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{Destination, ErrorKind, FolderId, FolderPath, MessageId, MessageMeta};
use mailmigrate_core::{Operation, RawMessage, Result};
use time::macros::datetime;

const CAMPAIGN: &str = "acme-2025";

/// One user's stores, shared by every factory call (clones share the mailbox).
#[derive(Clone)]
struct Mailbox {
    src: MemoryStore,
    dst: MemoryStore,
    backup: MemoryStore,
    pim_src: MemoryPim,
    pim_dst: MemoryPim,
}

/// Every user's stores, and which destinations refuse writes (over quota).
#[derive(Clone, Default)]
struct World {
    boxes: Arc<Mutex<BTreeMap<String, Mailbox>>>,
    full: Arc<Mutex<HashSet<String>>>,
    opened: Arc<Mutex<Vec<String>>>,
}

impl World {
    fn get(&self, key: &str) -> Mailbox {
        self.boxes.lock().unwrap()[key].clone()
    }

    fn set_full(&self, key: &str, full: bool) {
        let mut f = self.full.lock().unwrap();
        if full {
            f.insert(key.to_owned());
        } else {
            f.remove(key);
        }
    }

    fn factory(&self) -> Arc<dyn StoreFactory> {
        let world = self.clone();
        Arc::new(move |pair: &MailboxPair| -> Result<MailboxStores> {
            let key = pair.key();
            world.opened.lock().unwrap().push(key.clone());
            let m = world.get(&key);
            let dst: Arc<dyn mailmigrate_core::Store> = if world.full.lock().unwrap().contains(&key)
            {
                Arc::new(
                    FaultLayer::new()
                        .fail_calls(
                            Operation::Append,
                            Trigger::always(),
                            Fault::permanent(ErrorKind::QuotaExceeded),
                        )
                        .layer(m.dst.clone()),
                )
            } else {
                Arc::new(m.dst.clone())
            };
            Ok(MailboxStores::new(Arc::new(m.src.clone()), dst)
                .with_backup(Arc::new(m.backup.clone()))
                .with_pim(PimStores::new(
                    Arc::new(m.pim_src.clone()),
                    Arc::new(m.pim_dst.clone()),
                )))
        })
    }
}

fn user(i: usize) -> String {
    format!("user{i:02}@old.example")
}

fn msg(folder: &FolderId, tag: &str, n: u32) -> RawMessage {
    let bytes = format!(
        "Message-ID: <{tag}.{n}@test>\r\nSubject: {tag} {n}\r\nDate: Mon, 1 Jan 2018 10:00:00 +0000\r\n\r\nbody {n}\r\n"
    );
    RawMessage::new(
        MessageMeta::new(MessageId::new(n.to_string()), folder.clone()),
        Bytes::from(bytes),
    )
}

async fn add_mail(store: &MemoryStore, path: &str, tag: &str, range: std::ops::Range<u32>) {
    let f = store
        .ensure_folder(&FolderPath::parse(path, '/').unwrap(), None)
        .await
        .unwrap()
        .id;
    let batch: Vec<RawMessage> = range.map(|n| msg(&f, tag, n)).collect();
    for r in store.append(&f, batch).await.unwrap() {
        r.unwrap();
    }
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

/// `n` users, each with 3 messages in INBOX, 2 in Archive and one contact.
async fn world(n: usize) -> (World, Inventory) {
    let world = World::default();
    let mut accounts = Vec::new();
    for i in 0..n {
        let m = Mailbox {
            src: MemoryStore::new(user(i)),
            dst: MemoryStore::new(format!("new-{i}")),
            backup: MemoryStore::new(format!("backup-{i}")),
            pim_src: MemoryPim::new(user(i)),
            pim_dst: MemoryPim::new(format!("new-{i}")),
        };
        add_mail(&m.src, "INBOX", &format!("u{i}"), 0..3).await;
        add_mail(&m.src, "Archive", &format!("u{i}a"), 0..2).await;
        let book = m
            .pim_src
            .ensure_collection(&Collection::new(
                CollectionId::new("b"),
                PimKind::Contacts,
                "Friends",
            ))
            .await
            .unwrap();
        let mut c = Contact::new(format!("Friend of {i}"));
        c.uid = Some(format!("friend-{i}"));
        m.pim_src.put(
            &book.id,
            PimItem::new(
                ItemMeta::new(ItemId::new("f.vcf")),
                Payload::Contact(Box::new(c)),
            ),
        );
        world.boxes.lock().unwrap().insert(user(i), m);
        accounts.push(Account::new(user(i)));
    }
    (world, Inventory::new(accounts))
}

/// Pilot: users 0–1; sales: 2–11; support: 12–21.
fn staged_plan(grace: Duration) -> CampaignPlan {
    CampaignPlan::new(CAMPAIGN, Strategy::Staged)
        .with_rewrite(DomainRewrite::new("old.example", "new.example"))
        .with_grace_period(grace)
        .with_mailboxes_in_parallel(4)
        .with_backup(BackupPlan::new("memory:{mailbox}"))
        .with_batch(Batch::new("pilot", (0..2).map(user)).with_pilot(true))
        .with_batch(Batch::new("sales", (2..12).map(user)))
        .with_batch(Batch::new("support", (12..22).map(user)))
}

fn options() -> RunnerOptions {
    RunnerOptions::default()
        .with_retry(None)
        .with_sync(SyncOptions::default().with_settle_grace(Duration::ZERO))
}

async fn runner(plan: &ValidPlan, state: &Arc<SqliteState>, world: &World) -> CampaignRunner {
    CampaignRunner::open(
        plan.clone(),
        Arc::clone(state) as Arc<dyn CampaignStore>,
        world.factory(),
    )
    .await
    .unwrap()
    .with_options(options())
}

fn open_state(path: &Path) -> Arc<SqliteState> {
    Arc::new(SqliteState::open(path).unwrap())
}

/// Every mailbox's destination and backup hold exactly its source's messages.
fn assert_copies_equal_sources(world: &World, skip: &[&str]) {
    for (key, m) in world.boxes.lock().unwrap().iter() {
        if skip.contains(&key.as_str()) {
            continue;
        }
        assert_eq!(
            m.dst.message_count(),
            m.src.message_count(),
            "{key}: destination"
        );
        assert_eq!(
            m.backup.message_count(),
            5,
            "{key}: the backup is the first state"
        );
    }
}

#[tokio::test]
async fn staged_campaign_with_pilot_failure_alone_restart_retry_and_grace_period() {
    let (world, inventory) = world(22).await;
    let plan = staged_plan(Duration::ZERO).validate(&inventory).unwrap();
    assert_eq!(plan.pairs().len(), 22);
    assert_eq!(plan.pairs()[0].destination, "user00@new.example");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaign.sqlite");
    let full = user(5);
    world.set_full(&full, true);

    // First run: the pilot, then sales, then support; user05's destination is full.
    let state = open_state(&path);
    let r = runner(&plan, &state, &world).await;
    let report = r.run().await.unwrap();
    assert_eq!(report.synced.len(), 21, "{report:?}");
    assert_eq!(report.failed.len(), 1);
    let (failed, why) = &report.failed[0];
    assert_eq!(failed, &full);
    assert_eq!(why.kind, ErrorKind::QuotaExceeded, "{why}");
    assert_eq!(why.stage, Stage::Syncing);
    assert!(report.blocked.is_empty() && report.waiting.is_empty());
    assert_eq!(report.copied, 21 * 5);
    assert_copies_equal_sources(&world, &[&full]);
    assert_eq!(world.get(&full).dst.message_count(), 0);
    assert_eq!(
        world.get(&full).backup.message_count(),
        5,
        "backed up before failing"
    );
    assert_eq!(contacts_in(&world.get(&user(0)).pim_dst).await, 1);

    let status = r.status().await.unwrap();
    assert_eq!(status.counts().synced, 21);
    assert_eq!(status.counts().failed, 1);
    let sales = status.batch("sales").unwrap();
    assert_eq!((sales.counts.synced, sales.counts.failed), (9, 1));
    let failed_status = status.mailbox(&full).unwrap();
    assert!(failed_status
        .failure
        .as_ref()
        .unwrap()
        .message
        .contains("injected fault"));
    let ok = status.mailbox(&user(3)).unwrap();
    assert!(ok.counts.backed_up);
    assert_eq!(
        (
            ok.counts.backup_messages,
            ok.counts.copied,
            ok.counts.passes
        ),
        (5, 5, 1)
    );
    let stages: Vec<Stage> = r
        .history(&user(3))
        .await
        .unwrap()
        .iter()
        .map(|t| t.to)
        .collect();
    assert_eq!(
        stages,
        [
            Stage::Queued,
            Stage::BackingUp,
            Stage::Syncing,
            Stage::Synced
        ]
    );

    // New mail arrives at every source; a delta pass carries it (not to the full one).
    for i in 0..22 {
        add_mail(
            &world.get(&user(i)).src,
            "INBOX",
            &format!("late{i}"),
            10..12,
        )
        .await;
    }
    let delta = r.delta_pass().await.unwrap();
    assert_eq!(delta.copied, 21 * 2);
    assert_eq!(delta.synced.len(), 21);
    assert_copies_equal_sources(&world, &[&full]);

    // A restart: the runner and the state file's handle are dropped, new ones opened over
    // the same file continue where it was, copying nothing again.
    drop(r);
    drop(state);
    let state = open_state(&path);
    let r = runner(&plan, &state, &world).await;
    let status = r.status().await.unwrap();
    assert_eq!((status.counts().synced, status.counts().failed), (21, 1));
    let again = r.run().await.unwrap();
    assert_eq!(again.copied, 0, "{again:?}");
    assert!(again.synced.is_empty() && again.failed.is_empty());

    // The destination gets room; retrying only what failed fixes it, without a new backup.
    world.set_full(&full, false);
    world.opened.lock().unwrap().clear();
    let retried = r.retry_failed().await.unwrap();
    assert_eq!(retried.synced, std::slice::from_ref(&full));
    assert_eq!(
        *world.opened.lock().unwrap(),
        std::slice::from_ref(&full),
        "only the failed one is opened"
    );
    assert_eq!(world.get(&full).dst.message_count(), 7);
    let stages: Vec<Stage> = r
        .history(&full)
        .await
        .unwrap()
        .iter()
        .map(|t| t.to)
        .collect();
    assert_eq!(
        stages,
        [
            Stage::Queued,
            Stage::BackingUp,
            Stage::Syncing,
            Stage::Failed,
            Stage::Queued,
            Stage::Syncing,
            Stage::Synced
        ]
    );

    // The switch: mail still landing on the old system during the grace period is carried
    // by the finalising passes, then every mailbox is compared and validated.
    for i in 0..22 {
        add_mail(
            &world.get(&user(i)).src,
            "INBOX",
            &format!("grace{i}"),
            20..21,
        )
        .await;
    }
    let mut validated = 0;
    for batch in ["pilot", "sales", "support"] {
        let f = r.finalise(batch).await.unwrap();
        assert!(f.failed.is_empty(), "{f:?}");
        validated += f.validated.len();
        assert_eq!(
            f.copied as usize,
            f.validated.len(),
            "one grace message each"
        );
    }
    assert_eq!(validated, 22);
    assert!(r.status().await.unwrap().counts().is_done());
    assert_copies_equal_sources(&world, &[]);
    for i in 0..22 {
        assert_eq!(world.get(&user(i)).dst.message_count(), 8);
        assert_eq!(contacts_in(&world.get(&user(i)).pim_dst).await, 1);
    }
}

#[tokio::test]
async fn the_grace_period_keeps_mailboxes_finalising_until_it_is_over() {
    let (world, inventory) = world(3).await;
    let plan = CampaignPlan::new("grace", Strategy::Cutover)
        .with_grace_period(Duration::from_secs(3 * 86_400))
        .with_batch(Batch::new("all", (0..3).map(user)))
        .validate(&inventory)
        .unwrap();
    let now = Arc::new(Mutex::new(datetime!(2025-03-01 20:00 UTC)));
    let clock = Arc::clone(&now);
    let r = CampaignRunner::open(
        plan,
        Arc::new(mailmigrate_core::state::MemoryState::new()),
        world.factory(),
    )
    .await
    .unwrap()
    .with_options(options())
    .with_clock(move || *clock.lock().unwrap());
    assert_eq!(r.run().await.unwrap().synced.len(), 3);
    let f = r.finalise("all").await.unwrap();
    assert_eq!((f.finalising.len(), f.validated.len()), (3, 0));
    let s = r.status().await.unwrap();
    assert_eq!(
        s.mailbox(&user(0)).unwrap().switched,
        Some(datetime!(2025-03-01 20:00 UTC))
    );
    add_mail(&world.get(&user(1)).src, "INBOX", "stray", 50..51).await;
    *now.lock().unwrap() = datetime!(2025-03-03 20:00 UTC);
    let f = r.finalise("all").await.unwrap();
    assert_eq!(
        (f.finalising.len(), f.copied),
        (3, 1),
        "still in the grace period"
    );
    *now.lock().unwrap() = datetime!(2025-03-04 20:00 UTC);
    let f = r.finalise("all").await.unwrap();
    assert_eq!(f.validated.len(), 3, "{f:?}");
    assert_eq!(world.get(&user(1)).dst.message_count(), 6);
}

#[tokio::test]
async fn a_failed_pilot_blocks_the_other_batches_until_it_is_retried() {
    let (world, inventory) = world(6).await;
    let plan = CampaignPlan::new("blocked", Strategy::Staged)
        .with_batch(Batch::new("pilot", [user(0)]).with_pilot(true))
        .with_batch(Batch::new("rest", (1..6).map(user)))
        .validate(&inventory)
        .unwrap();
    world.set_full(&user(0), true);
    let r = CampaignRunner::open(
        plan,
        Arc::new(mailmigrate_core::state::MemoryState::new()),
        world.factory(),
    )
    .await
    .unwrap()
    .with_options(options());
    let report = r.run().await.unwrap();
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.blocked, ["rest"]);
    let status = r.status().await.unwrap();
    assert!(status.batch("rest").unwrap().blocked);
    assert_eq!(status.batch("rest").unwrap().counts.queued, 5);
    let e = r.run_batch("rest").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    assert!(e.to_string().contains("pilot failed"), "{e}");
    assert_eq!(world.get(&user(1)).dst.message_count(), 0, "nothing moved");

    world.set_full(&user(0), false);
    assert_eq!(r.retry_failed().await.unwrap().synced, [user(0)]);
    let report = r.run().await.unwrap();
    assert_eq!(report.synced.len(), 5, "{report:?}");
    assert!(report.is_clean());
}

#[tokio::test]
async fn a_pilot_that_does_not_block_lets_the_rest_go_on() {
    let (world, inventory) = world(3).await;
    let plan = CampaignPlan::new("lenient", Strategy::Staged)
        .with_batch(
            Batch::new("pilot", [user(0)])
                .with_pilot(true)
                .with_pilot_blocks(false),
        )
        .with_batch(Batch::new("rest", (1..3).map(user)))
        .validate(&inventory)
        .unwrap();
    world.set_full(&user(0), true);
    let r = CampaignRunner::open(
        plan,
        Arc::new(mailmigrate_core::state::MemoryState::new()),
        world.factory(),
    )
    .await
    .unwrap()
    .with_options(options());
    let report = r.run().await.unwrap();
    assert_eq!((report.failed.len(), report.synced.len()), (1, 2));
}

#[tokio::test]
async fn a_run_killed_mid_step_resumes_that_step_without_copying_twice() {
    let (world, inventory) = world(4).await;
    let plan = CampaignPlan::new("killed", Strategy::Staged)
        .with_batch(Batch::new("pilot", [user(0)]).with_pilot(true))
        .with_batch(Batch::new("rest", (1..4).map(user)))
        .validate(&inventory)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let state = open_state(&path);
    let r = runner(&plan, &state, &world).await;
    assert_eq!(r.run_batch("pilot").await.unwrap().synced.len(), 1);

    // What a process killed mid-way leaves: user01 backed up but still marked backing up;
    // user02 copied to its destination but still marked syncing.
    let at = datetime!(2025-03-01 20:00 UTC);
    let store: Arc<dyn StateStore> = Arc::clone(&state) as Arc<dyn StateStore>;
    let (u1, u2) = (world.get(&user(1)), world.get(&user(2)));
    let job1 = format!("{}#backup", CampaignRunner::job_of("killed", &user(1)));
    Engine::new(
        Arc::new(u1.src.clone()),
        Arc::new(u1.backup.clone()),
        Arc::clone(&store),
    )
    .with_options(SyncOptions::new(job1))
    .run()
    .await
    .unwrap();
    let mut s1 = state.mailbox("killed", &user(1)).await.unwrap().unwrap();
    let t = s1.advance(Stage::BackingUp, at).unwrap();
    state.apply("killed", &s1, Some(&t)).await.unwrap();
    let job2 = CampaignRunner::job_of("killed", &user(2));
    Engine::new(
        Arc::new(u2.src.clone()),
        Arc::new(u2.dst.clone()),
        Arc::clone(&store),
    )
    .with_options(SyncOptions::new(job2))
    .run()
    .await
    .unwrap();
    let mut s2 = state.mailbox("killed", &user(2)).await.unwrap().unwrap();
    let t = s2.advance(Stage::Syncing, at).unwrap();
    s2.counts.backed_up = true;
    state.apply("killed", &s2, Some(&t)).await.unwrap();
    drop(r);
    drop(store);
    drop(state);

    let state = open_state(&path);
    let r = runner(&plan, &state, &world).await;
    let report = r.run().await.unwrap();
    assert_eq!(report.synced.len(), 3, "{report:?}");
    assert_eq!(u1.backup.message_count(), 5, "the backup was not repeated");
    assert_eq!(u2.dst.message_count(), 5, "the copy was not repeated");
    assert_eq!(
        u2.backup.message_count(),
        0,
        "a done backup is not run again"
    );
    assert_eq!(
        report.copied,
        5 + 5,
        "user01 and user03 copied; user02 had nothing left"
    );
    let h1 = r.history(&user(1)).await.unwrap();
    let resumed = h1
        .iter()
        .find(|t| t.from == Some(Stage::BackingUp) && t.to == Stage::BackingUp);
    assert!(resumed
        .unwrap()
        .reason
        .as_deref()
        .unwrap()
        .contains("resumed"));
    let h2: Vec<Stage> = r
        .history(&user(2))
        .await
        .unwrap()
        .iter()
        .map(|t| t.to)
        .collect();
    assert_eq!(
        h2,
        [Stage::Queued, Stage::Syncing, Stage::Syncing, Stage::Synced]
    );
}

#[tokio::test]
async fn pause_parks_mailboxes_and_resume_returns_them() {
    let (world, inventory) = world(4).await;
    let plan = CampaignPlan::new("paused", Strategy::Cutover)
        .with_batch(Batch::new("first", (0..2).map(user)))
        .with_batch(Batch::new("second", (2..4).map(user)))
        .validate(&inventory)
        .unwrap();
    let r = CampaignRunner::open(
        plan,
        Arc::new(mailmigrate_core::state::MemoryState::new()),
        world.factory(),
    )
    .await
    .unwrap()
    .with_options(options());
    r.run_batch("first").await.unwrap();
    r.pause().await.unwrap();
    let s = r.status().await.unwrap();
    assert!(s.paused);
    assert_eq!(s.counts().paused, 4);
    assert_eq!(
        s.mailbox(&user(0)).unwrap().paused_from,
        Some(Stage::Synced)
    );
    let report = r.run().await.unwrap();
    assert_eq!((report.synced.len(), report.paused.len()), (0, 4));
    assert_eq!(world.get(&user(2)).dst.message_count(), 0);

    r.resume().await.unwrap();
    let s = r.status().await.unwrap();
    assert_eq!((s.counts().synced, s.counts().queued), (2, 2));
    let report = r.run().await.unwrap();
    assert_eq!(report.synced, [user(2), user(3)]);
}

#[tokio::test]
async fn a_campaign_keeps_its_plan() {
    let (world, inventory) = world(2).await;
    let state = Arc::new(mailmigrate_core::state::MemoryState::new());
    let plan = |grace| {
        CampaignPlan::new("fixed", Strategy::Cutover)
            .with_grace_period(grace)
            .with_batch(Batch::new("all", (0..2).map(user)))
            .validate(&inventory)
            .unwrap()
    };
    CampaignRunner::open(
        plan(Duration::ZERO),
        Arc::clone(&state) as Arc<dyn CampaignStore>,
        world.factory(),
    )
    .await
    .unwrap();
    CampaignRunner::open(
        plan(Duration::ZERO),
        Arc::clone(&state) as Arc<dyn CampaignStore>,
        world.factory(),
    )
    .await
    .expect("the same plan opens again");
    let e = CampaignRunner::open(plan(Duration::from_secs(60)), state, world.factory())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    assert!(e.to_string().contains("another plan"), "{e}");
}

#[tokio::test]
async fn per_batch_mapping_renames_folders_and_validation_follows_it() {
    let (world, inventory) = world(2).await;
    let plan = CampaignPlan::new("mapped", Strategy::Cutover)
        .with_grace_period(Duration::ZERO)
        .with_batch(Batch::new("all", (0..2).map(user)).with_mapping(
            MappingRules::default().with_rename(Rename::new("^Archive$", "Old/Archive")),
        ))
        .validate(&inventory)
        .unwrap();
    let r = CampaignRunner::open(
        plan,
        Arc::new(mailmigrate_core::state::MemoryState::new()),
        world.factory(),
    )
    .await
    .unwrap()
    .with_options(options());
    r.run().await.unwrap();
    let f = r.finalise("all").await.unwrap();
    assert_eq!(f.validated.len(), 2, "{f:?}");
    let dst = world.get(&user(0)).dst;
    assert_eq!(
        dst.messages(&FolderId::new("Old/Archive")).unwrap().len(),
        2
    );
}

// ---- plan validation -----------------------------------------------------------------

fn inventory() -> Inventory {
    Inventory::new(vec![
        Account::new("ann@old.example").with_aliases(["a.smith@old.example"]),
        Account::new("bo@old.example"),
        Account::new("cy@old.example"),
        Account::new("di@old.example"),
    ])
}

fn problems(plan: &CampaignPlan) -> Vec<Problem> {
    plan.validate(&inventory()).unwrap_err().problems().to_vec()
}

#[test]
fn a_plan_with_every_mistake_lists_them_all_at_once() {
    let t0 = datetime!(2025-03-02 06:00 UTC);
    let t1 = datetime!(2025-03-01 20:00 UTC);
    let plan = CampaignPlan::new("bad", Strategy::Staged)
        .with_override(PairOverride::new("ghost@old.example", "g@new.example"))
        .with_override(PairOverride::new("cy@old.example", "bo@old.example"))
        .with_batch(Batch::new(
            "one",
            ["ann@old.example", "eve@old.example", "bo@old.example"],
        ))
        .with_batch(
            Batch::new("two", ["A.Smith@old.example", "cy@old.example"])
                .with_window(Window::new(t0, t1))
                .with_mapping(MappingRules::default().with_include(["[unclosed"])),
        )
        .with_batch(
            Batch::new("three", Vec::<String>::new())
                .with_filter(Filter::default().with_since(t0).with_before(t1)),
        )
        .with_mailboxes_in_parallel(0)
        .with_backup(BackupPlan::new("maildir:///srv/backup"));
    let err = plan.validate(&inventory()).unwrap_err();
    let shown = err.to_string();
    let p = err.problems();
    let has = |f: &dyn Fn(&Problem) -> bool| p.iter().any(f);
    assert!(
        has(
            &|p| matches!(p, Problem::UnknownMailbox { batch: None, mailbox } if mailbox == "ghost@old.example")
        ),
        "{shown}"
    );
    assert!(
        has(
            &|p| matches!(p, Problem::UnknownMailbox { batch: Some(b), mailbox } if b == "one" && mailbox == "eve@old.example")
        ),
        "{shown}"
    );
    assert!(
        has(
            &|p| matches!(p, Problem::MailboxInTwoBatches { mailbox, first, second } if mailbox == "ann@old.example" && first == "one" && second == "two")
        ),
        "{shown}"
    );
    assert!(
        has(
            &|p| matches!(p, Problem::DuplicateTarget { target, mailboxes } if target == "bo@old.example" && mailboxes.len() == 2)
        ),
        "{shown}"
    );
    assert!(
        has(&|p| matches!(p, Problem::NoPilot { strategy: "staged" })),
        "{shown}"
    );
    assert!(
        has(&|p| matches!(p, Problem::WindowEndsBeforeStart { batch, .. } if batch == "two")),
        "{shown}"
    );
    assert!(
        has(
            &|p| matches!(p, Problem::ImpossibleMapping { batch: Some(b), reason } if b == "two" && reason.contains("glob"))
        ),
        "{shown}"
    );
    assert!(
        has(&|p| matches!(p, Problem::ImpossibleMapping { batch: Some(b), .. } if b == "three")),
        "{shown}"
    );
    assert!(
        has(&|p| matches!(p, Problem::EmptyBatch { batch } if batch == "three")),
        "{shown}"
    );
    assert!(has(&|p| matches!(p, Problem::NoParallelism)), "{shown}");
    assert!(
        has(&|p| matches!(p, Problem::SharedBackup { .. })),
        "{shown}"
    );
    assert_eq!(p.len(), 11, "{shown}");
    assert!(
        shown.starts_with("campaign `bad`: the plan has 11 problems:"),
        "{shown}"
    );
    let e: mailmigrate_core::Error = err.into();
    assert_eq!(
        (e.kind(), e.context("campaign")),
        (ErrorKind::ConfigInvalid, Some("bad"))
    );
}

#[test]
fn each_mistake_is_named_on_its_own() {
    let ok = || {
        CampaignPlan::new("p", Strategy::Staged)
            .with_batch(Batch::new("pilot", ["ann@old.example"]).with_pilot(true))
            .with_batch(Batch::new("rest", ["bo@old.example", "cy@old.example"]))
    };
    assert!(ok().validate(&inventory()).is_ok());
    assert_eq!(
        problems(&ok().with_batch(Batch::new("late", ["nobody@old.example"]))),
        [Problem::UnknownMailbox {
            batch: Some("late".into()),
            mailbox: "nobody@old.example".into()
        }]
    );
    assert_eq!(
        problems(&ok().with_batch(Batch::new("again", ["BO@old.example"]))),
        [Problem::MailboxInTwoBatches {
            mailbox: "bo@old.example".into(),
            first: "rest".into(),
            second: "again".into()
        }]
    );
    assert_eq!(
        problems(&ok().with_override(PairOverride::new("cy@old.example", "BO@old.example"))),
        [Problem::DuplicateTarget {
            target: "bo@old.example".into(),
            mailboxes: vec!["bo@old.example".into(), "cy@old.example".into()]
        }]
    );
    assert_eq!(
        problems(&ok().with_override(PairOverride::new("cy@old.example", "not an address"))),
        [Problem::InvalidTarget {
            mailbox: "cy@old.example".into(),
            target: "not an address".into()
        }]
    );
    let mut no_pilot = ok();
    no_pilot.batches[0].pilot = false;
    assert_eq!(
        problems(&no_pilot),
        [Problem::NoPilot { strategy: "staged" }]
    );
    no_pilot.strategy = Strategy::Cutover;
    assert!(
        no_pilot.validate(&inventory()).is_ok(),
        "a cutover needs no pilot"
    );
    let mut two_pilots = ok();
    two_pilots.batches[1].pilot = true;
    assert_eq!(
        problems(&two_pilots),
        [Problem::SeveralPilots {
            batches: vec!["pilot".into(), "rest".into()]
        }]
    );
    let bad_regex = ok().with_mapping(MappingRules::default().with_rename(Rename::new("(", "x")));
    assert!(matches!(
        problems(&bad_regex).as_slice(),
        [Problem::ImpossibleMapping { batch: None, .. }]
    ));
    let (a, b) = (
        datetime!(2025-03-01 20:00 UTC),
        datetime!(2025-03-01 19:00 UTC),
    );
    let mut windowed = ok();
    windowed.batches[1].window = Some(Window::new(a, b));
    assert_eq!(
        problems(&windowed),
        [Problem::WindowEndsBeforeStart {
            batch: "rest".into(),
            start: a,
            end: b
        }]
    );
    let mut dup = ok();
    dup.batches[1].name = "pilot".into();
    assert!(problems(&dup).contains(&Problem::DuplicateBatch {
        batch: "pilot".into()
    }));
    let mut hybrid = ok();
    hybrid.strategy = Strategy::Coexistence {
        interval: Duration::ZERO,
    };
    assert_eq!(problems(&hybrid), [Problem::ZeroInterval]);
    assert_eq!(
        problems(&CampaignPlan::new("e", Strategy::Cutover)),
        [Problem::NoBatches]
    );
}

#[test]
fn an_alias_member_resolves_to_its_account() {
    let plan = CampaignPlan::new("p", Strategy::Cutover)
        .with_rewrite(DomainRewrite::new("old.example", "new.example"))
        .with_batch(Batch::new("all", ["A.Smith@old.example"]))
        .validate(&inventory())
        .unwrap();
    let pair = &plan.pairs()[0];
    assert_eq!(pair.source.address, "ann@old.example");
    assert_eq!(pair.destination, "ann@new.example");
    assert!(plan.pair("ANN@old.example").is_some());
}

#[test]
fn a_plan_round_trips_through_toml_and_bad_toml_names_the_line() {
    let plan = staged_plan(Duration::from_secs(3 * 86_400)).with_batch(
        Batch::new("night", ["x@old.example"])
            .with_window(Window::new(
                datetime!(2025-03-01 20:00 UTC),
                datetime!(2025-03-02 06:00 UTC),
            ))
            .with_filter(Filter::default().with_max_size(10 << 20)),
    );
    let text = plan.to_toml().unwrap();
    assert!(text.contains("grace_period = \"3d\""), "{text}");
    assert_eq!(CampaignPlan::from_toml(&text).unwrap(), plan);
    let e =
        CampaignPlan::from_toml("name = \"x\"\nstrategy = { kind = \"teleport\" }\n").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    assert!(e.to_string().contains("line 2"), "{e}");
    let e = CampaignPlan::from_toml(
        "name = \"x\"\nstrategy = { kind = \"staged\" }\ngrace_period = \"a while\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("a while"), "{e}");
}

// ---- the status machine ------------------------------------------------------------------

#[test]
fn invalid_moves_are_refused_and_leave_the_status_unchanged() {
    let t = datetime!(2025-03-01 20:00 UTC);
    let mut s = MailboxStatus::new("ann@old.example", "ann@new.example", "pilot", t);
    for to in [
        Stage::Synced,
        Stage::Finalising,
        Stage::Validated,
        Stage::Failed,
    ] {
        let e = s.advance(to, t).unwrap_err();
        assert_eq!((e.from, e.to), (Stage::Queued, to));
    }
    assert!(s.retry(t).is_err(), "a queued mailbox has nothing to retry");
    assert!(s.resume(t).is_err(), "a queued mailbox is not paused");
    assert_eq!(s.stage, Stage::Queued);
    s.advance(Stage::Syncing, t).unwrap();
    s.advance(Stage::Synced, t).unwrap();
    s.advance(Stage::Finalising, t).unwrap();
    s.advance(Stage::Validated, t).unwrap();
    for to in Stage::ALL {
        assert!(s.advance(to, t).is_err(), "validated is final, not {to}");
    }
    assert!(s.pause(t).is_err());
    let e: mailmigrate_core::Error = s.advance(Stage::Queued, t).unwrap_err().into();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.context("mailbox"), Some("ann@old.example"));
}

#[tokio::test]
async fn a_stale_runner_cannot_move_a_mailbox_another_moved() {
    let state = SqliteState::open_in_memory().unwrap();
    let t = datetime!(2025-03-01 20:00 UTC);
    let mut s = MailboxStatus::new("ann@old.example", "ann@new.example", "pilot", t);
    state.apply("c", &s, Some(&s.entered())).await.unwrap();
    let mut stale = s.clone();
    let mv = s.advance(Stage::BackingUp, t).unwrap();
    state.apply("c", &s, Some(&mv)).await.unwrap();
    let mv = stale.advance(Stage::Syncing, t).unwrap();
    let e = state.apply("c", &stale, Some(&mv)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        state
            .mailbox("c", "ann@old.example")
            .await
            .unwrap()
            .unwrap()
            .stage,
        Stage::BackingUp
    );
}

#[tokio::test]
async fn prestaging_moves_old_mail_first_and_the_recent_mail_at_the_cut() {
    let (world, inventory) = world(2).await;
    // Each user also has 4 recent messages (dated a day before the campaign's clock).
    let now = datetime!(2025-03-01 20:00 UTC);
    for i in 0..2 {
        let src = world.get(&user(i)).src;
        let f = src
            .ensure_folder(&FolderPath::parse("INBOX", '/').unwrap(), None)
            .await
            .unwrap()
            .id;
        let recent = (100..104)
            .map(|n| {
                let mut m = msg(&f, &format!("recent{i}"), n);
                m.meta = m
                    .meta
                    .with_internal_date(Some(now - time::Duration::days(1)));
                m
            })
            .collect();
        for r in src.append(&f, recent).await.unwrap() {
            r.unwrap();
        }
    }
    let plan = CampaignPlan::new("prestage", Strategy::Cutover)
        .with_grace_period(Duration::ZERO)
        .with_prestage_older_than(Duration::from_secs(30 * 86_400))
        .with_batch(Batch::new("all", (0..2).map(user)))
        .validate(&inventory)
        .unwrap();
    let r = CampaignRunner::open(
        plan,
        Arc::new(mailmigrate_core::state::MemoryState::new()),
        world.factory(),
    )
    .await
    .unwrap()
    .with_options(options())
    .with_clock(move || now);

    // The first copy: the 5 old messages of each mailbox, none of the recent ones.
    let first = r.run().await.unwrap();
    assert_eq!(first.synced.len(), 2, "{first:?}");
    assert_eq!(first.copied, 10);
    for i in 0..2 {
        let m = world.get(&user(i));
        assert_eq!(m.dst.message_count(), 5, "{}", user(i));
        assert_eq!(
            contacts_in(&m.pim_dst).await,
            1,
            "contacts go with the first copy"
        );
    }
    let st = r.status().await.unwrap();
    assert!(st.mailboxes.iter().all(|m| m.counts.prestaged));
    assert!(st.mailboxes.iter().all(|m| m.counts.pim_written == 1));

    // At the cut: everything, the old mail found by look-up, not written twice.
    let cut = r.finalise("all").await.unwrap();
    assert_eq!(cut.validated.len(), 2, "{cut:?}");
    assert_eq!(cut.copied, 8, "only the recent mail moves at the cut");
    for i in 0..2 {
        let m = world.get(&user(i));
        assert_eq!(m.dst.message_count(), 9, "{}: nothing twice", user(i));
        assert_eq!(m.dst.message_count(), m.src.message_count());
    }
}

/// A destination that cannot look copies up (or whose search lags fresh imports, as
/// Gmail's may): the cut knows the pre-staged copies from the ledger the pre-staged pass
/// left, so nothing is written twice even though no look-up finds them.
#[tokio::test]
async fn prestaging_needs_no_look_ups_the_cut_knows_the_prestaged_copies() {
    let now = datetime!(2025-03-01 20:00 UTC);
    let (_, inventory) = world(1).await;
    let plan = CampaignPlan::new("prestage", Strategy::Cutover)
        .with_grace_period(Duration::ZERO)
        .with_prestage_older_than(Duration::from_secs(30 * 86_400))
        .with_batch(Batch::new("all", [user(0)]))
        .validate(&inventory)
        .unwrap();
    let src = MemoryStore::new("src");
    let f = src
        .ensure_folder(&FolderPath::parse("INBOX", '/').unwrap(), None)
        .await
        .unwrap()
        .id;
    let dated = |n: u32, days: i64| {
        let mut m = msg(&f, "blind", n);
        m.meta = m
            .meta
            .with_internal_date(Some(now - time::Duration::days(days)));
        m
    };
    let mail: Vec<_> = (0..6)
        .map(|n| dated(n, 400))
        .chain((6..9).map(|n| dated(n, 1)))
        .collect();
    for r in src.append(&f, mail).await.unwrap() {
        r.unwrap();
    }
    let dst = MemoryStore::with_capabilities("blind", {
        let mut caps = MemoryStore::capabilities();
        caps.find_existing = false;
        caps
    });
    let (src2, dst2) = (src.clone(), dst.clone());
    let factory = move |_: &MailboxPair| -> Result<MailboxStores> {
        Ok(MailboxStores::new(
            Arc::new(src2.clone()),
            Arc::new(dst2.clone()),
        ))
    };
    let r = CampaignRunner::open(
        plan,
        Arc::new(mailmigrate_core::state::MemoryState::new()),
        Arc::new(factory),
    )
    .await
    .unwrap()
    .with_options(options())
    .with_clock(move || now);
    let first = r.run().await.unwrap();
    assert_eq!(first.synced.len(), 1, "{first:?}");
    assert_eq!(dst.message_count(), 6, "the old mail first");
    let cut = r.finalise("all").await.unwrap();
    assert_eq!(cut.validated.len(), 1, "{cut:?}");
    assert_eq!(cut.copied, 3, "only the recent mail moves at the cut");
    assert_eq!(dst.message_count(), 9, "nothing twice");
}

#[tokio::test]
async fn a_mailbox_that_disappears_mid_campaign_fails_alone_and_resumes_when_back() {
    let (world, inventory) = world(4).await;
    let plan = CampaignPlan::new("vanish", Strategy::Cutover)
        .with_grace_period(Duration::ZERO)
        .with_batch(Batch::new("all", (0..4).map(user)))
        .validate(&inventory)
        .unwrap();
    // The account of user 2 is deleted at the source after the first copy, and restored
    // later: while it is gone, opening it answers NotFound.
    let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let inner = world.factory();
    let (flag, missing) = (Arc::clone(&gone), user(2));
    let factory = move |pair: &MailboxPair| -> Result<MailboxStores> {
        if flag.load(std::sync::atomic::Ordering::SeqCst) && pair.key() == missing {
            return Err(mailmigrate_core::Error::new(
                ErrorKind::NotFound,
                "no such account at the source",
            ));
        }
        futures::executor::block_on(inner.open(pair))
    };
    let r = CampaignRunner::open(
        plan,
        Arc::new(mailmigrate_core::state::MemoryState::new()),
        Arc::new(factory),
    )
    .await
    .unwrap()
    .with_options(options());
    assert_eq!(r.run().await.unwrap().synced.len(), 4);

    gone.store(true, std::sync::atomic::Ordering::SeqCst);
    for i in 0..4 {
        add_mail(&world.get(&user(i)).src, "INBOX", "later", 10..12).await;
    }
    let delta = r.delta_pass().await.unwrap();
    assert_eq!(delta.failed.len(), 1, "{delta:?}");
    assert_eq!(delta.failed[0].0, user(2));
    assert_eq!(delta.failed[0].1.kind, ErrorKind::NotFound);
    assert!(delta.failed[0].1.message.contains("no such account"));
    assert_eq!(delta.copied, 6, "the other three go on");
    let st = r.status().await.unwrap();
    assert_eq!(st.mailbox(&user(2)).unwrap().stage, Stage::Failed);

    // Back again: retried, it picks up where it was, nothing copied twice.
    gone.store(false, std::sync::atomic::Ordering::SeqCst);
    let retry = r.retry_failed().await.unwrap();
    assert_eq!(retry.synced, [user(2)]);
    assert_eq!(retry.copied, 2);
    let done = r.finalise("all").await.unwrap();
    assert_eq!(done.validated.len(), 4, "{done:?}");
    assert_copies_equal_sources(&world, &[]);
}

#[path = "support/runner_race.rs"]
mod runner_race;

/// Two runners on two handles of one SQLite file (as two processes), and two on one
/// in-memory store, race over one campaign: every mailbox copied once, by one runner.
#[tokio::test]
async fn two_runners_sharing_a_store_copy_every_mailbox_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let (a, b) = (open_state(&path), open_state(&path));
    runner_race::race(a as Arc<dyn CampaignStore>, b as Arc<dyn CampaignStore>).await;
    let memory = Arc::new(mailmigrate_core::state::MemoryState::new());
    runner_race::race(
        Arc::clone(&memory) as Arc<dyn CampaignStore>,
        memory as Arc<dyn CampaignStore>,
    )
    .await;
}

/// Two runners under one worker name on two handles of one SQLite file: one drives.
#[tokio::test]
async fn two_runners_under_one_worker_name_never_both_drive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let (a, b) = (open_state(&path), open_state(&path));
    runner_race::twins(a as Arc<dyn CampaignStore>, b as Arc<dyn CampaignStore>).await;
}
