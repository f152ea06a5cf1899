//! A campaign's concurrency limit is real: 100 mailboxes with `mailboxes_in_parallel = 8`
//! never have more than 8 open at once and do reach 8; no mailbox has more appends in
//! flight than the engine's folder concurrency.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mailmigrate_core::campaign::*;
use mailmigrate_core::directory::{Account, Inventory};
use mailmigrate_core::engine::SyncOptions;
use mailmigrate_core::state::MemoryState;
use mailmigrate_core::store::MemoryStore;
use mailmigrate_core::testkit::campaign::{ConcurrencyProbe, ProbedFactory};
use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage, Result};

const LIMIT: usize = 8;
const MAILBOXES: usize = 100;
const FOLDERS: usize = 3;

async fn source(i: usize) -> MemoryStore {
    let s = MemoryStore::new(format!("u{i}"));
    for k in 0..FOLDERS {
        let path = if k == 0 {
            FolderPath::inbox()
        } else {
            FolderPath::parse(&format!("F{k}"), '/').unwrap()
        };
        let f = s.ensure_folder(&path, None).await.unwrap().id;
        let msgs = (0..4)
            .map(|n| {
                RawMessage::new(
                    MessageMeta::new(MessageId::new(n.to_string()), f.clone()),
                    Bytes::from(format!("Message-ID: <{i}.{k}.{n}@t>\r\n\r\nbody\r\n")),
                )
            })
            .collect();
        s.append(&f, msgs).await.unwrap();
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailboxes_at_once_reach_the_limit_and_never_exceed_it() {
    let users: Vec<String> = (0..MAILBOXES)
        .map(|i| format!("u{i}@old.example"))
        .collect();
    let mut boxes = Vec::new();
    for i in 0..MAILBOXES {
        boxes.push((source(i).await, MemoryStore::new(format!("new{i}"))));
    }
    let boxes = Arc::new(boxes);
    let stores = move |pair: &MailboxPair| -> Result<MailboxStores> {
        let i: usize = pair.key()[1..].split('@').next().unwrap().parse().unwrap();
        let (src, dst) = &boxes[i];
        Ok(MailboxStores::new(
            Arc::new(src.clone()),
            Arc::new(dst.clone()),
        ))
    };
    let probe = ConcurrencyProbe::new();
    let factory =
        ProbedFactory::new(stores, probe.clone()).with_open_delay(Duration::from_millis(2));
    let inventory = Inventory::new(users.iter().map(Account::new).collect());
    let plan = CampaignPlan::new("limits", Strategy::Cutover)
        .with_rewrite(DomainRewrite::new("old.example", "new.example"))
        .with_grace_period(Duration::ZERO)
        .with_mailboxes_in_parallel(LIMIT)
        .with_batch(Batch::new("all", users))
        .validate(&inventory)
        .unwrap();
    let sync = SyncOptions::default().with_settle_grace(Duration::ZERO);
    let folder_concurrency = sync.folder_concurrency;
    let runner = CampaignRunner::open(plan, Arc::new(MemoryState::new()), Arc::new(factory))
        .await
        .unwrap()
        .with_options(RunnerOptions::default().with_retry(None).with_sync(sync));
    let report = runner.run().await.unwrap();
    assert_eq!(report.synced.len(), MAILBOXES, "{report:?}");
    assert_eq!(report.copied, (MAILBOXES * FOLDERS * 4) as u64);
    let first = (probe.max_open(), probe.opened());
    assert_eq!(
        first,
        (LIMIT, MAILBOXES as u64),
        "mailboxes at once, opened"
    );

    let validated = runner.finalise("all").await.unwrap();
    assert_eq!(validated.validated.len(), MAILBOXES, "{validated:?}");
    assert_eq!(probe.max_open(), LIMIT);
    assert_eq!(probe.open(), 0, "every mailbox's stores were dropped");
    assert_eq!(probe.opened(), 2 * MAILBOXES as u64);
    let per_mailbox = probe.max_appends_per_mailbox();
    assert!(
        (1..=folder_concurrency.min(FOLDERS)).contains(&per_mailbox),
        "appends in flight per mailbox: {per_mailbox}"
    );
    assert!(probe.max_appends_total() <= LIMIT * per_mailbox);
}
