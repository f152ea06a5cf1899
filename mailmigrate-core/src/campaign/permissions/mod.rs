//! The permissions review after the move: the delegations a directory lists (full access,
//! send-as, send-on-behalf, folder rights) and, for IMAP, the folders' access-control
//! lists, source against destination, every difference listed.
//!
//! Grantees are compared after mapping: a source grantee becomes the address the plan
//! moves it to ([`ValidPlan::pair`](super::ValidPlan::pair), else the plan's
//! [`AddressMapping::destination_of`](super::AddressMapping::destination_of)), and an
//! alias counts as its account's primary address on either side. A grant is then
//! - **missing** when the source has it and the destination does not,
//! - **extra** when only the destination has it,
//! - **changed** when both sides grant the same grantee something on the same folder, but
//!   not the same thing (folder read at the source, folder edit at the destination; IMAP
//!   rights `lrs` against `lr`),
//! - **unchecked** when a directory could not list permissions at all
//!   ([`Inventory::listed`](crate::directory::Inventory::listed)).
//!
//! [`review_permissions`] gives the report's
//! [`PermissionReview`](super::report::PermissionReview) straight away;
//! [`compare_permissions`] and [`compare_folder_acls`] give the detailed
//! [`PermissionComparison`], which converts with
//! [`to_review`](PermissionComparison::to_review) or `From`.
//!
//! # Example
//! ```
//! use mailmigrate_core::campaign::permissions::review_permissions;
//! use mailmigrate_core::campaign::{Batch, CampaignPlan, DomainRewrite, Strategy};
//! use mailmigrate_core::directory::{Account, Inventory, Permission, Right};
//!
//! let source = Inventory::new(vec![Account::new("ann@old.example"), Account::new("bo@old.example")])
//!     .with_permissions(vec![Permission::new("ann@old.example", "bo@old.example", Right::SendAs)]);
//! let plan = CampaignPlan::new("acme", Strategy::Cutover)
//!     .with_rewrite(DomainRewrite::new("old.example", "new.example"))
//!     .with_batch(Batch::new("all", ["ann@old.example", "bo@old.example"]))
//!     .validate(&source)?;
//! let destination = Inventory::new(vec![Account::new("ann@new.example"), Account::new("bo@new.example")])
//!     .with_permissions(vec![]);
//! let review = review_permissions(&source, &destination, &plan);
//! assert_eq!(review.differences.len(), 1);
//! assert_eq!(review.differences[0].grantee, "bo@new.example");
//! assert_eq!(review.differences[0].issue, "missing at the destination");
//! # Ok::<(), mailmigrate_core::campaign::PlanError>(())
//! ```

mod acl;
mod compare;
mod delegations;

pub use acl::{
    compare_acl_views, compare_folder_acls, normalise_rights, AclMapping, FolderAcl, FolderAclView,
};
pub use compare::{DifferenceKind, PermissionComparison, RightDifference};
pub use delegations::{compare_permissions, review_permissions};
