//! The server's own state: mailboxes, folders, messages and the change log delta reads.

use bytes::Bytes;
use time::OffsetDateTime;

use super::ids::{self, FOLDER_PREFIX, IMMUTABLE_PREFIX, REST_PREFIX};

/// How a stored message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreatedBy {
    /// [`EmulatorHandle::seed_message`](super::EmulatorHandle::seed_message).
    Seed,
    /// `POST .../messages` with a JSON body \[G-CMSG\].
    JsonCreate,
    /// `POST .../messages` with `text/plain` base64 MIME \[G-MIME\].
    MimeCreate,
    /// Beta `importMime` \[G-IMIME\].
    ImportMime,
    /// The import URL of a mailbox import session \[G-IMP\].
    ImportItem,
}

/// A recipient (`emailAddress {name, address}`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Recipient {
    pub(crate) name: Option<String>,
    pub(crate) address: String,
}

/// A stored attachment.
#[derive(Debug, Clone)]
pub(crate) struct Attachment {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) content_type: String,
    pub(crate) is_inline: bool,
    pub(crate) content_id: Option<String>,
    pub(crate) bytes: Bytes,
}

/// A stored message.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) imm_id: String,
    pub(crate) rest_id: String,
    pub(crate) folder_id: String,
    pub(crate) subject: Option<String>,
    pub(crate) body_type: String,
    pub(crate) body: String,
    pub(crate) from: Option<Recipient>,
    pub(crate) sender: Option<Recipient>,
    pub(crate) to: Vec<Recipient>,
    pub(crate) cc: Vec<Recipient>,
    pub(crate) bcc: Vec<Recipient>,
    pub(crate) reply_to: Vec<Recipient>,
    pub(crate) received: Option<OffsetDateTime>,
    pub(crate) sent: Option<OffsetDateTime>,
    pub(crate) created: OffsetDateTime,
    pub(crate) modified: OffsetDateTime,
    pub(crate) change_n: u64,
    pub(crate) is_read: bool,
    pub(crate) is_draft: bool,
    pub(crate) importance: String,
    pub(crate) flag_status: String,
    pub(crate) categories: Vec<String>,
    pub(crate) internet_message_id: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) extended: Vec<(String, String)>,
    pub(crate) attachments: Vec<Attachment>,
    pub(crate) mime: Option<Bytes>,
    pub(crate) created_by: CreatedBy,
    pub(crate) conversation_id: String,
    /// Change sequence at which the message entered its current folder (delta: created).
    pub(crate) folder_seq: u64,
    /// Change sequence of its last change (delta: updated).
    pub(crate) changed_seq: u64,
}

impl Message {
    /// A blank message in `folder_id`, stamped now.
    pub(crate) fn new(folder_id: &str, created_by: CreatedBy) -> Self {
        let now = now();
        Self {
            imm_id: ids::new_id(IMMUTABLE_PREFIX),
            rest_id: ids::new_id(REST_PREFIX),
            folder_id: folder_id.to_owned(),
            subject: None,
            body_type: "text".into(),
            body: String::new(),
            from: None,
            sender: None,
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            received: Some(now),
            sent: None,
            created: now,
            modified: now,
            change_n: 1,
            is_read: false,
            is_draft: true,
            importance: "normal".into(),
            flag_status: "notFlagged".into(),
            categories: Vec::new(),
            internet_message_id: None,
            headers: Vec::new(),
            extended: Vec::new(),
            attachments: Vec::new(),
            mime: None,
            created_by,
            conversation_id: ids::new_id("AAQkAG"),
            folder_seq: 0,
            changed_seq: 0,
        }
    }

    /// The id to answer with: immutable when the request asked for it \[G-IMM\].
    pub(crate) fn id(&self, immutable: bool) -> &str {
        if immutable {
            &self.imm_id
        } else {
            &self.rest_id
        }
    }

    /// `changeKey` (opaque, changes on every change).
    pub(crate) fn change_key(&self) -> String {
        format!("CQAAABYAAAA{:08x}{}", self.change_n, &self.imm_id[6..14])
    }

    /// `hasAttachments` excludes inline attachments \[G-EVT message table\].
    pub(crate) fn has_attachments(&self) -> bool {
        self.attachments.iter().any(|a| !a.is_inline)
    }
}

/// A mail folder. Containers have stable ids \[G-IMM\].
#[derive(Debug, Clone)]
pub(crate) struct Folder {
    pub(crate) id: String,
    pub(crate) display_name: String,
    pub(crate) parent_id: Option<String>,
    pub(crate) well_known: Option<&'static str>,
    pub(crate) is_hidden: bool,
}

/// A message that left a folder (deleted or moved out), for delta's `@removed` \[G-DQM\].
#[derive(Debug, Clone)]
pub(crate) struct Tombstone {
    pub(crate) folder_id: String,
    pub(crate) imm_id: String,
    pub(crate) rest_id: String,
    pub(crate) seq: u64,
}

/// One mailbox.
#[derive(Debug)]
pub(crate) struct Mailbox {
    pub(crate) upn: String,
    pub(crate) user_id: String,
    pub(crate) folders: Vec<Folder>,
    pub(crate) messages: Vec<Message>,
    pub(crate) tombstones: Vec<Tombstone>,
    pub(crate) seq: u64,
    /// Contact folders and contacts \[G-CFOLD\].
    pub(crate) contacts: super::contacts::Book,
    /// Calendars and events \[G-EVT\].
    pub(crate) calendars: super::calendars::Diary,
}

/// Default folders under msgfolderroot and their well-known names \[G-FOLD\].
const DEFAULT_FOLDERS: &[(&str, &str)] = &[
    ("Inbox", "inbox"),
    ("Drafts", "drafts"),
    ("Sent Items", "sentitems"),
    ("Deleted Items", "deleteditems"),
    ("Junk Email", "junkemail"),
    ("Outbox", "outbox"),
    ("Archive", "archive"),
    ("Conversation History", "conversationhistory"),
];

/// Why a folder lookup failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Malformed,
    NotFound,
}

impl Mailbox {
    pub(crate) fn new(upn: &str) -> Self {
        let root = Folder {
            id: ids::new_id(FOLDER_PREFIX),
            display_name: "Top of Information Store".into(),
            parent_id: Some(ids::new_id(FOLDER_PREFIX)),
            well_known: Some("msgfolderroot"),
            is_hidden: false,
        };
        let root_id = root.id.clone();
        let mut folders = vec![root];
        for (name, wk) in DEFAULT_FOLDERS {
            folders.push(Folder {
                id: ids::new_id(FOLDER_PREFIX),
                display_name: (*name).into(),
                parent_id: Some(root_id.clone()),
                well_known: Some(wk),
                is_hidden: false,
            });
        }
        Self {
            upn: upn.to_owned(),
            user_id: ids::new_guid(),
            contacts: super::contacts::Book::new(&root_id),
            calendars: super::calendars::Diary::new(),
            folders,
            messages: Vec::new(),
            tombstones: Vec::new(),
            seq: 0,
        }
    }

    /// Advances the change sequence.
    pub(crate) fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(crate) fn root_id(&self) -> &str {
        &self.folders[0].id
    }

    /// A folder by id (case-sensitive) or well-known name (case-insensitive) \[G-FOLD\].
    pub(crate) fn folder_index(&self, key: &str) -> Result<usize, Lookup> {
        let lower = key.to_ascii_lowercase();
        if let Some(i) = self
            .folders
            .iter()
            .position(|f| f.well_known == Some(lower.as_str()))
        {
            return Ok(i);
        }
        if let Some(i) = self.folders.iter().position(|f| f.id == key) {
            return Ok(i);
        }
        if ids::is_well_formed(key, FOLDER_PREFIX) {
            Err(Lookup::NotFound)
        } else if lower.chars().all(|c| c.is_ascii_alphabetic()) && key.len() < 30 {
            // An unknown well-known-looking name: Graph answers not found [G-FOLD].
            Err(Lookup::NotFound)
        } else {
            Err(Lookup::Malformed)
        }
    }

    pub(crate) fn folder(&self, id: &str) -> Option<&Folder> {
        self.folders.iter().find(|f| f.id == id)
    }

    /// Slash path of a folder below the root ("Inbox/Projects").
    pub(crate) fn folder_path(&self, id: &str) -> String {
        let mut parts = Vec::new();
        let mut cur = self.folder(id);
        while let Some(f) = cur {
            if f.id == self.root_id() {
                break;
            }
            parts.push(f.display_name.clone());
            cur = f.parent_id.as_deref().and_then(|p| self.folder(p));
        }
        parts.reverse();
        parts.join("/")
    }

    pub(crate) fn children(&self, parent: &str) -> impl Iterator<Item = &Folder> {
        let parent = parent.to_owned();
        self.folders
            .iter()
            .filter(move |f| f.parent_id.as_deref() == Some(parent.as_str()))
    }

    /// Creates a child folder; `Err(())` if a sibling has the name (case-insensitive)
    /// [1.6 ErrorFolderExists].
    pub(crate) fn create_folder(
        &mut self,
        parent: &str,
        name: &str,
        hidden: bool,
    ) -> Result<usize, ()> {
        if self
            .children(parent)
            .any(|f| f.display_name.to_lowercase() == name.to_lowercase())
        {
            return Err(());
        }
        self.folders.push(Folder {
            id: ids::new_id(FOLDER_PREFIX),
            display_name: name.to_owned(),
            parent_id: Some(parent.to_owned()),
            well_known: None,
            is_hidden: hidden,
        });
        Ok(self.folders.len() - 1)
    }

    /// The folder at a slash path below the root, created as needed (seeding helper).
    pub(crate) fn ensure_path(&mut self, path: &str) -> String {
        let mut cur = self.root_id().to_owned();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let existing = self
                .children(&cur)
                .find(|f| f.display_name.eq_ignore_ascii_case(part))
                .map(|f| f.id.clone());
            cur = match existing {
                Some(id) => id,
                None => {
                    let i = self.create_folder(&cur, part, false).unwrap_or_default();
                    self.folders[i].id.clone()
                }
            };
        }
        cur
    }

    /// A message by immutable or current rest id, exactly (ids are case-sensitive) \[G-IMM\].
    pub(crate) fn message_index(&self, id: &str) -> Result<usize, Lookup> {
        if let Some(i) = self
            .messages
            .iter()
            .position(|m| m.imm_id == id || m.rest_id == id)
        {
            return Ok(i);
        }
        if ids::is_well_formed(id, IMMUTABLE_PREFIX) || ids::is_well_formed(id, REST_PREFIX) {
            Err(Lookup::NotFound)
        } else {
            Err(Lookup::Malformed)
        }
    }

    /// Inserts a new message, stamping its change sequence.
    pub(crate) fn insert(&mut self, mut m: Message) -> usize {
        let seq = self.bump();
        m.folder_seq = seq;
        m.changed_seq = seq;
        self.messages.push(m);
        self.messages.len() - 1
    }

    /// Records a change to message `i`.
    pub(crate) fn touch(&mut self, i: usize) {
        let seq = self.bump();
        let m = &mut self.messages[i];
        m.changed_seq = seq;
        m.change_n += 1;
        m.modified = now();
    }

    /// Moves message `i`: the rest id changes, the immutable id stays \[G-IMM\].
    pub(crate) fn move_to(&mut self, i: usize, folder_id: &str) {
        if self.messages[i].folder_id == folder_id {
            return;
        }
        let seq = self.bump();
        let m = &mut self.messages[i];
        self.tombstones.push(Tombstone {
            folder_id: m.folder_id.clone(),
            imm_id: m.imm_id.clone(),
            rest_id: m.rest_id.clone(),
            seq,
        });
        m.folder_id = folder_id.to_owned();
        m.rest_id = ids::new_id(REST_PREFIX);
        m.folder_seq = seq;
        m.changed_seq = seq;
        m.change_n += 1;
        m.modified = now();
    }

    /// Deletes message `i`.
    pub(crate) fn delete(&mut self, i: usize) {
        let seq = self.bump();
        let m = self.messages.remove(i);
        self.tombstones.push(Tombstone {
            folder_id: m.folder_id,
            imm_id: m.imm_id,
            rest_id: m.rest_id,
            seq,
        });
    }
}

/// All mailboxes of the tenant, and its directory.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) mailboxes: Vec<Mailbox>,
    pub(crate) directory: super::directory::DirectoryStore,
}

impl Store {
    /// A mailbox by UPN (case-insensitive) or user id \[G-CMSG\].
    pub(crate) fn mailbox_mut(&mut self, user: &str) -> Option<&mut Mailbox> {
        self.mailboxes
            .iter_mut()
            .find(|m| m.upn.eq_ignore_ascii_case(user) || m.user_id.eq_ignore_ascii_case(user))
    }
}

/// The current time, truncated to whole seconds as Graph shows it.
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}
