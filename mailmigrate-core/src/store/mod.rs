//! Local stores: in-memory, Maildir and mbox. Each is both a [`Source`](crate::Source) and a
//! [`Destination`](crate::Destination); Maildir and mbox are the backup-before-migrate
//! formats and the restore sources.

mod maildir;
mod mbox;
mod memory;

pub use maildir::MaildirStore;
pub use mbox::MboxStore;
pub use memory::MemoryStore;
