//! Calendars \[G-EVT\]: the default one (`/calendar`) and the others (`/calendars`), by
//! name; calendars created by name.
//!
//! A calendar's collection id is its Graph id behind `calendar:`, so the mailbox's one
//! PIM store tells calendars from contact folders by id alone.

use futures::TryStreamExt;
use mailmigrate_core::pim::{Collection, CollectionId, PimKind};
use mailmigrate_core::{Error, ErrorKind, Result};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::Call;
use crate::mail::Graph;
use crate::PROVIDER;

/// What a calendar's collection id starts with.
const PREFIX: &str = "calendar:";

/// Whether `c` names a calendar (not a contact folder).
pub(crate) fn is_calendar(c: &CollectionId) -> bool {
    c.as_str().starts_with(PREFIX)
}

/// The Graph id of calendar collection `c`.
pub(crate) fn graph_id(c: &CollectionId) -> &str {
    c.as_str().strip_prefix(PREFIX).unwrap_or(c.as_str())
}

/// A calendar as Graph lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GraphCalendar {
    id: String,
    name: String,
    #[serde(default)]
    hex_color: Option<String>,
}

fn collection(c: &GraphCalendar) -> Collection {
    let color = c
        .hex_color
        .clone()
        .filter(|h| h.len() == 7 && h.starts_with('#'));
    Collection::new(
        CollectionId::new(format!("{PREFIX}{}", c.id)),
        PimKind::Events,
        &c.name,
    )
    .with_color(color)
}

const SELECT: &str = "$select=id,name,hexColor";

/// The default calendar, read once.
async fn default_calendar(g: &Graph) -> Result<&GraphCalendar> {
    g.calendars()
        .default
        .get_or_try_init(|| async {
            let call = Call::get(
                g.client().user_url(&format!("/calendar?{SELECT}")),
                "GET calendar",
            );
            g.client().json::<GraphCalendar>(&call).await
        })
        .await
}

/// Every calendar, every page.
async fn all(g: &Graph) -> Result<Vec<GraphCalendar>> {
    let url = g
        .client()
        .user_url(&format!("/calendars?{SELECT}&$top=100"));
    g.client()
        .items(Call::get(url, "GET calendars"))
        .try_collect()
        .await
}

/// Every calendar, the default one first.
pub(crate) async fn list(g: &Graph) -> Result<Vec<Collection>> {
    let default = default_calendar(g).await?;
    let mut out = vec![collection(default)];
    out.extend(
        all(g)
            .await?
            .iter()
            .filter(|c| c.id != default.id)
            .map(collection),
    );
    Ok(out)
}

async fn find(g: &Graph, name: &str) -> Result<Option<GraphCalendar>> {
    Ok(all(g)
        .await?
        .into_iter()
        .find(|c| c.name.eq_ignore_ascii_case(name)))
}

/// The calendar named `like.name` (names compare without regard to case, as Exchange's
/// do), created where missing; a calendar made meanwhile (409) or by a create whose answer
/// was lost is found instead.
pub(crate) async fn ensure(g: &Graph, like: &Collection) -> Result<Collection> {
    let name = like.name.trim();
    if name.is_empty() {
        return Err(
            Error::new(ErrorKind::InvalidMessage, "a calendar needs a name")
                .with_provider(PROVIDER),
        );
    }
    let default = default_calendar(g).await?;
    if default.name.eq_ignore_ascii_case(name) {
        return Ok(collection(default));
    }
    if let Some(c) = find(g, name).await? {
        return Ok(collection(&c));
    }
    let call = Call::json(
        Method::POST,
        g.client().user_url("/calendars"),
        &json!({ "name": name }),
        format!("create calendar {name:?}"),
    );
    let made: GraphCalendar = crate::pim::create_or_find(g, &call, || find(g, name)).await?;
    Ok(collection(&made))
}
