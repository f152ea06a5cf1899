//! Quota units per user per window and the per-user concurrency cap
//! \[GM-QUOTA\]\[GM-ERR\]\[I-G429\].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::builder::Quota;
use super::errors::GoogleError;

/// What a method costs in quota units \[GM-QUOTA\].
pub(crate) fn units(method_id: &str) -> u64 {
    // Calendar and People publish per-request quotas, not unit costs: one unit a call.
    // The Admin SDK's quota is its own (requests per minute): one unit a call here too.
    if method_id.starts_with("calendar.")
        || method_id.starts_with("people.")
        || method_id.starts_with("directory.")
    {
        return 1;
    }
    match method_id
        .rsplit_once("users.")
        .map_or(method_id, |(_, m)| m)
    {
        "messages.import" | "messages.insert" => 25,
        "messages.get" | "messages.list" | "messages.modify" => 5,
        "labels.create" => 5,
        "history.list" => 2,
        "getProfile" | "labels.list" | "labels.get" => 1,
        "settings.delegates.list" | "settings.sendAs.list" => 1,
        _ => 5,
    }
}

#[derive(Debug, Default)]
struct User {
    spent: VecDeque<(Instant, u64)>,
    in_flight: usize,
    max_in_flight: usize,
}

/// Counters the handle reports as [`Stats`](super::Stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    users: HashMap<String, User>,
    pub(crate) units: HashMap<String, u64>,
    pub(crate) calls: HashMap<String, u64>,
    pub(crate) rate_limited: u64,
    pub(crate) concurrency_refused: u64,
    pub(crate) tokens_issued: u64,
    pub(crate) calendar_processed: u64,
    /// Units charged today per user, and for the whole project (reset by
    /// [`EmulatorHandle::reset_daily_quota`](super::EmulatorHandle::reset_daily_quota)).
    pub(crate) daily: HashMap<String, u64>,
    pub(crate) daily_project: u64,
    /// Calls refused with `dailyLimitExceeded`.
    pub(crate) daily_refused: u64,
    /// HTTP requests the API received (a batch is one).
    pub(crate) requests: u64,
}

impl Counters {
    pub(crate) fn max_in_flight(&self, user: &str) -> usize {
        self.users.get(user).map_or(0, |u| u.max_in_flight)
    }
}

/// Holds one of a user's concurrency slots until dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    counters: Arc<Mutex<Counters>>,
    user: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = c.users.get_mut(&self.user) {
            u.in_flight = u.in_flight.saturating_sub(1);
        }
    }
}

/// Admits a call of `method_id` for `user`, or answers as Gmail does: 429
/// `rateLimitExceeded` "Too many concurrent requests for user" over the concurrency cap
/// \[I-G429\], 403 (or 429) `userRateLimitExceeded` over the per-user budget
/// \[GM-QUOTA\]\[GM-ERR\]. Refused calls are not charged.
pub(crate) fn admit(
    counters: &Arc<Mutex<Counters>>,
    quota: &Quota,
    user: &str,
    method_id: &str,
) -> Result<Slot, GoogleError> {
    let cost = units(method_id);
    let now = Instant::now();
    let mut c = counters.lock().unwrap_or_else(|e| e.into_inner());
    let u = c.users.entry(user.to_owned()).or_default();
    while u
        .spent
        .front()
        .is_some_and(|(t, _)| now.duration_since(*t) >= quota.window)
    {
        u.spent.pop_front();
    }
    if u.in_flight >= quota.concurrency {
        c.concurrency_refused += 1;
        return Err(GoogleError::new(
            429,
            "rateLimitExceeded",
            "Too many concurrent requests for user.",
        )
        .with_domain("usageLimits"));
    }
    // [GM-ERR] 403 `dailyLimitExceeded` (domain usageLimits) once a daily budget is spent:
    // the project's ([GM-QUOTA] "daily billing threshold", 80,000,000 units) or a
    // per-user one set for tests. It lasts until the day's reset, not a window.
    let today = c.daily.get(user).copied().unwrap_or(0);
    let over_user = quota.daily_units_per_user.is_some_and(|d| today + cost > d);
    let over_project = quota
        .daily_units_per_project
        .is_some_and(|d| c.daily_project + cost > d);
    if over_user || over_project {
        c.daily_refused += 1;
        return Err(
            GoogleError::new(403, "dailyLimitExceeded", "Daily Limit Exceeded")
                .with_domain("usageLimits"),
        );
    }
    let u = c.users.entry(user.to_owned()).or_default();
    let spent: u64 = u.spent.iter().map(|(_, n)| n).sum();
    if spent + cost > quota.units_per_window {
        let oldest = u.spent.front().map_or(now, |(t, _)| *t);
        let wait = quota.window.saturating_sub(now.duration_since(oldest));
        c.rate_limited += 1;
        let retry_after = quota
            .send_retry_after
            .then(|| wait.as_secs_f64().ceil().max(1.0) as u32);
        return Err(GoogleError::new(
            quota.rate_limit_status,
            "userRateLimitExceeded",
            format!("User-rate limit exceeded.  Retry after {}", retry_at(wait)),
        )
        .with_domain("usageLimits")
        .with_retry_after(retry_after));
    }
    u.spent.push_back((now, cost));
    u.in_flight += 1;
    u.max_in_flight = u.max_in_flight.max(u.in_flight);
    *c.units.entry(user.to_owned()).or_default() += cost;
    *c.daily.entry(user.to_owned()).or_default() += cost;
    c.daily_project += cost;
    *c.calls.entry(method_id.to_owned()).or_default() += 1;
    Ok(Slot {
        counters: Arc::clone(counters),
        user: user.to_owned(),
    })
}

/// The instant a refused call may be sent again, as the message text shows it
/// (observed: "Retry after 2026-05-01T10:00:00.000Z").
fn retry_at(wait: Duration) -> String {
    let at = time::OffsetDateTime::now_utc() + wait;
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_quota_page() {
        assert_eq!(units("gmail.users.messages.import"), 25);
        assert_eq!(units("gmail.users.messages.get"), 5);
        assert_eq!(units("gmail.users.history.list"), 2);
        assert_eq!(units("gmail.users.labels.list"), 1);
    }

    #[test]
    fn the_budget_refuses_and_recovers() {
        let counters = Arc::new(Mutex::new(Counters::default()));
        let quota = Quota {
            units_per_window: 50,
            window: Duration::from_millis(50),
            ..Quota::default()
        };
        let a = admit(&counters, &quota, "u", "gmail.users.messages.import").unwrap();
        let b = admit(&counters, &quota, "u", "gmail.users.messages.import").unwrap();
        drop((a, b));
        let e = admit(&counters, &quota, "u", "gmail.users.messages.get").unwrap_err();
        assert_eq!((e.code, e.reason), (403, "userRateLimitExceeded"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(admit(&counters, &quota, "u", "gmail.users.messages.get").is_ok());
    }
}
