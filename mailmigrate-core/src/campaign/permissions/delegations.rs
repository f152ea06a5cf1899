//! Delegations per planned mailbox: the source's [`Permission`]s against the
//! destination's, grantees mapped through the plan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::compare::{DifferenceKind, PermissionComparison, RightDifference};
use crate::campaign::report::PermissionReview;
use crate::campaign::ValidPlan;
use crate::directory::{address_key, Inventory, Permission, Right};

/// Compares the delegations on every planned mailbox and returns the report's section
/// (`checked` = grants compared). [`compare_permissions`] gives the details.
///
/// ```
/// use mailmigrate_core::campaign::permissions::review_permissions;
/// use mailmigrate_core::campaign::{Batch, CampaignPlan, Strategy};
/// use mailmigrate_core::directory::{Account, Inventory, Permission, Right};
///
/// let grants = vec![Permission::new("ann@x.example", "bo@x.example", Right::FullAccess)];
/// let inv = Inventory::new(vec![Account::new("ann@x.example"), Account::new("bo@x.example")])
///     .with_permissions(grants);
/// let plan = CampaignPlan::new("same", Strategy::Cutover)
///     .with_batch(Batch::new("all", ["ann@x.example"]))
///     .validate(&inv)?;
/// let review = review_permissions(&inv, &inv, &plan);
/// assert_eq!((review.checked, review.differences.len()), (1, 0));
/// # Ok::<(), mailmigrate_core::campaign::PlanError>(())
/// ```
pub fn review_permissions(
    source: &Inventory,
    destination: &Inventory,
    plan: &ValidPlan,
) -> PermissionReview {
    compare_permissions(source, destination, plan).to_review()
}

/// Compares, per planned mailbox pair, the source inventory's delegations on the source
/// mailbox with the destination inventory's on the destination mailbox.
///
/// A source grantee is first resolved to its account's primary address (an alias counts as
/// the account), then mapped: a planned mailbox to its pair's destination, anything else
/// (a group, an account outside the campaign) through the plan's
/// [`AddressMapping`](crate::campaign::AddressMapping). Destination grantees are resolved
/// to their primary address the same way. Full access, send-as, send-on-behalf and other
/// named rights are compared one by one; folder read and folder edit are levels of one
/// right, so a grantee with one at the source and the other at the destination on the
/// same folder is one **changed** grant. When either inventory did not list permissions,
/// every grant the other lists is reported as [`DifferenceKind::Unchecked`].
///
/// ```
/// use mailmigrate_core::campaign::permissions::{compare_permissions, DifferenceKind};
/// use mailmigrate_core::campaign::{Batch, CampaignPlan, DomainRewrite, Strategy};
/// use mailmigrate_core::directory::{Account, Inventory, Permission, Right};
///
/// let source = Inventory::new(vec![Account::new("ann@old.example"), Account::new("bo@old.example")])
///     .with_permissions(vec![
///         Permission::new("ann@old.example", "bo@old.example", Right::FolderRead).with_folder("Calendar"),
///     ]);
/// let plan = CampaignPlan::new("acme", Strategy::Cutover)
///     .with_rewrite(DomainRewrite::new("old.example", "new.example"))
///     .with_batch(Batch::new("all", ["ann@old.example", "bo@old.example"]))
///     .validate(&source)?;
/// let destination = Inventory::new(vec![Account::new("ann@new.example"), Account::new("bo@new.example")])
///     .with_permissions(vec![
///         Permission::new("ann@new.example", "bo@new.example", Right::FolderEdit).with_folder("Calendar"),
///         Permission::new("ann@new.example", "bo@new.example", Right::SendAs),
///     ]);
/// let c = compare_permissions(&source, &destination, &plan);
/// assert_eq!((c.pairs, c.grants), (2, 2));
/// let kinds: Vec<_> = c.differences.iter().map(|d| d.kind).collect();
/// assert_eq!(kinds, [DifferenceKind::Extra, DifferenceKind::Changed]);
/// assert_eq!(c.differences[1].issue(), "changed at the destination: source folder_read, destination folder_edit");
/// # Ok::<(), mailmigrate_core::campaign::PlanError>(())
/// ```
pub fn compare_permissions(
    source: &Inventory,
    destination: &Inventory,
    plan: &ValidPlan,
) -> PermissionComparison {
    let src_names = Names::of(source);
    let dst_names = Names::of(destination);
    let mut out = PermissionComparison {
        pairs: plan.pairs().len() as u64,
        ..PermissionComparison::default()
    };
    for pair in plan.pairs() {
        let mailbox = pair.key();
        let dst_mailbox = dst_names.primary(&pair.destination);
        let map_grantee = |grantee: &str| {
            let primary = src_names.display(grantee);
            let mapped = match plan.pair(&primary) {
                Some(p) => p.destination.clone(),
                None => plan.plan().addresses.destination_of(&primary),
            };
            dst_names.display(&mapped)
        };
        let src = Side::collect(
            source
                .permissions
                .iter()
                .filter(|p| src_names.primary(&p.mailbox) == mailbox),
            map_grantee,
        );
        let dst = Side::collect(
            destination
                .permissions
                .iter()
                .filter(|p| dst_names.primary(&p.mailbox) == dst_mailbox),
            |g| dst_names.display(g),
        );
        if !source.listed.permissions || !destination.listed.permissions {
            unchecked(&mut out, &mailbox, &src, &dst, source, destination);
            continue;
        }
        compare(&mut out, &mailbox, &src, &dst);
    }
    out
}

/// Resolves aliases to their account's primary address.
struct Names<'a> {
    by_key: HashMap<String, &'a str>,
}

impl<'a> Names<'a> {
    fn of(inv: &'a Inventory) -> Self {
        let mut by_key = HashMap::new();
        // Aliases first, so a primary address wins over another account's alias.
        for a in &inv.accounts {
            for al in &a.aliases {
                by_key.insert(address_key(&al.address), a.address.as_str());
            }
        }
        for a in &inv.accounts {
            by_key.insert(address_key(&a.address), a.address.as_str());
        }
        Self { by_key }
    }

    /// The primary address as written in the inventory (the address itself when unknown).
    fn display(&self, address: &str) -> String {
        self.by_key
            .get(&address_key(address))
            .map_or_else(|| address.trim().to_owned(), |a| (*a).to_owned())
    }

    /// The primary address's key.
    fn primary(&self, address: &str) -> String {
        address_key(&self.display(address))
    }
}

fn is_level(right: &Right) -> bool {
    matches!(right, Right::FolderRead | Right::FolderEdit)
}

/// One side's grants on one mailbox, keyed by (grantee key, folder).
#[derive(Default)]
struct Side {
    /// Named rights compared one by one.
    rights: BTreeMap<(String, Option<String>, Right), String>,
    /// Folder rights (read, edit) per grantee and folder.
    levels: BTreeMap<(String, Option<String>), (String, BTreeSet<Right>)>,
}

impl Side {
    fn collect<'p>(
        grants: impl Iterator<Item = &'p Permission>,
        map: impl Fn(&str) -> String,
    ) -> Self {
        let mut side = Side::default();
        for p in grants {
            let grantee = map(&p.grantee);
            let key = address_key(&grantee);
            let folder = p.folder.as_ref().map(|f| f.trim().to_owned());
            if is_level(&p.right) {
                side.levels
                    .entry((key, folder))
                    .or_insert_with(|| (grantee, BTreeSet::new()))
                    .1
                    .insert(p.right.clone());
            } else {
                side.rights.insert((key, folder, p.right.clone()), grantee);
            }
        }
        side
    }

    fn len(&self) -> usize {
        self.rights.len() + self.levels.len()
    }

    /// Every grant as (grantee, folder, right) for listing.
    fn all(&self) -> Vec<(String, Option<String>, String)> {
        let mut v: Vec<_> = self
            .rights
            .iter()
            .map(|((_, f, r), g)| (g.clone(), f.clone(), r.to_string()))
            .collect();
        v.extend(
            self.levels
                .iter()
                .map(|((_, f), (g, rs))| (g.clone(), f.clone(), join(rs))),
        );
        v
    }
}

fn join(rights: &BTreeSet<Right>) -> String {
    rights
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("+")
}

fn difference(
    mailbox: &str,
    grantee: &str,
    folder: Option<&String>,
    right: String,
    kind: DifferenceKind,
) -> RightDifference {
    let d = RightDifference::new(mailbox, grantee, right, kind);
    match folder {
        Some(f) => d.with_folder(f),
        None => d,
    }
}

fn compare(out: &mut PermissionComparison, mailbox: &str, src: &Side, dst: &Side) {
    // Named rights, then folder levels, each in key order (grantee, folder, right).
    let keys: BTreeSet<_> = src.rights.keys().chain(dst.rights.keys()).collect();
    out.grants += keys.len() as u64;
    for key in keys {
        let (_, folder, right) = key;
        match (src.rights.get(key), dst.rights.get(key)) {
            (Some(g), None) => out.differences.push(difference(
                mailbox,
                g,
                folder.as_ref(),
                right.to_string(),
                DifferenceKind::Missing,
            )),
            (None, Some(g)) => out.differences.push(difference(
                mailbox,
                g,
                folder.as_ref(),
                right.to_string(),
                DifferenceKind::Extra,
            )),
            _ => {}
        }
    }
    let keys: BTreeSet<_> = src.levels.keys().chain(dst.levels.keys()).collect();
    out.grants += keys.len() as u64;
    for key in keys {
        let (_, folder) = key;
        match (src.levels.get(key), dst.levels.get(key)) {
            (Some((g, rs)), None) => out.differences.push(difference(
                mailbox,
                g,
                folder.as_ref(),
                join(rs),
                DifferenceKind::Missing,
            )),
            (None, Some((g, rs))) => out.differences.push(difference(
                mailbox,
                g,
                folder.as_ref(),
                join(rs),
                DifferenceKind::Extra,
            )),
            (Some((g, a)), Some((_, b))) if a != b => {
                let (a, b) = (join(a), join(b));
                out.differences.push(
                    difference(
                        mailbox,
                        g,
                        folder.as_ref(),
                        a.clone(),
                        DifferenceKind::Changed,
                    )
                    .with_rights(Some(&a), Some(&b)),
                );
            }
            _ => {}
        }
    }
}

fn unchecked(
    out: &mut PermissionComparison,
    mailbox: &str,
    src: &Side,
    dst: &Side,
    source: &Inventory,
    destination: &Inventory,
) {
    let why = |side: &str| format!("the {side} directory does not list permissions");
    let sides = [
        (src, !destination.listed.permissions, why("destination")),
        (dst, !source.listed.permissions, why("source")),
    ];
    for (side, unknown_other, note) in sides {
        if !unknown_other {
            continue;
        }
        out.grants += side.len() as u64;
        for (grantee, folder, right) in side.all() {
            out.differences.push(
                difference(
                    mailbox,
                    &grantee,
                    folder.as_ref(),
                    right,
                    DifferenceKind::Unchecked,
                )
                .with_note(note.clone()),
            );
        }
    }
}
