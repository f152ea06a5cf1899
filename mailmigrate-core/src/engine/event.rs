//! Progress events: what the engine tells the caller while it runs.

use std::sync::Arc;

use serde::Serialize;

use crate::{ErrorKind, FolderPath, MessageId};

/// One progress event. Emitted per batch, not per message, except for failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Event {
    /// The plan is built: this many folders will be copied.
    Planned {
        /// Folders to copy.
        folders: usize,
    },
    /// A folder pass started.
    FolderStarted {
        /// The source folder.
        source: FolderPath,
        /// Its destination.
        target: FolderPath,
    },
    /// Listing found this many messages to consider (new or changed).
    Listed {
        /// The source folder.
        source: FolderPath,
        /// How many.
        messages: u64,
    },
    /// Messages were written.
    Copied {
        /// The source folder.
        source: FolderPath,
        /// How many.
        messages: u64,
        /// Their total size.
        bytes: u64,
    },
    /// Messages already at the destination were recognised and not written again.
    Deduplicated {
        /// The source folder.
        source: FolderPath,
        /// How many.
        messages: u64,
    },
    /// Flags of already copied messages were updated.
    FlagsUpdated {
        /// The source folder.
        source: FolderPath,
        /// How many.
        messages: u64,
    },
    /// The destination folder had disappeared since the last pass and was created again;
    /// the ledger's copies in it are forgotten and the folder is copied again.
    DestinationFolderRecreated {
        /// The source folder.
        source: FolderPath,
        /// Its destination, created again.
        target: FolderPath,
    },
    /// One item failed; the rest goes on.
    ItemFailed {
        /// The source folder.
        source: FolderPath,
        /// The item.
        id: MessageId,
        /// What kind of failure.
        kind: ErrorKind,
        /// The error's text (names the item, never content).
        message: String,
    },
    /// A folder pass ended.
    FolderDone {
        /// The source folder.
        source: FolderPath,
        /// Whether the pass completed (its checkpoint was stored).
        complete: bool,
    },
}

/// Receives progress events. Implemented for closures and unbounded channels.
pub trait EventSink: Send + Sync + 'static {
    /// Handles one event. Must not block for long: the engine calls it inline.
    fn event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync + 'static> EventSink for F {
    fn event(&self, event: &Event) {
        self(event);
    }
}

impl EventSink for tokio::sync::mpsc::UnboundedSender<Event> {
    fn event(&self, event: &Event) {
        // A receiver that went away means nobody listens; that is not the engine's failure.
        let _ = self.send(event.clone());
    }
}

#[derive(Clone)]
pub(crate) struct Events(Option<Arc<dyn EventSink>>);

impl Events {
    pub(crate) fn new(sink: Option<Arc<dyn EventSink>>) -> Self {
        Self(sink)
    }

    pub(crate) fn emit(&self, make: impl FnOnce() -> Event) {
        if let Some(s) = &self.0 {
            s.event(&make());
        }
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Events(sink)"
        } else {
            "Events(none)"
        })
    }
}
