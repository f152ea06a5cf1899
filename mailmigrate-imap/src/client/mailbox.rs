//! Mailbox commands that need no selection: `LIST`, `LSUB`, `STATUS`, `CREATE`,
//! `SUBSCRIBE`.

use std::collections::HashSet;

use async_imap::imap_proto::{MailboxDatum, Response};

use super::quoting::quote_mailbox;
use super::{Connection, Res};
use crate::error::ImapError;
use crate::model::ListedMailbox;

impl Connection {
    /// The hierarchy delimiter from `LIST "" ""`.
    pub(super) async fn root_delimiter(&mut self) -> Res<Option<char>> {
        let mut delim = None;
        self.run("LIST \"\" \"\"", |r| {
            if let Response::MailboxData(MailboxDatum::List(l)) = r {
                delim = l.delimiter.as_ref().and_then(|d| d.chars().next());
            }
        })
        .await?;
        Ok(delim)
    }

    /// Lists mailboxes (`LIST "" "*"`, with `RETURN (SPECIAL-USE)` when `special_use`).
    pub(crate) async fn list(
        &mut self,
        special_use: bool,
        pattern: &str,
    ) -> Res<Vec<ListedMailbox>> {
        let cmd = if special_use {
            format!("LIST \"\" {} RETURN (SPECIAL-USE)", quote_mailbox(pattern)?)
        } else {
            format!("LIST \"\" {}", quote_mailbox(pattern)?)
        };
        let mut out = Vec::new();
        self.run(&cmd, |r| {
            if let Response::MailboxData(MailboxDatum::List(l)) = r {
                out.push(ListedMailbox::from_proto(l));
            }
        })
        .await?;
        Ok(out)
    }

    /// Names of subscribed mailboxes (`LSUB "" "*"`).
    pub(crate) async fn lsub(&mut self) -> Res<HashSet<String>> {
        let mut out = HashSet::new();
        self.run("LSUB \"\" \"*\"", |r| {
            if let Response::MailboxData(MailboxDatum::List(l)) = r {
                out.insert(l.name.to_string());
            }
        })
        .await?;
        Ok(out)
    }

    /// `STATUS mailbox (MESSAGES)` for every mailbox, pipelined: all commands are sent at
    /// once and the answers read in order, so any number of folders costs one round trip.
    /// One result per mailbox, in order; the selected mailbox, if any, stays selected.
    /// A refusal (`NO` for a missing folder) fails only its own entry; a broken connection
    /// fails the entries not answered yet.
    pub(crate) async fn status_messages(&mut self, mailboxes: &[&str]) -> Vec<Res<u32>> {
        let mut tags = Vec::with_capacity(mailboxes.len());
        for name in mailboxes {
            let sent = match quote_mailbox(name) {
                Ok(q) => self.send(&format!("STATUS {q} (MESSAGES)")).await,
                Err(e) => Err(e),
            };
            let broken = sent.is_err() && self.broken;
            tags.push(sent);
            if broken {
                break;
            }
        }
        // Answers are matched by mailbox name, whichever command's completion they came
        // before; the answer read during a command's own completion is the fallback.
        let mut by_name: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(mailboxes.len());
        for (tag, name) in tags.into_iter().zip(mailboxes) {
            let tag = match tag {
                Ok(t) => t,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            if self.broken {
                out.push(Err(ImapError::Closed));
                continue;
            }
            let mut own = None;
            let done = self
                .finish(
                    &tag,
                    &mut |r: &Response<'_>| {
                        if let Response::MailboxData(MailboxDatum::Status { mailbox, status }) = r {
                            for a in status {
                                if let async_imap::imap_proto::StatusAttribute::Messages(n) = a {
                                    by_name.insert(mailbox.to_string(), *n);
                                    own = Some(*n);
                                }
                            }
                        }
                    },
                    false,
                )
                .await;
            out.push(done.and_then(|_| {
                by_name
                    .get(*name)
                    .copied()
                    .or(own)
                    .ok_or_else(|| ImapError::Protocol("STATUS answered without MESSAGES".into()))
            }));
        }
        while out.len() < mailboxes.len() {
            out.push(Err(ImapError::Closed));
        }
        out
    }

    /// `CREATE`, optionally with a special-use attribute (RFC 6154 CREATE-SPECIAL-USE).
    pub(crate) async fn create(&mut self, mailbox: &str, special_use: Option<&str>) -> Res<()> {
        let cmd = match special_use {
            Some(u) => format!("CREATE {} (USE ({u}))", quote_mailbox(mailbox)?),
            None => format!("CREATE {}", quote_mailbox(mailbox)?),
        };
        self.run(&cmd, |_| {}).await.map(|_| ())
    }

    /// `DELETE`, after closing the mailbox first when it is the selected one (not every
    /// server deletes the selected mailbox).
    pub(crate) async fn delete_mailbox(&mut self, mailbox: &str) -> Res<()> {
        if self.selected.as_ref().is_some_and(|s| s.mailbox == mailbox) {
            self.selected = None;
            self.run("CLOSE", |_| {}).await?;
        }
        self.run(&format!("DELETE {}", quote_mailbox(mailbox)?), |_| {})
            .await
            .map(|_| ())
    }

    /// `SUBSCRIBE`.
    pub(crate) async fn subscribe(&mut self, mailbox: &str) -> Res<()> {
        self.run(&format!("SUBSCRIBE {}", quote_mailbox(mailbox)?), |_| {})
            .await
            .map(|_| ())
    }
}
