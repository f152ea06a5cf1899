//! Armed faults: each fires on the next matching requests, then disarms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mailmigrate_core::emulator::{ArmedFault, FaultQueue, Matching};

/// What an armed fault does (see [`Faults::arm_after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with the Graph error envelope: nothing happens server-side.
    Fail {
        /// The HTTP status.
        status: u16,
        /// The envelope's `error.code`.
        code: String,
    },
    /// Close the connection before handling: nothing happens server-side.
    Drop,
    /// Handle fully, then close the connection without an answer.
    LoseReply,
    /// 429 `TooManyRequests` with `Retry-After` \[G-THG\].
    Throttle,
}

impl ArmedFault for Fault {
    fn is_connection(&self) -> bool {
        matches!(self, Self::Drop | Self::LoseReply)
    }
}

#[derive(Debug, Default)]
struct Inner {
    armed: FaultQueue<Fault>,
    token_epoch: AtomicU64,
    delta_epoch: AtomicU64,
    import_epoch: AtomicU64,
}

/// Fault injection, shared with the running server (cheap to clone, thread-safe).
///
/// Each armed fault fires on the next `n` matching requests. Connection faults
/// ([`drop_next`](Self::drop_next), [`lose_reply_next`](Self::lose_reply_next)) apply to
/// HTTP requests; answer faults ([`fail_next`](Self::fail_next),
/// [`throttle_next`](Self::throttle_next)) apply to token requests, upload-session
/// requests (`/upload/…`) and each Graph request, including each inner request of a
/// `$batch` (not the batch envelope itself).
///
/// ```
/// use mailmigrate_graph::emulator::{Fault, Faults};
///
/// let faults = Faults::default();
/// // The third chunk PUT to an upload session answers 503; the first two pass.
/// faults.arm_after(
///     "PUT",
///     "/upload/",
///     2,
///     1,
///     Fault::Fail { status: 503, code: "serviceNotAvailable".into() },
/// );
/// faults.clear();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

impl Faults {
    fn arm(&self, kind: Fault, method: Option<&str>, path: Option<&str>, n: usize) {
        let m = Matching::containing(method.unwrap_or(""), path.unwrap_or(""), 0);
        self.inner.armed.arm(m, n, kind);
    }

    /// Lets the next `skip` requests with this method whose path contains
    /// `path_contains` pass, then arms `fault` for the `n` matching requests after them
    /// (e.g. the n-th chunk of an upload session).
    pub fn arm_after(
        &self,
        method: &str,
        path_contains: &str,
        skip: usize,
        n: usize,
        fault: Fault,
    ) {
        let m = Matching::containing(method, path_contains, skip);
        self.inner.armed.arm(m, n, fault);
    }

    /// [`arm_after`](Self::arm_after) for requests whose path is `path` exactly (query
    /// aside): the pages of `GET /v1.0/users`, not `/v1.0/users/{id}/…`.
    ///
    /// ```
    /// use mailmigrate_graph::emulator::{Fault, Faults};
    /// let faults = Faults::default();
    /// // The second page of the user listing is throttled.
    /// faults.arm_on_path("GET", "/v1.0/users", 1, 1, Fault::Throttle);
    /// assert_eq!(faults.remaining(), 1);
    /// ```
    pub fn arm_on_path(&self, method: &str, path: &str, skip: usize, n: usize, fault: Fault) {
        self.inner
            .armed
            .arm(Matching::exactly(method, path, skip), n, fault);
    }

    /// The next `n` requests answer `status` with the Graph error envelope and `code`.
    pub fn fail_next(&self, n: usize, status: u16, code: &str) {
        let kind = Fault::Fail {
            status,
            code: code.to_owned(),
        };
        self.arm(kind, None, None, n);
    }

    /// Like [`fail_next`](Self::fail_next), only for requests with this method whose path
    /// contains `path_contains`.
    pub fn fail_matching(
        &self,
        method: &str,
        path_contains: &str,
        n: usize,
        status: u16,
        code: &str,
    ) {
        let kind = Fault::Fail {
            status,
            code: code.to_owned(),
        };
        self.arm(kind, Some(method), Some(path_contains), n);
    }

    /// The next `n` requests have their connection closed before they are handled.
    pub fn drop_next(&self, n: usize) {
        self.arm(Fault::Drop, None, None, n);
    }

    /// [`drop_next`](Self::drop_next) for matching requests only.
    pub fn drop_matching(&self, method: &str, path_contains: &str, n: usize) {
        self.arm(Fault::Drop, Some(method), Some(path_contains), n);
    }

    /// The next `n` requests are handled fully (a message IS created), then their
    /// connection is closed without an answer: the outcome is unknown to the client.
    pub fn lose_reply_next(&self, n: usize) {
        self.arm(Fault::LoseReply, None, None, n);
    }

    /// [`lose_reply_next`](Self::lose_reply_next) for matching requests only.
    pub fn lose_reply_matching(&self, method: &str, path_contains: &str, n: usize) {
        self.arm(Fault::LoseReply, Some(method), Some(path_contains), n);
    }

    /// The next `n` requests answer 429 `TooManyRequests` with `Retry-After` \[G-THG\].
    pub fn throttle_next(&self, n: usize) {
        self.arm(Fault::Throttle, None, None, n);
    }

    /// [`throttle_next`](Self::throttle_next) for matching requests only.
    pub fn throttle_matching(&self, method: &str, path_contains: &str, n: usize) {
        self.arm(Fault::Throttle, Some(method), Some(path_contains), n);
    }

    /// Every access token issued so far becomes invalid (401 `InvalidAuthenticationToken`).
    pub fn expire_tokens(&self) {
        self.inner.token_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Every outstanding delta and skip token answers 410 Gone `syncStateNotFound` \[G-DQ\].
    pub fn expire_delta_tokens(&self) {
        self.inner.delta_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Every mailbox import session created so far expires: its `importUrl` answers 401
    /// `InvalidAuthenticationToken`, as after its `expirationDateTime` \[G-IMP\].
    pub fn expire_import_sessions(&self) {
        self.inner.import_epoch.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn import_epoch(&self) -> u64 {
        self.inner.import_epoch.load(Ordering::SeqCst)
    }

    /// How many firings the armed faults have left: 0 once every fault has fired.
    pub fn remaining(&self) -> usize {
        self.inner.armed.remaining()
    }

    /// Disarms every pending fault.
    pub fn clear(&self) {
        self.inner.armed.clear();
    }

    pub(crate) fn token_epoch(&self) -> u64 {
        self.inner.token_epoch.load(Ordering::SeqCst)
    }

    pub(crate) fn delta_epoch(&self) -> u64 {
        self.inner.delta_epoch.load(Ordering::SeqCst)
    }

    /// Takes the first armed fault of the wanted stage matching the request.
    pub(crate) fn take(&self, connection: bool, method: &str, path: &str) -> Option<Fault> {
        self.inner.armed.take(connection, method, path)
    }
}
