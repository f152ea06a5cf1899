//! [`Imap`]: the backend value, its capabilities and folder-name translation.

use std::fmt;
use std::sync::Arc;

use mailmigrate_core::{
    Capabilities, Error, ErrorKind, Folder, FolderId, FolderPath, Operation, ProviderInfo, Result,
    SpecialUse,
};

use crate::client::{Connection, Pool, Pooled, ServerFacts};
use crate::config::ImapConfig;
use crate::error::{ImapError, PROVIDER};
use crate::lookup::LookupIndex;
use crate::model::{ListedMailbox, Namespace};
use crate::probe::{self, Fidelity};
use crate::SCHEME;
use mailmigrate_core::utf7;

/// An IMAP mailbox as a [`Source`](mailmigrate_core::Source) and
/// [`Destination`](mailmigrate_core::Destination). Build it with
/// [`ImapBuilder`](crate::ImapBuilder).
///
/// Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct Imap {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) info: ProviderInfo,
    pub(crate) pool: Arc<Pool>,
    pub(crate) facts: ServerFacts,
    pub(crate) fetch_batch: usize,
    /// With a single connection, a fetch batch is read whole before its messages are handed
    /// out, so a caller may use the backend while iterating without waiting on itself.
    pub(crate) single_connection: bool,
    /// Sizes and `Message-ID`s per folder, from which look-ups pick candidates.
    pub(crate) lookup_index: LookupIndex,
    /// What the fidelity probe found, when it ran.
    pub(crate) fidelity: Option<Fidelity>,
}

impl fmt::Debug for Imap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap")
            .field("account", &self.inner.info.account)
            .field("namespace", &self.inner.facts.namespace)
            .finish_non_exhaustive()
    }
}

impl Imap {
    pub(crate) async fn connect(cfg: ImapConfig) -> Result<Self> {
        let (mut conn, facts) = Connection::open(&cfg)
            .await
            .map_err(|e| e.into_error(Operation::Connect))?;
        let account = format!("{}@{}:{}", cfg.user, cfg.host, cfg.port);
        let mut capabilities = capabilities_from(&facts);
        let fidelity = if cfg.probe_fidelity {
            let found = probe::probe(&mut conn, &facts)
                .await
                .map_err(|e| e.into_error(Operation::Connect))?;
            found.apply(&mut capabilities);
            Some(found)
        } else {
            None
        };
        let fetch_batch = cfg.fetch_batch;
        let single_connection = cfg.pool_size <= 1;
        let pool = Pool::new(cfg, conn);
        Ok(Self {
            inner: Arc::new(Inner {
                info: ProviderInfo::new(SCHEME, account, capabilities),
                pool,
                facts,
                fetch_batch,
                single_connection,
                lookup_index: LookupIndex::default(),
                fidelity,
            }),
        })
    }

    /// What the [fidelity probe](crate::ImapBuilder::with_fidelity_probe) found at connect
    /// time (`None` when it did not run). The capabilities already reflect it; this is for
    /// reports (e.g. to tell an operator that Cyrus's `munge8bit` is on).
    pub fn fidelity(&self) -> Option<&Fidelity> {
        self.inner.fidelity.as_ref()
    }

    /// The server's capability atoms (upper-case), as read at connect time.
    pub fn server_capabilities(&self) -> impl Iterator<Item = &str> {
        self.inner.facts.capabilities.iter().map(String::as_str)
    }

    /// The server's hierarchy separator, if it has one.
    pub fn separator(&self) -> Option<char> {
        self.inner.facts.namespace.delimiter
    }

    /// The personal namespace prefix (e.g. `INBOX.` on Courier-style servers, often empty).
    pub fn namespace_prefix(&self) -> &str {
        &self.inner.facts.namespace.prefix
    }

    /// Translates a folder path into this server's mailbox name (modified UTF-7, the
    /// server's separator and namespace prefix).
    ///
    /// # Errors
    /// `ConfigInvalid` when a segment contains the server's separator or the server has no
    /// hierarchy and the path has several segments.
    pub fn mailbox_name(&self, path: &FolderPath) -> Result<FolderId> {
        mailbox_name_in(&self.inner.facts.namespace, path)
    }

    /// How many messages each folder holds, by `STATUS (MESSAGES)`: no selection, no
    /// listing, and the commands for all folders pipelined on one connection (one round
    /// trip). One result per folder, in order. Meant for count checks; a listing
    /// (`list_changes`) gives the same numbers message by message. The same counts come
    /// through [`Provider::message_counts`](mailmigrate_core::Provider::message_counts).
    ///
    /// # Errors
    /// The outer error when no connection can be had; per folder, `NotFound` when it does
    /// not exist and connection errors.
    pub async fn status_counts(&self, folders: &[FolderId]) -> Result<Vec<Result<u64>>> {
        let op = Operation::ListChanges;
        let mut c = self.conn(op).await?;
        let names: Vec<&str> = folders.iter().map(FolderId::as_str).collect();
        let counts = c.status_messages(&names).await;
        Ok(counts
            .into_iter()
            .zip(folders)
            .map(|(r, f)| {
                r.map(u64::from)
                    .map_err(|e| e.into_select_error(op).with_context("folder", f))
            })
            .collect())
    }

    /// How many messages one folder holds (see [`status_counts`](Self::status_counts)).
    ///
    /// # Errors
    /// `NotFound` when the folder does not exist; connection errors.
    pub async fn message_count(&self, folder: &FolderId) -> Result<u64> {
        self.status_counts(std::slice::from_ref(folder))
            .await?
            .pop()
            .unwrap_or_else(|| Err(Error::new(ErrorKind::Unexpected, "no STATUS answer")))
    }

    /// Translates a server mailbox name back into a folder path.
    pub(crate) fn folder_path(&self, name: &str, delimiter: Option<char>) -> Option<FolderPath> {
        folder_path_in(&self.inner.facts.namespace, name, delimiter)
    }

    pub(crate) async fn conn(&self, op: Operation) -> Result<Pooled> {
        // Nothing was sent yet: even for an append, trying again is safe, so the error is
        // classified as a connect failure and then labelled with the caller's operation.
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| e.into_error(Operation::Connect).with_operation(op))
    }

    pub(crate) async fn list_folders_impl(&self) -> Result<Vec<Folder>> {
        let op = Operation::ListFolders;
        let mut c = self.conn(op).await?;
        let special = self.inner.facts.has("SPECIAL-USE");
        let subscribed = c.lsub().await.map_err(|e| e.into_error(op))?;
        let listed = if !special && self.inner.facts.has("XLIST") {
            // Last: the raw XLIST retires this connection.
            c.xlist().await.map_err(|e| e.into_error(op))?
        } else {
            c.list(special, "*").await.map_err(|e| e.into_error(op))?
        };
        drop(c);
        Ok(listed
            .into_iter()
            .filter_map(|l| self.to_folder(l, &subscribed))
            .collect())
    }

    fn to_folder(
        &self,
        l: ListedMailbox,
        subscribed: &std::collections::HashSet<String>,
    ) -> Option<Folder> {
        let path = self.folder_path(&l.name, l.delimiter)?;
        let role = if path.is_inbox() {
            Some(SpecialUse::Inbox)
        } else {
            l.attributes.iter().find_map(|a| role_of(a))
        };
        let is_subscribed = subscribed.contains(&l.name) || path.is_inbox();
        Some(
            Folder::new(FolderId::new(l.name.clone()), path)
                .with_role(role)
                .with_selectable(!l.is_noselect())
                .with_subscribed(is_subscribed)
                .with_attributes(l.attributes),
        )
    }
}

/// Translates a folder path into a mailbox name within namespace `ns`.
pub(crate) fn mailbox_name_in(ns: &Namespace, path: &FolderPath) -> Result<FolderId> {
    if path.is_inbox() {
        return Ok(FolderId::new("INBOX"));
    }
    let sep = ns.delimiter;
    let segs = path.segments();
    if sep.is_none() && segs.len() > 1 {
        return Err(invalid_name(path, "the server has no folder hierarchy"));
    }
    let mut encoded = Vec::with_capacity(segs.len());
    for (i, s) in segs.iter().enumerate() {
        if sep.is_some_and(|c| s.contains(c)) {
            return Err(invalid_name(
                path,
                "a folder name contains the server's separator",
            ));
        }
        if i == 0 && s.eq_ignore_ascii_case("INBOX") {
            encoded.push("INBOX".to_owned());
        } else {
            encoded.push(utf7::encode(s));
        }
    }
    let sep_s = sep.map(String::from).unwrap_or_default();
    let joined = encoded.join(&sep_s);
    let inbox_prefixed = ns.prefix.eq_ignore_ascii_case(&format!("INBOX{sep_s}"));
    let name = if encoded[0] == "INBOX" && inbox_prefixed {
        joined
    } else {
        format!("{}{joined}", ns.prefix)
    };
    Ok(FolderId::new(name))
}

/// Translates a server mailbox name back into a folder path.
pub(crate) fn folder_path_in(
    ns: &Namespace,
    name: &str,
    delimiter: Option<char>,
) -> Option<FolderPath> {
    if name.eq_ignore_ascii_case("INBOX") {
        return Some(FolderPath::inbox());
    }
    let rest = if !ns.prefix.is_empty()
        && name.len() > ns.prefix.len()
        && name[..ns.prefix.len()].eq_ignore_ascii_case(&ns.prefix)
    {
        &name[ns.prefix.len()..]
    } else {
        name
    };
    let segs: Vec<String> = match delimiter.or(ns.delimiter) {
        Some(d) => rest.split(d).map(decode_segment).collect(),
        None => vec![decode_segment(rest)],
    };
    FolderPath::new(segs).ok()
}

/// The role an RFC 6154 or XLIST attribute names (XLIST: `\Inbox`, `\Spam`, `\Starred`,
/// `\AllMail`).
fn role_of(attr: &str) -> Option<SpecialUse> {
    SpecialUse::from_attribute(attr).or_else(|| match attr.to_ascii_lowercase().as_str() {
        "\\inbox" => Some(SpecialUse::Inbox),
        "\\spam" => Some(SpecialUse::Junk),
        "\\starred" => Some(SpecialUse::Flagged),
        "\\allmail" => Some(SpecialUse::All),
        _ => None,
    })
}

fn decode_segment(s: &str) -> String {
    utf7::decode(s).unwrap_or_else(|| s.to_owned())
}

fn invalid_name(path: &FolderPath, why: &str) -> Error {
    Error::new(ErrorKind::ConfigInvalid, why)
        .with_provider(PROVIDER)
        .with_operation(Operation::EnsureFolder)
        .with_context("folder", path)
}

/// Computes what this server lets the backend do.
pub(crate) fn capabilities_from(facts: &ServerFacts) -> Capabilities {
    let append_max_size = facts
        .capabilities
        .iter()
        .find_map(|c| c.strip_prefix("APPENDLIMIT=")?.parse::<u64>().ok());
    Capabilities {
        list_folders: true,
        list_since: facts.has("CONDSTORE") || facts.has("QRESYNC"),
        list_removals: false,
        // Gmail (X-GM-EXT-1): labels are folders, `[Gmail]/All Mail` holds each message once.
        list_labels: facts.has("X-GM-EXT-1"),
        fetch: true,
        fetch_flags: true,
        append: true,
        append_with_flags: true,
        append_with_keywords: true,
        append_with_internal_date: true,
        append_with_labels: facts.has("X-GM-EXT-1"),
        append_returns_id: facts.has("UIDPLUS"),
        update_flags: true,
        delete: facts.has("UIDPLUS"),
        find_existing: true,
        // The IMAP path never rewrites bytes; a server may (the fidelity probe finds out).
        byte_exact: true,
        replaces_8bit_header_bytes: false,
        // IMAP carries lines ending in CRLF only (RFC 3501 §4.3): bare LF is sent as CRLF.
        requires_crlf: true,
        append_max_size,
        append_batch_max: 64,
        fetch_batch_max: 64,
        max_concurrency: 4,
    }
}

/// Maps a connection-level failure for an operation.
pub(crate) fn map(op: Operation) -> impl Fn(ImapError) -> Error {
    move |e| e.into_error(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(prefix: &str, delim: Option<char>, caps: &[&str]) -> ServerFacts {
        ServerFacts {
            capabilities: caps.iter().map(|s| (*s).to_owned()).collect(),
            namespace: Namespace {
                prefix: prefix.into(),
                delimiter: delim,
            },
        }
    }

    #[test]
    fn capabilities_follow_server_facts() {
        let c = capabilities_from(&facts(
            "",
            Some('/'),
            &["CONDSTORE", "UIDPLUS", "APPENDLIMIT=1000"],
        ));
        assert!(c.list_since && c.append_returns_id && c.delete && c.byte_exact);
        assert_eq!(c.append_max_size, Some(1000));
        let c = capabilities_from(&facts("", Some('/'), &[]));
        assert!(!c.list_since && !c.append_returns_id && !c.delete);
        assert_eq!(c.append_max_size, None);
    }

    #[test]
    fn paths_translate_with_separator_prefix_and_utf7() {
        let ns = Namespace {
            prefix: String::new(),
            delimiter: Some('/'),
        };
        let p = FolderPath::new(["Archive", "Entwürfe"]).unwrap();
        let id = mailbox_name_in(&ns, &p).unwrap();
        assert_eq!(id.as_str(), "Archive/Entw&APw-rfe");
        assert_eq!(folder_path_in(&ns, id.as_str(), Some('/')), Some(p));
        assert_eq!(
            mailbox_name_in(&ns, &FolderPath::inbox()).unwrap().as_str(),
            "INBOX"
        );
        let bad = FolderPath::new(["a/b"]).unwrap();
        assert_eq!(
            mailbox_name_in(&ns, &bad).unwrap_err().kind(),
            ErrorKind::ConfigInvalid
        );

        let courier = Namespace {
            prefix: "INBOX.".into(),
            delimiter: Some('.'),
        };
        let p = FolderPath::new(["Sent", "2020"]).unwrap();
        let id = mailbox_name_in(&courier, &p).unwrap();
        assert_eq!(id.as_str(), "INBOX.Sent.2020");
        assert_eq!(
            folder_path_in(&courier, "INBOX.Sent.2020", Some('.')),
            Some(p)
        );
        let sub = FolderPath::new(["INBOX", "x"]).unwrap();
        assert_eq!(mailbox_name_in(&courier, &sub).unwrap().as_str(), "INBOX.x");
        assert_eq!(
            folder_path_in(&courier, "INBOX", Some('.')),
            Some(FolderPath::inbox())
        );
    }
}
