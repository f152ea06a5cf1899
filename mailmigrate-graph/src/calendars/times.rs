//! Event times between core's [`EventTime`] and Graph's `dateTimeTimeZone` \[G-EVT\].
//!
//! Writing, a zoned time goes as its local time with its `TZID` as given (Graph takes IANA
//! and Windows names), a UTC or floating time as UTC, an all-day date as midnight UTC.
//! Graph answers in UTC (no `Prefer: outlook.timezone` is sent) and tells the zone the
//! event was made in (`originalStartTimeZone`): reading converts back with the zone table
//! of [`timezones`](crate::timezones). An instant in a zone outside the table stays UTC.

use mailmigrate_core::pim::EventTime;
use serde_json::{json, Value};
use time::{Date, Duration, PrimitiveDateTime, Time};

use crate::timezones;

/// `2025-01-06T09:00:00` (Graph's `dateTime`, without fractions).
pub(crate) fn fmt_local(t: PrimitiveDateTime) -> String {
    format!(
        "{}T{:02}:{:02}:{:02}",
        crate::recurrence::fmt_date(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Graph's `dateTime` (`2025-01-06T09:00:00.0000000`, fractions and a `Z` allowed).
pub(crate) fn parse_local(s: &str) -> Option<PrimitiveDateTime> {
    let date = crate::recurrence::parse_date(s)?;
    let t = s.get(11..19)?;
    let (h, m, sec) = (
        t.get(..2)?.parse().ok()?,
        t.get(3..5)?.parse().ok()?,
        t.get(6..8)?.parse().ok()?,
    );
    Some(PrimitiveDateTime::new(
        date,
        Time::from_hms(h, m, sec).ok()?,
    ))
}

fn midnight(d: Date) -> PrimitiveDateTime {
    PrimitiveDateTime::new(d, Time::MIDNIGHT)
}

/// The `dateTimeTimeZone` to write for `t`.
pub(crate) fn to_graph(t: &EventTime) -> Value {
    let (local, zone) = match t {
        EventTime::Date(d) => (midnight(*d), "UTC"),
        EventTime::Floating(l) => (*l, "UTC"),
        EventTime::Utc(u) => {
            let u = u.to_offset(time::UtcOffset::UTC);
            (PrimitiveDateTime::new(u.date(), u.time()), "UTC")
        }
        EventTime::Zoned { tzid, local } => (*local, tzid.as_str()),
    };
    json!({"dateTime": fmt_local(local), "timeZone": zone})
}

/// The UTC instant of a wall-clock time in `zone` (a zone outside the table: `None`).
pub(crate) fn utc_of(local: PrimitiveDateTime, zone: &str) -> Option<PrimitiveDateTime> {
    timezones::find(zone).map(|z| z.to_utc(local))
}

/// The wall-clock time in `zone` of a UTC instant (a zone outside the table: the UTC
/// time itself, as the emulator treats such zones).
pub(crate) fn local_of(utc: PrimitiveDateTime, zone: &str) -> PrimitiveDateTime {
    timezones::find(zone).map_or(utc, |z| z.local_of_utc(utc))
}

/// The UTC instant a `dateTimeTimeZone` names (`None` for a zone outside the table).
pub(crate) fn instant_of_graph(v: &Value) -> Option<PrimitiveDateTime> {
    let local = parse_local(v.get("dateTime")?.as_str()?)?;
    let zone = v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
    utc_of(local, zone)
}

/// The UTC instant of a core time, as this crate writes it (`None` for a zone outside the
/// table).
pub(crate) fn instant_of(t: &EventTime) -> Option<PrimitiveDateTime> {
    instant_of_graph(&to_graph(t))
}

/// The core time of a `dateTimeTimeZone` Graph returned, for an event made in `made_in`
/// (`originalStartTimeZone`): local to that zone (named by IANA where the table knows it),
/// a date for an all-day event, UTC otherwise.
pub(crate) fn from_graph(v: &Value, made_in: Option<&str>, all_day: bool) -> Option<EventTime> {
    let local = parse_local(v.get("dateTime")?.as_str()?)?;
    let answered = v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
    let utc = utc_of(local, answered);
    let zone = made_in.filter(|z| !z.is_empty()).unwrap_or(answered);
    let known = timezones::find(zone);
    if all_day {
        let d = match (utc, known) {
            (Some(u), Some(z)) => z.local_of_utc(u).date(),
            _ => local.date(),
        };
        return Some(EventTime::Date(d));
    }
    Some(match (utc, known) {
        (Some(u), Some(z)) if z.iana == "UTC" => EventTime::Utc(u.assume_utc()),
        (Some(u), Some(z)) => EventTime::Zoned {
            tzid: timezones::iana_name(zone),
            local: z.local_of_utc(u),
        },
        (Some(u), None) => EventTime::Utc(u.assume_utc()),
        (None, _) => EventTime::Zoned {
            tzid: answered.to_owned(),
            local,
        },
    })
}

/// The UTC instant `utc` in the form of `model` (a `RECURRENCE-ID` or `EXDATE` like the
/// series' `DTSTART`); `zone` is the series' Graph zone, for all-day dates.
pub(crate) fn like(utc: PrimitiveDateTime, model: &EventTime, zone: &str) -> EventTime {
    match model {
        EventTime::Date(_) => EventTime::Date(local_of(utc, zone).date()),
        EventTime::Floating(_) => EventTime::Floating(utc),
        EventTime::Utc(_) => EventTime::Utc(utc.assume_utc()),
        EventTime::Zoned { tzid, .. } => match timezones::find(tzid) {
            Some(z) => EventTime::Zoned {
                tzid: tzid.clone(),
                local: z.local_of_utc(utc),
            },
            None => EventTime::Utc(utc.assume_utc()),
        },
    }
}

/// An RFC 5545 duration (`PT1H30M`, `-P1D`, `P2W`) in seconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let rest = rest.strip_prefix('P')?;
    let (mut total, mut n, mut in_time) = (0i64, String::new(), false);
    for c in rest.chars() {
        match c {
            '0'..='9' => n.push(c),
            'T' => in_time = true,
            _ => {
                let v: i64 = n.parse().ok()?;
                n.clear();
                total += v * match (c, in_time) {
                    ('W', false) => 604_800,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
            }
        }
    }
    n.is_empty().then_some(sign * total)
}

/// The end of an event: `DTEND`, else `DTSTART` plus `DURATION`, else the start (a day
/// later for an all-day event, RFC 5545 §3.6.1).
pub(crate) fn end_of(
    start: &EventTime,
    end: Option<&EventTime>,
    duration: Option<&str>,
) -> EventTime {
    if let Some(e) = end {
        return e.clone();
    }
    let secs = duration.and_then(parse_duration);
    let plus = |d: Duration| match start {
        EventTime::Date(x) => EventTime::Date(*x + Duration::days(d.whole_days().max(1))),
        EventTime::Floating(l) => EventTime::Floating(*l + d),
        EventTime::Utc(u) => EventTime::Utc(*u + d),
        EventTime::Zoned { tzid, local } => EventTime::Zoned {
            tzid: tzid.clone(),
            local: *local + d,
        },
    };
    match (secs, start) {
        (Some(s), _) => plus(Duration::seconds(s)),
        (None, EventTime::Date(_)) => plus(Duration::days(1)),
        (None, _) => start.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn graph_answers_in_utc_read_back_in_the_zone_made_in() {
        let berlin = EventTime::parse("20250106T090000", Some("Europe/Berlin"), false).unwrap();
        assert_eq!(
            to_graph(&berlin),
            json!({"dateTime": "2025-01-06T09:00:00", "timeZone": "Europe/Berlin"})
        );
        let answered = json!({"dateTime": "2025-01-06T08:00:00.0000000", "timeZone": "UTC"});
        assert_eq!(
            from_graph(&answered, Some("W. Europe Standard Time"), false),
            Some(berlin.clone())
        );
        assert_eq!(instant_of(&berlin), Some(datetime!(2025-01-06 08:00)));
        let day = json!({"dateTime": "2025-01-06T00:00:00.0000000", "timeZone": "UTC"});
        assert!(from_graph(&day, Some("UTC"), true).unwrap().is_all_day());
        let odd = json!({"dateTime": "2025-01-06T08:00:00", "timeZone": "UTC"});
        assert!(matches!(
            from_graph(&odd, Some("Mars Standard Time"), false),
            Some(EventTime::Utc(_))
        ));
        assert_eq!(
            like(datetime!(2025-01-13 08:00), &berlin, "Europe/Berlin").value(),
            "20250113T090000"
        );
    }

    #[test]
    fn durations_and_ends() {
        assert_eq!(parse_duration("-PT15M"), Some(-900));
        assert_eq!(parse_duration("P1DT1H"), Some(90_000));
        assert_eq!(parse_duration("P2W"), Some(1_209_600));
        assert_eq!(parse_duration("15M"), None);
        let d = EventTime::parse("20250106", None, true).unwrap();
        assert_eq!(end_of(&d, None, None).value(), "20250107");
        let t = EventTime::parse("20250106T090000Z", None, false).unwrap();
        assert_eq!(end_of(&t, None, Some("PT1H")).value(), "20250106T100000Z");
    }
}
