//! Armed faults: each fires on the next matching requests, then disarms.

use std::sync::Arc;

use mailmigrate_core::emulator::{ArmedFault, FaultQueue, Matching};

/// What an armed fault does (see [`Faults`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `status` with Google's error envelope and `reason` (e.g. 503
    /// `backendError`, \[GM-ERR\]): nothing happens server-side.
    Fail {
        /// The HTTP status.
        status: u16,
        /// The envelope's `errors[0].reason`.
        reason: String,
    },
    /// 403 `userRateLimitExceeded` \[GM-ERR\]\[GM-QUOTA\]: nothing happens server-side.
    RateLimit,
    /// Close the connection before handling: nothing happens server-side.
    Drop,
    /// Handle fully (a message IS imported), then close the connection without an answer.
    LoseReply,
}

impl ArmedFault for Fault {
    fn is_connection(&self) -> bool {
        matches!(self, Self::Drop | Self::LoseReply)
    }
}

/// Fault injection, shared with the running server (cheap to clone, thread-safe).
///
/// Faults apply to Gmail API requests (`/gmail/…`, `/upload/…`), not to the token
/// endpoint.
///
/// ```
/// use mailmigrate_gmail::emulator::{Fault, Faults};
///
/// let faults = Faults::default();
/// // The second import is stored, and its answer never arrives.
/// faults.arm("POST", "/messages/import", 1, 1, Fault::LoseReply);
/// assert_eq!(faults.remaining(), 1);
/// faults.clear();
/// assert_eq!(faults.remaining(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Faults {
    armed: Arc<FaultQueue<Fault>>,
}

impl Faults {
    /// Lets `skip` requests with `method` whose path contains `path_contains` pass, then
    /// fires `fault` on the `n` matching requests after them. An empty method or path
    /// matches every request.
    pub fn arm(&self, method: &str, path_contains: &str, skip: usize, n: usize, fault: Fault) {
        self.armed
            .arm(Matching::containing(method, path_contains, skip), n, fault);
    }

    /// The next `n` requests answer `status` with `reason` (any method, any path).
    pub fn fail_next(&self, n: usize, status: u16, reason: &str) {
        let fault = Fault::Fail {
            status,
            reason: reason.to_owned(),
        };
        self.arm("", "", 0, n, fault);
    }

    /// The next `n` imports are stored and their answers lost.
    pub fn lose_import_replies(&self, n: usize) {
        self.arm("POST", "/messages/import", 0, n, Fault::LoseReply);
    }

    /// How many firings the armed faults have left.
    pub fn remaining(&self) -> usize {
        self.armed.remaining()
    }

    /// Disarms every pending fault.
    pub fn clear(&self) {
        self.armed.clear();
    }

    /// Takes the first armed fault of the wanted stage (connection or answer) matching
    /// the request.
    pub(crate) fn take(&self, connection: bool, method: &str, path: &str) -> Option<Fault> {
        self.armed.take(connection, method, path)
    }
}
