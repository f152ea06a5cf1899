//! Changing messages of the selected mailbox: flags (`UID STORE`), Gmail labels, and
//! deleting (`UID EXPUNGE`).

use async_imap::imap_proto::{MailboxDatum, Response};

use super::{Connection, Res};
use crate::error::ImapError;

impl Connection {
    /// Whether `uid` exists in the selected mailbox, and the `UID STORE uid ±FLAGS.SILENT`
    /// of each `(sign, flags)` in `stores`, pipelined behind the `UID SEARCH UID uid` that
    /// answers it: one round trip instead of one per command. A STORE of a UID that does not
    /// exist changes nothing (the server answers OK), so sending it before the answer is
    /// harmless. Returns whether the UID exists; a STORE refused fails the call.
    ///
    /// The existence check is needed because a server answers `OK` whether or not the UID
    /// exists, and sends no untagged `FETCH` for a silent store (nor, like Dovecot, for a
    /// store that changed nothing).
    pub(crate) async fn uid_store_if_exists(
        &mut self,
        uid: u32,
        stores: &[(char, &str)],
    ) -> Res<bool> {
        let search = self.send(&format!("UID SEARCH UID {uid}")).await?;
        let mut tags = Vec::with_capacity(stores.len());
        for (sign, flags) in stores {
            match self
                .send(&format!("UID STORE {uid} {sign}FLAGS.SILENT ({flags})"))
                .await
            {
                Ok(t) => tags.push(t),
                Err(e) => {
                    // Read what was sent, so the connection stays in step, then fail.
                    let _ = self
                        .finish(&search, &mut |_: &Response<'_>| {}, false)
                        .await;
                    for t in &tags {
                        let _ = self.finish(t, &mut |_: &Response<'_>| {}, false).await;
                    }
                    return Err(e);
                }
            }
        }
        let mut found = Vec::new();
        let searched = self
            .finish(
                &search,
                &mut |r: &Response<'_>| {
                    if let Response::MailboxData(MailboxDatum::Search(ids)) = r {
                        found.extend_from_slice(ids);
                    }
                },
                false,
            )
            .await;
        let mut stored = Ok(());
        for t in &tags {
            if self.broken {
                stored = Err(ImapError::Closed);
                break;
            }
            if let Err(e) = self.finish(t, &mut |_: &Response<'_>| {}, false).await {
                if stored.is_ok() {
                    stored = Err(e);
                }
            }
        }
        searched?;
        let exists = found.contains(&uid);
        if exists {
            stored?;
        }
        Ok(exists)
    }

    /// Adds Gmail labels to a message (`UID STORE uid +X-GM-LABELS (…)`).
    pub(crate) async fn uid_add_labels(&mut self, uid: u32, labels: &str) -> Res<()> {
        self.run(
            &format!("UID STORE {uid} +X-GM-LABELS.SILENT ({labels})"),
            |_| {},
        )
        .await
        .map(|_| ())
    }

    /// Marks `set` deleted and expunges exactly those (UIDPLUS `UID EXPUNGE`).
    pub(crate) async fn uid_delete(&mut self, set: &str) -> Res<()> {
        self.run(
            &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
            |_| {},
        )
        .await?;
        self.run(&format!("UID EXPUNGE {set}"), |_| {}).await?;
        Ok(())
    }
}
