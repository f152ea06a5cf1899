//! Local stores: in-memory, Maildir and mbox. Each is both a [`Source`](crate::Source) and a
//! [`Destination`](crate::Destination); Maildir and mbox are the backup-before-migrate
//! formats and the restore sources.

mod maildir;
mod mbox;
mod memory;

pub(crate) use maildir::blocking;
pub use maildir::MaildirStore;
pub use mbox::MboxStore;
pub use memory::MemoryStore;

/// What a store of files on a local disk can do (Maildir and mbox): everything but
/// incremental listing and labels; each store says whether it can delete.
fn file_store_capabilities() -> crate::Capabilities {
    crate::Capabilities {
        list_folders: true,
        fetch: true,
        fetch_flags: true,
        append: true,
        append_with_flags: true,
        append_with_keywords: true,
        append_with_internal_date: true,
        append_returns_id: true,
        update_flags: true,
        find_existing: true,
        byte_exact: true,
        append_batch_max: 256,
        fetch_batch_max: 256,
        ..crate::Capabilities::default()
    }
}
