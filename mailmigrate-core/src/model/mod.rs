//! The item model: folders, messages, flags, checkpoints and changes.

mod folder;
mod message;

pub use folder::{EnsuredFolder, Folder, FolderId, FolderPath, SpecialUse};
pub use message::{
    Appended, Change, Checkpoint, ContentHash, DedupeKey, ExistingCopy, Flag, FlagChange, Flags,
    ItemResult, MessageId, MessageMeta, RawMessage,
};
