//! Injecting failures on purpose: [`FaultLayer`] and [`Faulty`], for tests and the
//! conformance testkit.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future;
use futures::stream::{self, BoxStream, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{scheme, Layer};
use crate::{
    Appended, Capabilities, Change, Checkpoint, DedupeKey, Destination, EnsuredFolder, Error,
    ErrorKind, ExistingCopy, FlagChange, Folder, FolderId, FolderPath, ItemResult, MessageId,
    Operation, Provider, ProviderInfo, RawMessage, Result, Source, SpecialUse,
};

/// Which calls (or items) a [`FaultRule`] fails, counted per rule from the first call.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Trigger {
    /// The first `n`, then none.
    First(u64),
    /// Every `k`-th (the `k`-th, `2k`-th, …); zero never fires.
    EveryNth(u64),
    /// Each with this probability, drawn from the layer's seeded generator.
    Probability(f64),
}

impl Trigger {
    /// Fails the first `n`.
    pub fn first(n: u64) -> Self {
        Self::First(n)
    }

    /// Fails every `k`-th.
    pub fn every(k: u64) -> Self {
        Self::EveryNth(k)
    }

    /// Fails each with probability `p` (clamped to 0..=1).
    pub fn probability(p: f64) -> Self {
        Self::Probability(p)
    }

    /// Fails all of them.
    pub fn always() -> Self {
        Self::First(u64::MAX)
    }
}

/// The failure a [`FaultRule`] injects.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use mailmigrate_core::layer::Fault;
/// use mailmigrate_core::ErrorKind;
///
/// let throttled = Fault::temporary(ErrorKind::RateLimited).with_retry_after(Duration::from_secs(5));
/// assert!(throttled.temporary);
/// let lost_reply = Fault::permanent(ErrorKind::Unavailable).after_call();
/// assert!(lost_reply.after_call);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    /// The kind of the injected error.
    pub kind: ErrorKind,
    /// Whether the injected error is temporary.
    pub temporary: bool,
    /// The retry-after hint of a temporary error.
    pub retry_after: Option<Duration>,
    /// How long to wait (on the tokio clock) before failing, to simulate a slow timeout.
    pub delay: Option<Duration>,
    /// Whether the call (or item) still reaches the provider and takes effect, and only its
    /// reply is replaced by the error: a lost reply. An `append` failed this way reports
    /// [`RetryStatus::OutcomeUnknown`](crate::RetryStatus::OutcomeUnknown), as the contract
    /// asks of every backend.
    pub after_call: bool,
    /// Whether an `append` failed this way reports an unknown outcome although nothing was
    /// written (the connection died before the server stored the message): the engine must
    /// find no copy and write it again, once.
    pub unknown_outcome: bool,
}

impl Fault {
    /// A permanent error of `kind`.
    pub fn permanent(kind: ErrorKind) -> Self {
        Self {
            kind,
            temporary: false,
            retry_after: None,
            delay: None,
            after_call: false,
            unknown_outcome: false,
        }
    }

    /// A temporary error of `kind`.
    pub fn temporary(kind: ErrorKind) -> Self {
        Self {
            temporary: true,
            ..Self::permanent(kind)
        }
    }

    /// Makes the error temporary with a retry-after hint.
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.temporary = true;
        self.retry_after = Some(after);
        self
    }

    /// Waits `delay` before failing.
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Lets the call take effect and replaces only its reply with the error.
    #[must_use]
    pub fn after_call(mut self) -> Self {
        self.after_call = true;
        self
    }

    /// Reports an `append` as of unknown outcome; with [`after_call`](Self::after_call) the
    /// write happened, without it the write did not.
    #[must_use]
    pub fn unknown_outcome(mut self) -> Self {
        self.unknown_outcome = true;
        self
    }

    fn error(&self, provider: &'static str, operation: Operation) -> Error {
        let e = Error::new(self.kind, "injected fault")
            .with_provider(provider)
            .with_operation(operation);
        if operation == Operation::Append && (self.after_call || self.unknown_outcome) {
            return e.outcome_unknown();
        }
        match (self.temporary, self.retry_after) {
            (true, Some(after)) => e.temporary_after(after),
            (true, None) => e.temporary(),
            (false, _) => e,
        }
    }

    async fn wait(&self) {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Call,
    Item,
}

/// One injection rule: which operation, which calls or items, what failure.
///
/// Call rules apply to every operation; a failed `fetch` call fails each requested item and
/// a failed `list_changes` call yields one error. Item rules apply to `append` and `fetch`
/// (each message counts) and to `list_changes` (each entry counts; the stream yields the
/// error in its place and ends, like a dropped connection).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRule {
    operation: Operation,
    trigger: Trigger,
    fault: Fault,
    scope: Scope,
}

impl FaultRule {
    /// Fails whole calls of `operation`.
    pub fn calls(operation: Operation, trigger: Trigger, fault: Fault) -> Self {
        Self {
            operation,
            trigger,
            fault,
            scope: Scope::Call,
        }
    }

    /// Fails individual items of `operation` (`Append`, `Fetch` or `ListChanges`).
    pub fn items(operation: Operation, trigger: Trigger, fault: Fault) -> Self {
        Self {
            operation,
            trigger,
            fault,
            scope: Scope::Item,
        }
    }
}

/// `FaultLayer` injects errors into chosen calls and items; see [`Faulty`].
///
/// Everything is deterministic for a given seed and call order: counters decide `First` and
/// `EveryNth`, and each rule draws `Probability` from its own generator seeded from the
/// layer's seed. Each provider the layer wraps starts with fresh counters.
///
/// # Examples
/// ```
/// use mailmigrate_core::layer::{Fault, FaultLayer, Layer, Trigger};
/// use mailmigrate_core::store::MemoryStore;
/// use mailmigrate_core::{Destination, ErrorKind, FolderPath, Operation};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let flaky = FaultLayer::new()
///     .with_seed(7)
///     .fail_calls(Operation::EnsureFolder, Trigger::first(1), Fault::temporary(ErrorKind::Unavailable))
///     .layer(MemoryStore::new("demo"));
/// let err = flaky.ensure_folder(&FolderPath::inbox(), None).await.unwrap_err();
/// assert!(err.is_temporary());
/// assert!(flaky.ensure_folder(&FolderPath::inbox(), None).await.is_ok());
/// assert_eq!(flaky.injected(), 1);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct FaultLayer {
    seed: u64,
    rules: Vec<FaultRule>,
}

impl FaultLayer {
    /// A layer with no rules and seed 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the seed of the `Probability` triggers.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Adds a rule. Rules are checked in the order added; the first that fires wins, and
    /// every matching rule counts the call.
    #[must_use]
    pub fn with_rule(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Fails whole calls of `operation` chosen by `trigger`.
    #[must_use]
    pub fn fail_calls(self, operation: Operation, trigger: Trigger, fault: Fault) -> Self {
        self.with_rule(FaultRule::calls(operation, trigger, fault))
    }

    /// Fails single items of `operation` chosen by `trigger`.
    #[must_use]
    pub fn fail_items(self, operation: Operation, trigger: Trigger, fault: Fault) -> Self {
        self.with_rule(FaultRule::items(operation, trigger, fault))
    }
}

impl<S> Layer<S> for FaultLayer {
    type Output = Faulty<S>;

    fn layer(&self, inner: S) -> Faulty<S> {
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| RuleState {
                rule: *rule,
                seen: AtomicU64::new(0),
                rng: Mutex::new(StdRng::seed_from_u64(
                    self.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                )),
            })
            .collect();
        Faulty {
            inner: Arc::new(inner),
            state: Arc::new(State {
                rules,
                injected: AtomicU64::new(0),
            }),
        }
    }
}

#[derive(Debug)]
struct RuleState {
    rule: FaultRule,
    seen: AtomicU64,
    rng: Mutex<StdRng>,
}

impl RuleState {
    fn fires(&self) -> bool {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        match self.rule.trigger {
            Trigger::First(k) => n < k,
            Trigger::EveryNth(k) => k > 0 && (n + 1).is_multiple_of(k),
            Trigger::Probability(p) => self
                .rng
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .random_bool(if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) }),
        }
    }
}

#[derive(Debug)]
struct State {
    rules: Vec<RuleState>,
    injected: AtomicU64,
}

impl State {
    fn pick(&self, operation: Operation, scope: Scope) -> Option<Fault> {
        let mut chosen = None;
        for r in &self.rules {
            if r.rule.operation == operation && r.rule.scope == scope && r.fires() {
                chosen = chosen.or(Some(r.rule.fault));
            }
        }
        if chosen.is_some() {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        chosen
    }
}

/// `Faulty` fails the calls and items its [`FaultLayer`] rules select, and forwards the rest.
///
/// Injected errors carry the inner provider's scheme, the operation and the folder and
/// message, and the message "injected fault".
#[derive(Debug)]
pub struct Faulty<S> {
    inner: Arc<S>,
    state: Arc<State>,
}

impl<S> Faulty<S> {
    /// The wrapped provider.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How many calls and items have been failed so far.
    pub fn injected(&self) -> u64 {
        self.state.injected.load(Ordering::Relaxed)
    }
}

impl<S: Send + Sync> Faulty<S> {
    /// Runs `call` unless a call rule fires.
    async fn guard<T, Fut>(
        &self,
        provider: &'static str,
        operation: Operation,
        folder: Option<&FolderId>,
        call: Fut,
    ) -> Result<T>
    where
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        let Some(fault) = self.state.pick(operation, Scope::Call) else {
            return call.await;
        };
        fault.wait().await;
        if fault.after_call {
            // The effect happens; the reply is lost.
            drop(call.await);
        }
        let e = fault.error(provider, operation);
        Err(match folder {
            Some(f) => e.with_context("folder", f),
            None => e,
        })
    }
}

impl<S: Destination> Faulty<S> {
    async fn append_items(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let provider = scheme(&*self.inner);
        let plan: Vec<(MessageId, Option<Fault>)> = messages
            .iter()
            .map(|m| {
                (
                    m.meta.id.clone(),
                    self.state.pick(Operation::Append, Scope::Item),
                )
            })
            .collect();
        if let Some(longest) = plan
            .iter()
            .filter_map(|(_, f)| f.and_then(|f| f.delay))
            .max()
        {
            tokio::time::sleep(longest).await;
        }
        let send: Vec<RawMessage> = messages
            .into_iter()
            .zip(&plan)
            .filter(|(_, (_, f))| f.is_none_or(|f| f.after_call))
            .map(|(m, _)| m)
            .collect();
        let mut sent = if send.is_empty() {
            Vec::new()
        } else {
            self.inner.append(folder, send).await?
        }
        .into_iter();
        Ok(plan
            .into_iter()
            .map(|(id, fault)| {
                match fault {
                    Some(f) => {
                        if f.after_call {
                            // The message was written; its reply is replaced by the error.
                            drop(sent.next());
                        }
                        Err(f.error(provider, Operation::Append))
                    }
                    None => sent.next().unwrap_or_else(|| {
                        Err(Error::new(
                            ErrorKind::Unexpected,
                            "the destination returned fewer results than messages",
                        )
                        .with_provider(provider)
                        .with_operation(Operation::Append))
                    }),
                }
                .map_err(|e| e.with_item(folder, &id))
            })
            .collect())
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Provider> Provider for Faulty<S> {
    fn info(&self) -> &ProviderInfo {
        Provider::info(&*self.inner)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn list_folders(&self) -> Result<Vec<Folder>> {
        let provider = scheme(&*self.inner);
        let call = Provider::list_folders(&*self.inner);
        self.guard(provider, Operation::ListFolders, None, call)
            .await
    }

    async fn message_counts(&self, folders: &[FolderId]) -> Option<Vec<Result<u64>>> {
        self.inner.message_counts(folders).await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Source> Source for Faulty<S> {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let provider = scheme(&*self.inner);
        let op = Operation::ListChanges;
        if let Some(fault) = self.state.pick(op, Scope::Call) {
            let inner = fault
                .after_call
                .then(|| self.inner.list_changes(folder, since));
            let err = fault.error(provider, op).with_context("folder", folder);
            return stream::once(async move {
                fault.wait().await;
                if let Some(s) = inner {
                    s.for_each(|_| future::ready(())).await;
                }
                Err(err)
            })
            .boxed();
        }
        let state = Arc::clone(&self.state);
        let folder_name = folder.clone();
        self.inner
            .list_changes(folder, since)
            .scan(false, move |ended, item| {
                if *ended {
                    return future::ready(None);
                }
                let out = match state.pick(op, Scope::Item) {
                    Some(fault) => {
                        *ended = true;
                        Err(fault
                            .error(provider, op)
                            .with_context("folder", &folder_name))
                    }
                    None => item,
                };
                future::ready(Some(out))
            })
            .boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let provider = scheme(&*self.inner);
        let op = Operation::Fetch;
        let folder_id = folder.clone();
        if let Some(fault) = self.state.pick(op, Scope::Call) {
            let inner = fault
                .after_call
                .then(|| self.inner.fetch(folder, ids.clone()));
            return stream::once(async move {
                fault.wait().await;
                if let Some(s) = inner {
                    s.for_each(|_| future::ready(())).await;
                }
                let failed: Vec<ItemResult<RawMessage>> = ids
                    .into_iter()
                    .map(|id| {
                        let e = fault.error(provider, op).with_item(&folder_id, &id);
                        (id, Err(e))
                    })
                    .collect();
                stream::iter(failed)
            })
            .flatten()
            .boxed();
        }
        let mut failed_before = Vec::new();
        // Items failed after the call keep their error; the provider's reply is dropped.
        let mut replacements = HashMap::new();
        let mut forward = Vec::with_capacity(ids.len());
        let mut longest = None;
        for id in ids {
            match self.state.pick(op, Scope::Item) {
                None => forward.push(id),
                Some(fault) => {
                    longest = longest.max(fault.delay);
                    let e = fault.error(provider, op).with_item(folder, &id);
                    if fault.after_call {
                        replacements.insert(id.clone(), e);
                        forward.push(id);
                    } else {
                        failed_before.push((id, Err(e)));
                    }
                }
            }
        }
        let rest = if forward.is_empty() {
            stream::empty().boxed()
        } else {
            self.inner
                .fetch(folder, forward)
                .map(move |(id, r)| match replacements.remove(&id) {
                    Some(e) => (id, Err(e)),
                    None => (id, r),
                })
                .boxed()
        };
        stream::once(async move {
            if let Some(delay) = longest {
                tokio::time::sleep(delay).await;
            }
            stream::iter(failed_before)
        })
        .flatten()
        .chain(rest)
        .boxed()
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: Destination> Destination for Faulty<S> {
    async fn ensure_folder(
        &self,
        path: &FolderPath,
        role: Option<SpecialUse>,
    ) -> Result<EnsuredFolder> {
        let provider = scheme(&*self.inner);
        let call = self.inner.ensure_folder(path, role);
        self.guard(provider, Operation::EnsureFolder, None, call)
            .await
            .map_err(|e| match e.context("folder") {
                Some(_) => e,
                None => e.with_context("folder", path),
            })
    }

    async fn append(
        &self,
        folder: &FolderId,
        messages: Vec<RawMessage>,
    ) -> Result<Vec<Result<Appended>>> {
        let provider = scheme(&*self.inner);
        let call = self.append_items(folder, messages);
        self.guard(provider, Operation::Append, Some(folder), call)
            .await
    }

    async fn update_flags(
        &self,
        folder: &FolderId,
        id: &MessageId,
        change: &FlagChange,
    ) -> Result<()> {
        let provider = scheme(&*self.inner);
        let call = self.inner.update_flags(folder, id, change);
        self.guard(provider, Operation::UpdateFlags, Some(folder), call)
            .await
            .map_err(|e| e.with_item(folder, id))
    }

    async fn find_existing(&self, folder: &FolderId, key: &DedupeKey) -> Result<Vec<ExistingCopy>> {
        let provider = scheme(&*self.inner);
        let call = self.inner.find_existing(folder, key);
        self.guard(provider, Operation::FindExisting, Some(folder), call)
            .await
    }

    async fn find_existing_many(
        &self,
        folder: &FolderId,
        keys: &[DedupeKey],
    ) -> Result<Vec<Vec<ExistingCopy>>> {
        let provider = scheme(&*self.inner);
        let call = self.inner.find_existing_many(folder, keys);
        self.guard(provider, Operation::FindExisting, Some(folder), call)
            .await
    }

    async fn delete(&self, folder: &FolderId, ids: &[MessageId]) -> Result<()> {
        let provider = scheme(&*self.inner);
        let call = self.inner.delete(folder, ids);
        self.guard(provider, Operation::Delete, Some(folder), call)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn state(trigger: Trigger, seed: u64) -> Faulty<MemoryStore> {
        FaultLayer::new()
            .with_seed(seed)
            .fail_calls(
                Operation::ListFolders,
                trigger,
                Fault::permanent(ErrorKind::Unavailable),
            )
            .layer(MemoryStore::new("t"))
    }

    fn pattern(f: &Faulty<MemoryStore>, n: usize) -> Vec<bool> {
        (0..n)
            .map(|_| f.state.pick(Operation::ListFolders, Scope::Call).is_some())
            .collect()
    }

    #[test]
    fn first_and_every_nth_follow_the_counter() {
        assert_eq!(
            pattern(&state(Trigger::first(2), 0), 5),
            [true, true, false, false, false]
        );
        assert_eq!(
            pattern(&state(Trigger::every(3), 0), 7),
            [false, false, true, false, false, true, false]
        );
        assert_eq!(pattern(&state(Trigger::every(0), 0), 3), [false; 3]);
        let f = state(Trigger::always(), 0);
        assert_eq!(pattern(&f, 4), [true; 4]);
        assert_eq!(f.injected(), 4);
    }

    #[test]
    fn probability_is_reproducible_from_the_seed() {
        let a = pattern(&state(Trigger::probability(0.5), 11), 64);
        let b = pattern(&state(Trigger::probability(0.5), 11), 64);
        assert_eq!(a, b);
        let hits = a.iter().filter(|x| **x).count();
        assert!(hits > 0 && hits < 64, "{hits}");
        assert_eq!(
            pattern(&state(Trigger::probability(f64::NAN), 1), 8),
            [false; 8]
        );
        assert_eq!(pattern(&state(Trigger::probability(2.0), 1), 8), [true; 8]);
    }

    #[tokio::test]
    async fn after_call_takes_effect_but_reports_failure() {
        let store = MemoryStore::new("t");
        let flaky = FaultLayer::new()
            .fail_calls(
                Operation::EnsureFolder,
                Trigger::first(1),
                Fault::permanent(ErrorKind::Unavailable).after_call(),
            )
            .layer(store.clone());
        let err = flaky
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(err.context("folder"), Some("INBOX"));
        assert!(!err.is_temporary());
        // The folder was created all the same.
        let again = store
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap();
        assert!(!again.created);
    }
    #[tokio::test(start_paused = true)]
    async fn delay_simulates_a_slow_timeout() {
        let flaky = FaultLayer::new()
            .fail_calls(
                Operation::ListFolders,
                Trigger::first(1),
                Fault::temporary(ErrorKind::Unavailable).with_delay(Duration::from_secs(30)),
            )
            .layer(MemoryStore::new("t"));
        let started = tokio::time::Instant::now();
        let err = Provider::list_folders(&flaky).await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_secs(30));
        assert!(err.is_temporary());
        assert_eq!(err.message(), "injected fault");
        assert_eq!(err.provider(), "memory");
    }

    #[tokio::test]
    async fn fetch_items_fail_before_or_after_the_provider_sees_them() {
        let store = MemoryStore::new("t");
        let folder = store
            .ensure_folder(&FolderPath::inbox(), None)
            .await
            .unwrap()
            .id;
        let msgs = (0..4)
            .map(|i| {
                RawMessage::new(
                    crate::MessageMeta::new(MessageId::new(format!("m{i}")), folder.clone()),
                    bytes::Bytes::from(format!("Subject: {i}\r\n\r\n")),
                )
            })
            .collect();
        let ids: Vec<MessageId> = store
            .append(&folder, msgs)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap().id.unwrap())
            .collect();
        let flaky = FaultLayer::new()
            .fail_items(
                Operation::Fetch,
                Trigger::first(1),
                Fault::permanent(ErrorKind::InvalidMessage),
            )
            .fail_items(
                Operation::Fetch,
                Trigger::every(4),
                Fault::temporary(ErrorKind::Unavailable).after_call(),
            )
            .layer(store);
        let items: Vec<_> = Source::fetch(&flaky, &folder, ids.clone()).collect().await;
        assert_eq!(items.len(), 4);
        let by_id = |id: &MessageId| &items.iter().find(|(i, _)| i == id).unwrap().1;
        let first = by_id(&ids[0]).as_ref().unwrap_err();
        assert_eq!(first.kind(), ErrorKind::InvalidMessage);
        assert_eq!(first.context("message"), Some(ids[0].as_str()));
        assert!(by_id(&ids[1]).is_ok());
        assert!(by_id(&ids[2]).is_ok());
        assert_eq!(
            by_id(&ids[3]).as_ref().unwrap_err().kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(flaky.injected(), 2);
    }

    #[tokio::test]
    async fn failed_list_changes_call_yields_one_error_naming_the_folder() {
        let flaky = FaultLayer::new()
            .fail_calls(
                Operation::ListChanges,
                Trigger::always(),
                Fault::permanent(ErrorKind::PermissionDenied).after_call(),
            )
            .layer(MemoryStore::new("t"));
        let items: Vec<_> = Source::list_changes(&flaky, &FolderId::new("Archive"), None)
            .collect()
            .await;
        assert_eq!(items.len(), 1);
        let e = items[0].as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(e.context("folder"), Some("Archive"));
        assert_eq!(e.operation(), Operation::ListChanges);
    }
}
