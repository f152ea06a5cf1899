//! Opens each mailbox's stores from the campaign file's URL templates, with every scheme
//! this program links (local stores, IMAP, Graph; `vdir://`, `dav://` for contacts and
//! calendars).

use async_trait::async_trait;
use mailmigrate_core::campaign::{MailboxPair, MailboxStores, PimStores, StoreFactory};
use mailmigrate_core::directory::address_key;
use mailmigrate_core::Result;

use super::file::StoreTemplates;
use crate::{pim_stores, stores};

/// The stores of each mailbox, by URL template: `{source}` (the source address),
/// `{mailbox}` (its lower-case key), `{destination}` (the destination address).
///
/// ```
/// use mailmigrate_examples::campaign::fill_template;
/// assert_eq!(
///     fill_template("maildir:///srv/{mailbox}/{destination}", "Ann@old.example", "ann@new.example"),
///     "maildir:///srv/ann@old.example/ann@new.example"
/// );
/// ```
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

/// Fills one URL template for a mailbox.
pub fn fill_template(template: &str, source: &str, destination: &str) -> String {
    template
        .replace("{source}", source)
        .replace("{mailbox}", &address_key(source))
        .replace("{destination}", destination)
}

#[async_trait]
impl StoreFactory for UrlStores {
    async fn open(&self, pair: &MailboxPair) -> Result<MailboxStores> {
        let fill = |t: &str| fill_template(t, &pair.source.address, &pair.destination);
        let t = &self.templates;
        let (source, destination) = {
            let (from, to) = (fill(&t.source), fill(&t.destination));
            tokio::try_join!(stores::open_store(&from), stores::open_destination(&to))?
        };
        let source: std::sync::Arc<dyn mailmigrate_core::Source> = source;
        let mut opened = MailboxStores::new(source, destination);
        if let Some(b) = &self.backup {
            let backup: std::sync::Arc<dyn mailmigrate_core::Destination> =
                stores::open_destination(&fill(b)).await?;
            opened = opened.with_backup(backup);
        }
        if let (Some(from), Some(to)) = (&t.contacts_source, &t.contacts_destination) {
            let (from, to) = (fill(from), fill(to));
            let (from, to) = tokio::try_join!(
                pim_stores::open_pim_store(&from),
                pim_stores::open_pim_store(&to)
            )?;
            let from: std::sync::Arc<dyn mailmigrate_core::pim::PimSource> = from;
            let to: std::sync::Arc<dyn mailmigrate_core::pim::PimDestination> = to;
            let mut pim = PimStores::new(from, to);
            if let Some(b) = &t.contacts_backup {
                let backup: std::sync::Arc<dyn mailmigrate_core::pim::PimDestination> =
                    pim_stores::open_pim_store(&fill(b)).await?;
                pim = pim.with_backup(backup);
            }
            opened = opened.with_pim(pim);
        }
        Ok(opened)
    }
}
