//! Verification: proof, folder by folder, that a destination holds what the source holds.
//!
//! [`verify`] compares any two [`Source`]s (the destination is read back through its
//! `Source` side), so it works after any migration, including one not made by mailmigrate.
//! Messages are compared as multisets of [`ContentHash`]: two identical copies in the
//! source need two in the destination. Per folder it reports
//! - **missing**: in the source, not in the destination;
//! - **extra**: in the destination, not in the source;
//! - **changed (content)**: a source message and its copy with different bytes, paired by
//!   the migration's ledger when the caller knows it ([`FolderPair::with_copies`]), else by
//!   the same `Message-ID` on both sides: one changed message is reported once, never as
//!   missing plus extra;
//! - **changed (flags)** and **changed (date)**: identical bytes whose flags or internal date
//!   differ;
//! - **recorded failures**: source messages the migration recorded as failed for good
//!   ([`FolderPair::with_failed`]): listed, not counted as missing;
//! - **unreadable** items (a failed fetch is listed, never aborts the report). An
//!   unreadable item takes no part in the comparison, so its counterpart on the other
//!   side is reported missing or extra as well: the report never calls it verified.
//!
//! Memory stays bounded: bodies are fetched in batches and dropped once hashed; per folder
//! only a small record (id, hash, Message-ID, flags, date) is kept for each message.
//!
//! # Examples
//! ```
//! use mailmigrate_core::store::MemoryStore;
//! use mailmigrate_core::verify::{pair_by_path, verify, VerifyOptions};
//! use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let (old, new) = (MemoryStore::new("old"), MemoryStore::new("new"));
//! for store in [&old, &new] {
//!     let inbox = store.ensure_folder(&FolderPath::inbox(), None).await.unwrap().id;
//!     let msg = RawMessage::new(
//!         MessageMeta::new(MessageId::new("x"), inbox.clone()),
//!         bytes::Bytes::from_static(b"Message-ID: <1@example.com>\r\n\r\nhello"),
//!     );
//!     store.append(&inbox, vec![msg]).await.unwrap();
//! }
//! let pairs = pair_by_path(&old, &new).await.unwrap();
//! let report = verify(&old, &new, &pairs, &VerifyOptions::default()).await.unwrap();
//! assert!(report.is_clean());
//! assert!(report.to_string().contains("OK"));
//! # });
//! ```

pub(crate) mod parsed;
mod report;
mod text;

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    Capabilities, Change, ContentHash, Error, ErrorKind, Flag, Flags, Folder, MessageId, Operation,
    Result, Source,
};

pub use parsed::parsed_fingerprint;
pub use report::{
    ChangedItem, Counts, DateDifference, ExtraItem, FlagDifference, FolderError, FolderRef,
    FolderReport, MissingItem, Side, Totals, UnreadableItem, VerifyReport,
};

/// A source folder and the destination folder that should hold the same messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FolderPair {
    /// The folder migrated from.
    pub source: FolderRef,
    /// The folder migrated to; `None` when the destination has no such folder, in which case
    /// every source message is reported missing.
    pub dest: Option<FolderRef>,
    /// Known copies, source id → destination id (a migration ledger): a source message whose
    /// bytes match nothing is paired with its recorded copy and reported changed.
    #[serde(default)]
    pub copies: HashMap<MessageId, MessageId>,
    /// Source ids the migration recorded as failed for good: when absent at the
    /// destination they are reported as recorded failures, not as missing.
    #[serde(default)]
    pub failed: HashSet<MessageId>,
}

impl FolderPair {
    /// Pairs a source folder with its destination folder.
    pub fn new(source: FolderRef, dest: Option<FolderRef>) -> Self {
        Self {
            source,
            dest,
            copies: HashMap::new(),
            failed: HashSet::new(),
        }
    }

    /// Adds known copies (source id, destination id), e.g. from a migration ledger.
    #[must_use]
    pub fn with_copies(mut self, copies: impl IntoIterator<Item = (MessageId, MessageId)>) -> Self {
        self.copies.extend(copies);
        self
    }

    /// Adds source ids recorded as failed for good (not copied on purpose).
    #[must_use]
    pub fn with_failed(mut self, failed: impl IntoIterator<Item = MessageId>) -> Self {
        self.failed.extend(failed);
        self
    }
}

/// How [`verify`] compares. Build with [`VerifyOptions::default`] and the `with_*` setters,
/// or from the destination's capabilities with [`VerifyOptions::for_destination`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Ids per fetch call (default 64). Memory is bounded by this times the largest message.
    pub batch_size: usize,
    /// Compare system flags (default true).
    pub compare_flags: bool,
    /// Compare keywords too (default true); turn off when the destination cannot store them.
    pub compare_keywords: bool,
    /// Compare internal dates to the second (default true).
    pub compare_dates: bool,
    /// The most entries kept per list and folder (default 10 000); counts stay exact.
    pub max_listed: usize,
    /// Hash source messages in their CRLF-canonical form (default false): set for a
    /// destination that [requires CRLF](Capabilities::requires_crlf), which stores bare LF
    /// as CRLF.
    pub canonical_crlf: bool,
    /// Expect the source's labels among the destination's keywords, as
    /// [`Flag::from_label`] makes them (default false): set when the engine carried labels as
    /// keywords ([`LabelPolicy::as_keywords`](crate::engine::LabelPolicy::as_keywords)).
    pub labels_as_keywords: bool,
    /// Hash source messages with 8-bit header bytes as `X` (default false): set for a
    /// destination that [stores them so](Capabilities::replaces_8bit_header_bytes); the
    /// engine counts those messages in
    /// [`Stats::header_bytes_replaced`](crate::engine::Stats::header_bytes_replaced).
    pub header_8bit_as_x: bool,
    /// Compare messages by what they say ([`parsed_fingerprint`]) instead of their bytes
    /// (default false): set for a destination that stores them rewritten (without
    /// [`byte_exact`](Capabilities::byte_exact)), where no copy has its source's bytes.
    pub compare_parsed: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            batch_size: 64,
            compare_flags: true,
            compare_keywords: true,
            compare_dates: true,
            max_listed: 10_000,
            canonical_crlf: false,
            labels_as_keywords: false,
            header_8bit_as_x: false,
            compare_parsed: false,
        }
    }
}

impl VerifyOptions {
    /// Options that skip what a destination with `caps` cannot store: flags without
    /// `append_with_flags`, keywords without `append_with_keywords`, dates without
    /// `append_with_internal_date`; hashes the source in CRLF form where the destination
    /// requires CRLF; compares parsed messages where it is not `byte_exact`.
    ///
    /// ```
    /// use mailmigrate_core::verify::VerifyOptions;
    /// use mailmigrate_core::Capabilities;
    /// let caps = Capabilities { append_with_flags: true, ..Capabilities::default() };
    /// let opts = VerifyOptions::for_destination(&caps);
    /// assert!(opts.compare_flags && !opts.compare_keywords && !opts.compare_dates);
    /// ```
    pub fn for_destination(caps: &Capabilities) -> Self {
        Self {
            compare_flags: caps.append_with_flags,
            compare_keywords: caps.append_with_flags && caps.append_with_keywords,
            compare_dates: caps.append_with_internal_date,
            canonical_crlf: caps.requires_crlf,
            header_8bit_as_x: caps.replaces_8bit_header_bytes,
            compare_parsed: !caps.byte_exact,
            ..Self::default()
        }
    }

    /// The capabilities that say which form the destination stores messages in.
    fn stored_form(&self) -> Capabilities {
        Capabilities {
            requires_crlf: self.canonical_crlf,
            replaces_8bit_header_bytes: self.header_8bit_as_x,
            ..Capabilities::default()
        }
    }

    /// Sets the number of ids per fetch call.
    #[must_use]
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Sets whether flags are compared.
    #[must_use]
    pub fn with_compare_flags(mut self, on: bool) -> Self {
        self.compare_flags = on;
        self
    }

    /// Sets whether keywords are compared (only when flags are).
    #[must_use]
    pub fn with_compare_keywords(mut self, on: bool) -> Self {
        self.compare_keywords = on;
        self
    }

    /// Sets whether internal dates are compared.
    #[must_use]
    pub fn with_compare_dates(mut self, on: bool) -> Self {
        self.compare_dates = on;
        self
    }

    /// Sets whether the source's labels are expected among the destination's keywords.
    #[must_use]
    pub fn with_labels_as_keywords(mut self, on: bool) -> Self {
        self.labels_as_keywords = on;
        self
    }

    /// Sets whether messages are compared as parsed ([`parsed_fingerprint`]) instead of
    /// as bytes.
    #[must_use]
    pub fn with_compare_parsed(mut self, on: bool) -> Self {
        self.compare_parsed = on;
        self
    }

    /// Sets the most entries kept per difference list and folder.
    #[must_use]
    pub fn with_max_listed(mut self, n: usize) -> Self {
        self.max_listed = n;
        self
    }
}

/// Pairs every selectable source folder with the destination folder of the same
/// special-use role, else of the same path (the inbox matches case-insensitively).
///
/// Virtual source folders (`\All`, `\Important`, `\Flagged`) are skipped: their messages
/// live in other folders, which are compared instead. A source folder with no counterpart
/// is paired with `None`, so [`verify`] reports its messages missing.
///
/// # Errors
/// Whatever either side's `list_folders` returns.
pub async fn pair_by_path(source: &dyn Source, dest: &dyn Source) -> Result<Vec<FolderPair>> {
    let src_folders = source.list_folders().await?;
    let dest_folders: Vec<Folder> = dest
        .list_folders()
        .await?
        .into_iter()
        .filter(|f| f.selectable)
        .collect();
    let mut pairs = Vec::new();
    for f in src_folders.iter().filter(|f| f.selectable) {
        if f.role.is_some_and(crate::SpecialUse::is_virtual) {
            continue;
        }
        let by_role = f
            .role
            .and_then(|r| dest_folders.iter().find(|d| d.role == Some(r)));
        let by_path = || {
            dest_folders
                .iter()
                .find(|d| d.path == f.path || (d.path.is_inbox() && f.path.is_inbox()))
        };
        let found = by_role.or_else(by_path);
        pairs.push(FolderPair::new(
            FolderRef::from(f),
            found.map(FolderRef::from),
        ));
    }
    Ok(pairs)
}

/// Compares each folder pair and reports every difference.
///
/// Listing failures are recorded in the folder's report ([`FolderReport::error`]) and
/// per-item fetch failures as [`UnreadableItem`]s; neither stops the comparison of the
/// rest.
///
/// # Errors
/// [`ErrorKind::ConfigInvalid`] when `opts.batch_size` is 0.
pub async fn verify(
    source: &dyn Source,
    dest: &dyn Source,
    pairs: &[FolderPair],
    opts: &VerifyOptions,
) -> Result<VerifyReport> {
    if opts.batch_size == 0 {
        return Err(Error::new(
            ErrorKind::ConfigInvalid,
            "verify batch size must be at least 1",
        ));
    }
    let mut folders = Vec::with_capacity(pairs.len());
    for pair in pairs {
        folders.push(verify_folder(source, dest, pair, opts).await);
    }
    Ok(VerifyReport::from_folders(folders))
}

/// What verification keeps per message: no body.
#[derive(Debug)]
struct Record {
    id: MessageId,
    hash: Option<ContentHash>,
    message_id: Option<String>,
    flags: Flags,
    date: Option<OffsetDateTime>,
}

async fn verify_folder(
    source: &dyn Source,
    dest: &dyn Source,
    pair: &FolderPair,
    opts: &VerifyOptions,
) -> FolderReport {
    let mut report = FolderReport::new(pair.source.clone(), pair.dest.clone());
    let src = match read_side(source, &pair.source, Side::Source, opts, &mut report).await {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(folder_error(Side::Source, &e));
            return report;
        }
    };
    report.counts.source = src.len() as u64;
    let dst = match &pair.dest {
        Some(d) => match read_side(dest, d, Side::Dest, opts, &mut report).await {
            Ok(r) => r,
            Err(e) => {
                report.error = Some(folder_error(Side::Dest, &e));
                return report;
            }
        },
        None => Vec::new(),
    };
    report.counts.dest = dst.len() as u64;
    compare(&src, &dst, pair, opts, &mut report);
    report
}

/// Names the operation and folder of a listing error, unless the backend already did.
fn name_listing_error(mut e: Error, folder: &FolderRef) -> Error {
    if e.operation() == Operation::Unknown {
        e = e.with_operation(Operation::ListChanges);
    }
    if e.context("folder").is_none() {
        e = e.with_context("folder", &folder.path);
    }
    e
}

fn folder_error(side: Side, e: &Error) -> FolderError {
    FolderError {
        side,
        kind: e.kind(),
        error: e.to_string(),
    }
}

fn push_capped<T>(list: &mut Vec<T>, item: T, max: usize, truncated: &mut bool) {
    if list.len() < max {
        list.push(item);
    } else {
        *truncated = true;
    }
}

/// Lists one folder, then fetches and hashes its messages in bounded batches.
async fn read_side(
    provider: &dyn Source,
    folder: &FolderRef,
    side: Side,
    opts: &VerifyOptions,
    report: &mut FolderReport,
) -> Result<Vec<Record>> {
    let mut records: Vec<Record> = Vec::new();
    let mut index: HashMap<MessageId, usize> = HashMap::new();
    let mut changes = provider.list_changes(&folder.id, None);
    while let Some(change) = changes.next().await {
        match change.map_err(|e| name_listing_error(e, folder))? {
            Change::Upsert(mut meta) => {
                if opts.labels_as_keywords && side == Side::Source {
                    let labels = std::mem::take(&mut meta.labels);
                    meta.flags
                        .extend(labels.iter().map(|l| Flag::from_label(l)));
                }
                let rec = Record {
                    id: meta.id.clone(),
                    hash: None,
                    message_id: meta.message_id,
                    flags: meta.flags,
                    date: meta.internal_date,
                };
                match index.get(&meta.id) {
                    Some(&i) => records[i] = rec,
                    None => {
                        index.insert(meta.id, records.len());
                        records.push(rec);
                    }
                }
            }
            Change::Removed(id) => {
                if let Some(i) = index.remove(&id) {
                    records.swap_remove(i);
                    if let Some(moved) = records.get(i) {
                        index.insert(moved.id.clone(), i);
                    }
                }
            }
            Change::Reset => {
                records.clear();
                index.clear();
            }
            // A full listing needs no checkpoint; future change kinds carry no message.
            _ => {}
        }
    }
    drop(changes);

    let cap = provider.capabilities().fetch_batch_max;
    let batch = if cap > 0 {
        opts.batch_size.min(cap)
    } else {
        opts.batch_size
    };
    let mut seen = vec![false; records.len()];
    for start in (0..records.len()).step_by(batch) {
        let end = (start + batch).min(records.len());
        let ids: Vec<MessageId> = records[start..end].iter().map(|r| r.id.clone()).collect();
        let mut fetched = provider.fetch(&folder.id, ids);
        while let Some((id, result)) = fetched.next().await {
            let Some(&i) = index.get(&id) else { continue };
            if seen[i] {
                continue;
            }
            seen[i] = true;
            match result {
                Ok(msg) => {
                    let rec = &mut records[i];
                    rec.hash = Some(if opts.compare_parsed {
                        parsed_fingerprint(&msg.bytes)
                    } else if side == Side::Source {
                        ContentHash::of(&opts.stored_form().stored_form(&msg.bytes))
                    } else {
                        msg.content_hash()
                    });
                    if rec.message_id.is_none() {
                        rec.message_id = crate::headers::message_id(&msg.bytes);
                    }
                }
                Err(e) => {
                    let e = e.with_item(&folder.path, &id);
                    unreadable(report, opts, side, id, &e);
                }
            }
        }
        for i in start..end {
            if !seen[i] {
                seen[i] = true;
                let e = Error::new(ErrorKind::NotFound, "listed but not returned by fetch")
                    .with_operation(Operation::Fetch)
                    .with_item(&folder.path, &records[i].id);
                let id = records[i].id.clone();
                unreadable(report, opts, side, id, &e);
            }
        }
    }
    Ok(records)
}

fn unreadable(
    report: &mut FolderReport,
    opts: &VerifyOptions,
    side: Side,
    id: MessageId,
    e: &Error,
) {
    report.counts.unreadable += 1;
    let item = UnreadableItem {
        side,
        id,
        kind: e.kind(),
        error: e.to_string(),
    };
    push_capped(
        &mut report.unreadable,
        item,
        opts.max_listed,
        &mut report.truncated,
    );
}

fn comparable_flags(flags: &Flags, opts: &VerifyOptions) -> BTreeSet<Flag> {
    if !opts.compare_flags {
        return BTreeSet::new();
    }
    flags
        .iter()
        .filter(|f| opts.compare_keywords || !f.is_keyword())
        .cloned()
        .collect()
}

fn same_date(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> bool {
    match (a, b) {
        // A source without dates gives nothing to compare.
        (None, _) => true,
        (Some(a), Some(b)) => a.unix_timestamp() == b.unix_timestamp(),
        (Some(_), None) => false,
    }
}

/// Compares two sides as multisets of content hash and fills the report.
fn compare(
    src: &[Record],
    dst: &[Record],
    pair: &FolderPair,
    opts: &VerifyOptions,
    report: &mut FolderReport,
) {
    let max = opts.max_listed;
    let mut by_hash: HashMap<ContentHash, Vec<usize>> = HashMap::new();
    for (i, r) in dst.iter().enumerate() {
        if let Some(h) = r.hash {
            by_hash.entry(h).or_default().push(i);
        }
    }
    let mut unmatched_src: Vec<(usize, ContentHash)> = Vec::new();
    let mut matched: Vec<(usize, usize)> = Vec::new();
    for (si, s) in src.iter().enumerate() {
        let Some(h) = s.hash else { continue };
        let Some(cands) = by_hash.get_mut(&h).filter(|c| !c.is_empty()) else {
            unmatched_src.push((si, h));
            continue;
        };
        // Among identical copies, prefer the recorded copy, then one whose flags and date
        // agree, so duplicates with different flags are not cross-paired into spurious
        // differences.
        let sf = comparable_flags(&s.flags, opts);
        let recorded = pair.copies.get(&s.id);
        let pos = cands
            .iter()
            .position(|&di| recorded == Some(&dst[di].id))
            .or_else(|| {
                cands.iter().position(|&di| {
                    comparable_flags(&dst[di].flags, opts) == sf
                        && (!opts.compare_dates || same_date(s.date, dst[di].date))
                })
            })
            .unwrap_or(0);
        matched.push((si, cands.swap_remove(pos)));
    }
    let mut unmatched_dst: Vec<(usize, ContentHash)> = by_hash
        .into_iter()
        .flat_map(|(h, v)| v.into_iter().map(move |di| (di, h)))
        .collect();
    unmatched_dst.sort_unstable_by_key(|&(di, _)| di);

    // A source message and a destination message that are the same message with different
    // bytes: changed, not missing plus extra. The ledger's pairing comes first, then the
    // same Message-ID.
    let mut dst_by_id: HashMap<&MessageId, (usize, ContentHash)> = HashMap::new();
    let mut dst_by_mid: HashMap<&str, Vec<(usize, ContentHash)>> = HashMap::new();
    for &(di, h) in &unmatched_dst {
        dst_by_id.insert(&dst[di].id, (di, h));
        if let Some(m) = dst[di].message_id.as_deref() {
            dst_by_mid.entry(m).or_default().push((di, h));
        }
    }
    let mut changed_dst: HashSet<usize> = HashSet::new();
    for &(si, source_hash) in &unmatched_src {
        let s = &src[si];
        let by_ledger = pair
            .copies
            .get(&s.id)
            .and_then(|d| dst_by_id.get(d))
            .copied()
            .filter(|(di, _)| !changed_dst.contains(di));
        let by_mid = || {
            let v = dst_by_mid.get_mut(s.message_id.as_deref()?)?;
            v.retain(|(di, _)| !changed_dst.contains(di));
            (!v.is_empty()).then(|| v.remove(0))
        };
        let Some((di, dest_hash)) = by_ledger.or_else(by_mid) else {
            let item = MissingItem {
                source_id: s.id.clone(),
                message_id: s.message_id.clone(),
                hash: source_hash,
            };
            if pair.failed.contains(&s.id) {
                report.counts.failed += 1;
                push_capped(&mut report.failed, item, max, &mut report.truncated);
            } else {
                report.counts.missing += 1;
                push_capped(&mut report.missing, item, max, &mut report.truncated);
            }
            continue;
        };
        changed_dst.insert(di);
        report.counts.changed += 1;
        let item = ChangedItem {
            source_id: s.id.clone(),
            dest_id: dst[di].id.clone(),
            message_id: s
                .message_id
                .clone()
                .or_else(|| dst[di].message_id.clone())
                .unwrap_or_default(),
            source_hash,
            dest_hash,
        };
        push_capped(&mut report.changed, item, max, &mut report.truncated);
    }
    for &(di, hash) in unmatched_dst
        .iter()
        .filter(|(di, _)| !changed_dst.contains(di))
    {
        let d = &dst[di];
        report.counts.extra += 1;
        let item = ExtraItem {
            dest_id: d.id.clone(),
            message_id: d.message_id.clone(),
            hash,
        };
        push_capped(&mut report.extra, item, max, &mut report.truncated);
    }

    matched.sort_unstable();
    report.counts.matched = matched.len() as u64;
    for (si, di) in matched {
        let (s, d) = (&src[si], &dst[di]);
        let (sf, df) = (
            comparable_flags(&s.flags, opts),
            comparable_flags(&d.flags, opts),
        );
        if sf != df {
            report.counts.flag_differences += 1;
            let item = FlagDifference {
                source_id: s.id.clone(),
                dest_id: d.id.clone(),
                only_in_source: sf.difference(&df).cloned().collect(),
                only_in_dest: df.difference(&sf).cloned().collect(),
            };
            push_capped(
                &mut report.flag_differences,
                item,
                max,
                &mut report.truncated,
            );
        }
        if opts.compare_dates && !same_date(s.date, d.date) {
            report.counts.date_differences += 1;
            let item = DateDifference {
                source_id: s.id.clone(),
                dest_id: d.id.clone(),
                source_date: s.date,
                dest_date: d.date,
            };
            push_capped(
                &mut report.date_differences,
                item,
                max,
                &mut report.truncated,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FolderId, FolderPath};
    use time::macros::datetime;

    fn rec(id: &str, body: &[u8], mid: Option<&str>, flags: &[Flag]) -> Record {
        Record {
            id: MessageId::new(id),
            hash: Some(ContentHash::of(body)),
            message_id: mid.map(str::to_owned),
            flags: flags.iter().cloned().collect(),
            date: None,
        }
    }

    fn pair() -> FolderPair {
        let f = FolderRef::new(FolderId::new("f"), FolderPath::inbox());
        FolderPair::new(f.clone(), Some(f))
    }

    fn empty_report() -> FolderReport {
        let f = FolderRef::new(FolderId::new("f"), FolderPath::inbox());
        FolderReport::new(f.clone(), Some(f))
    }

    #[test]
    fn duplicates_are_paired_by_flags_not_crossed() {
        let src = [
            rec("s1", b"same", None, &[Flag::Seen]),
            rec("s2", b"same", None, &[]),
        ];
        let dst = [
            rec("d1", b"same", None, &[]),
            rec("d2", b"same", None, &[Flag::Seen]),
        ];
        let mut r = empty_report();
        compare(&src, &dst, &pair(), &VerifyOptions::default(), &mut r);
        assert_eq!(r.counts.matched, 2);
        assert!(r.counts.is_clean(), "{r:?}");
    }

    #[test]
    fn keywords_ignored_when_asked() {
        let kw = Flag::Keyword("$Label1".into());
        let src = [rec("s1", b"a", None, &[Flag::Seen, kw])];
        let dst = [rec("d1", b"a", None, &[Flag::Seen])];
        let mut r = empty_report();
        compare(&src, &dst, &pair(), &VerifyOptions::default(), &mut r);
        assert_eq!(r.counts.flag_differences, 1);
        assert_eq!(
            r.flag_differences[0].only_in_source,
            vec![Flag::Keyword("$Label1".into())]
        );
        let mut r = empty_report();
        let opts = VerifyOptions::default().with_compare_keywords(false);
        compare(&src, &dst, &pair(), &opts, &mut r);
        assert!(r.counts.is_clean());
    }

    #[test]
    fn dates_compare_as_instants_to_the_second() {
        let mut s = rec("s1", b"a", None, &[]);
        let mut d = rec("d1", b"a", None, &[]);
        s.date = Some(datetime!(2020-05-01 10:00:00.250 +02:00));
        d.date = Some(datetime!(2020-05-01 08:00:00 UTC));
        let mut r = empty_report();
        compare(&[s], &[d], &pair(), &VerifyOptions::default(), &mut r);
        assert!(r.counts.is_clean(), "{r:?}");
    }

    #[test]
    fn a_changed_message_without_message_id_pairs_by_the_ledger() {
        let src = [rec("s1", b"edited", None, &[])];
        let dst = [rec("d1", b"original", None, &[])];
        let mut r = empty_report();
        compare(&src, &dst, &pair(), &VerifyOptions::default(), &mut r);
        assert_eq!(
            (r.counts.missing, r.counts.extra),
            (1, 1),
            "no pairing known"
        );
        let known = pair().with_copies([(MessageId::new("s1"), MessageId::new("d1"))]);
        let mut r = empty_report();
        compare(&src, &dst, &known, &VerifyOptions::default(), &mut r);
        assert_eq!(r.counts.changed, 1);
        assert_eq!(r.counts.missing + r.counts.extra, 0, "{r:?}");
        assert_eq!(r.changed[0].dest_id, MessageId::new("d1"));
    }

    #[test]
    fn the_ledger_pairing_wins_over_another_message_id_match() {
        let src = [
            rec("s1", b"one edited", Some("a@x"), &[]),
            rec("s2", b"two edited", Some("a@x"), &[]),
        ];
        let dst = [
            rec("d1", b"one", Some("a@x"), &[]),
            rec("d2", b"two", Some("a@x"), &[]),
        ];
        let known = pair().with_copies([
            (MessageId::new("s1"), MessageId::new("d2")),
            (MessageId::new("s2"), MessageId::new("d1")),
        ]);
        let mut r = empty_report();
        compare(&src, &dst, &known, &VerifyOptions::default(), &mut r);
        assert_eq!(r.counts.changed, 2);
        assert_eq!(r.changed[0].dest_id, MessageId::new("d2"));
        assert_eq!(r.changed[1].dest_id, MessageId::new("d1"));
    }

    #[test]
    fn recorded_failures_are_listed_not_missing() {
        let src = [rec("s1", b"bad", None, &[]), rec("s2", b"lost", None, &[])];
        let mut r = empty_report();
        let known = pair().with_failed([MessageId::new("s1")]);
        compare(&src, &[], &known, &VerifyOptions::default(), &mut r);
        assert_eq!((r.counts.failed, r.counts.missing), (1, 1));
        assert_eq!(r.failed[0].source_id, MessageId::new("s1"));
        assert_eq!(r.missing[0].source_id, MessageId::new("s2"));
        r.missing.clear();
        r.counts.missing = 0;
        assert!(r.counts.is_clean(), "a recorded failure is no difference");
    }

    #[test]
    fn same_bytes_different_flags_is_a_flag_change_only() {
        let src = [rec("s1", b"m", Some("m@x"), &[Flag::Seen])];
        let dst = [rec("d1", b"m", Some("m@x"), &[])];
        let mut r = empty_report();
        compare(&src, &dst, &pair(), &VerifyOptions::default(), &mut r);
        assert_eq!(r.counts.flag_differences, 1);
        assert_eq!(r.counts.changed + r.counts.missing + r.counts.extra, 0);
    }

    #[test]
    fn caps_lists_but_not_counts() {
        let src: Vec<Record> = (0..5)
            .map(|i| rec(&format!("s{i}"), format!("m{i}").as_bytes(), None, &[]))
            .collect();
        let mut r = empty_report();
        let opts = VerifyOptions::default().with_max_listed(2);
        compare(&src, &[], &pair(), &opts, &mut r);
        assert_eq!(r.counts.missing, 5);
        assert_eq!(r.missing.len(), 2);
        assert!(r.truncated);
    }
}
