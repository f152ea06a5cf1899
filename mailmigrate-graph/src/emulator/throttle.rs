//! Outlook throttling per (app, mailbox) \[1.4\]\[G-THR\]\[I-CONC\].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::builder::Limits;
use super::errors::{retry_after_text, GraphError};

#[derive(Debug, Default)]
struct Bucket {
    in_flight: usize,
    max_in_flight: usize,
    requests: VecDeque<Instant>,
    uploads: VecDeque<(Instant, u64)>,
    total: u64,
}

/// Counters the handle reports as [`Stats`](super::Stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    buckets: HashMap<(String, String), Bucket>,
    pub(crate) throttled: u64,
    pub(crate) bytes_uploaded: u64,
    pub(crate) tokens_issued: u64,
}

impl Counters {
    pub(crate) fn per_mailbox(&self) -> (HashMap<String, u64>, HashMap<String, usize>) {
        let mut req = HashMap::new();
        let mut max = HashMap::new();
        for ((_, mbx), b) in &self.buckets {
            *req.entry(mbx.clone()).or_insert(0) += b.total;
            let e = max.entry(mbx.clone()).or_insert(0);
            *e = (*e).max(b.max_in_flight);
        }
        (req, max)
    }
}

/// Shared throttle state.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    pub(crate) counters: Arc<Mutex<Counters>>,
}

/// Holds one concurrency slot until dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    counters: Arc<Mutex<Counters>>,
    key: (String, String),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = c.buckets.get_mut(&self.key) {
            b.in_flight = b.in_flight.saturating_sub(1);
        }
    }
}

/// 429 `TooManyRequests` "Please retry again later." with innerError code/status "429"
/// and `Retry-After` \[G-THG\].
pub(crate) fn too_many(limits: &Limits) -> GraphError {
    let mut e = GraphError::new(429, "TooManyRequests", "Please retry again later.")
        .with_header("retry-after", retry_after_text(limits.retry_after));
    e.inner_status = true;
    e
}

impl Throttle {
    /// Admits one request of `upload` body bytes, or answers 429. Throttled requests still
    /// count against the window \[G-THG\].
    pub(crate) fn admit(
        &self,
        limits: &Limits,
        app: &str,
        mailbox: &str,
        upload: u64,
    ) -> Result<Slot, GraphError> {
        let key = (app.to_owned(), mailbox.to_ascii_lowercase());
        let now = Instant::now();
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let b = c.buckets.entry(key.clone()).or_default();
        b.in_flight += 1;
        b.max_in_flight = b.max_in_flight.max(b.in_flight);
        b.total += 1;
        b.requests.push_back(now);
        while b
            .requests
            .front()
            .is_some_and(|t| now.duration_since(*t) > limits.window)
        {
            b.requests.pop_front();
        }
        while b
            .uploads
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > limits.upload_window)
        {
            b.uploads.pop_front();
        }
        let slot = Slot {
            counters: Arc::clone(&self.counters),
            key,
        };
        let err = if b.in_flight > limits.concurrent_per_mailbox {
            // [G-THR] 4 concurrent per (app, mailbox); body as observed [I-CONC].
            Some(
                GraphError::new(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                )
                .with_header("retry-after", retry_after_text(limits.retry_after)),
            )
        } else if b.requests.len() > limits.requests_per_window as usize {
            // [G-THR] 10,000 requests per 10 minutes.
            Some(too_many(limits))
        } else if upload > 0
            && b.uploads.iter().map(|(_, n)| n).sum::<u64>() + upload
                > limits.upload_bytes_per_window
        {
            // [G-THR] 150 MB upload per 5 minutes.
            Some(too_many(limits))
        } else {
            if upload > 0 {
                b.uploads.push_back((now, upload));
            }
            None
        };
        match err {
            Some(e) => {
                c.throttled += 1;
                drop(c);
                drop(slot);
                Err(e)
            }
            None => {
                c.bytes_uploaded += upload;
                Ok(slot)
            }
        }
    }
}
