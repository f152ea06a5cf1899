//! The emulated mailboxes: labels, messages and the history log.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::errors::GoogleError;

/// The system labels every mailbox has, their ids equal to their names \[GM-LBL\].
pub(crate) const SYSTEM_LABELS: [&str; 14] = [
    "INBOX",
    "SPAM",
    "TRASH",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "SENT",
    "DRAFT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
    "CHAT",
];

/// A label.
#[derive(Debug, Clone)]
pub(crate) struct Label {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) system: bool,
}

/// A stored message.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) id: String,
    pub(crate) raw: Bytes,
    pub(crate) labels: BTreeSet<String>,
    /// Epoch milliseconds \[GM-DISC\] `internalDate`.
    pub(crate) internal_date: i64,
    pub(crate) history_id: u64,
    /// How it came in: `import`, `seed`.
    pub(crate) via: &'static str,
}

/// One change of the history log \[GM-HIST\].
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) id: u64,
    pub(crate) at: Instant,
    pub(crate) message: String,
    pub(crate) change: Recorded,
}

/// What a history record says.
#[derive(Debug, Clone)]
pub(crate) enum Recorded {
    Added,
    Deleted,
    LabelsAdded(Vec<String>),
    LabelsRemoved(Vec<String>),
}

/// One user's mailbox.
#[derive(Debug)]
pub(crate) struct Mailbox {
    pub(crate) email: String,
    pub(crate) labels: Vec<Label>,
    pub(crate) messages: BTreeMap<String, Message>,
    pub(crate) history: Vec<Record>,
    pub(crate) history_id: u64,
    /// A `startHistoryId` below this is out of date (404) \[GM-HIST\].
    pub(crate) valid_from: u64,
    next_label: u64,
    next_message: u64,
}

impl Mailbox {
    pub(crate) fn new(email: &str) -> Self {
        let labels = SYSTEM_LABELS
            .iter()
            .map(|l| Label {
                id: (*l).to_owned(),
                name: (*l).to_owned(),
                system: true,
            })
            .collect();
        Self {
            email: email.to_ascii_lowercase(),
            labels,
            messages: BTreeMap::new(),
            history: Vec::new(),
            history_id: 1000,
            valid_from: 0,
            next_label: 1,
            next_message: 0x18c0_0000_0000_0000,
        }
    }

    pub(crate) fn label(&self, id: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.id == id)
    }

    pub(crate) fn user_labels(&self) -> usize {
        self.labels.iter().filter(|l| !l.system).count()
    }

    /// Adds a user label named `name` and returns its id.
    pub(crate) fn add_label(&mut self, name: &str) -> String {
        let id = format!("Label_{}", self.next_label);
        self.next_label += 1;
        self.labels.push(Label {
            id: id.clone(),
            name: name.to_owned(),
            system: false,
        });
        id
    }

    /// Checks that every id names a label of this mailbox.
    ///
    /// # Errors
    /// 400 `invalidArgument` "Invalid label: …" for the first unknown one.
    pub(crate) fn check_labels<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), GoogleError> {
        for id in ids {
            if self.label(id).is_none() {
                return Err(GoogleError::invalid(format!("Invalid label: {id}")));
            }
        }
        Ok(())
    }

    /// Appends a history record and returns its id. History ids grow but are not
    /// contiguous \[GM-HIST\].
    pub(crate) fn record(&mut self, message: &str, change: Recorded) -> u64 {
        self.history_id += 1 + (rand::random::<u64>() % 3);
        self.history.push(Record {
            id: self.history_id,
            at: Instant::now(),
            message: message.to_owned(),
            change,
        });
        self.history_id
    }

    /// Stores a new message and records its arrival; returns its id (16 hex digits, like
    /// Gmail's).
    pub(crate) fn insert(
        &mut self,
        raw: Bytes,
        labels: BTreeSet<String>,
        internal_date: i64,
        via: &'static str,
    ) -> String {
        self.next_message += 1 + (rand::random::<u64>() % 7);
        let id = format!("{:016x}", self.next_message);
        let history_id = self.record(&id, Recorded::Added);
        self.messages.insert(
            id.clone(),
            Message {
                id: id.clone(),
                raw,
                labels,
                internal_date,
                history_id,
                via,
            },
        );
        id
    }

    /// Adds and removes labels of message `id`, recording what changed.
    pub(crate) fn relabel(&mut self, id: &str, add: &[String], remove: &[String]) {
        let Some(m) = self.messages.get(id) else {
            return;
        };
        let added: Vec<String> = add
            .iter()
            .filter(|l| !m.labels.contains(*l) && !remove.contains(l))
            .cloned()
            .collect();
        let removed: Vec<String> = remove
            .iter()
            .filter(|l| m.labels.contains(*l))
            .cloned()
            .collect();
        let mut last = None;
        if !added.is_empty() {
            last = Some(self.record(id, Recorded::LabelsAdded(added.clone())));
        }
        if !removed.is_empty() {
            last = Some(self.record(id, Recorded::LabelsRemoved(removed.clone())));
        }
        if let Some(m) = self.messages.get_mut(id) {
            m.labels.extend(added);
            for l in &removed {
                m.labels.remove(l);
            }
            if let Some(h) = last {
                m.history_id = h;
            }
        }
    }

    /// Deletes message `id` for good, recording it.
    pub(crate) fn delete(&mut self, id: &str) -> bool {
        if self.messages.remove(id).is_none() {
            return false;
        }
        self.record(id, Recorded::Deleted);
        true
    }

    /// Forgets records older than `max_age`: a `startHistoryId` before the first one kept
    /// is out of date.
    pub(crate) fn prune_history(&mut self, max_age: Duration) {
        let now = Instant::now();
        let stale = self
            .history
            .iter()
            .take_while(|r| now.duration_since(r.at) > max_age)
            .count();
        if stale > 0 {
            self.valid_from = self.valid_from.max(self.history[stale - 1].id);
            self.history.drain(..stale);
        }
    }
}
