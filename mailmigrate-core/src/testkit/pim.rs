//! Conformance cases for contact and calendar stores ([`PimStore`]).
//!
//! Every store that implements [`PimSource`] and
//! [`PimDestination`] runs these, through
//! [`pim_conformance_tests!`](crate::pim_conformance_tests):
//!
//! ```
//! mailmigrate_core::pim_conformance_tests!(async {
//!     let store = mailmigrate_core::pim::MemoryPim::new("conformance");
//!     Some(mailmigrate_core::testkit::pim::PimHarness::new(store))
//! });
//! # fn main() {}
//! ```
//!
//! Each case works in collections of its own, named `mm-test-<run id>-<case>`, and reads
//! the store's [`PimCapabilities`] first: a case whose
//! capability is off is skipped with the reason.

use std::sync::Arc;

use futures::StreamExt;

use super::{CaseResult, Outcome};
use crate::pim::sync::{adapt, PimSync};
use crate::pim::*;
use crate::state::MemoryState;
use crate::ErrorKind;

/// The store under test and a run id that names its collections.
#[derive(Clone)]
pub struct PimHarness {
    /// The store.
    pub store: Arc<dyn PimStore>,
    /// Unique per harness.
    pub run_id: String,
    /// What must live as long as the harness (an emulator's handle, a temporary directory).
    guards: Vec<Arc<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for PimHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PimHarness")
            .field("store", &self.store)
            .field("run_id", &self.run_id)
            .field("guards", &self.guards.len())
            .finish()
    }
}

impl PimHarness {
    /// A harness over `store` with a fresh run id.
    pub fn new(store: impl PimStore) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            store: Arc::new(store),
            run_id: format!("{:x}{:x}", nanos & 0xffff_ffff_ffff, std::process::id()),
            guards: Vec::new(),
        }
    }

    /// Keeps `guard` alive as long as the harness and its clones (a server handle, a
    /// temporary directory), as [`Harness::with_guard`](crate::testkit::Harness::with_guard)
    /// does for mail.
    #[must_use]
    pub fn with_guard(mut self, guard: impl std::any::Any + Send + Sync) -> Self {
        self.guards.push(Arc::new(guard));
        self
    }

    async fn collection(&self, kind: PimKind, case: &str) -> Result<Collection, String> {
        let name = format!("mm-test-{}-{case}", self.run_id);
        self.store
            .ensure_collection(&Collection::new(CollectionId::new(&name), kind, &name))
            .await
            .map_err(|e| format!("ensure_collection({name}): {e}"))
    }
}

fn skip(why: &str) -> CaseResult {
    Ok(Outcome::Skipped(why.to_owned()))
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// A contact with typed fields and an unknown property.
pub fn sample_contact(uid: &str) -> PimItem {
    let text = format!(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:{uid}\r\nFN:Zoë Müller\r\nN:Müller;Zoë;;;\r\n\
         EMAIL;TYPE=work:zoe@example.com\r\nEMAIL;TYPE=home:zoe@home.example\r\n\
         TEL;TYPE=cell:+49 30 1234567\r\nORG:Example GmbH;Ops\r\nNOTE:Line one\\nline two\r\n\
         X-MAILMIGRATE-TEST:kept\r\nEND:VCARD\r\n"
    );
    PimItem::parse(
        PimKind::Contacts,
        ItemMeta::new(ItemId::new(uid)),
        text.into(),
    )
    .unwrap_or_else(|e| unreachable!("the sample contact parses: {e}"))
}

/// A weekly meeting in a named time zone, with an excluded date, an overridden
/// occurrence, an organiser, attendees, an alarm and an attachment by reference.
pub fn sample_series(uid: &str) -> PimItem {
    let text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailmigrate//testkit//EN\r\n\
BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n\
TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n\
END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\n\
TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20250101T000000Z\r\n\
DTSTART;TZID=Europe/Berlin:20250106T090000\r\nDTEND;TZID=Europe/Berlin:20250106T093000\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20250120T090000\r\n\
SUMMARY:Stand-up\r\nORGANIZER;CN=Ann:mailto:ann@example.com\r\n\
ATTENDEE;CN=Bo;PARTSTAT=ACCEPTED:mailto:bo@example.com\r\n\
ATTACH:https://files.example.com/agenda.pdf\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nDESCRIPTION:Stand-up\r\nEND:VALARM\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20250101T000000Z\r\n\
RECURRENCE-ID;TZID=Europe/Berlin:20250113T090000\r\n\
DTSTART;TZID=Europe/Berlin:20250113T100000\r\nDTEND;TZID=Europe/Berlin:20250113T103000\r\n\
SUMMARY:Stand-up (moved)\r\nORGANIZER;CN=Ann:mailto:ann@example.com\r\n\
ATTENDEE;CN=Bo;PARTSTAT=ACCEPTED:mailto:bo@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    PimItem::parse(
        PimKind::Events,
        ItemMeta::new(ItemId::new(uid)),
        text.into(),
    )
    .unwrap_or_else(|e| unreachable!("the sample series parses: {e}"))
}

async fn fetch_one(h: &PimHarness, c: &CollectionId, id: &ItemId) -> Result<PimItem, String> {
    let mut s = h.store.fetch_items(c, vec![id.clone()]);
    match s.next().await {
        Some((_, Ok(item))) => Ok(item),
        Some((_, Err(e))) => Err(format!("fetch_items({id}): {e}")),
        None => Err(format!("fetch_items({id}) answered nothing")),
    }
}

async fn listing(
    h: &PimHarness,
    c: &CollectionId,
    since: Option<crate::Checkpoint>,
) -> Result<(Vec<ItemChange>, Option<crate::Checkpoint>), String> {
    let mut s = h.store.list_items(c, since);
    let mut out = Vec::new();
    let mut cp = None;
    while let Some(change) = s.next().await {
        match change.map_err(|e| format!("list_items: {e}"))? {
            ItemChange::Checkpoint(c) => cp = Some(c),
            other => out.push(other),
        }
    }
    Ok((out, cp))
}

async fn write_one(
    h: &PimHarness,
    c: &CollectionId,
    w: ItemWrite,
) -> Result<crate::Result<Written>, String> {
    let mut answers = h
        .store
        .write_items(c, vec![w], &WriteOptions::default())
        .await
        .map_err(|e| format!("write_items: {e}"))?;
    check(answers.len() == 1, || {
        format!("{} answers for one write", answers.len())
    })?;
    Ok(answers.remove(0))
}

/// `ensure_collection` twice gives one collection.
///
/// # Errors
/// What failed, as text.
pub async fn ensure_is_idempotent(h: &PimHarness) -> CaseResult {
    for kind in PimKind::ALL {
        if !h.store.pim_capabilities().holds(kind) {
            continue;
        }
        let a = h.collection(kind, "idem").await?;
        let b = h.collection(kind, "idem").await?;
        check(a.id == b.id, || {
            format!("two collections for one name: {} and {}", a.id, b.id)
        })?;
        let n = h
            .store
            .list_collections(kind)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|c| c.name == a.name)
            .count();
        check(n == 1, || {
            format!("{n} {kind} collections named {}", a.name)
        })?;
    }
    Ok(Outcome::Passed)
}

/// A contact and a recurring series come back with every property the store declares it
/// keeps (compared after fitting them to its capabilities).
///
/// # Errors
/// What failed, as text.
pub async fn round_trip_keeps_declared_properties(h: &PimHarness) -> CaseResult {
    let caps = h.store.pim_capabilities();
    let mut ran = false;
    for (kind, item) in [
        (
            PimKind::Contacts,
            sample_contact(&format!("rt-{}", h.run_id)),
        ),
        (
            PimKind::Events,
            sample_series(&format!("rt-{}@example.com", h.run_id)),
        ),
    ] {
        if !caps.holds(kind) {
            continue;
        }
        ran = true;
        let c = h.collection(kind, "roundtrip").await?;
        let written = write_one(h, &c.id, ItemWrite::create(item.clone()))
            .await?
            .map_err(|e| format!("write of {kind}: {e}"))?;
        let back = fetch_one(h, &c.id, &written.id).await?;
        let mut expected = item;
        adapt(&mut expected, &caps);
        let d = crate::pim::verify::compare(
            expected.uid().unwrap_or_default(),
            &expected.payload,
            &back.payload,
        );
        check(d.is_empty(), || {
            format!("{kind} came back different: {d:?}")
        })?;
    }
    if ran {
        Ok(Outcome::Passed)
    } else {
        skip("holds neither contacts nor events")
    }
}

/// A second create of a `UID` is `AlreadyExists` and the collection holds one copy.
///
/// # Errors
/// What failed, as text.
pub async fn create_is_exactly_once(h: &PimHarness) -> CaseResult {
    let caps = h.store.pim_capabilities();
    if !caps.conditional_writes {
        return skip("no conditional_writes");
    }
    let kind = if caps.contacts {
        PimKind::Contacts
    } else {
        PimKind::Events
    };
    let c = h.collection(kind, "once").await?;
    let uid = format!("once-{}@example.com", h.run_id);
    let item = if caps.contacts {
        sample_contact(&uid)
    } else {
        sample_series(&uid)
    };
    write_one(h, &c.id, ItemWrite::create(item.clone()))
        .await?
        .map_err(|e| format!("first create: {e}"))?;
    match write_one(h, &c.id, ItemWrite::create(item)).await? {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        other => {
            return Err(format!(
                "second create answered {other:?}, not AlreadyExists"
            ))
        }
    }
    let (listed, _) = listing(h, &c.id, None).await?;
    check(listed.len() == 1, || {
        format!("{} items after two creates of one UID", listed.len())
    })?;
    Ok(Outcome::Passed)
}

/// `find_by_uid` finds a write at once, one list per `UID`, empty for an unknown one.
///
/// # Errors
/// What failed, as text.
pub async fn find_by_uid_finds_writes(h: &PimHarness) -> CaseResult {
    let caps = h.store.pim_capabilities();
    if !caps.find_by_uid {
        return skip("no find_by_uid");
    }
    let kind = if caps.contacts {
        PimKind::Contacts
    } else {
        PimKind::Events
    };
    let c = h.collection(kind, "find").await?;
    let uid = format!("find-{}@example.com", h.run_id);
    let item = if caps.contacts {
        sample_contact(&uid)
    } else {
        sample_series(&uid)
    };
    let hash = {
        let mut i = item.clone();
        adapt(&mut i, &caps);
        i.content_hash()
    };
    let w = write_one(h, &c.id, ItemWrite::create(item))
        .await?
        .map_err(|e| format!("create: {e}"))?;
    let found = h
        .store
        .find_by_uid(&c.id, &[uid.clone(), format!("absent-{uid}")])
        .await
        .map_err(|e| format!("find_by_uid: {e}"))?;
    check(found.len() == 2, || {
        format!("{} lists for 2 UIDs", found.len())
    })?;
    check(found[0].len() == 1 && found[0][0].id == w.id, || {
        format!("the write {} was not found: {:?}", w.id, found[0])
    })?;
    check(found[0][0].hash.is_none_or(|x| x == hash), || {
        "the found copy's hash is not the item's".into()
    })?;
    check(found[1].is_empty(), || {
        format!("an unknown UID found {:?}", found[1])
    })?;
    Ok(Outcome::Passed)
}

/// A replace gives a new version, and a replace on a stale version is `Conflict`.
///
/// # Errors
/// What failed, as text.
pub async fn update_changes_version(h: &PimHarness) -> CaseResult {
    let caps = h.store.pim_capabilities();
    if !caps.update || !caps.contacts {
        return skip("no update of contacts");
    }
    let c = h.collection(PimKind::Contacts, "update").await?;
    let item = sample_contact(&format!("upd-{}", h.run_id));
    let first = write_one(h, &c.id, ItemWrite::create(item.clone()))
        .await?
        .map_err(|e| format!("create: {e}"))?;
    let mut changed = item;
    changed.edit(|p| {
        if let Payload::Contact(c) = p {
            c.title = Some("Changed".into());
        }
    });
    let second = write_one(
        h,
        &c.id,
        ItemWrite::replace(changed.clone(), first.id.clone(), first.version.clone()),
    )
    .await?
    .map_err(|e| format!("replace: {e}"))?;
    check(second.id == first.id, || "a replace moved the item".into())?;
    let back = fetch_one(h, &c.id, &first.id).await?;
    check(
        back.meta.version != first.version || first.version.is_none(),
        || "the version did not change with the content".into(),
    )?;
    let Payload::Contact(got) = &back.payload else {
        return Err("a contact came back as an event".into());
    };
    check(got.title.as_deref() == Some("Changed"), || {
        "the replace did not take".into()
    })?;
    if caps.conditional_writes && first.version.is_some() {
        match write_one(
            h,
            &c.id,
            ItemWrite::replace(changed, first.id, first.version),
        )
        .await?
        {
            Err(e) if e.kind() == ErrorKind::Conflict => {}
            other => return Err(format!("a replace on a stale version answered {other:?}")),
        }
    }
    Ok(Outcome::Passed)
}

/// After a listing's checkpoint, a change, an addition and a removal are exactly what
/// the next listing holds.
///
/// # Errors
/// What failed, as text.
pub async fn incremental_listing(h: &PimHarness) -> CaseResult {
    let caps = h.store.pim_capabilities();
    if !caps.list_since || !caps.contacts || !caps.update || !caps.delete {
        return skip("no list_since with update and delete of contacts");
    }
    let c = h.collection(PimKind::Contacts, "incr").await?;
    let mut ids = Vec::new();
    for n in 0..3 {
        let w = write_one(
            h,
            &c.id,
            ItemWrite::create(sample_contact(&format!("inc{n}-{}", h.run_id))),
        )
        .await?
        .map_err(|e| format!("create: {e}"))?;
        ids.push(w);
    }
    let (_, cp) = listing(h, &c.id, None).await?;
    let mut changed = sample_contact(&format!("inc0-{}", h.run_id));
    changed.edit(|p| {
        if let Payload::Contact(c) = p {
            c.title = Some("Changed".into());
        }
    });
    write_one(
        h,
        &c.id,
        ItemWrite::replace(changed, ids[0].id.clone(), ids[0].version.clone()),
    )
    .await?
    .map_err(|e| format!("replace: {e}"))?;
    let added = write_one(
        h,
        &c.id,
        ItemWrite::create(sample_contact(&format!("inc9-{}", h.run_id))),
    )
    .await?
    .map_err(|e| format!("create: {e}"))?;
    h.store
        .delete_items(&c.id, std::slice::from_ref(&ids[1].id))
        .await
        .map_err(|e| format!("delete: {e}"))?;
    let (changes, _) = listing(h, &c.id, cp).await?;
    let mut upserts: Vec<&str> = Vec::new();
    let mut removed: Vec<&str> = Vec::new();
    for ch in &changes {
        match ch {
            ItemChange::Upsert(m) => upserts.push(m.id.as_str()),
            ItemChange::Removed(id) => removed.push(id.as_str()),
            ItemChange::Reset => return Err("a fresh checkpoint was reset".into()),
            _ => {}
        }
    }
    upserts.sort_unstable();
    let mut want = vec![ids[0].id.as_str(), added.id.as_str()];
    want.sort_unstable();
    check(upserts == want, || {
        format!("changed/added listed as {upserts:?}, want {want:?}")
    })?;
    check(removed == [ids[1].id.as_str()], || {
        format!("removed listed as {removed:?}")
    })?;
    Ok(Outcome::Passed)
}

/// The engine copies a series and contacts into the store, a lost state file duplicates
/// nothing, and no attendee is mailed.
///
/// # Errors
/// What failed, as text.
pub async fn engine_round_trip_and_lost_state(h: &PimHarness) -> CaseResult {
    let caps = h.store.pim_capabilities();
    if !caps.find_by_uid || !caps.write {
        return skip("no find_by_uid");
    }
    let src = MemoryPim::new("testkit");
    let mut kinds = Vec::new();
    for kind in PimKind::ALL.into_iter().filter(|k| caps.holds(*k)) {
        kinds.push(kind);
        let c = src
            .ensure_collection(&Collection::new(
                CollectionId::new("x"),
                kind,
                format!("mm-test-{}-engine", h.run_id),
            ))
            .await
            .map_err(|e| e.to_string())?;
        for n in 0..3 {
            let uid = format!("eng{n}-{}@example.com", h.run_id);
            let item = match kind {
                PimKind::Contacts => sample_contact(&uid),
                _ => sample_series(&uid),
            };
            src.put(&c.id, item);
        }
    }
    let state = MemoryState::new();
    let options = crate::pim::sync::PimSyncOptions::default().with_kinds(kinds.clone());
    let first = PimSync::new(&src, &*h.store, &state, "testkit")
        .with_options(options.clone())
        .run()
        .await
        .map_err(|e| e.to_string())?;
    check(
        first.is_clean() && first.totals().written == 3 * kinds.len() as u64,
        || format!("first copy: {first:?}"),
    )?;
    let fresh = MemoryState::new();
    let again = PimSync::new(&src, &*h.store, &fresh, "testkit")
        .with_options(options)
        .run()
        .await
        .map_err(|e| e.to_string())?;
    check(
        again.totals().written == 0 && again.totals().adopted == 3 * kinds.len() as u64,
        || format!("after a lost state: {again:?}"),
    )?;
    let report = crate::pim::verify::verify_pim(&src, &*h.store, &kinds, 50)
        .await
        .map_err(|e| e.to_string())?;
    let ours: Vec<_> = report
        .collections
        .iter()
        .filter(|c| c.name.ends_with("-engine"))
        .collect();
    check(
        ours.iter().all(|c| c.is_equal() && c.extra.is_empty()),
        || format!("verification: {ours:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// Expands to one test per contact and calendar conformance case. The argument is an
/// async block giving `Option<PimHarness>` (`None` skips, as when a server is not
/// configured).
#[macro_export]
macro_rules! pim_conformance_tests {
    ($setup:expr $(,)?) => {
        $crate::__pim_case!($setup, ensure_is_idempotent);
        $crate::__pim_case!($setup, round_trip_keeps_declared_properties);
        $crate::__pim_case!($setup, create_is_exactly_once);
        $crate::__pim_case!($setup, find_by_uid_finds_writes);
        $crate::__pim_case!($setup, update_changes_version);
        $crate::__pim_case!($setup, incremental_listing);
        $crate::__pim_case!($setup, engine_round_trip_and_lost_state);
    };
}

/// One case of [`pim_conformance_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __pim_case {
    ($setup:expr, $case:ident) => {
        #[test]
        fn $case() {
            $crate::testkit::__private::block_on(async {
                let harness: ::std::option::Option<$crate::testkit::pim::PimHarness> = $setup.await;
                if let ::std::option::Option::Some(h) = harness {
                    match $crate::testkit::pim::$case(&h).await {
                        ::std::result::Result::Ok($crate::testkit::Outcome::Passed) => {}
                        ::std::result::Result::Ok($crate::testkit::Outcome::Skipped(why)) => {
                            eprintln!("{} skipped: {why}", stringify!($case));
                        }
                        ::std::result::Result::Err(e) => panic!("{}: {e}", stringify!($case)),
                        ::std::result::Result::Ok(other) => {
                            panic!("{}: {other:?}", stringify!($case))
                        }
                    }
                }
            });
        }
    };
}
