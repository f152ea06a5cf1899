//! Opening stores by URL scheme: [`Registry`].
//!
//! A program that takes store URLs from its users (`maildir:///srv/mail/alice`,
//! `imaps://alice@imap.example.com`) asks a registry to open them; each provider crate adds
//! its schemes with one [`register`](Registry::register) call, so a new provider reaches
//! such a program without editing an enum of store kinds.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::store::{MaildirStore, MboxStore, MemoryStore};
use crate::{Error, ErrorKind, Operation, Result, Store};

/// An opener as the registry keeps it: the whole URL in, the store out.
type Opener = dyn Fn(String) -> BoxFuture<'static, Result<Arc<dyn Store>>> + Send + Sync;

/// Store openers by URL scheme (case-insensitive).
///
/// ```
/// use mailmigrate_core::registry::Registry;
/// use mailmigrate_core::Provider;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registry = Registry::with_local_stores();
/// let store = registry.open("memory:").await.unwrap();
/// assert_eq!(store.info().scheme, "memory");
/// let e = registry.open("gopher://old.example").await.unwrap_err();
/// assert!(e.to_string().contains("maildir, mbox, memory"), "{e}");
/// # });
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    openers: BTreeMap<String, Arc<Opener>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("schemes", &self.openers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// A registry that knows no scheme.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry that opens the local stores: `maildir://PATH` ([`MaildirStore`]),
    /// `mbox://PATH` ([`MboxStore`]) and `memory:` (an empty [`MemoryStore`]). A path after
    /// `//` is absolute when it starts with `/` (`maildir:///srv/mail`), relative otherwise.
    pub fn with_local_stores() -> Self {
        let mut r = Self::new();
        r.register(["maildir"], |url| async move {
            MaildirStore::open(local_path(&url)?)
        });
        r.register(
            ["mbox"],
            |url| async move { MboxStore::open(local_path(&url)?) },
        );
        r.register(["memory"], |_| async { Ok(MemoryStore::new("memory")) });
        r
    }

    /// Makes `open` open URLs of each of `schemes` (replacing an earlier opener). It gets
    /// the whole URL, scheme included, and parses the rest itself.
    pub fn register<I, S, F, Fut, T>(&mut self, schemes: I, open: F) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Store,
    {
        let opener: Arc<Opener> = Arc::new(move |url| {
            let opening = open(url);
            Box::pin(async move {
                let store: Arc<dyn Store> = Arc::new(opening.await?);
                Ok(store)
            })
        });
        for scheme in schemes {
            self.openers
                .insert(scheme.as_ref().to_ascii_lowercase(), Arc::clone(&opener));
        }
        self
    }

    /// The schemes it opens, sorted.
    pub fn schemes(&self) -> impl Iterator<Item = &str> {
        self.openers.keys().map(String::as_str)
    }

    /// Opens the store `url` names.
    ///
    /// # Errors
    /// `ConfigInvalid` for a URL without a scheme, `Unsupported` for a scheme nothing
    /// registered (naming the known ones), and the opener's own errors.
    pub async fn open(&self, url: &str) -> Result<Arc<dyn Store>> {
        let scheme = scheme_of(url)?;
        let Some(opener) = self.openers.get(&scheme.to_ascii_lowercase()) else {
            let known: Vec<&str> = self.schemes().collect();
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "unknown store scheme {scheme:?}; this program opens {}",
                    known.join(", ")
                ),
            )
            .with_operation(Operation::Build));
        };
        opener(url.to_owned()).await
    }
}

/// The scheme of `url` (what comes before the first `:`).
fn scheme_of(url: &str) -> Result<&str> {
    match url.split_once(':') {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            Ok(scheme)
        }
        _ => Err(Error::new(
            ErrorKind::ConfigInvalid,
            "a store URL starts with its scheme, as in maildir:///srv/mail/alice",
        )
        .with_operation(Operation::Build)
        .with_context("url", url)),
    }
}

/// The path of a `scheme://PATH` URL of a local store.
fn local_path(url: &str) -> Result<PathBuf> {
    let rest = url.split_once(':').map_or("", |(_, rest)| rest);
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(
            Error::new(ErrorKind::ConfigInvalid, "the store URL has no path")
                .with_operation(Operation::Build)
                .with_context("url", url),
        );
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Provider;

    #[tokio::test]
    async fn local_schemes_open_their_stores() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::with_local_stores();
        let url = format!("MAILDIR://{}", dir.path().join("md").display());
        assert_eq!(r.open(&url).await.unwrap().info().scheme, "maildir");
        let url = format!("mbox://{}", dir.path().join("mb").display());
        assert_eq!(r.open(&url).await.unwrap().info().scheme, "mbox");
        assert_eq!(
            local_path("mbox://backup/alice").unwrap(),
            PathBuf::from("backup/alice")
        );
        assert_eq!(local_path("maildir:///x").unwrap(), PathBuf::from("/x"));
    }

    #[tokio::test]
    async fn bad_urls_say_what_is_wrong() {
        let r = Registry::with_local_stores();
        let e = r.open("maildir://").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        let e = r.open("/srv/mail").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
        let e = r.open("graph://tenant").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("maildir, mbox, memory"), "{e}");
    }

    #[tokio::test]
    async fn a_registered_scheme_reaches_its_opener() {
        let mut r = Registry::new();
        r.register(
            ["demo", "DEMO2"],
            |url| async move { Ok(MemoryStore::new(url)) },
        );
        assert_eq!(r.schemes().collect::<Vec<_>>(), ["demo", "demo2"]);
        let store = r.open("Demo2:alice").await.unwrap();
        assert_eq!(store.info().account, "Demo2:alice");
    }
}
