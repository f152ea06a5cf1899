//! The send-and-receive probe: a test message sent through the destination's submission
//! path, then looked for in the destination mailbox.
//!
//! A migration can copy every message and still leave a mailbox that receives nothing
//! (a missing MX, a transport rule, a recipient the new provider does not know). The probe
//! checks the path new mail takes: [`ProbeMessage`] builds a message no one else can have
//! sent (`Message-ID: <probe-UUID@mailmigrate>`, a subject naming the campaign), a
//! [`Submission`] hands it to the destination's submission path (SMTP for an IMAP
//! destination: `mailmigrate_imap::SmtpSubmission`), and [`probe_mailbox`] lists the
//! mailbox's inbox until the message is there or the time is up, then deletes it (unless
//! [asked to keep it](ProbeOptions::keep)). The answer is a [`ProbeResult`], never a hang
//! and never an error: a probe that failed says why in [`ProbeResult::error`].
//!
//! # Example
//! A submission that delivers straight into an in-memory store:
//! ```
//! use async_trait::async_trait;
//! use mailmigrate_core::campaign::probe::*;
//! use mailmigrate_core::store::MemoryStore;
//! use mailmigrate_core::{Destination, FolderPath, MessageId, MessageMeta, RawMessage};
//!
//! #[derive(Debug)]
//! struct Deliver(MemoryStore);
//!
//! #[async_trait]
//! impl Submission for Deliver {
//!     async fn submit(&self, _envelope: &Envelope, message: &[u8]) -> mailmigrate_core::Result<()> {
//!         let inbox = self.0.ensure_folder(&FolderPath::inbox(), None).await?.id;
//!         let meta = MessageMeta::new(MessageId::new("probe"), inbox.clone());
//!         self.0.append(&inbox, vec![RawMessage::new(meta, message.to_vec().into())]).await?;
//!         Ok(())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let mailbox = MemoryStore::new("ann");
//! mailbox.ensure_folder(&FolderPath::inbox(), None).await?;
//! let message = ProbeMessage::new("acme", "probe@new.example", "ann@new.example");
//! let result = probe_mailbox(&Deliver(mailbox.clone()), &mailbox, &message, &ProbeOptions::default()).await;
//! assert!(result.is_ok(), "{result:?}");
//! assert!(result.found_after.is_some());
//! assert!(result.deleted);
//! # Ok::<(), mailmigrate_core::Error>(()) }).unwrap();
//! ```

mod message;
mod run;

use std::fmt;

use async_trait::async_trait;

use crate::Result;

pub use message::ProbeMessage;
pub use run::{probe_mailbox, ProbeOptions, ProbeResult};

/// The envelope of a submitted message: the return path and the recipients (SMTP
/// `MAIL FROM` and `RCPT TO`).
///
/// ```
/// use mailmigrate_core::campaign::probe::Envelope;
/// let e = Envelope::new("probe@new.example", ["ann@new.example"]);
/// assert_eq!(e.to, ["ann@new.example"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// The return path.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

impl Envelope {
    /// An envelope from `from` to each of `to`.
    pub fn new<I, S>(from: impl Into<String>, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            from: from.into(),
            to: to.into_iter().map(Into::into).collect(),
        }
    }
}

/// Sends a message through the destination's submission path: what a user's mail client
/// would use to send, so a probe sent this way takes the path new mail takes.
///
/// An implementation returns once the submission server accepted the message for every
/// recipient (for SMTP: the `250` after the data). It does not wait for delivery.
///
/// ```
/// use async_trait::async_trait;
/// use mailmigrate_core::campaign::probe::{Envelope, Submission};
///
/// /// A submission path that refuses everything.
/// #[derive(Debug)]
/// struct Closed;
///
/// #[async_trait]
/// impl Submission for Closed {
///     async fn submit(&self, _: &Envelope, _: &[u8]) -> mailmigrate_core::Result<()> {
///         Err(mailmigrate_core::Error::new(mailmigrate_core::ErrorKind::Unavailable, "closed"))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let envelope = Envelope::new("probe@new.example", ["ann@new.example"]);
/// assert!(Closed.submit(&envelope, b"Subject: x\r\n\r\nx\r\n").await.is_err());
/// # });
/// ```
#[async_trait]
pub trait Submission: fmt::Debug + Send + Sync {
    /// Submits `message` (the whole message, CRLF line ends) for the envelope.
    ///
    /// # Errors
    /// The submission server's refusal (a recipient it does not know, a failed login) or
    /// a connection failure.
    async fn submit(&self, envelope: &Envelope, message: &[u8]) -> Result<()>;
}

#[async_trait]
impl<T: Submission + ?Sized> Submission for std::sync::Arc<T> {
    async fn submit(&self, envelope: &Envelope, message: &[u8]) -> Result<()> {
        (**self).submit(envelope, message).await
    }
}
