//! Armed faults: each fires on the next matching requests, then disarms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

impl Fault {
    fn is_connection(&self) -> bool {
        matches!(self, Self::Drop | Self::LoseReply)
    }
}

#[derive(Debug)]
struct Armed {
    kind: Fault,
    method: Option<String>,
    path_contains: Option<String>,
    /// Whether the path must be `path_contains` exactly, not merely contain it.
    exact: bool,
    /// Matching requests let through before the fault fires.
    skip: usize,
    remaining: usize,
}

#[derive(Debug, Default)]
struct Inner {
    armed: Mutex<Vec<Armed>>,
    token_epoch: AtomicU64,
    delta_epoch: AtomicU64,
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
        self.arm_skipping(kind, method, path, 0, n);
    }

    fn arm_skipping(
        &self,
        kind: Fault,
        method: Option<&str>,
        path: Option<&str>,
        skip: usize,
        n: usize,
    ) {
        self.push(kind, method, path.map(|p| (p, false)), skip, n);
    }

    /// Arms `kind` for `n` requests after `skip`; `path` is a fragment, or the whole path
    /// when its flag is set.
    fn push(
        &self,
        kind: Fault,
        method: Option<&str>,
        path: Option<(&str, bool)>,
        skip: usize,
        n: usize,
    ) {
        if n == 0 {
            return;
        }
        let mut armed = self.inner.armed.lock().unwrap_or_else(|e| e.into_inner());
        armed.push(Armed {
            kind,
            method: method.map(str::to_ascii_uppercase),
            path_contains: path.map(|(p, _)| p.to_owned()),
            exact: path.is_some_and(|(_, exact)| exact),
            skip,
            remaining: n,
        });
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
        self.arm_skipping(fault, Some(method), Some(path_contains), skip, n);
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
        self.push(fault, Some(method), Some((path, true)), skip, n);
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

    /// How many firings the armed faults have left: 0 once every fault has fired.
    pub fn remaining(&self) -> usize {
        self.inner
            .armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|a| a.remaining)
            .sum()
    }

    /// Disarms every pending fault.
    pub fn clear(&self) {
        self.inner
            .armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub(crate) fn token_epoch(&self) -> u64 {
        self.inner.token_epoch.load(Ordering::SeqCst)
    }

    pub(crate) fn delta_epoch(&self) -> u64 {
        self.inner.delta_epoch.load(Ordering::SeqCst)
    }

    /// Takes the first armed fault of the wanted stage matching the request.
    pub(crate) fn take(&self, connection: bool, method: &str, path: &str) -> Option<Fault> {
        let mut armed = self.inner.armed.lock().unwrap_or_else(|e| e.into_inner());
        let mut fire = None;
        for (i, a) in armed.iter_mut().enumerate() {
            let matches = a.kind.is_connection() == connection
                && a.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && a.path_contains.as_deref().is_none_or(|p| {
                    if a.exact {
                        path == p
                    } else {
                        path.contains(p)
                    }
                });
            if !matches {
                continue;
            }
            if a.skip > 0 {
                // This request counts towards the fault's skip, and may meet another.
                a.skip -= 1;
                continue;
            }
            fire = Some(i);
            break;
        }
        let pos = fire?;
        let kind = armed[pos].kind.clone();
        armed[pos].remaining -= 1;
        if armed[pos].remaining == 0 {
            armed.remove(pos);
        }
        Some(kind)
    }
}
