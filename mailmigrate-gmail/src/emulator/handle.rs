//! [`EmulatorHandle`]: URLs and credentials for clients, and the server's own view of its
//! mailboxes for tests (seeding, changes "by the user", snapshots, stats).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::faults::Faults;
use super::server::State;
use super::store::Mailbox;

/// A message as the server stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredMessage {
    /// The message id (16 hex digits).
    pub id: String,
    /// The bytes as imported.
    pub raw: Bytes,
    /// Its label ids (`INBOX`, `UNREAD`, `Label_3`…).
    pub label_ids: BTreeSet<String>,
    /// `internalDate`, epoch milliseconds.
    pub internal_date: i64,
    /// How it came in (`import`, `seed`).
    pub via: &'static str,
}

/// A label as the server stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredLabel {
    /// Its id (`INBOX`, `Label_3`).
    pub id: String,
    /// Its name (`Projects/2026`).
    pub name: String,
    /// Whether it is a system label.
    pub system: bool,
    /// Whether Gmail shows it nested: its name has a `/` and the label named by the part
    /// before the last `/` exists \[GM-LBL\].
    pub nested: bool,
}

/// What the server observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Quota units charged per user \[GM-QUOTA\].
    pub units: HashMap<String, u64>,
    /// Calls admitted per method id (`gmail.users.messages.import`).
    pub calls: HashMap<String, u64>,
    /// Calls refused with `userRateLimitExceeded`.
    pub rate_limited: u64,
    /// Calls refused over the per-user concurrency cap.
    pub concurrency_refused: u64,
    /// Most calls in flight at once per user (admitted ones).
    pub max_in_flight: HashMap<String, usize>,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Imports sent with `processForCalendar=true`.
    pub calendar_processed: u64,
    /// HTTP requests to the APIs (token endpoint and consent screen aside): a batch of
    /// many calls is one \[GM-BATCH\].
    pub requests: u64,
    /// Calls refused with `dailyLimitExceeded` \[GM-ERR\].
    pub daily_refused: u64,
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

    pub(crate) fn st(&self) -> &State {
        &self.inner.st
    }

    fn with_mailbox<T>(&self, user: &str, f: impl FnOnce(&mut Mailbox) -> T) -> T {
        let mut all = self.st().mailboxes();
        let mbx = all
            .get_mut(&user.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("no user {user} in the emulator"));
        f(mbx)
    }

    /// `http://127.0.0.1:PORT`: the API root (`/gmail/v1/…`, `/upload/gmail/v1/…`).
    pub fn base_url(&self) -> String {
        self.st().base_url.clone()
    }

    /// The token endpoint, `base_url() + "/token"`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.st().base_url)
    }

    /// The accepted OAuth client id.
    pub fn client_id(&self) -> String {
        self.st().cfg.client_id.clone()
    }

    /// The accepted OAuth client secret.
    pub fn client_secret(&self) -> String {
        self.st().cfg.client_secret.clone()
    }

    /// The installed-app authorization endpoint, `base_url() + "/o/oauth2/auth"` \[GO-IA\].
    pub fn auth_url(&self) -> String {
        format!("{}/o/oauth2/auth", self.st().base_url)
    }

    /// The JSON key of the domain's service account \[GO-SA\] (an embedded test key pair;
    /// `token_uri` is [`token_url`](Self::token_url)), for
    /// [`ServiceAccountKey::from_json`](crate::ServiceAccountKey::from_json).
    pub fn service_account_json(&self) -> String {
        super::service_account::json_key(self.st(), &self.token_url())
    }

    /// The service account's email, the assertions' `iss`.
    pub fn service_account_email(&self) -> String {
        self.st().cfg.service_account.email.clone()
    }

    /// The service-account key of this emulator, admitted over loopback `http`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use mailmigrate_core::Provider;
    /// let emu = mailmigrate_gmail::emulator::Emulator::builder()
    ///     .user("ada@example.com")
    ///     .start()
    ///     .await
    ///     .unwrap();
    /// let gmail = mailmigrate_gmail::GmailBuilder::new("ada@example.com")
    ///     .with_api_url(emu.base_url())
    ///     .with_service_account(&emu.service_account_key())
    ///     .allow_plaintext(true)
    ///     .build()
    ///     .unwrap();
    /// assert!(gmail.list_folders().await.unwrap().iter().any(|f| f.path.is_inbox()));
    /// emu.shutdown().await;
    /// # });
    /// ```
    ///
    /// # Panics
    /// Never: the embedded key parses.
    pub fn service_account_key(&self) -> crate::ServiceAccountKey {
        crate::ServiceAccountKey::from_json(&self.service_account_json())
            .expect("the emulator's key parses")
            .allow_http_loopback(true)
    }

    /// What the consent screen does from now on (default [`Consent::AsHinted`](super::Consent::AsHinted)).
    pub fn set_consent(&self, consent: super::Consent) {
        self.st().consent.set(consent);
    }

    /// Ends every resumable upload session: their URIs answer 404, as after expiry
    /// \[GM-UPL\].
    pub fn expire_upload_sessions(&self) {
        self.st().uploads.expire_all();
    }

    /// Resumable upload sessions not complete yet.
    pub fn open_upload_sessions(&self) -> usize {
        self.st().uploads.open()
    }

    /// The refresh token of `user`.
    ///
    /// # Panics
    /// If the user does not exist.
    pub fn refresh_token(&self, user: &str) -> String {
        let user = user.to_ascii_lowercase();
        self.st()
            .cfg
            .users
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("no user {user} in the emulator"))
    }

    /// A [`GmailBuilder`](crate::GmailBuilder) for `user` of this emulator: its URLs, its
    /// client and the user's refresh token, plaintext allowed.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use mailmigrate_core::Provider;
    /// let emu = mailmigrate_gmail::emulator::Emulator::builder()
    ///     .user("ada@example.com")
    ///     .start()
    ///     .await
    ///     .unwrap();
    /// let gmail = emu.gmail_builder("ada@example.com").build().unwrap();
    /// assert!(gmail.list_folders().await.unwrap().iter().any(|f| f.path.is_inbox()));
    /// emu.shutdown().await;
    /// # });
    /// ```
    pub fn gmail_builder(&self, user: &str) -> crate::GmailBuilder {
        crate::GmailBuilder::new(user)
            .with_api_url(self.base_url())
            .with_admin_url(self.base_url())
            .with_token_url(self.token_url())
            .with_refresh_token(
                self.client_id(),
                self.client_secret(),
                self.refresh_token(user),
            )
            .allow_plaintext(true)
    }

    /// Stores `raw` "as delivered" with `label_ids` (which must exist) and `internal_date`
    /// (epoch ms); returns its id.
    ///
    /// # Panics
    /// If the user or a label does not exist.
    pub fn seed_message(
        &self,
        user: &str,
        raw: &[u8],
        label_ids: &[&str],
        internal_date: i64,
    ) -> String {
        self.with_mailbox(user, |mbx| {
            let labels: BTreeSet<String> = label_ids.iter().map(|l| (*l).to_owned()).collect();
            mbx.check_labels(&labels).expect("seeded labels exist");
            mbx.insert(Bytes::copy_from_slice(raw), labels, internal_date, "seed")
        })
    }

    /// Creates a user label "by the user"; returns its id.
    ///
    /// # Panics
    /// If the user does not exist.
    pub fn create_label(&self, user: &str, name: &str) -> String {
        self.with_mailbox(user, |mbx| mbx.add_label(name))
    }

    /// Adds and removes labels of a message "by the user" (recorded in the history).
    ///
    /// # Panics
    /// If the user does not exist.
    pub fn relabel(&self, user: &str, id: &str, add: &[&str], remove: &[&str]) {
        let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        self.with_mailbox(user, |mbx| mbx.relabel(id, &own(add), &own(remove)));
    }

    /// Deletes a message for good "by the user" (recorded in the history); whether it
    /// existed.
    ///
    /// # Panics
    /// If the user does not exist.
    pub fn delete_message(&self, user: &str, id: &str) -> bool {
        self.with_mailbox(user, |mbx| mbx.delete(id))
    }

    /// Makes every history id issued so far out of date: the next `history.list` from any
    /// of them answers 404, as after Gmail dropped its records \[GM-HIST\].
    ///
    /// # Panics
    /// If the user does not exist.
    pub fn expire_history(&self, user: &str) {
        self.with_mailbox(user, |mbx| {
            mbx.valid_from = mbx.history_id + 1;
            // The mailbox's own historyId (the profile's, which a full sync keeps) moves past
            // the dropped records: it is always a valid start of the next partial sync
            // \[GM-HIST\], so a client that relisted is not sent back to relist again.
            mbx.history_id = mbx.valid_from;
        });
    }

    /// Every access token issued so far becomes invalid (401 `authError`).
    pub fn expire_tokens(&self) {
        self.st().expire_tokens();
    }

    /// Snapshot of a user's messages.
    ///
    /// # Panics
    /// If the user does not exist.
    pub fn messages(&self, user: &str) -> Vec<StoredMessage> {
        self.with_mailbox(user, |mbx| {
            mbx.messages
                .values()
                .map(|m| StoredMessage {
                    id: m.id.clone(),
                    raw: m.raw.clone(),
                    label_ids: m.labels.clone(),
                    internal_date: m.internal_date,
                    via: m.via,
                })
                .collect()
        })
    }

    /// Snapshot of a user's labels, system ones first.
    ///
    /// # Panics
    /// If the user does not exist.
    pub fn labels(&self, user: &str) -> Vec<StoredLabel> {
        self.with_mailbox(user, |mbx| {
            mbx.labels
                .iter()
                .map(|l| StoredLabel {
                    id: l.id.clone(),
                    name: l.name.clone(),
                    system: l.system,
                    nested: l.name.rsplit_once('/').is_some_and(|(parent, _)| {
                        mbx.labels
                            .iter()
                            .any(|p| p.name.eq_ignore_ascii_case(parent))
                    }),
                })
                .collect()
        })
    }

    /// The fault injector shared with the server.
    pub fn faults(&self) -> Faults {
        self.st().faults.clone()
    }

    /// What the server observed so far.
    pub fn stats(&self) -> Stats {
        let users: Vec<String> = self.st().cfg.users.iter().map(|(u, _)| u.clone()).collect();
        let max_in_flight = users
            .iter()
            .map(|u| (u.clone(), self.st().max_in_flight(u)))
            .collect();
        let c = self.st().counters();
        Stats {
            units: c.units.clone(),
            calls: c.calls.clone(),
            rate_limited: c.rate_limited,
            concurrency_refused: c.concurrency_refused,
            max_in_flight,
            tokens_issued: c.tokens_issued,
            calendar_processed: c.calendar_processed,
            requests: c.requests,
            daily_refused: c.daily_refused,
        }
    }

    /// Starts a new quota day: every daily budget ([`Quota::daily_units_per_user`](super::Quota::daily_units_per_user),
    /// [`daily_units_per_project`](super::Quota::daily_units_per_project)) is whole again, as
    /// at Google's daily reset.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use mailmigrate_gmail::emulator::{Emulator, Quota};
    /// let emu = Emulator::builder()
    ///     .user("ada@example.com")
    ///     .quota(Quota::default().with_daily_units(Some(1), None))
    ///     .start()
    ///     .await
    ///     .unwrap();
    /// emu.reset_daily_quota();
    /// assert_eq!(emu.stats().daily_refused, 0);
    /// emu.shutdown().await;
    /// # });
    /// ```
    pub fn reset_daily_quota(&self) {
        let mut c = self.st().counters();
        c.daily.clear();
        c.daily_project = 0;
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
