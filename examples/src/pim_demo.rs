//! The demo's address book and calendar: generated once into a backup directory
//! (`vdir`), migrated into another beside the mail, verified property by property.

use std::fmt;
use std::path::Path;

use mailmigrate_core::pim::sync::{PimReport, PimSync, PimSyncOptions};
use mailmigrate_core::pim::verify::{verify_pim, PimVerifyReport};
use mailmigrate_core::pim::{
    Collection, CollectionId, ItemId, ItemMeta, ItemWrite, PimDestination, PimItem, PimKind,
    PimSource, PimStore, VdirStore, WriteOptions,
};
use mailmigrate_core::state::StateStore;
use mailmigrate_core::Result;

/// Contacts in the demo address book.
pub const DEMO_CONTACTS: usize = 200;

const ZONES: [(&str, &str, &str); 3] = [
    ("Europe/Berlin", "+0100", "+0200"),
    ("America/New_York", "-0500", "-0400"),
    ("Asia/Tokyo", "+0900", "+0900"),
];

/// The demo contacts: every tenth has four e-mail addresses, one a vCard 3.0 card.
pub fn demo_contacts(count: usize) -> Vec<PimItem> {
    (0..count)
        .map(|n| {
            let emails: String = (0..if n % 10 == 0 { 4 } else { 1 })
                .map(|e| format!("EMAIL;TYPE=work:person{n}.{e}@example.com\r\n"))
                .collect();
            let version = if n % 7 == 0 { "3.0" } else { "4.0" };
            let text = format!(
                "BEGIN:VCARD\r\nVERSION:{version}\r\nUID:demo-contact-{n}\r\nFN:Person {n}\r\n\
                 N:{n};Person;;;\r\n{emails}TEL;TYPE=cell:+1 555 01{:02}\r\n\
                 ORG:Example Inc.\r\nX-DEMO-SEQ:{n}\r\nEND:VCARD\r\n",
                n % 100
            );
            item(PimKind::Contacts, &format!("c{n}"), text)
        })
        .collect()
}

/// The demo events: a weekly meeting in each of three time zones with one excluded date
/// and one moved occurrence, and an all-day event.
pub fn demo_events() -> Vec<PimItem> {
    let mut out: Vec<PimItem> = ZONES
        .iter()
        .enumerate()
        .map(|(i, (tz, std, dst))| {
            let text = format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailmigrate//demo//EN\r\n\
BEGIN:VTIMEZONE\r\nTZID:{tz}\r\nBEGIN:STANDARD\r\nDTSTART:19701101T020000\r\n\
TZOFFSETFROM:{dst}\r\nTZOFFSETTO:{std}\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:demo-weekly-{i}@example.com\r\nDTSTAMP:20250101T000000Z\r\n\
DTSTART;TZID={tz}:20250106T09{i}000\r\nDTEND;TZID={tz}:20250106T09{i}500\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=20\r\nEXDATE;TZID={tz}:20250120T09{i}000\r\n\
SUMMARY:Weekly sync {i}\r\nORGANIZER;CN=Ann:mailto:ann@example.com\r\n\
ATTENDEE;CN=Bo;PARTSTAT=ACCEPTED:mailto:bo@example.com\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\nDESCRIPTION:Weekly sync\r\nEND:VALARM\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:demo-weekly-{i}@example.com\r\nDTSTAMP:20250101T000000Z\r\n\
RECURRENCE-ID;TZID={tz}:20250113T09{i}000\r\n\
DTSTART;TZID={tz}:20250113T11{i}000\r\nDTEND;TZID={tz}:20250113T11{i}500\r\n\
SUMMARY:Weekly sync {i} (moved)\r\nORGANIZER;CN=Ann:mailto:ann@example.com\r\n\
ATTENDEE;CN=Bo;PARTSTAT=ACCEPTED:mailto:bo@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            );
            item(PimKind::Events, &format!("weekly-{i}"), text)
        })
        .collect();
    out.push(item(
        PimKind::Events,
        "offsite",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:demo-offsite@example.com\r\n\
         DTSTAMP:20250101T000000Z\r\nDTSTART;VALUE=DATE:20250310\r\nDTEND;VALUE=DATE:20250312\r\n\
         SUMMARY:Team offsite\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            .to_owned(),
    ));
    out
}

fn item(kind: PimKind, id: &str, text: String) -> PimItem {
    PimItem::parse(kind, ItemMeta::new(ItemId::new(id)), text.into())
        .unwrap_or_else(|e| unreachable!("the demo item {id} parses: {e}"))
}

/// Opens the demo's source backup at `dir`, generating it the first time (a marker file
/// says it is complete). Returns the store and how many items it generated.
///
/// # Errors
/// I/O errors of the directory store.
pub async fn ensure_demo_pim(dir: &Path, marker: &Path) -> Result<(VdirStore, usize)> {
    let store = VdirStore::open(dir)?;
    if marker.exists() {
        return Ok((store, 0));
    }
    let mut generated = 0;
    for (kind, name, items) in [
        (PimKind::Contacts, "Contacts", demo_contacts(DEMO_CONTACTS)),
        (PimKind::Events, "Team calendar", demo_events()),
    ] {
        let c = store
            .ensure_collection(&Collection::new(CollectionId::new(name), kind, name))
            .await?;
        let writes = items.into_iter().map(ItemWrite::create).collect();
        for answer in store
            .write_items(&c.id, writes, &WriteOptions::default())
            .await?
        {
            match answer {
                Ok(_) => generated += 1,
                // Already there from an interrupted generation.
                Err(e) if e.kind() == mailmigrate_core::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }
    std::fs::write(marker, b"complete\n").map_err(mailmigrate_core::Error::from)?;
    Ok((store, generated))
}

/// A contact and calendar pass and its verification.
#[derive(Debug)]
pub struct PimOutcome {
    /// What the pass did.
    pub report: PimReport,
    /// The property-by-property comparison after it.
    pub verification: PimVerifyReport,
}

impl PimOutcome {
    /// The exit code this outcome alone calls for (the same table as mail).
    pub fn exit_code(&self) -> u8 {
        let t = self.report.totals();
        let refused = self
            .report
            .collections
            .iter()
            .flat_map(|c| &c.failures)
            .any(|f| f.final_for_item);
        if t.pending > 0 || !self.report.collections.iter().all(|c| c.complete) {
            2
        } else if !self.verification.is_equal() && !refused {
            4
        } else if refused {
            3
        } else {
            0
        }
    }
}

impl fmt::Display for PimOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.report.collections {
            let n = &c.counts;
            writeln!(
                f,
                "  {} {:?}: {} listed, {} written ({} updated), {} found already there, \
                 {} deleted, {} pending, {} failed",
                c.kind,
                c.name,
                n.listed,
                n.written,
                n.updated,
                n.adopted,
                n.deleted,
                n.pending,
                n.failed
            )?;
            for t in &c.transformations {
                writeln!(f, "    transformed: {t}")?;
            }
            for x in &c.failures {
                writeln!(f, "    failed: {} ({})", x.src_id, x.message)?;
            }
        }
        for v in &self.verification.collections {
            let verdict = if v.is_equal() { "equal" } else { "DIFFERENT" };
            writeln!(
                f,
                "  verified {} {:?}: {} at the source, {} at the destination, {} property-equal, {verdict}",
                v.kind, v.name, v.source_items, v.dest_items, v.equal
            )?;
            for d in &v.differences {
                writeln!(
                    f,
                    "    {}: {} differs ({} missing, {} extra)",
                    d.uid, d.property, d.missing, d.extra
                )?;
            }
            for m in &v.missing {
                writeln!(f, "    missing: {m}")?;
            }
        }
        Ok(())
    }
}

/// Migrates every address book and calendar of `source` into `dest` (a pass unless
/// `verify_only`), then verifies them.
///
/// # Errors
/// Errors listing collections or of the state store.
pub async fn run_pim(
    source: &dyn PimSource,
    dest: &dyn PimStore,
    state: &dyn StateStore,
    job: &str,
    verify_only: bool,
) -> Result<PimOutcome> {
    run_pim_with(
        source,
        dest,
        state,
        job,
        PimSyncOptions::default(),
        verify_only,
    )
    .await
}

/// [`run_pim`] with engine options (kinds, deletions, notifications, batch size).
///
/// # Errors
/// As [`run_pim`].
pub async fn run_pim_with(
    source: &dyn PimSource,
    dest: &dyn PimStore,
    state: &dyn StateStore,
    job: &str,
    options: PimSyncOptions,
    verify_only: bool,
) -> Result<PimOutcome> {
    let kinds = options.kinds.clone();
    let report = if verify_only {
        PimReport::default()
    } else {
        PimSync::new(source, dest, state, job)
            .with_options(options)
            .run()
            .await?
    };
    let verification = verify_pim(source, dest, &kinds, 100).await?;
    Ok(PimOutcome {
        report,
        verification,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_demo_address_book_and_calendar_migrate_property_equal() {
        let dir = tempfile::tempdir().unwrap();
        let (src, generated) =
            ensure_demo_pim(&dir.path().join("src"), &dir.path().join("src.complete"))
                .await
                .unwrap();
        assert_eq!(generated, DEMO_CONTACTS + 4);
        let dest = VdirStore::open(dir.path().join("dest")).unwrap();
        let state = mailmigrate_core::state::MemoryState::new();
        let out = run_pim(&src, &dest, &state, "demo", false).await.unwrap();
        assert_eq!(out.exit_code(), 0, "{out}");
        assert_eq!(out.report.totals().written, (DEMO_CONTACTS + 4) as u64);
        let again = run_pim(&src, &dest, &state, "demo", false).await.unwrap();
        assert_eq!(again.report.totals().written, 0);
        assert_eq!(again.exit_code(), 0);
        let (_, generated) =
            ensure_demo_pim(&dir.path().join("src"), &dir.path().join("src.complete"))
                .await
                .unwrap();
        assert_eq!(generated, 0, "generated once");
    }
}
