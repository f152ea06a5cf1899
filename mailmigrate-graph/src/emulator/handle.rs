//! [`EmulatorHandle`]: URLs and credentials for clients, and the server's own view of its
//! store for tests (seeding, "user" changes, snapshots, stats).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::directory::seed::{TenantContact, TenantGroup, TenantUser};
use super::directory::{seed_contact, seed_group, seed_user};
use super::faults::Faults;
use super::mime;
use super::server::State;
use super::store::{CreatedBy, Mailbox, Message};

/// How [`EmulatorHandle::seed_message`] files a message (as if delivered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seed {
    /// Read (`isRead`).
    pub is_read: bool,
    /// Flagged (`flag.flagStatus = "flagged"`).
    pub flagged: bool,
    /// Outlook categories.
    pub categories: Vec<String>,
    /// `receivedDateTime`; default: the top `Received:` date, then `Date:`, then now.
    pub received: Option<OffsetDateTime>,
}

/// An attachment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredAttachment {
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Inline (has a content id and inline disposition).
    pub is_inline: bool,
    /// `contentId`.
    pub content_id: Option<String>,
    /// The content (shared with the store, not copied).
    pub bytes: Bytes,
}

/// A message as the server stores it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoredMessage {
    /// The immutable id (never changes on move) \[G-IMM\].
    pub id: String,
    /// The current rest id (changes on move) \[G-IMM\].
    pub rest_id: String,
    /// Folder path below the root ("Inbox/Projects").
    pub folder_path: String,
    /// `internetMessageId`, with angle brackets.
    pub internet_message_id: Option<String>,
    /// `subject`.
    pub subject: Option<String>,
    /// `isDraft`.
    pub is_draft: bool,
    /// `isRead`.
    pub is_read: bool,
    /// `receivedDateTime`.
    pub received: Option<OffsetDateTime>,
    /// `sentDateTime`.
    pub sent: Option<OffsetDateTime>,
    /// `categories`.
    pub categories: Vec<String>,
    /// `flag.flagStatus` (`notFlagged`, `flagged`, `complete`).
    pub flag_status: String,
    /// The bytes as stored when the message came in as MIME (seed, MIME create,
    /// importMime).
    pub mime: Option<Bytes>,
    /// Extended properties as sent at creation or by PATCH (id, value).
    pub extended: Vec<(String, String)>,
    /// Custom `internetMessageHeaders` (JSON create) or all headers (MIME).
    pub headers: Vec<(String, String)>,
    /// Attachments.
    pub attachments: Vec<StoredAttachment>,
    /// How it came in.
    pub created_by: CreatedBy,
}

/// A folder as the server stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredFolder {
    /// Stable folder id.
    pub id: String,
    /// `displayName`.
    pub display_name: String,
    /// Slash path below the root ("Inbox/Projects").
    pub path: String,
    /// `parentFolderId`.
    pub parent_id: Option<String>,
    /// Well-known name (`inbox`, `drafts`, …) for default folders \[G-FOLD\].
    pub well_known_name: Option<String>,
    /// `isHidden`.
    pub is_hidden: bool,
}

/// What the server observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Graph requests per mailbox (lower-case UPN), throttled ones included.
    pub requests: HashMap<String, u64>,
    /// Most requests in flight at once per mailbox, refused ones included: a client that
    /// respects the limit keeps this at or below 4 \[G-THR\].
    pub max_concurrent: HashMap<String, usize>,
    /// 429s sent (throttling and injected).
    pub throttled: u64,
    /// Upload bytes accepted (POST/PATCH/PUT bodies).
    pub bytes_uploaded: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Device code polls that came sooner than the announced interval (RFC 8628 §3.5:
    /// a client waits it out).
    pub early_device_polls: u64,
    /// Mailbox import sessions created (`createImportSession`, \[G-IMPS\]).
    pub import_sessions: usize,
}

#[derive(Debug)]
struct Inner {
    st: Arc<State>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }
}

/// A running emulator. Clones share it; dropping the last clone, or
/// [`shutdown`](Self::shutdown), stops the server.
#[derive(Debug, Clone)]
pub struct EmulatorHandle {
    inner: Arc<Inner>,
}

impl EmulatorHandle {
    pub(crate) fn new(st: Arc<State>, stop: watch::Sender<bool>, task: JoinHandle<()>) -> Self {
        Self {
            inner: Arc::new(Inner {
                st,
                stop,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    fn st(&self) -> &State {
        &self.inner.st
    }

    pub(super) fn with_mailbox<T>(&self, upn: &str, f: impl FnOnce(&mut Mailbox) -> T) -> T {
        let mut store = self.st().store();
        let mbx = store
            .mailbox_mut(upn)
            .unwrap_or_else(|| panic!("no mailbox {upn} in the emulator"));
        f(mbx)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.st().base_url.clone()
    }

    /// The Graph root, `base_url() + "/v1.0"` (beta is at `base_url() + "/beta"`).
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.st().base_url)
    }

    /// The token endpoint, `base_url() + "/{tenant}/oauth2/v2.0/token"` \[AAD-CC\].
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.st().base_url,
            self.st().cfg.tenant
        )
    }

    /// The accepted client id.
    pub fn client_id(&self) -> String {
        self.st().cfg.client_id.clone()
    }

    /// The accepted client secret.
    pub fn client_secret(&self) -> String {
        self.st().cfg.client_secret.clone()
    }

    /// The tenant id.
    pub fn tenant(&self) -> String {
        self.st().cfg.tenant.clone()
    }

    /// A [`GraphBuilder`](crate::GraphBuilder) for `mailbox` of this emulator: its URLs,
    /// its app's client credentials, plaintext allowed.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use mailmigrate_core::Provider;
    /// let emu = mailmigrate_graph::emulator::Emulator::builder()
    ///     .mailbox("ada@example.com")
    ///     .start()
    ///     .await
    ///     .unwrap();
    /// let mailbox = emu.graph_builder("ada@example.com").connect().await.unwrap();
    /// assert!(!mailbox.list_folders().await.unwrap().is_empty());
    /// emu.shutdown().await;
    /// # });
    /// ```
    pub fn graph_builder(&self, mailbox: &str) -> crate::GraphBuilder {
        crate::GraphBuilder::new(mailbox)
            .with_graph_url(self.graph_url())
            .with_authority_url(self.base_url())
            .with_client_credentials(self.tenant(), self.client_id(), self.client_secret())
            .allow_plaintext(true)
    }

    /// Files `mime` in `folder_path` (created as needed, e.g. "Inbox/Projects/2024") as a
    /// delivered, non-draft message; returns its immutable id.
    ///
    /// # Panics
    /// If the mailbox does not exist.
    pub fn seed_message(&self, upn: &str, folder_path: &str, mime: &[u8], seed: Seed) -> String {
        self.with_mailbox(upn, |mbx| {
            let folder = mbx.ensure_path(folder_path);
            let mut m = Message::new(&folder, CreatedBy::Seed);
            let received = match mime::parse(mime) {
                Some(p) => {
                    let r = p.received.or(p.date);
                    p.apply(&mut m);
                    r
                }
                None => None,
            };
            m.received = seed.received.or(received).or(m.received);
            m.mime = Some(Bytes::copy_from_slice(mime));
            m.is_draft = false;
            m.is_read = seed.is_read;
            if seed.flagged {
                m.flag_status = "flagged".into();
            }
            m.categories = seed.categories;
            let i = mbx.insert(m);
            mbx.messages[i].imm_id.clone()
        })
    }

    /// Adds (or replaces, by UPN) a directory user, with its mailbox when it has one;
    /// returns its object id.
    pub fn seed_user(&self, user: TenantUser) -> String {
        seed_user(&mut self.st().store(), user)
    }

    /// Adds a group; returns its object id.
    ///
    /// # Panics
    /// If a member names no seeded user, group or contact.
    pub fn seed_group(&self, group: TenantGroup) -> String {
        seed_group(&mut self.st().store(), group)
    }

    /// Adds a mail contact to the tenant's directory (an external address groups can hold;
    /// not a mailbox's contact: see [`seed_contact`](Self::seed_contact)); returns its
    /// object id.
    pub fn seed_tenant_contact(&self, contact: TenantContact) -> String {
        seed_contact(&mut self.st().store(), contact)
    }

    /// Snapshot of a mailbox's messages.
    ///
    /// # Panics
    /// If the mailbox does not exist.
    pub fn messages(&self, upn: &str) -> Vec<StoredMessage> {
        self.with_mailbox(upn, |mbx| {
            mbx.messages
                .iter()
                .map(|m| StoredMessage {
                    id: m.imm_id.clone(),
                    rest_id: m.rest_id.clone(),
                    folder_path: mbx.folder_path(&m.folder_id),
                    internet_message_id: m.internet_message_id.clone(),
                    subject: m.subject.clone(),
                    is_draft: m.is_draft,
                    is_read: m.is_read,
                    received: m.received,
                    sent: m.sent,
                    categories: m.categories.clone(),
                    flag_status: m.flag_status.clone(),
                    mime: m.mime.clone(),
                    extended: m.extended.clone(),
                    headers: m.headers.clone(),
                    attachments: m
                        .attachments
                        .iter()
                        .map(|a| StoredAttachment {
                            name: a.name.clone(),
                            content_type: a.content_type.clone(),
                            size: a.bytes.len() as u64,
                            is_inline: a.is_inline,
                            content_id: a.content_id.clone(),
                            bytes: a.bytes.clone(),
                        })
                        .collect(),
                    created_by: m.created_by,
                })
                .collect()
        })
    }

    /// Snapshot of a mailbox's folders (the root excluded).
    ///
    /// # Panics
    /// If the mailbox does not exist.
    pub fn folders(&self, upn: &str) -> Vec<StoredFolder> {
        self.with_mailbox(upn, |mbx| {
            mbx.folders
                .iter()
                .skip(1)
                .map(|f| StoredFolder {
                    id: f.id.clone(),
                    display_name: f.display_name.clone(),
                    path: mbx.folder_path(&f.id),
                    parent_id: f.parent_id.clone(),
                    well_known_name: f.well_known.map(str::to_owned),
                    is_hidden: f.is_hidden,
                })
                .collect()
        })
    }

    /// Marks a message read or unread "by the user" (visible to delta as an update).
    ///
    /// # Panics
    /// If the mailbox or message does not exist.
    pub fn set_read(&self, upn: &str, id: &str, read: bool) {
        self.with_mailbox(upn, |mbx| {
            let i = mbx.message_index(id).expect("no such message");
            mbx.messages[i].is_read = read;
            mbx.touch(i);
        });
    }

    /// Moves a message "by the user" to `folder_path` (created as needed).
    ///
    /// # Panics
    /// If the mailbox or message does not exist.
    pub fn move_message(&self, upn: &str, id: &str, folder_path: &str) {
        self.with_mailbox(upn, |mbx| {
            let folder = mbx.ensure_path(folder_path);
            let i = mbx.message_index(id).expect("no such message");
            mbx.move_to(i, &folder);
        });
    }

    /// Deletes a message "by the user".
    ///
    /// # Panics
    /// If the mailbox or message does not exist.
    pub fn delete_message(&self, upn: &str, id: &str) {
        self.with_mailbox(upn, |mbx| {
            let i = mbx.message_index(id).expect("no such message");
            mbx.delete(i);
        });
    }

    /// The fault injector shared with the server.
    pub fn faults(&self) -> Faults {
        self.st().faults.clone()
    }

    /// What the server observed so far.
    pub fn stats(&self) -> Stats {
        let c = self.st().counters();
        let (requests, max_concurrent) = c.per_mailbox();
        Stats {
            requests,
            max_concurrent,
            throttled: c.throttled,
            bytes_uploaded: c.bytes_uploaded,
            tokens_issued: c.tokens_issued,
            early_device_polls: self.st().sign_ins.early_polls(),
            import_sessions: self.st().imports().len(),
        }
    }

    /// Signs `upn` in at the verification page showing `user_code` (a device code sign-in,
    /// \[AAD-DC\]): the next poll gets tokens acting as that user. Whether a sign-in showed
    /// that code.
    pub fn approve_device_code(&self, user_code: &str, upn: &str) -> bool {
        self.st().sign_ins.answer(user_code, Some(upn))
    }

    /// Declines the sign-in showing `user_code`: the next poll gets
    /// `authorization_declined`. Whether a sign-in showed that code.
    pub fn decline_device_code(&self, user_code: &str) -> bool {
        self.st().sign_ins.answer(user_code, None)
    }

    /// Stops the server (open connections are closed after at most a second).
    pub async fn shutdown(self) {
        let _ = self.inner.stop.send(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut t) = task {
            if tokio::time::timeout(Duration::from_secs(1), &mut t)
                .await
                .is_err()
            {
                t.abort();
            }
        }
    }
}
