//! Access rights (RFC 4314): `GETACL`, `MYRIGHTS`, `SETACL` / `DELETEACL`.

use async_imap::imap_proto::Response;

use super::quoting::{quote, quote_mailbox};
use super::{Connection, Res};
use crate::error::ImapError;

impl Connection {
    /// `GETACL`: (identifier, rights) pairs.
    pub(crate) async fn get_acl(&mut self, mailbox: &str) -> Res<Vec<crate::AclEntry>> {
        let mut out = Vec::new();
        self.run(&format!("GETACL {}", quote_mailbox(mailbox)?), |r| {
            if let Response::Acl(acl) = r {
                for e in &acl.acls {
                    let rights: String = e.rights.iter().map(|r| char::from(*r)).collect();
                    out.push(crate::AclEntry::new(e.identifier.to_string(), rights));
                }
            }
        })
        .await?;
        Ok(out)
    }

    /// `MYRIGHTS`: the rights letters of the logged-in user.
    pub(crate) async fn my_rights(&mut self, mailbox: &str) -> Res<String> {
        let mut out = String::new();
        self.run(&format!("MYRIGHTS {}", quote_mailbox(mailbox)?), |r| {
            if let Response::MyRights(m) = r {
                out = m.rights.iter().map(|r| char::from(*r)).collect();
            }
        })
        .await?;
        Ok(out)
    }

    /// `SETACL`, or `DELETEACL` for empty rights.
    pub(crate) async fn set_acl(
        &mut self,
        mailbox: &str,
        identifier: &str,
        rights: &str,
    ) -> Res<()> {
        let who = quote(identifier)
            .ok_or_else(|| ImapError::Config("ACL identifier cannot be sent".into()))?;
        let cmd = if rights.is_empty() {
            format!("DELETEACL {} {who}", quote_mailbox(mailbox)?)
        } else {
            format!(
                "SETACL {} {who} {}",
                quote_mailbox(mailbox)?,
                quote(rights).unwrap_or_default()
            )
        };
        self.run(&cmd, |_| {}).await.map(|_| ())
    }
}
