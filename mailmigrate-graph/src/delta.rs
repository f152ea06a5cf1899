//! Delta listings ([G-DQ]): a folder's changes page by page to the `@odata.deltaLink`,
//! shared by messages ([G-MDELTA]) and contacts ([G-CDELTA]).

use std::collections::VecDeque;
use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use mailmigrate_core::{Error, ErrorKind, Result};
use serde::de::DeserializeOwned;

use crate::client::{Call, Client, Page};
use crate::error::is_expired_sync_state;
use crate::PROVIDER;

/// One event of a delta listing.
#[derive(Debug)]
pub(crate) enum DeltaEvent<T> {
    /// The token had expired: what follows is a full listing ([G-DQ]).
    Reset,
    /// An entry of a page (an item, or an `@removed` one).
    Item(T),
    /// The last event: the `@odata.deltaLink` to resume from.
    Done(String),
}

/// What to list.
#[derive(Debug, Clone)]
pub(crate) struct DeltaQuery {
    /// The first page of a full listing (with its `$select`/`$expand`), also where an
    /// expired token starts again.
    pub(crate) full: String,
    /// A delta link from an earlier listing.
    pub(crate) since: Option<String>,
    /// What the listing is, for errors (`delta of folder X`).
    pub(crate) what: String,
    /// `Prefer: odata.maxpagesize`, asked for on every call ([G-MDELTA]).
    pub(crate) page_size: u32,
}

struct Delta<T> {
    client: Arc<Client>,
    query: DeltaQuery,
    next: Option<String>,
    queue: VecDeque<DeltaEvent<T>>,
    /// Nothing has been yielded yet: an expired token may still turn into a full listing.
    fresh: bool,
    done: bool,
}

/// Streams the events of a delta listing; it ends after [`DeltaEvent::Done`] or the
/// first error. Links are followed as given: they are opaque ([G-DQ]).
pub(crate) fn delta<T>(
    client: Arc<Client>,
    query: DeltaQuery,
) -> BoxStream<'static, Result<DeltaEvent<T>>>
where
    T: DeserializeOwned + Send + 'static,
{
    let next = Some(query.since.clone().unwrap_or_else(|| query.full.clone()));
    let state = Delta {
        client,
        query,
        next,
        queue: VecDeque::new(),
        fresh: true,
        done: false,
    };
    stream::unfold(state, Delta::step).boxed()
}

impl<T: DeserializeOwned + Send + 'static> Delta<T> {
    async fn step(mut self) -> Option<(Result<DeltaEvent<T>>, Self)> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                self.fresh = false;
                return Some((Ok(e), self));
            }
            if self.done {
                return None;
            }
            let url = self.next.take()?;
            let call = Call::get(url, self.query.what.clone()).with_page_size(self.query.page_size);
            let answer = match self.client.send(&call).await {
                Ok(a) => a,
                Err(e) => return self.fail(e),
            };
            if !answer.status.is_success() {
                if self.fresh && is_expired_sync_state(answer.status, &answer.body) {
                    // [G-DQ]: an expired token means a full listing; the engine matches what
                    // it knew by content, so nothing is copied twice.
                    tracing::info!(what = %self.query.what, "delta token expired; listing anew");
                    self.queue.push_back(DeltaEvent::Reset);
                    self.next = Some(self.query.full.clone());
                    continue;
                }
                let e = answer.error(&call);
                return self.fail(e);
            }
            let page: Page<T> = match answer.json(&call.what) {
                Ok(p) => p,
                Err(e) => return self.fail(e),
            };
            self.queue
                .extend(page.value.into_iter().map(DeltaEvent::Item));
            match (page.next_link, page.delta_link) {
                (Some(next), _) => self.next = Some(next),
                (None, Some(delta)) => {
                    self.queue.push_back(DeltaEvent::Done(delta));
                    self.done = true;
                }
                (None, None) => {
                    let e = Error::new(
                        ErrorKind::Unexpected,
                        format!(
                            "{}: a page with neither @odata.nextLink nor @odata.deltaLink",
                            call.what
                        ),
                    )
                    .with_provider(PROVIDER)
                    .temporary();
                    return self.fail(e);
                }
            }
        }
    }

    fn fail(mut self, e: Error) -> Option<(Result<DeltaEvent<T>>, Self)> {
        self.done = true;
        self.queue.clear();
        Some((Err(e), self))
    }
}
