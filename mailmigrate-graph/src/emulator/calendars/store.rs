//! The calendars and events one mailbox holds: series masters with their exceptions and
//! cancelled occurrences, and the invitations Graph would have sent \[G-EVT\]\[G-EVPR\].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};

use crate::calendars::times::{instant_of_graph, local_of, parse_local};
use crate::emulator::errors::GraphError;
use crate::emulator::ids::{self, FOLDER_PREFIX, IMMUTABLE_PREFIX};
use crate::emulator::store::now;
use crate::recurrence::{fmt_date, Recurrence};

/// A calendar. Containers have stable ids \[G-IMM\].
#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) is_default: bool,
}

/// A series master or a single event.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(super) id: String,
    pub(super) calendar_id: String,
    pub(super) props: Map<String, Value>,
    pub(super) extended: Vec<(String, String)>,
    pub(super) ical_uid: String,
    pub(super) created: OffsetDateTime,
    pub(super) modified: OffsetDateTime,
    pub(super) change_n: u64,
    /// Patched occurrences by original local date (`20250113`).
    pub(super) exceptions: BTreeMap<String, Map<String, Value>>,
    /// Deleted occurrences by original local date.
    pub(super) cancelled: BTreeSet<String>,
}

impl Event {
    pub(super) fn change_key(&self) -> String {
        format!("DwAAABYAAAA{:08x}{}", self.change_n, &self.id[6..14])
    }

    pub(super) fn recurrence(&self) -> Option<Recurrence> {
        serde_json::from_value(self.props.get("recurrence")?.clone()).ok()
    }

    pub(super) fn zone(&self) -> String {
        self.props
            .get("start")
            .and_then(|s| s.get("timeZone"))
            .and_then(Value::as_str)
            .unwrap_or("UTC")
            .to_owned()
    }

    /// The start and end as UTC instants.
    pub(super) fn span(&self) -> Option<(PrimitiveDateTime, PrimitiveDateTime)> {
        let s = instant_of_graph(self.props.get("start")?)
            .or_else(|| bare(self.props.get("start")?))?;
        let e = self
            .props
            .get("end")
            .and_then(|e| instant_of_graph(e).or_else(|| bare(e)))
            .unwrap_or(s);
        Some((s, e))
    }

    pub(super) fn touch(&mut self) {
        self.change_n += 1;
        self.modified = now();
    }
}

/// A time in a zone outside the table: taken as UTC.
pub(super) fn bare(v: &Value) -> Option<PrimitiveDateTime> {
    parse_local(v.get("dateTime")?.as_str()?)
}

pub(super) fn date_key(d: Date) -> String {
    fmt_date(d).replace('-', "")
}

/// A mailbox's calendars, events and the invitations they would have sent.
#[derive(Debug)]
pub(crate) struct Diary {
    pub(super) calendars: Vec<Calendar>,
    pub(super) events: Vec<Event>,
    pub(super) invitations: u64,
}

impl Diary {
    /// The default `Calendar`, empty.
    pub(crate) fn new() -> Self {
        Self {
            calendars: vec![Calendar {
                id: ids::new_id(FOLDER_PREFIX),
                name: "Calendar".into(),
                is_default: true,
            }],
            events: Vec::new(),
            invitations: 0,
        }
    }

    pub(super) fn calendar_index(&self, key: &str) -> Result<usize, GraphError> {
        match self.calendars.iter().position(|c| c.id == key) {
            Some(i) => Ok(i),
            None if ids::is_well_formed(key, FOLDER_PREFIX) => Err(GraphError::item_not_found()),
            None => Err(GraphError::malformed_id()),
        }
    }

    /// An event by id, or an occurrence (`{master}_{date}`) as its master and date.
    pub(super) fn find(&self, id: &str) -> Result<(usize, Option<String>), GraphError> {
        if let Some(i) = self.events.iter().position(|e| e.id == id) {
            return Ok((i, None));
        }
        if let Some((master, date)) = id.rsplit_once('_') {
            if let Some(i) = self.events.iter().position(|e| e.id == master) {
                let e = &self.events[i];
                if !e.cancelled.contains(date)
                    && occurrence_dates(e).iter().any(|d| date_key(*d) == date)
                {
                    return Ok((i, Some(date.to_owned())));
                }
                return Err(GraphError::item_not_found());
            }
        }
        if ids::is_well_formed(id.split('_').next().unwrap_or(id), IMMUTABLE_PREFIX) {
            Err(GraphError::item_not_found())
        } else {
            Err(GraphError::malformed_id())
        }
    }

    pub(super) fn calendar_by_name(&mut self, name: &str) -> String {
        if let Some(c) = self
            .calendars
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name) || (name.is_empty() && c.is_default))
        {
            return c.id.clone();
        }
        let id = ids::new_id(FOLDER_PREFIX);
        self.calendars.push(Calendar {
            id: id.clone(),
            name: name.to_owned(),
            is_default: false,
        });
        id
    }
}

/// The local dates of a series' occurrences (a single event: none), up to 100 years.
pub(super) fn occurrence_dates(e: &Event) -> Vec<Date> {
    let (Some(r), Some((start, _))) = (e.recurrence(), e.span()) else {
        return Vec::new();
    };
    let local = local_of(start, &e.zone());
    r.occurrences(local, local.date() + Duration::days(36_500))
        .into_iter()
        .map(|t| t.date())
        .collect()
}
