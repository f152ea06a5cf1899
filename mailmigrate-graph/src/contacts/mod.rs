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

use async_trait::async_trait;
use mailmigrate_core::pim::{Collection, ContactLimits, PimCapabilities, PimKind, PimProvider};
use mailmigrate_core::{ProviderInfo, Result};
use tokio::sync::OnceCell;

use crate::mail::Graph;

/// What the contacts side remembers between calls: the default folder's id.
#[derive(Debug, Default)]
pub(crate) struct Books {
    default_folder: OnceCell<folders::ContactFolder>,
}

/// What a mailbox's contacts keep (see [`Graph`]'s "Contacts" section).
pub(crate) fn capabilities() -> PimCapabilities {
    PimCapabilities {
        contacts: true,
        // [G-CDELTA]: per-folder delta with @removed.
        list_since: true,
        list_removals: true,
        create_collections: true,
        write: true,
        update: true,
        delete: true,
        // The UID travels in a named property, and look-ups filter on it [G-EXT].
        keeps_uid: true,
        find_by_uid: true,
        // No If-None-Match on create and no documented If-Match on contacts: a create
        // looks the UID up first, which is not atomic, so it is not claimed.
        conditional_writes: false,
        // Properties Graph has no field for travel in the stored vCard.
        keeps_unknown_properties: true,
        contact_limits: ContactLimits {
            // [I-CONTACT] emailAddresses ≤ 3, businessPhones ≤ 2. Core counts all TEL
            // values: two always fit (business holds two), whatever their types.
            emails: Some(map::MAX_EMAILS),
            phones: Some(map::MAX_BUSINESS_PHONES),
            // businessAddress, homeAddress, otherAddress [G-CONT].
            addresses: Some(3),
        },
        // [I-4MB] one request holds 4 MB, and the body carries the vCard beside the fields.
        max_item_size: Some(1024 * 1024),
        ..PimCapabilities::default()
    }
}

#[async_trait]
impl PimProvider for Graph {
    fn info(&self) -> &ProviderInfo {
        mailmigrate_core::Provider::info(self)
    }

    fn pim_capabilities(&self) -> PimCapabilities {
        capabilities()
    }

    async fn list_collections(&self, kind: PimKind) -> Result<Vec<Collection>> {
        match kind {
            PimKind::Contacts => folders::list(self).await,
            _ => Ok(Vec::new()),
        }
    }
}
