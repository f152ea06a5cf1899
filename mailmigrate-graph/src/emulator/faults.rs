//! Armed faults: each fires on the next matching requests, then disarms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What an armed fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// Answer with the Graph error envelope.
    Fail { status: u16, code: String },
    /// Close the connection before handling: nothing happens server-side.
    Drop,
    /// Handle fully, then close the connection without an answer.
    LoseReply,
    /// 429 `TooManyRequests` with `Retry-After` \[G-THG\].
    Throttle,
}

impl FaultKind {
    fn is_connection(&self) -> bool {
        matches!(self, Self::Drop | Self::LoseReply)
    }
}

#[derive(Debug)]
struct Armed {
    kind: FaultKind,
    method: Option<String>,
    path_contains: Option<String>,
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
/// [`throttle_next`](Self::throttle_next)) apply to token requests and each Graph
/// request, including each inner request of a `$batch` (not the batch envelope itself).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

impl Faults {
    fn arm(&self, kind: FaultKind, method: Option<&str>, path: Option<&str>, n: usize) {
        if n == 0 {
            return;
        }
        let mut armed = self.inner.armed.lock().unwrap_or_else(|e| e.into_inner());
        armed.push(Armed {
            kind,
            method: method.map(str::to_ascii_uppercase),
            path_contains: path.map(str::to_owned),
            remaining: n,
        });
    }

    /// The next `n` requests answer `status` with the Graph error envelope and `code`.
    pub fn fail_next(&self, n: usize, status: u16, code: &str) {
        let kind = FaultKind::Fail {
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
        let kind = FaultKind::Fail {
            status,
            code: code.to_owned(),
        };
        self.arm(kind, Some(method), Some(path_contains), n);
    }

    /// The next `n` requests have their connection closed before they are handled.
    pub fn drop_next(&self, n: usize) {
        self.arm(FaultKind::Drop, None, None, n);
    }

    /// [`drop_next`](Self::drop_next) for matching requests only.
    pub fn drop_matching(&self, method: &str, path_contains: &str, n: usize) {
        self.arm(FaultKind::Drop, Some(method), Some(path_contains), n);
    }

    /// The next `n` requests are handled fully (a message IS created), then their
    /// connection is closed without an answer: the outcome is unknown to the client.
    pub fn lose_reply_next(&self, n: usize) {
        self.arm(FaultKind::LoseReply, None, None, n);
    }

    /// [`lose_reply_next`](Self::lose_reply_next) for matching requests only.
    pub fn lose_reply_matching(&self, method: &str, path_contains: &str, n: usize) {
        self.arm(FaultKind::LoseReply, Some(method), Some(path_contains), n);
    }

    /// The next `n` requests answer 429 `TooManyRequests` with `Retry-After` \[G-THG\].
    pub fn throttle_next(&self, n: usize) {
        self.arm(FaultKind::Throttle, None, None, n);
    }

    /// [`throttle_next`](Self::throttle_next) for matching requests only.
    pub fn throttle_matching(&self, method: &str, path_contains: &str, n: usize) {
        self.arm(FaultKind::Throttle, Some(method), Some(path_contains), n);
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
    pub(crate) fn take(&self, connection: bool, method: &str, path: &str) -> Option<FaultKind> {
        let mut armed = self.inner.armed.lock().unwrap_or_else(|e| e.into_inner());
        let pos = armed.iter().position(|a| {
            a.kind.is_connection() == connection
                && a.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && a.path_contains.as_deref().is_none_or(|p| path.contains(p))
        })?;
        let kind = armed[pos].kind.clone();
        armed[pos].remaining -= 1;
        if armed[pos].remaining == 0 {
            armed.remove(pos);
        }
        Some(kind)
    }
}
