//! Layers: retry, throttle, concurrency limit, metrics and fault injection, built on the
//! [`Source`] and [`Destination`] traits rather than inside any backend.
//!
//! A layer is a factory ([`Layer`]) that wraps a provider in a wrapper type implementing the
//! same traits: `Retry<S>` is a [`Source`] when `S` is one and a [`Destination`] when `S` is
//! one, forwarding every method. Capabilities pass through unchanged: `info()` always returns
//! the innermost provider's [`ProviderInfo`](crate::ProviderInfo).
//!
//! # Composing
//! [`Stack`] applies layers innermost first: **the last layer added is the outermost**. This
//! is the reverse of tower's `ServiceBuilder`, where the first layer added is the outermost.
//! The recommended order, read from the outside in, is
//! metrics → retry → concurrency limit → throttle → backend, so that metrics count logical
//! operations, every attempt is paced, and a retry waits for a permit:
//!
//! ```
//! use std::sync::Arc;
//! use mailmigrate_core::layer::{
//!     ConcurrencyLimitLayer, CountingObserver, MetricsLayer, Rate, RetryConfig, RetryLayer,
//!     Stack, ThrottleLayer,
//! };
//! use mailmigrate_core::store::MemoryStore;
//! use mailmigrate_core::{Operation, Source};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let observer = Arc::new(CountingObserver::default());
//! let source: Arc<dyn Source> = Stack::new(MemoryStore::new("demo"))     // innermost
//!     .layer(ThrottleLayer::new(Rate::per_second(50).with_burst(10)))
//!     .layer(ConcurrencyLimitLayer::new(4))
//!     .layer(RetryLayer::new(RetryConfig::default().with_max_retries(5)))
//!     .layer(MetricsLayer::new(Arc::clone(&observer)))                  // outermost
//!     .into_source();
//!
//! assert!(source.list_folders().await.unwrap().is_empty());
//! assert_eq!(observer.calls(Operation::ListFolders), 1);
//! assert_eq!(source.info().scheme, "memory");
//! # });
//! ```
//!
//! # Layers
//! - [`RetryLayer`] retries temporary failures with decorrelated-jitter backoff.
//! - [`ThrottleLayer`] paces calls with a token bucket.
//! - [`ConcurrencyLimitLayer`] bounds the calls and streams in flight.
//! - [`MetricsLayer`] reports every operation to an [`Observer`].
//! - [`FaultLayer`] injects failures, deterministically, to test everything above.

use std::sync::Arc;

use crate::{Destination, Provider, Source, Store};

mod attribute;
mod backoff;
mod fault;
mod limit;
mod metrics;
mod retry;
mod throttle;

pub use attribute::{AttributeLayer, Attributed};
pub use backoff::{Backoff, BackoffConfig};
pub use fault::{Fault, FaultLayer, FaultRule, Faulty, Trigger};
pub use limit::{ConcurrencyLimit, ConcurrencyLimitLayer};
pub use metrics::{CountingObserver, Metrics, MetricsLayer, Observer, OperationEvent};
pub use retry::{Retry, RetryConfig, RetryEvent, RetryLayer};
pub use throttle::{Rate, Throttle, ThrottleLayer};

/// Wraps a provider in another provider that adds behaviour around it.
///
/// Implement it for a factory type (`RetryLayer`) whose [`Output`](Layer::Output) is a
/// wrapper (`Retry<S>`) that forwards every [`Provider`], [`Source`] and [`Destination`] method.
///
/// # Examples
/// ```
/// use mailmigrate_core::layer::{Layer, Rate, ThrottleLayer};
/// use mailmigrate_core::store::MemoryStore;
/// use mailmigrate_core::Provider;
///
/// let throttled = ThrottleLayer::new(Rate::per_second(5)).layer(MemoryStore::new("demo"));
/// assert_eq!(throttled.info().scheme, "memory");
/// ```
pub trait Layer<S> {
    /// The wrapper this layer produces.
    type Output;

    /// Wraps `inner`.
    fn layer(&self, inner: S) -> Self::Output;
}

impl<S, L: Layer<S> + ?Sized> Layer<S> for &L {
    type Output = L::Output;

    fn layer(&self, inner: S) -> Self::Output {
        (**self).layer(inner)
    }
}

impl<S, L: Layer<S> + ?Sized> Layer<S> for Arc<L> {
    type Output = L::Output;

    fn layer(&self, inner: S) -> Self::Output {
        (**self).layer(inner)
    }
}

/// Builds a provider from the inside out: each [`layer`](Stack::layer) call wraps what was
/// built so far.
///
/// The last layer added is the outermost, as in OpenDAL; tower's `ServiceBuilder` is the
/// reverse. See the [module docs](self) for the recommended order.
///
/// # Examples
/// ```
/// use mailmigrate_core::layer::{Retry, RetryConfig, RetryLayer, Stack, Throttle, Rate, ThrottleLayer};
/// use mailmigrate_core::store::MemoryStore;
///
/// let store: Retry<Throttle<MemoryStore>> = Stack::new(MemoryStore::new("demo"))
///     .layer(ThrottleLayer::new(Rate::per_second(8)))
///     .layer(RetryLayer::new(RetryConfig::default()))
///     .into_inner();
/// # let _ = store;
/// ```
#[derive(Debug, Clone)]
pub struct Stack<S> {
    inner: S,
}

impl<S> Stack<S> {
    /// Starts a stack around the innermost provider.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// Wraps the stack built so far in `layer`, which becomes the new outermost layer.
    #[must_use]
    pub fn layer<L: Layer<S>>(self, layer: L) -> Stack<L::Output> {
        Stack {
            inner: layer.layer(self.inner),
        }
    }

    /// The outermost provider.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Returns the outermost provider.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Source> Stack<S> {
    /// Returns the stack as a shared [`Source`] trait object.
    pub fn into_source(self) -> Arc<dyn Source> {
        Arc::new(self.inner)
    }
}

impl<S: Destination> Stack<S> {
    /// Returns the stack as a shared [`Destination`] trait object.
    pub fn into_destination(self) -> Arc<dyn Destination> {
        Arc::new(self.inner)
    }
}

impl<S: Source + Destination> Stack<S> {
    /// Returns the stack as a shared [`Store`] trait object, usable as both a source and a
    /// destination.
    pub fn into_store(self) -> Arc<dyn Store> {
        Arc::new(self.inner)
    }
}

/// The provider scheme, for errors a layer creates itself.
fn scheme<S: Provider + ?Sized>(s: &S) -> &'static str {
    s.info().scheme
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn last_layer_added_is_outermost() {
        let stack = Stack::new(MemoryStore::new("t"))
            .layer(ThrottleLayer::new(Rate::per_second(1)))
            .layer(RetryLayer::new(RetryConfig::default()));
        // The type spells the order: retry outside, throttle inside.
        let outer: &Retry<Throttle<MemoryStore>> = stack.inner();
        let inner: &Throttle<MemoryStore> = outer.inner();
        assert_eq!(Provider::info(inner).account, "t");
    }

    #[test]
    fn layers_by_reference_and_arc_produce_the_same_wrapper() {
        let layer = Arc::new(ConcurrencyLimitLayer::new(2));
        let a = Stack::new(MemoryStore::new("a"))
            .layer(&*layer)
            .into_inner();
        let b = Stack::new(MemoryStore::new("b"))
            .layer(Arc::clone(&layer))
            .into_inner();
        assert_eq!(a.max_concurrency(), b.max_concurrency());
    }

    #[test]
    fn dyn_helpers_keep_the_inner_info() {
        let store = Stack::new(MemoryStore::new("acct"))
            .layer(RetryLayer::new(RetryConfig::default()))
            .into_store();
        assert_eq!(Provider::info(&*store).account, "acct");
        let source = Stack::new(MemoryStore::new("s")).into_source();
        let destination = Stack::new(MemoryStore::new("d")).into_destination();
        assert_eq!(source.info().account, "s");
        assert_eq!(destination.info().account, "d");
        assert_eq!(destination.capabilities(), MemoryStore::capabilities());
    }
}
