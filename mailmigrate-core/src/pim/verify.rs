//! Field-level verification of contacts and calendars: every item of every source
//! collection compared, property by property, with its copy at the destination.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::sync::{adapt, assigned_uid, ledger_folder, Transformation};
use super::{Collection, ItemChange, ItemId, Payload, PimItem, PimKind, PimSource, PimStore};
use crate::{MessageId, Result};

/// One property that differs between an item and its copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PropertyDifference {
    /// The item's `UID`.
    pub uid: String,
    /// The property, with the component it is in (`VEVENT/SUMMARY`,
    /// `VEVENT[20250113T090000]/VALARM/TRIGGER`, `EMAIL`).
    pub property: String,
    /// Values the source has and the copy lacks.
    pub missing: usize,
    /// Values the copy has and the source lacks.
    pub extra: usize,
}

/// One collection's comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CollectionCheck {
    /// What it holds.
    pub kind: PimKind,
    /// Its name (the same at both ends).
    pub name: String,
    /// Items at the source.
    pub source_items: u64,
    /// Items at the destination.
    pub dest_items: u64,
    /// Source items whose copy holds every property as the destination is expected to
    /// keep it.
    pub equal: u64,
    /// `UID`s of source items without a copy.
    pub missing: Vec<String>,
    /// `UID`s of destination items no source item has.
    pub extra: Vec<String>,
    /// What the destination was expected not to keep as it was (its declared limits).
    pub transformed: Vec<Transformation>,
    /// Properties that differ beyond that.
    pub differences: Vec<PropertyDifference>,
    /// Source items that could not be read, with the reason.
    pub unreadable: Vec<String>,
}

impl CollectionCheck {
    /// Whether the copy is complete and equal, transformations aside.
    pub fn is_equal(&self) -> bool {
        self.missing.is_empty() && self.differences.is_empty() && self.unreadable.is_empty()
    }
}

/// The comparison of every collection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PimVerifyReport {
    /// One entry per source collection.
    pub collections: Vec<CollectionCheck>,
}

impl PimVerifyReport {
    /// Whether every collection is equal.
    pub fn is_equal(&self) -> bool {
        self.collections.iter().all(CollectionCheck::is_equal)
    }
}

/// The properties of a payload as unfolded content lines, each prefixed with the
/// component it is in, counted. `BEGIN`, `END`, `VERSION` and `PRODID` are not properties
/// of the item.
fn properties(payload: &Payload) -> BTreeMap<String, usize> {
    super::canonical::comparable_lines(payload)
}

fn property_name(key: &str) -> String {
    let (path, line) = key.split_once('\u{0}').unwrap_or(("", key));
    let end = line.find([';', ':']).unwrap_or(line.len());
    let name = &line[..end];
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}/{name}")
    }
}

/// Compares two payloads property by property; empty when equal.
///
/// ```
/// use mailmigrate_core::pim::{verify::compare, *};
/// let mut a = Contact::new("Ann");
/// a.uid = Some("u".into());
/// let mut b = a.clone();
/// b.emails.push(Email::new("ann@example.com"));
/// let d = compare("u", &Payload::Contact(Box::new(a)), &Payload::Contact(Box::new(b)));
/// assert_eq!((d[0].property.as_str(), d[0].missing, d[0].extra), ("EMAIL", 0, 1));
/// ```
pub fn compare(uid: &str, source: &Payload, copy: &Payload) -> Vec<PropertyDifference> {
    let (a, b) = (properties(source), properties(copy));
    let mut by_name: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (k, n) in &a {
        let m = b.get(k).copied().unwrap_or(0);
        if *n > m {
            by_name.entry(property_name(k)).or_default().0 += n - m;
        }
    }
    for (k, n) in &b {
        let m = a.get(k).copied().unwrap_or(0);
        if *n > m {
            by_name.entry(property_name(k)).or_default().1 += n - m;
        }
    }
    by_name
        .into_iter()
        .map(|(property, (missing, extra))| PropertyDifference {
            uid: uid.to_owned(),
            property,
            missing,
            extra,
        })
        .collect()
}

async fn list_ids(store: &dyn PimSource, c: &Collection) -> Result<Vec<ItemId>> {
    let mut ids = Vec::new();
    let mut listing = store.list_items(&c.id, None);
    while let Some(change) = listing.next().await {
        if let ItemChange::Upsert(m) = change? {
            ids.push(m.id);
        }
    }
    Ok(ids)
}

/// Compares every collection of `kinds` at the source with the destination collection
/// of the same kind and name, item by item (matched by `UID`, the one the engine gives
/// an item without one included) and property by property. Each source item is first
/// fitted to the destination's declared capabilities ([`adapt`]), so what the
/// destination is expected to transform is reported as such, not as a difference.
///
/// Memory holds the destination's `UID`s and ids of one collection, and `batch` items.
///
/// # Errors
/// Errors listing collections or items; an item that cannot be read is reported, not an
/// error.
pub async fn verify_pim(
    source: &dyn PimSource,
    dest: &dyn PimStore,
    kinds: &[PimKind],
    batch: usize,
) -> Result<PimVerifyReport> {
    let caps = dest.pim_capabilities();
    let mut report = PimVerifyReport::default();
    for &kind in kinds {
        if !source.pim_capabilities().holds(kind) {
            continue;
        }
        let dest_colls = dest.list_collections(kind).await?;
        for sc in source.list_collections(kind).await? {
            let mut check = CollectionCheck {
                kind,
                name: sc.name.clone(),
                source_items: 0,
                dest_items: 0,
                equal: 0,
                missing: Vec::new(),
                extra: Vec::new(),
                transformed: Vec::new(),
                differences: Vec::new(),
                unreadable: Vec::new(),
            };
            let dc = dest_colls.iter().find(|d| d.name == sc.name);
            // The destination's UIDs, read once.
            let mut by_uid: HashMap<String, ItemId> = HashMap::new();
            if let Some(dc) = dc {
                let ids = list_ids(dest, dc).await?;
                check.dest_items = ids.len() as u64;
                for chunk in ids.chunks(batch.max(1)) {
                    let mut items = dest.fetch_items(&dc.id, chunk.to_vec());
                    while let Some((id, r)) = items.next().await {
                        match r {
                            Ok(item) => {
                                by_uid.insert(item.uid().unwrap_or_default().to_owned(), id);
                            }
                            Err(e) => check.unreadable.push(format!("destination {id}: {e}")),
                        }
                    }
                }
            }
            let folder = ledger_folder(&sc);
            let ids = list_ids(source, &sc).await?;
            check.source_items = ids.len() as u64;
            for chunk in ids.chunks(batch.max(1)) {
                let mut wanted: Vec<(String, PimItem)> = Vec::new();
                let mut items = source.fetch_items(&sc.id, chunk.to_vec());
                while let Some((id, r)) = items.next().await {
                    let mut item = match r {
                        Ok(item) => item,
                        Err(e) => {
                            check.unreadable.push(format!("{id}: {e}"));
                            continue;
                        }
                    };
                    let uid = match item.uid() {
                        Some(u) => u.to_owned(),
                        None => assigned_uid(&folder, &MessageId::new(id.as_str())),
                    };
                    if item.uid().is_none() {
                        let u = uid.clone();
                        item.edit(|p| {
                            if let Payload::Contact(c) = p {
                                c.uid = Some(u);
                            }
                        });
                    }
                    check.transformed.extend(adapt(&mut item, &caps));
                    wanted.push((uid, item));
                }
                drop(items);
                let Some(dc) = dc else {
                    check.missing.extend(wanted.into_iter().map(|(u, _)| u));
                    continue;
                };
                let dest_ids: Vec<ItemId> = wanted
                    .iter()
                    .filter_map(|(u, _)| by_uid.remove(u))
                    .collect();
                let mut copies: HashMap<String, Payload> = HashMap::new();
                let mut fetched = dest.fetch_items(&dc.id, dest_ids);
                while let Some((_, r)) = fetched.next().await {
                    if let Ok(item) = r {
                        copies.insert(item.uid().unwrap_or_default().to_owned(), item.payload);
                    }
                }
                for (uid, item) in wanted {
                    match copies.get(&uid) {
                        None => check.missing.push(uid),
                        Some(copy) => {
                            let d = compare(&uid, &item.payload, copy);
                            if d.is_empty() {
                                check.equal += 1;
                            }
                            check.differences.extend(d);
                        }
                    }
                }
            }
            check.extra = by_uid.into_keys().collect();
            check.extra.sort_unstable();
            report.collections.push(check);
        }
    }
    Ok(report)
}
