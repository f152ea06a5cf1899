//! Labels as folders and as message metadata \[GM-LBL\]: the system labels' roles, flags
//! kept as labels, user labels created by path, names Gmail refuses renamed.

use std::collections::BTreeSet;

use mailmigrate_core::{
    EnsuredFolder, Error, ErrorKind, Flag, Flags, Folder, FolderId, FolderPath, MessageId,
    MessageMeta, Result, SpecialUse,
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use super::{LabelRename, Shared};
use crate::client::{segment, Call};
use crate::quota::Cost;
use crate::PROVIDER;

/// The id of the folder of every message but Spam and Trash (Gmail's "All Mail"; not a
/// label: a listing without a label filter).
pub const ALL_MAIL: &str = "ALL_MAIL";

/// The keyword label (under the keyword parent) of `\Draft` on a message outside Drafts.
const DRAFT_KEYWORD: &str = "$Draft";

/// The system labels that are folders: id, path, role.
const SYSTEM_FOLDERS: [(&str, &str, SpecialUse); 7] = [
    ("INBOX", "INBOX", SpecialUse::Inbox),
    ("SENT", "Sent", SpecialUse::Sent),
    ("DRAFT", "Drafts", SpecialUse::Drafts),
    ("SPAM", "Spam", SpecialUse::Junk),
    ("TRASH", "Trash", SpecialUse::Trash),
    ("STARRED", "Starred", SpecialUse::Flagged),
    ("IMPORTANT", "Important", SpecialUse::Important),
];

/// Names a user label cannot have: the system labels' and those GYB avoids \[GM-LBL\]\[GYB\].
const RESERVED: [&str; 26] = [
    "inbox",
    "spam",
    "trash",
    "unread",
    "starred",
    "important",
    "sent",
    "draft",
    "chat",
    "chats",
    "migrated",
    "todo",
    "todos",
    "buzz",
    "bin",
    "allmail",
    "drafts",
    "archive",
    "archived",
    "muted",
    "category_personal",
    "category_social",
    "category_promotions",
    "category_updates",
    "category_forums",
    "all mail",
];

/// A system label as a message label, as Gmail's IMAP names them (`\Inbox`), categories
/// by id (`\CATEGORY_SOCIAL`); `None` for those that are flags (UNREAD, STARRED, DRAFT).
fn system_label_name(id: &str) -> Option<String> {
    Some(match id {
        "UNREAD" | "STARRED" | "DRAFT" => return None,
        "INBOX" => "\\Inbox".into(),
        "SENT" => "\\Sent".into(),
        "IMPORTANT" => "\\Important".into(),
        "SPAM" => "\\Spam".into(),
        "TRASH" => "\\Trash".into(),
        "CHAT" => "\\Chat".into(),
        other => format!("\\{other}"),
    })
}

/// The system label a message label names (`\Inbox` → INBOX, `\Starred` → STARRED).
fn system_label_id(name: &str) -> Option<String> {
    let bare = name.strip_prefix('\\')?;
    let id = match bare.to_ascii_lowercase().as_str() {
        "inbox" => "INBOX".to_owned(),
        "sent" => "SENT".to_owned(),
        "important" => "IMPORTANT".to_owned(),
        "starred" => "STARRED".to_owned(),
        "draft" => "DRAFT".to_owned(),
        "spam" | "junk" => "SPAM".to_owned(),
        "trash" => "TRASH".to_owned(),
        "chat" => "CHAT".to_owned(),
        c if c.starts_with("category_") => bare.to_ascii_uppercase(),
        _ => return None,
    };
    Some(id)
}

/// One label as `labels.list` gives it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(rename = "type", default)]
    pub(crate) kind: String,
}

/// The mailbox's labels, read once and kept up to date with what this client creates.
#[derive(Debug, Default)]
pub(crate) struct Book(Mutex<Option<Vec<Entry>>>);

impl Book {
    /// The labels, read from Gmail on first use (or again with `reload`).
    async fn entries(&self, gmail: &Shared, reload: bool) -> Result<Vec<Entry>> {
        let mut cached = self.0.lock().await;
        if reload || cached.is_none() {
            #[derive(Deserialize)]
            struct List {
                #[serde(default)]
                labels: Vec<Entry>,
            }
            let call = Call::get(gmail.client.url("/labels"), Cost::Small, "list labels");
            let list: List = gmail.client.json(&call).await?;
            *cached = Some(list.labels);
        }
        Ok(cached.clone().unwrap_or_default())
    }

    async fn remember(&self, entry: Entry) {
        if let Some(list) = self.0.lock().await.as_mut() {
            list.push(entry);
        }
    }
}

impl Shared {
    fn keyword_prefix(&self) -> String {
        format!("{}/", self.settings.keyword_parent)
    }

    /// Whether `name` is the keyword parent or a label under it.
    fn is_keyword_label(&self, name: &str) -> bool {
        name == self.settings.keyword_parent || name.starts_with(&self.keyword_prefix())
    }

    /// The label holding a flag Gmail has no label for, or a keyword.
    ///
    /// `\Draft` outside Drafts is carried as the keyword [`DRAFT_KEYWORD`] by
    /// [`label_ids_for`](Self::label_ids_for), not here: in Drafts it is Gmail's DRAFT.
    fn keyword_label(&self, flag: &Flag) -> Option<String> {
        match flag {
            Flag::Answered => Some(format!("{}$Answered", self.keyword_prefix())),
            Flag::Keyword(k) => Some(format!("{}{k}", self.keyword_prefix())),
            _ => None,
        }
    }

    /// A message's metadata from its labels, as listed in `folder` (whose own label is
    /// not among its `labels`).
    pub(crate) async fn meta_of(
        &self,
        folder: &FolderId,
        id: &str,
        label_ids: &[String],
        date: Option<time::OffsetDateTime>,
        message_id: Option<String>,
    ) -> Result<MessageMeta> {
        let entries = self.book.entries(self, false).await?;
        let mut entries = entries;
        if label_ids
            .iter()
            .any(|l| !entries.iter().any(|e| &e.id == l))
        {
            // A label made since the book was read.
            entries = self.book.entries(self, true).await?;
        }
        let (flags, labels) = self.flags_and_labels(folder, label_ids, &entries);
        Ok(MessageMeta::new(MessageId::new(id), folder.clone())
            .with_flags(flags)
            .with_labels(labels)
            .with_internal_date(date)
            .with_message_id(message_id))
    }

    fn flags_and_labels(
        &self,
        folder: &FolderId,
        label_ids: &[String],
        entries: &[Entry],
    ) -> (Flags, BTreeSet<String>) {
        let mut flags = Flags::new();
        let has = |l: &str| label_ids.iter().any(|x| x == l);
        if !has("UNREAD") {
            flags.insert(Flag::Seen);
        }
        if has("STARRED") {
            flags.insert(Flag::Flagged);
        }
        if has("DRAFT") {
            flags.insert(Flag::Draft);
        }
        let mut labels = BTreeSet::new();
        for id in label_ids.iter().filter(|l| l.as_str() != folder.as_str()) {
            match entries.iter().find(|e| &e.id == id) {
                Some(e) if e.kind == "user" => {
                    if let Some(rest) = e.name.strip_prefix(&self.keyword_prefix()) {
                        flags.insert(match rest {
                            "$Answered" => Flag::Answered,
                            DRAFT_KEYWORD => Flag::Draft,
                            _ => Flag::Keyword(rest.to_owned()),
                        });
                    } else if !self.is_keyword_label(&e.name) {
                        labels.insert(e.name.clone());
                    }
                }
                _ => labels.extend(system_label_name(id)),
            }
        }
        (flags, labels)
    }

    /// The flags of a message with these labels (for look-ups).
    pub(crate) async fn flags_of(&self, folder: &FolderId, label_ids: &[String]) -> Result<Flags> {
        let entries = self.book.entries(self, false).await?;
        Ok(self.flags_and_labels(folder, label_ids, &entries).0)
    }

    /// The label ids a message is imported with into `folder`: the folder's, its flags',
    /// its keywords' and its labels' (user labels created as needed).
    pub(crate) async fn label_ids_for(
        &self,
        folder: &FolderId,
        meta: &MessageMeta,
    ) -> Result<Vec<String>> {
        let mut ids = BTreeSet::new();
        if folder.as_str() != ALL_MAIL {
            ids.insert(folder.as_str().to_owned());
        }
        if !meta.flags.contains(&Flag::Seen) {
            ids.insert("UNREAD".to_owned());
        }
        if meta.flags.contains(&Flag::Flagged) {
            ids.insert("STARRED".to_owned());
        }
        if meta.flags.contains(&Flag::Draft) {
            if folder.as_str() == "DRAFT" {
                // [GYB] passes DRAFT to import; modify refuses it [GM-LBL].
                ids.insert("DRAFT".to_owned());
            } else {
                // DRAFT would also file it in Gmail's Drafts, a folder its source never
                // put it in: a draft kept elsewhere carries its flag as a keyword label,
                // read back as `\Draft`.
                let name = format!("{}{DRAFT_KEYWORD}", self.keyword_prefix());
                ids.insert(self.user_label(&name, true).await?.0);
            }
        }
        for name in meta.flags.iter().filter_map(|f| self.keyword_label(f)) {
            ids.insert(self.user_label(&name, true).await?.0);
        }
        for label in &meta.labels {
            match system_label_id(label) {
                Some(id) => ids.insert(id),
                None => ids.insert(self.user_label(label, false).await?.0),
            };
        }
        Ok(ids.into_iter().collect())
    }

    /// The label id for a flag change (`None`: a flag Gmail keeps in no label, `\Draft`).
    pub(crate) async fn label_for_flag(&self, flag: &Flag, create: bool) -> Result<Option<String>> {
        Ok(match flag {
            Flag::Seen => Some("UNREAD".into()),
            Flag::Flagged => Some("STARRED".into()),
            Flag::Draft | Flag::Deleted => None,
            other => match self.keyword_label(other) {
                Some(name) => self.keyword_label_id(&name, create).await?,
                None => None,
            },
        })
    }

    /// The label carrying `\Draft` on a message outside Drafts (`Keywords/$Draft`), for a
    /// flag change: created when `create`, else `None` if it does not exist.
    pub(crate) async fn draft_keyword_label(&self, create: bool) -> Result<Option<String>> {
        let name = format!("{}{DRAFT_KEYWORD}", self.keyword_prefix());
        self.keyword_label_id(&name, create).await
    }

    /// The id of the keyword label `name`: created when `create`, else looked up (`None`
    /// if there is none, so removing it changes nothing).
    async fn keyword_label_id(&self, name: &str, create: bool) -> Result<Option<String>> {
        if create {
            return Ok(Some(self.user_label(name, true).await?.0));
        }
        let entries = self.book.entries(self, false).await?;
        Ok(entries
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
            .map(|e| e.id.clone()))
    }

    /// The name a user label at `name` is stored under: a reserved first segment gets a
    /// `_` prefix (as GYB does), reported once.
    fn stored_name(&self, name: &str, keyword: bool) -> String {
        let (first, rest) = name
            .split_once('/')
            .map_or((name, None), |(a, b)| (a, Some(b)));
        if keyword || !RESERVED.contains(&first.trim().to_ascii_lowercase().as_str()) {
            return name.to_owned();
        }
        let stored = match rest {
            Some(rest) => format!("_{first}/{rest}"),
            None => format!("_{first}"),
        };
        let mut renames = self.renames.lock().unwrap_or_else(|e| e.into_inner());
        if !renames.iter().any(|r| r.asked == name) {
            tracing::warn!(asked = name, stored = %stored, "Gmail reserves this label name; renamed");
            renames.push(LabelRename {
                asked: name.to_owned(),
                stored: stored.clone(),
            });
        }
        stored
    }

    /// The id of the user label `name` (nested by `/`), with every parent, created as
    /// needed (each parent explicitly, so they nest \[GM-LBL\]); whether the label itself
    /// was created.
    pub(crate) async fn user_label(&self, name: &str, keyword: bool) -> Result<(String, bool)> {
        let name = self.stored_name(name, keyword);
        let segments: Vec<&str> = name.split('/').collect();
        let mut made = (String::new(), false);
        for n in 1..=segments.len() {
            let prefix = segments[..n].join("/");
            made = self.ensure_label(&prefix).await?;
        }
        Ok(made)
    }

    /// One label by exact name: found, or created (a 409 means it exists after all: made
    /// meanwhile, or by a create whose answer was lost).
    async fn ensure_label(&self, name: &str) -> Result<(String, bool)> {
        let find = |entries: &[Entry]| {
            entries
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(name))
                .map(|e| e.id.clone())
        };
        if let Some(id) = find(&self.book.entries(self, false).await?) {
            return Ok((id, false));
        }
        let call = Call::post_json(
            self.client.url("/labels"),
            &json!({"name": name, "messageListVisibility": "show", "labelListVisibility": "labelShow"}),
            Cost::LabelWrite,
            format!("create label {name}"),
        );
        let created = self.client.json::<Entry>(&call).await;
        match created {
            Ok(entry) => {
                let id = entry.id.clone();
                self.book.remember(entry).await;
                Ok((id, true))
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists || e.is_outcome_unknown() => {
                match find(&self.book.entries(self, true).await?) {
                    Some(id) => Ok((id, false)),
                    None => Err(e),
                }
            }
            Err(e) if e.kind() == ErrorKind::InvalidMessage => Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("Gmail refuses the label name {name:?}: {e}"),
            )
            .with_provider(PROVIDER)
            .with_context("folder", name)),
            Err(e) => Err(e),
        }
    }

    /// Whether `folder` holds no message.
    async fn is_empty(&self, folder: &FolderId) -> Result<bool> {
        if folder.as_str() == ALL_MAIL {
            return Ok(super::api::list_ids(&self.client, folder, None)
                .await?
                .is_empty());
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Counts {
            #[serde(default)]
            messages_total: u64,
        }
        let call = Call::get(
            self.client
                .url(&format!("/labels/{}", segment(folder.as_str()))),
            Cost::Small,
            format!("get label {folder}"),
        );
        Ok(self.client.json::<Counts>(&call).await?.messages_total == 0)
    }
}

/// Every label as a folder, and `All Mail`.
pub(crate) async fn folders(gmail: &Shared) -> Result<Vec<Folder>> {
    let entries = gmail.book.entries(gmail, true).await?;
    let mut out =
        vec![Folder::new(FolderId::new(ALL_MAIL), path("All Mail")?)
            .with_role(Some(SpecialUse::All))];
    for e in &entries {
        if let Some((id, p, role)) = SYSTEM_FOLDERS.iter().find(|(id, _, _)| *id == e.id) {
            out.push(Folder::new(FolderId::new(*id), path(p)?).with_role(Some(*role)));
        } else if e.kind == "user" && !gmail.is_keyword_label(&e.name) {
            match FolderPath::parse(&e.name, '/') {
                Ok(p) => out.push(Folder::new(FolderId::new(&e.id), p)),
                Err(err) => {
                    tracing::warn!(label = %e.name, error = %err, "label skipped: not a folder path")
                }
            }
        }
    }
    Ok(out)
}

fn path(p: &str) -> Result<FolderPath> {
    FolderPath::parse(p, '/')
}

/// The folder at `path` (or of `role`): a system label, `All Mail`, or a user label
/// created as needed.
pub(crate) async fn ensure(
    gmail: &Shared,
    path: &FolderPath,
    role: Option<SpecialUse>,
) -> Result<EnsuredFolder> {
    let by_role = role.and_then(|r| match r {
        SpecialUse::All | SpecialUse::Archive => Some(ALL_MAIL),
        r => SYSTEM_FOLDERS
            .iter()
            .find(|(_, _, x)| *x == r)
            .map(|(id, _, _)| *id),
    });
    let system = by_role.or_else(|| path.is_inbox().then_some("INBOX"));
    if let Some(id) = system {
        let folder = FolderId::new(id);
        let empty = gmail.is_empty(&folder).await?;
        return Ok(EnsuredFolder::new(folder, false).with_empty(empty));
    }
    let (id, created) = gmail
        .user_label(&path.join("/"), false)
        .await
        .map_err(|e| e.with_context("folder", path))?;
    let folder = FolderId::new(id);
    let empty = created || gmail.is_empty(&folder).await?;
    Ok(EnsuredFolder::new(folder, created).with_empty(empty))
}
