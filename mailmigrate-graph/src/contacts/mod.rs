//! The mailbox's contacts as a core PIM store: contact folders are
//! [`Collection`](mailmigrate_core::pim::Collection)s of
//! [`PimKind::Contacts`](mailmigrate_core::pim::PimKind), contacts are items.
//!
//! - [`map`]: Graph's contact JSON and core's `Contact`, the stored vCard that keeps
//!   what the fields cannot;
//! - [`folders`]: the default `Contacts` folder, `contactFolders` and `childFolders`,
//!   folders created by name;
//! - [`source`]: per-folder delta listings (`changeKey` is the version) and reads;
//! - [`destination`]: creates stamped with the item's `UID`, replaces, look-ups by `UID`,
//!   deletes.

mod destination;
mod folders;
mod map;
mod source;

use tokio::sync::OnceCell;

pub(crate) use destination::{find_by_uid, write_items};
pub(crate) use folders::{ensure as ensure_folder, list as list_folders};
pub(crate) use map::{MAX_BUSINESS_PHONES, MAX_EMAILS};
pub(crate) use source::{fetch_items, list_items};

/// What the contacts side remembers between calls: the default folder's id.
#[derive(Debug, Default)]
pub(crate) struct Books {
    default_folder: OnceCell<folders::ContactFolder>,
}
