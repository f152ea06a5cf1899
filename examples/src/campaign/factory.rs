//! Opens each mailbox's stores from the campaign file's URL templates, with every scheme
//! this program links (local stores, IMAP, Graph; `vdir://`, `dav://` for contacts and
//! calendars).

use async_trait::async_trait;
use mailmigrate_core::campaign::{MailboxPair, MailboxStores, PimStores, StoreFactory};
use mailmigrate_core::directory::address_key;
use mailmigrate_core::pim::{PimDestination, PimSource, PimStore};
use mailmigrate_core::{Result, Source, Store};
use std::sync::Arc;

use super::file::StoreTemplates;
use crate::{pim_stores, stores};

/// The stores of each mailbox, by URL template (see [`fill_template`]).
#[derive(Debug, Clone)]
pub struct UrlStores {
    templates: StoreTemplates,
    backup: Option<String>,
}

impl UrlStores {
    /// Stores from `templates`, backups of mail at `backup` (the plan's backup URL).
    pub fn new(templates: StoreTemplates, backup: Option<String>) -> Self {
        Self { templates, backup }
    }
}

/// Fills one URL template for a mailbox: `{source}` (the source address), `{mailbox}`
/// (its lower-case key), `{destination}` (the destination address), `{source_login}` and
/// `{destination_login}` (the account's logins where the inventory names them, else the
/// source and destination addresses), each percent-encoded where a URL's user part needs it (`@` as `%40`) when
/// it stands before an `@`.
///
/// ```
/// use mailmigrate_core::campaign::MailboxPair;
/// use mailmigrate_core::directory::Account;
/// use mailmigrate_examples::campaign::fill_template;
/// let pair = MailboxPair::new(
///     Account::new("Ann@old.example").with_source_login("ann01"),
///     "ann@new.example",
///     "pilot",
/// );
/// assert_eq!(
///     fill_template("maildir:///srv/{mailbox}/{destination}", &pair),
///     "maildir:///srv/ann@old.example/ann@new.example"
/// );
/// assert_eq!(
///     fill_template("imap://{source_login}@mail.old.example", &pair),
///     "imap://ann01@mail.old.example"
/// );
/// assert_eq!(
///     fill_template("imap://{destination_login}@mail.new.example", &pair),
///     "imap://ann%40new.example@mail.new.example"
/// );
/// ```
pub fn fill_template(template: &str, pair: &MailboxPair) -> String {
    let source = &pair.source.address;
    let user = |v: &str| v.replace('@', "%40");
    let dest_login = pair
        .source
        .destination_login
        .as_deref()
        .unwrap_or(&pair.destination);
    template
        .replace(
            "{source_login}@",
            &format!("{}@", user(pair.source.source_login_or_address())),
        )
        .replace("{destination_login}@", &format!("{}@", user(dest_login)))
        .replace("{source}@", &format!("{}@", user(source)))
        .replace("{destination}@", &format!("{}@", user(&pair.destination)))
        .replace("{source_login}", pair.source.source_login_or_address())
        .replace("{destination_login}", dest_login)
        .replace("{source}", source)
        .replace("{mailbox}", &address_key(source))
        .replace("{destination}", &pair.destination)
}

impl UrlStores {
    /// Both sides of a mailbox's mail, readable and writable; the destination opened as a
    /// migration's destination (its fidelity probe runs) when `as_destination`.
    ///
    /// # Errors
    /// The stores' errors opening or connecting.
    pub async fn open_mail(
        &self,
        pair: &MailboxPair,
        as_destination: bool,
    ) -> Result<(Arc<dyn Store>, Arc<dyn Store>)> {
        let (from, to) = (
            fill_template(&self.templates.source, pair),
            fill_template(&self.templates.destination, pair),
        );
        if as_destination {
            tokio::try_join!(stores::open_store(&from), stores::open_destination(&to))
        } else {
            tokio::try_join!(stores::open_store(&from), stores::open_store(&to))
        }
    }

    /// Both sides of a mailbox's contacts and calendars, when the templates name them.
    ///
    /// # Errors
    /// The stores' errors opening or connecting.
    pub async fn open_pim(
        &self,
        pair: &MailboxPair,
    ) -> Result<Option<(Arc<dyn PimStore>, Arc<dyn PimStore>)>> {
        let t = &self.templates;
        let (Some(from), Some(to)) = (&t.contacts_source, &t.contacts_destination) else {
            return Ok(None);
        };
        let (from, to) = (fill_template(from, pair), fill_template(to, pair));
        let both = tokio::try_join!(
            pim_stores::open_pim_store(&from),
            pim_stores::open_pim_store(&to)
        )?;
        Ok(Some(both))
    }
}

#[async_trait]
impl StoreFactory for UrlStores {
    async fn open(&self, pair: &MailboxPair) -> Result<MailboxStores> {
        let fill = |t: &str| fill_template(t, pair);
        let (source, destination) = self.open_mail(pair, true).await?;
        let source: Arc<dyn Source> = source;
        let mut opened = MailboxStores::new(source, destination);
        if let Some(b) = &self.backup {
            // As a store, so the runner reads the backup back into its manifest.
            opened = opened.with_backup_store(stores::open_destination(&fill(b)).await?);
        }
        if let Some((from, to)) = self.open_pim(pair).await? {
            let (from, to): (Arc<dyn PimSource>, Arc<dyn PimDestination>) = (from, to);
            let mut pim = PimStores::new(from, to);
            if let Some(b) = &self.templates.contacts_backup {
                pim = pim.with_backup_store(pim_stores::open_pim_store(&fill(b)).await?);
            }
            opened = opened.with_pim(pim);
        }
        Ok(opened)
    }
}
