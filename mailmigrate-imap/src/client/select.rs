//! Selecting a mailbox (`SELECT` / `EXAMINE`), and keeping the selection current.

use async_imap::imap_proto::{MailboxDatum, Response, ResponseCode};

use super::quoting::quote_mailbox;
use super::{Connection, Res, Selected};
use crate::model::SelectInfo;

impl Connection {
    /// Selects (`writable`) or examines a mailbox, asking for CONDSTORE when the server has it.
    pub(crate) async fn select(&mut self, mailbox: &str, writable: bool) -> Res<SelectInfo> {
        let verb = if writable { "SELECT" } else { "EXAMINE" };
        let suffix = if self.condstore { " (CONDSTORE)" } else { "" };
        let cmd = format!("{verb} {}{suffix}", quote_mailbox(mailbox)?);
        self.selected = None;
        let mut info = SelectInfo::default();
        self.run(&cmd, |r| match r {
            Response::Data { outcome, .. } => match &outcome.code {
                Some(ResponseCode::UidValidity(v)) => info.uidvalidity = *v,
                Some(ResponseCode::UidNext(n)) => info.uidnext = Some(*n),
                Some(ResponseCode::HighestModSeq(m)) => info.highestmodseq = Some(*m),
                _ => {}
            },
            Response::MailboxData(MailboxDatum::Exists(n)) => info.exists = *n,
            _ => {}
        })
        .await?;
        self.selected = Some(Selected {
            mailbox: mailbox.to_owned(),
            writable,
            uidvalidity: info.uidvalidity,
        });
        Ok(info)
    }

    /// Selects the mailbox unless it is already selected in a suitable mode; returns its
    /// UIDVALIDITY.
    pub(crate) async fn ensure_selected(&mut self, mailbox: &str, writable: bool) -> Res<u32> {
        if let Some(s) = &self.selected {
            if s.mailbox == mailbox && (s.writable || !writable) {
                return Ok(s.uidvalidity);
            }
        }
        self.select(mailbox, writable).await.map(|i| i.uidvalidity)
    }

    /// Selects the mailbox, or, when it is selected already, sends `NOOP` so that messages
    /// other connections appended since are visible (Dovecot shows them to a selected
    /// connection only at a NOOP or a new selection). Returns its UIDVALIDITY.
    pub(crate) async fn refresh_selected(&mut self, mailbox: &str, writable: bool) -> Res<u32> {
        match &self.selected {
            Some(s) if s.mailbox == mailbox && (s.writable || !writable) => {
                let uidvalidity = s.uidvalidity;
                self.run("NOOP", |_| {}).await?;
                Ok(uidvalidity)
            }
            _ => self.select(mailbox, writable).await.map(|i| i.uidvalidity),
        }
    }
}
