//! Two campaign runners racing over one campaign on a shared store (shared by the
//! SQLite and PostgreSQL tests): every mailbox must be copied exactly once (counted at its
//! destination) and driven by one runner only (its stores opened once, by one runner).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mailmigrate_core::campaign::{
    Batch, CampaignPlan, CampaignRunner, CampaignStore, MailboxPair, MailboxStores, RunnerOptions,
    Stage, StoreFactory, Strategy,
};
use mailmigrate_core::directory::{Account, Inventory};
use mailmigrate_core::engine::SyncOptions;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage, Result};

/// Mailboxes in the race, and messages in each.
const MAILBOXES: usize = 12;
const MESSAGES: usize = 4;

/// Every mailbox's stores, and which runner opened which mailbox.
#[derive(Clone, Default)]
struct World {
    boxes: Arc<Mutex<BTreeMap<String, (MemoryStore, MemoryStore)>>>,
    opened: Arc<Mutex<Vec<(String, String)>>>,
}

/// One runner's factory: notes each opening, and lingers so a rival has time to collide.
struct Factory {
    world: World,
    runner: &'static str,
}

#[async_trait]
impl StoreFactory for Factory {
    async fn open(&self, pair: &MailboxPair) -> Result<MailboxStores> {
        let key = pair.key();
        self.world
            .opened
            .lock()
            .unwrap()
            .push((key.clone(), self.runner.to_owned()));
        let (src, dst) = self.world.boxes.lock().unwrap()[&key].clone();
        tokio::time::sleep(Duration::from_millis(15)).await;
        Ok(MailboxStores::new(Arc::new(src), Arc::new(dst)))
    }
}

fn user(i: usize) -> String {
    format!("racer{i:02}@old.example")
}

async fn world() -> (World, Inventory) {
    let world = World::default();
    let mut accounts = Vec::new();
    for i in 0..MAILBOXES {
        let (src, dst) = (
            MemoryStore::new(user(i)),
            MemoryStore::new(format!("new-{i}")),
        );
        let f = src
            .ensure_folder(&FolderPath::parse("INBOX", '/').unwrap(), None)
            .await
            .unwrap()
            .id;
        let batch: Vec<RawMessage> = (0..MESSAGES)
            .map(|k| {
                RawMessage::new(
                    MessageMeta::new(MessageId::new(k.to_string()), f.clone()),
                    Bytes::from(format!(
                        "Message-ID: <r{i}.{k}@test>\r\nSubject: {k}\r\n\r\nbody {i} {k}\r\n"
                    )),
                )
            })
            .collect();
        for r in src.append(&f, batch).await.unwrap() {
            r.unwrap();
        }
        world.boxes.lock().unwrap().insert(user(i), (src, dst));
        accounts.push(Account::new(user(i)));
    }
    (world, Inventory::new(accounts))
}

/// Runs `r` until it has nothing left that the other runner does not hold; the mailboxes
/// it synced.
async fn drive(r: &CampaignRunner) -> Vec<String> {
    let mut synced = Vec::new();
    for _ in 0..20 {
        let report = r.run().await.unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        synced.extend(report.synced);
        if report.busy.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    synced
}

/// Two runners over one campaign, one on `a` and one on `b` (handles to one store),
/// under the worker names `names`; their stores and the factory notes of who opened what.
async fn rivals(
    a: Arc<dyn CampaignStore>,
    b: Arc<dyn CampaignStore>,
    names: [&'static str; 2],
) -> (World, CampaignRunner, CampaignRunner) {
    let (world, inventory) = world().await;
    let plan = CampaignPlan::new(
        format!("race-{:08x}", rand::random::<u32>()),
        Strategy::Cutover,
    )
    .with_mailboxes_in_parallel(3)
    .with_batch(Batch::new("all", (0..MAILBOXES).map(user)))
    .validate(&inventory)
    .unwrap();
    let options = RunnerOptions::default()
        .with_retry(None)
        .with_sync(SyncOptions::default().with_settle_grace(Duration::ZERO));
    let open = |state: Arc<dyn CampaignStore>, runner: &'static str| {
        let (plan, world, options) = (plan.clone(), world.clone(), options.clone());
        async move {
            CampaignRunner::open(plan, state, Arc::new(Factory { world, runner }))
                .await
                .unwrap()
                .with_options(options)
                .with_worker(runner)
        }
    };
    let (ra, rb) = tokio::join!(open(a, names[0]), open(b, names[1]));
    (world, ra, rb)
}

/// Two runners under ONE worker name (two machines with one host name), on `a` and `b`
/// (handles to one store), start a pass together: the store holds the name, so one of
/// them refuses with `Conflict` before it drives anything, and every mailbox is copied
/// once, by the other. Once that one is gone, the name is free again.
///
/// # Panics
/// If both runners drive, or a mailbox is copied twice or not at all.
pub(crate) async fn twins(a: Arc<dyn CampaignStore>, b: Arc<dyn CampaignStore>) {
    let (world, ra, rb) = rivals(a, b, ["twin", "twin"]).await;
    let (one, two) = tokio::join!(ra.run(), rb.run());
    let (won, lost, winner) = match (one, two) {
        (Ok(r), Err(e)) => (r, e, ra),
        (Err(e), Ok(r)) => (r, e, rb),
        (one, two) => panic!("one twin must be refused: {one:?} / {two:?}"),
    };
    assert_eq!(lost.kind(), mailmigrate_core::ErrorKind::Conflict, "{lost}");
    assert_eq!(won.synced.len(), MAILBOXES, "{won:?}");
    for (key, (_, dst)) in world.boxes.lock().unwrap().iter() {
        assert_eq!(dst.message_count(), MESSAGES, "{key}: copied exactly once");
    }
    let opened = world.opened.lock().unwrap().len();
    assert_eq!(opened, MAILBOXES, "each mailbox opened once, by the winner");
    drop(winner);
}

/// Races two runners, one on `a` and one on `b` (handles to one store), over one campaign.
///
/// # Panics
/// If a mailbox is copied twice or not at all, or driven by both runners.
pub(crate) async fn race(a: Arc<dyn CampaignStore>, b: Arc<dyn CampaignStore>) {
    let (world, ra, rb) = rivals(a, b, ["a", "b"]).await;
    let (sa, sb) = tokio::join!(drive(&ra), drive(&rb));

    let opened = world.opened.lock().unwrap().clone();
    let boxes = world.boxes.lock().unwrap().clone();
    for (key, (src, dst)) in &boxes {
        assert_eq!(src.message_count(), MESSAGES);
        assert_eq!(dst.message_count(), MESSAGES, "{key}: copied exactly once");
        let by: Vec<&str> = opened
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, r)| r.as_str())
            .collect();
        assert_eq!(by.len(), 1, "{key} was driven by {by:?}");
        let in_reports = sa.iter().chain(&sb).filter(|k| *k == key).count();
        assert_eq!(
            in_reports, 1,
            "{key} synced by one runner: a {sa:?}, b {sb:?}"
        );
        let stages: Vec<Stage> = ra
            .history(key)
            .await
            .unwrap()
            .iter()
            .map(|t| t.to)
            .collect();
        assert_eq!(
            stages,
            [Stage::Queued, Stage::Syncing, Stage::Synced],
            "{key}: one drive, never resumed by a rival"
        );
    }
    assert!(
        !sa.is_empty() && !sb.is_empty(),
        "both runners took part: a {sa:?}, b {sb:?}"
    );
}
