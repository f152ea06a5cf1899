//! The fidelity probe: does this server store a message byte for byte?
//!
//! Servers may rewrite what they store (Cyrus with its default `munge8bit` stores each 8-bit
//! byte of the header section as `X`). Declaring such a server byte-exact breaks more than
//! verification: the engine finds a copy by its content hash, so every rewritten message is
//! copied again after a lost state file. The probe finds out by trying: it creates a mailbox
//! of its own, appends one message built to show the known rewrites, reads it back, and
//! deletes the mailbox.

use std::fmt;

use bytes::Bytes;
use mailmigrate_core::headers::replace_8bit_header_bytes;
use mailmigrate_core::{Capabilities, FolderPath};

use crate::backend::mailbox_name_in;
use crate::client::{AppendItem, AppendOutcome, Connection, ServerFacts};
use crate::error::ImapError;

/// What the [fidelity probe](crate::ImapBuilder::with_fidelity_probe) found out about how
/// a server stores messages, as [`Imap::fidelity`](crate::Imap::fidelity) reports it.
///
/// ```
/// use mailmigrate_imap::Fidelity;
/// assert!(Fidelity::Exact.is_byte_exact());
/// assert!(!Fidelity::Rewritten { first_difference: 3 }.is_byte_exact());
/// assert_eq!(
///     Fidelity::HeaderEightBitReplaced.to_string(),
///     "8-bit bytes in header fields are stored as X"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fidelity {
    /// Stored byte for byte (CRLF line ends, which IMAP requires).
    Exact,
    /// Each byte above 0x7F in the header section is stored as `X` (Cyrus `munge8bit`), the
    /// rest byte for byte. Declared as
    /// [`replaces_8bit_header_bytes`](mailmigrate_core::Capabilities::replaces_8bit_header_bytes):
    /// the engine writes that form itself, so look-ups and verification stay exact.
    HeaderEightBitReplaced,
    /// Stored otherwise, in a way the backend does not know how to reproduce: `byte_exact`
    /// is off. The offset is where the stored probe first differed from what was sent.
    Rewritten {
        /// The first byte offset that differed.
        first_difference: usize,
    },
    /// The probe could not run (the server refused a step, e.g. no right to create a
    /// mailbox, or refused the probe message); the capabilities stay as the IMAP path
    /// declares them.
    Unknown {
        /// Why, from the server's answer.
        reason: String,
    },
}

impl Fidelity {
    /// Whether what `fetch` returns is what was appended, in the form the capabilities
    /// describe (exact, or with a rewrite the engine reproduces).
    pub fn is_byte_exact(&self) -> bool {
        !matches!(self, Self::Rewritten { .. })
    }

    /// `caps` as this finding changes them.
    pub(crate) fn apply(&self, caps: &mut Capabilities) {
        match self {
            Self::HeaderEightBitReplaced => caps.replaces_8bit_header_bytes = true,
            Self::Rewritten { .. } => caps.byte_exact = false,
            Self::Exact | Self::Unknown { .. } => {}
        }
    }
}

impl fmt::Display for Fidelity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact => f.write_str("messages are stored byte for byte"),
            Self::HeaderEightBitReplaced => {
                f.write_str("8-bit bytes in header fields are stored as X")
            }
            Self::Rewritten { first_difference } => write!(
                f,
                "messages are stored rewritten (the probe differed from byte {first_difference})"
            ),
            Self::Unknown { reason } => write!(f, "the fidelity probe could not run: {reason}"),
        }
    }
}

/// The probe message: 8-bit bytes in a header field, in a folded continuation and in a MIME
/// part's header (which Cyrus leaves alone), an 8-bit body, trailing white space, a tab, a
/// line holding a single dot, a long line and no line end at the very end.
fn probe_message(token: &str) -> Bytes {
    let long = "x".repeat(900);
    Bytes::from(format!(
        "From: Pr\u{f6}be <probe@mailmigrate.invalid>\r\n\
         To: probe@mailmigrate.invalid\r\n\
         Subject: mailmigrate fidelity probe caf\u{e9} \u{20ac}\r\n\
         X-Folded: first\r\n\t\u{e9}t\u{e9}  \r\n\
         Message-ID: <{token}@mailmigrate.invalid>\r\n\
         Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"probe\"\r\n\
         \r\n\
         --probe\r\n\
         Content-Type: text/plain; charset=utf-8; name=\"r\u{e9}sum\u{e9}.txt\"\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         body caf\u{e9}   \r\n\
         \ttab\r\n\
         .\r\n\
         {long}\r\n\
         --probe--\r\n\
         end without a line end"
    ))
}

/// What the server's stored copy of `sent` says about it.
fn classify(sent: &Bytes, stored: &[u8]) -> Fidelity {
    if stored == &sent[..] {
        return Fidelity::Exact;
    }
    if stored == &replace_8bit_header_bytes(sent)[..] {
        return Fidelity::HeaderEightBitReplaced;
    }
    let first_difference = sent
        .iter()
        .zip(stored)
        .position(|(a, b)| a != b)
        .unwrap_or(sent.len().min(stored.len()));
    Fidelity::Rewritten { first_difference }
}

/// Runs the probe on `c` (not yet used for anything else). Only the server's refusals
/// become [`Fidelity::Unknown`]; a failed connection is an error, as for any command.
pub(crate) async fn probe(c: &mut Connection, facts: &ServerFacts) -> Result<Fidelity, ImapError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let token = format!("{PREFIX}{now:x}-{}", std::process::id());
    let (Ok(name), Ok(pattern)) = (
        mailbox_in(facts, &token),
        mailbox_in(facts, &format!("{PREFIX}*")),
    ) else {
        return Ok(unknown("no probe mailbox name"));
    };
    remove_stale(c, &pattern, now).await?;
    let name = name.as_str();
    if let Err(e) = c.create(name, None).await {
        return refused(c, "CREATE", e);
    }
    let found = store_and_read(c, name, &probe_message(&token)).await;
    let deleted = c.delete_mailbox(name).await;
    let fidelity = match found {
        Ok(f) => f,
        Err((step, e)) => refused(c, step, e)?,
    };
    if let Err(e) = deleted {
        // The finding stands; the mailbox stays behind, and the log says which it is.
        tracing::warn!(mailbox = name, error = %e, "could not delete the fidelity probe's mailbox");
        if !c.is_usable() {
            return Err(e);
        }
    }
    Ok(fidelity)
}

/// The probe mailboxes' names begin so, then the creation time (Unix nanoseconds, hex).
const PREFIX: &str = "mailmigrate-probe-";

/// A probe mailbox older than this was left by a process killed while probing.
const STALE_NANOS: i128 = 10 * 60 * 1_000_000_000;

fn mailbox_in(facts: &ServerFacts, name: &str) -> mailmigrate_core::Result<String> {
    let path = FolderPath::new([name])?;
    Ok(mailbox_name_in(&facts.namespace, &path)?
        .as_str()
        .to_owned())
}

/// Deletes the probe mailboxes that processes killed while probing left behind; a younger
/// one may be another process's probe under way and is left alone.
async fn remove_stale(c: &mut Connection, pattern: &str, now: i128) -> Result<(), ImapError> {
    let Ok(listed) = c.list(false, pattern).await else {
        return if c.is_usable() {
            Ok(())
        } else {
            Err(ImapError::Closed)
        };
    };
    for mailbox in listed {
        let leaf = mailbox
            .delimiter
            .and_then(|d| mailbox.name.rsplit(d).next())
            .unwrap_or(&mailbox.name);
        let created = leaf
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|hex| i128::from_str_radix(hex, 16).ok());
        if created.is_some_and(|t| now - t > STALE_NANOS) {
            if let Err(e) = c.delete_mailbox(&mailbox.name).await {
                tracing::warn!(mailbox = %mailbox.name, error = %e, "could not delete a stale probe mailbox");
                if !c.is_usable() {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Appends `sent` to `name` and reads back what the server stored.
async fn store_and_read(
    c: &mut Connection,
    name: &str,
    sent: &Bytes,
) -> Result<Fidelity, (&'static str, ImapError)> {
    let item = AppendItem {
        flags: String::new(),
        date: None,
        bytes: sent,
    };
    match c.append(name, &item).await {
        AppendOutcome::Stored(_) => {}
        AppendOutcome::Failed(e) | AppendOutcome::Unknown(e) => return Err(("APPEND", e)),
        AppendOutcome::NotSent => return Err(("APPEND", ImapError::Closed)),
    }
    c.ensure_selected(name, false)
        .await
        .map_err(|e| ("EXAMINE", e))?;
    let fetched = c.uid_fetch("1:*", true).await.map_err(|e| ("FETCH", e))?;
    Ok(match fetched.iter().find_map(|m| m.body.as_ref()) {
        Some(stored) => classify(sent, stored),
        None => unknown("the probe message was not found after APPEND"),
    })
}

/// A step the server refused: the probe cannot tell. A broken connection is an error.
fn refused(c: &Connection, step: &str, e: ImapError) -> Result<Fidelity, ImapError> {
    if c.is_usable() {
        Ok(unknown(&format!("{step} refused: {e}")))
    } else {
        Err(e)
    }
}

fn unknown(reason: &str) -> Fidelity {
    Fidelity::Unknown {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_copies_are_classified() {
        let sent = probe_message("t");
        assert_eq!(classify(&sent, &sent), Fidelity::Exact);
        let munged = replace_8bit_header_bytes(&sent);
        assert_ne!(munged, sent, "the probe has 8-bit header bytes");
        assert_eq!(classify(&sent, &munged), Fidelity::HeaderEightBitReplaced);
        // Part headers and body stay 8-bit under munge8bit.
        assert!(!munged.is_ascii());
        let mut trimmed = sent.to_vec();
        trimmed.truncate(sent.len() - 3);
        assert_eq!(
            classify(&sent, &trimmed),
            Fidelity::Rewritten {
                first_difference: sent.len() - 3
            }
        );
        let mut caps = Capabilities {
            byte_exact: true,
            ..Capabilities::default()
        };
        Fidelity::HeaderEightBitReplaced.apply(&mut caps);
        assert!(caps.byte_exact && caps.replaces_8bit_header_bytes);
        Fidelity::Rewritten {
            first_difference: 0,
        }
        .apply(&mut caps);
        assert!(!caps.byte_exact);
    }
}
