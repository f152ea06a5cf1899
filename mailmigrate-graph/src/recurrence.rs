//! Graph's `patternedRecurrence` \[G-EVT\]: the patterns and ranges a series can have, the
//! `RRULE`s (RFC 5545 §3.3.10) they are, and the occurrences they make.
//!
//! Shared by the calendar store (rules to patterns and back, and the occurrences a read
//! expects, to tell cancelled ones) and the emulator (`/instances`). A rule with no Graph
//! pattern (hourly, several `BYMONTHDAY`s, `BYHOUR`…) is refused by [`Recurrence::from_rule`]
//! with the part Graph cannot hold.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, PrimitiveDateTime, Weekday};

/// The most occurrences an expansion makes (a guard against a rule without end).
const MAX_OCCURRENCES: usize = 5000;

/// `patternedRecurrence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Recurrence {
    pub(crate) pattern: Pattern,
    pub(crate) range: Range,
}

/// `recurrencePattern`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pattern {
    /// `daily`, `weekly`, `absoluteMonthly`, `relativeMonthly`, `absoluteYearly`,
    /// `relativeYearly`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default = "one")]
    pub(crate) interval: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) days_of_week: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) day_of_month: u8,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) month: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) first_day_of_week: Option<String>,
    /// `first`, `second`, `third`, `fourth`, `last` (relative patterns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) index: Option<String>,
}

/// `recurrenceRange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Range {
    /// `endDate`, `noEnd`, `numbered`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) start_date: String,
    /// Graph sends `0001-01-01` when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) end_date: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero32")]
    pub(crate) number_of_occurrences: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) recurrence_time_zone: Option<String>,
}

fn one() -> u32 {
    1
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if"
)]
fn is_zero(n: &u8) -> bool {
    *n == 0
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if"
)]
fn is_zero32(n: &u32) -> bool {
    *n == 0
}

const DAYS: [(&str, &str, Weekday); 7] = [
    ("MO", "monday", Weekday::Monday),
    ("TU", "tuesday", Weekday::Tuesday),
    ("WE", "wednesday", Weekday::Wednesday),
    ("TH", "thursday", Weekday::Thursday),
    ("FR", "friday", Weekday::Friday),
    ("SA", "saturday", Weekday::Saturday),
    ("SU", "sunday", Weekday::Sunday),
];

const INDEXES: [(&str, i8); 5] = [
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("last", -1),
];

fn day_of_code(code: &str) -> Option<(&'static str, Weekday)> {
    DAYS.iter()
        .find(|(c, _, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, n, w)| (*n, *w))
}

fn weekday_of_name(name: &str) -> Option<Weekday> {
    DAYS.iter()
        .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, _, w)| *w)
}

fn code_of_name(name: &str) -> Option<&'static str> {
    DAYS.iter()
        .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
        .map(|(c, _, _)| *c)
}

fn name_of_weekday(w: Weekday) -> &'static str {
    DAYS.iter().find(|d| d.2 == w).map_or("monday", |d| d.1)
}

/// `2025-01-06` → a date.
pub(crate) fn parse_date(s: &str) -> Option<Date> {
    let s = s.get(..10)?;
    let (y, m, d) = (s.get(..4)?, s.get(5..7)?, s.get(8..10)?);
    Date::from_calendar_date(
        y.parse().ok()?,
        Month::try_from(m.parse::<u8>().ok()?).ok()?,
        d.parse().ok()?,
    )
    .ok()
}

/// A date as Graph writes it (`2025-01-06`).
pub(crate) fn fmt_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// An `UNTIL` value's date and time (`20250310`, `20250310T080000Z`).
fn parse_until(v: &str) -> Option<(Date, Option<PrimitiveDateTime>)> {
    let date = parse_date(&format!(
        "{}-{}-{}",
        v.get(..4)?,
        v.get(4..6)?,
        v.get(6..8)?
    ))?;
    let time = v.get(9..15).and_then(|t| {
        let (h, m, s) = (
            t.get(..2)?.parse().ok()?,
            t.get(2..4)?.parse().ok()?,
            t.get(4..6)?.parse().ok()?,
        );
        Some(PrimitiveDateTime::new(
            date,
            time::Time::from_hms(h, m, s).ok()?,
        ))
    });
    Some((date, time))
}

/// Where a series starts: the first occurrence's local date and time, its zone (also
/// Graph's `recurrenceTimeZone`) and whether it is all-day (`UNTIL` is then a date).
pub(crate) struct Anchor {
    pub(crate) start: PrimitiveDateTime,
    pub(crate) zone: Option<String>,
    pub(crate) all_day: bool,
}

impl Anchor {
    fn zone(&self) -> Option<&'static crate::timezones::Zone> {
        self.zone.as_deref().and_then(crate::timezones::find)
    }

    /// The local time of a UTC instant (a zone outside the table: the instant itself).
    fn local_of_utc(&self, t: PrimitiveDateTime) -> PrimitiveDateTime {
        self.zone().map_or(t, |z| z.local_of_utc(t))
    }

    /// The UTC instant of a local time (a zone outside the table: the time itself).
    fn utc_of_local(&self, t: PrimitiveDateTime) -> PrimitiveDateTime {
        self.zone().map_or(t, |z| z.to_utc(t))
    }
}

impl Recurrence {
    /// The Graph pattern and range of `rule` for a series anchored at `anchor`.
    ///
    /// # Errors
    /// The part of the rule Graph has no pattern for, as text.
    pub(crate) fn from_rule(rule: &str, anchor: &Anchor) -> Result<Self, String> {
        let mut freq = None;
        let (mut interval, mut count, mut until, mut wkst) = (1, 0, None, None);
        let (mut by_day, mut by_month_day, mut by_month, mut by_set_pos) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for part in rule.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part} is not NAME=VALUE"))?;
            let list = || v.split(',').map(str::to_owned).collect::<Vec<_>>();
            let number = || {
                v.parse::<i32>()
                    .map_err(|_| format!("{k}={v} is not a number"))
            };
            match k.to_ascii_uppercase().as_str() {
                "FREQ" => freq = Some(v.to_ascii_uppercase()),
                "INTERVAL" => {
                    interval = u32::try_from(number()?).map_err(|_| format!("INTERVAL={v}"))?
                }
                "COUNT" => count = u32::try_from(number()?).map_err(|_| format!("COUNT={v}"))?,
                "UNTIL" => until = Some(v.to_owned()),
                "WKST" => wkst = Some(v.to_owned()),
                "BYDAY" => by_day = list(),
                "BYMONTHDAY" => by_month_day = list(),
                "BYMONTH" => by_month = list(),
                "BYSETPOS" => by_set_pos = list(),
                other => return Err(format!("Graph has no recurrence pattern with {other}")),
            }
        }
        let start = anchor.start.date();
        let mut pattern = Pattern {
            kind: String::new(),
            interval: interval.max(1),
            days_of_week: Vec::new(),
            day_of_month: 0,
            month: 0,
            first_day_of_week: None,
            index: None,
        };
        let single = |v: &[String], what: &str| -> Result<Option<i32>, String> {
            match v {
                [] => Ok(None),
                [one] => one.parse().map(Some).map_err(|_| format!("{what}={one}")),
                _ => Err(format!("Graph holds one {what}, not {}", v.join(","))),
            }
        };
        let plain_days = |v: &[String]| -> Result<Vec<String>, String> {
            v.iter()
                .map(|d| {
                    day_of_code(d)
                        .map(|(n, _)| n.to_owned())
                        .ok_or_else(|| format!("BYDAY={d} needs a position Graph cannot hold here"))
                })
                .collect()
        };
        // One weekday with a position (`2MO`, `-1FR`), or plain days with a `BYSETPOS`.
        let relative = |days: &[String],
                        set_pos: &[String]|
         -> Result<(Vec<String>, String), String> {
            let index_name = |n: i32| {
                INDEXES
                    .iter()
                    .find(|(_, i)| i32::from(*i) == n)
                    .map(|(s, _)| (*s).to_owned())
                    .ok_or_else(|| format!("Graph has no position {n} (first to fourth, or last)"))
            };
            if let [one] = days {
                let split = one.len().saturating_sub(2);
                let (pos, code) = one.split_at(split);
                if !pos.is_empty() && set_pos.is_empty() {
                    let n: i32 = pos.parse().map_err(|_| format!("BYDAY={one}"))?;
                    let (name, _) = day_of_code(code).ok_or_else(|| format!("BYDAY={one}"))?;
                    return Ok((vec![name.to_owned()], index_name(n)?));
                }
            }
            let n = single(set_pos, "BYSETPOS")?.ok_or("BYDAY needs a position")?;
            Ok((plain_days(days)?, index_name(n)?))
        };
        match freq.as_deref() {
            Some("DAILY")
                if by_day.is_empty() && by_month_day.is_empty() && by_month.is_empty() =>
            {
                pattern.kind = "daily".into();
            }
            Some("WEEKLY")
                if by_month_day.is_empty() && by_month.is_empty() && by_set_pos.is_empty() =>
            {
                pattern.kind = "weekly".into();
                pattern.days_of_week = if by_day.is_empty() {
                    vec![name_of_weekday(start.weekday()).to_owned()]
                } else {
                    plain_days(&by_day)?
                };
                let first = match &wkst {
                    Some(w) => day_of_code(w).ok_or_else(|| format!("WKST={w}"))?.0,
                    None => "monday",
                };
                pattern.first_day_of_week = Some(first.to_owned());
            }
            Some("MONTHLY") if by_month.is_empty() => {
                if by_day.is_empty() {
                    pattern.kind = "absoluteMonthly".into();
                    let d = single(&by_month_day, "BYMONTHDAY")?.unwrap_or(i32::from(start.day()));
                    pattern.day_of_month = u8::try_from(d)
                        .ok()
                        .filter(|d| (1..=31).contains(d))
                        .ok_or_else(|| format!("Graph has no day of month {d}"))?;
                } else if by_month_day.is_empty() {
                    pattern.kind = "relativeMonthly".into();
                    (pattern.days_of_week, pattern.index) =
                        relative(&by_day, &by_set_pos).map(|(d, i)| (d, Some(i)))?;
                } else {
                    return Err("Graph holds BYDAY or BYMONTHDAY, not both".into());
                }
            }
            Some("YEARLY") => {
                let m = single(&by_month, "BYMONTH")?.unwrap_or(i32::from(u8::from(start.month())));
                pattern.month = u8::try_from(m)
                    .ok()
                    .filter(|m| (1..=12).contains(m))
                    .ok_or_else(|| format!("BYMONTH={m}"))?;
                if by_day.is_empty() {
                    pattern.kind = "absoluteYearly".into();
                    let d = single(&by_month_day, "BYMONTHDAY")?.unwrap_or(i32::from(start.day()));
                    pattern.day_of_month = u8::try_from(d)
                        .ok()
                        .filter(|d| (1..=31).contains(d))
                        .ok_or_else(|| format!("Graph has no day of month {d}"))?;
                } else if by_month_day.is_empty() {
                    pattern.kind = "relativeYearly".into();
                    (pattern.days_of_week, pattern.index) =
                        relative(&by_day, &by_set_pos).map(|(d, i)| (d, Some(i)))?;
                } else {
                    return Err("Graph holds BYDAY or BYMONTHDAY, not both".into());
                }
            }
            Some(f) => {
                return Err(format!(
                    "Graph has no recurrence pattern for FREQ={f} with these parts"
                ))
            }
            None => return Err("the rule has no FREQ".into()),
        }
        let mut range = Range {
            kind: "noEnd".into(),
            start_date: fmt_date(start),
            end_date: None,
            number_of_occurrences: 0,
            recurrence_time_zone: anchor.zone.clone(),
        };
        if count > 0 {
            range.kind = "numbered".into();
            range.number_of_occurrences = count;
        } else if let Some(u) = until {
            let (date, at) = parse_until(&u).ok_or_else(|| format!("UNTIL={u}"))?;
            let local = match at {
                Some(t) if u.ends_with(['Z', 'z']) => anchor.local_of_utc(t).date(),
                Some(t) => t.date(),
                None => date,
            };
            range.kind = "endDate".into();
            range.end_date = Some(fmt_date(local));
        }
        Ok(Self { pattern, range })
    }

    /// The `RRULE` of this pattern and range for a series anchored at `anchor`: parts in
    /// RFC order, `INTERVAL` and `WKST` only when not the default, `UNTIL` the last
    /// possible occurrence (a date for an all-day series, else UTC).
    pub(crate) fn to_rule(&self, anchor: &Anchor) -> String {
        let p = &self.pattern;
        let codes = |days: &[String]| {
            days.iter()
                .filter_map(|d| code_of_name(d))
                .collect::<Vec<_>>()
                .join(",")
        };
        let index = p
            .index
            .as_deref()
            .and_then(|i| INDEXES.iter().find(|(n, _)| n.eq_ignore_ascii_case(i)))
            .map_or(1, |(_, n)| *n);
        let mut parts: Vec<String> = Vec::new();
        let freq = match p.kind.as_str() {
            "daily" => "DAILY",
            "weekly" => "WEEKLY",
            "absoluteMonthly" | "relativeMonthly" => "MONTHLY",
            _ => "YEARLY",
        };
        parts.push(format!("FREQ={freq}"));
        match &self.range.kind[..] {
            "numbered" => parts.push(format!("COUNT={}", self.range.number_of_occurrences)),
            "endDate" => {
                if let Some(end) = self.range.end_date.as_deref().and_then(parse_date) {
                    let last = PrimitiveDateTime::new(end, anchor.start.time());
                    let v = if anchor.all_day {
                        end.to_string().replace('-', "")
                    } else {
                        let u = anchor.utc_of_local(last);
                        format!(
                            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
                            u.year(),
                            u8::from(u.month()),
                            u.day(),
                            u.hour(),
                            u.minute(),
                            u.second()
                        )
                    };
                    parts.push(format!("UNTIL={v}"));
                }
            }
            _ => {}
        }
        if p.interval > 1 {
            parts.push(format!("INTERVAL={}", p.interval));
        }
        match p.kind.as_str() {
            "weekly" => parts.push(format!("BYDAY={}", codes(&p.days_of_week))),
            "absoluteMonthly" => parts.push(format!("BYMONTHDAY={}", p.day_of_month)),
            "relativeMonthly" | "relativeYearly" => {
                if p.kind == "relativeYearly" {
                    parts.push(format!("BYMONTH={}", p.month));
                }
                if let [one] = &p.days_of_week[..] {
                    parts.push(format!("BYDAY={index}{}", codes(std::slice::from_ref(one))));
                } else {
                    parts.push(format!("BYDAY={}", codes(&p.days_of_week)));
                    parts.push(format!("BYSETPOS={index}"));
                }
            }
            "absoluteYearly" => {
                parts.push(format!("BYMONTH={}", p.month));
                parts.push(format!("BYMONTHDAY={}", p.day_of_month));
            }
            _ => {}
        }
        if p.kind == "weekly" {
            if let Some(code) = p
                .first_day_of_week
                .as_deref()
                .and_then(code_of_name)
                .filter(|c| *c != "MO")
            {
                parts.push(format!("WKST={code}"));
            }
        }
        parts.join(";")
    }

    /// The local start of every occurrence from the range's start up to `until`
    /// (inclusive), each at `at`'s time of day: the pattern's dates on or after the start,
    /// at most the numbered count, none after the end date.
    pub(crate) fn occurrences(&self, at: PrimitiveDateTime, until: Date) -> Vec<PrimitiveDateTime> {
        let Some(start) = parse_date(&self.range.start_date) else {
            return Vec::new();
        };
        let end = match self.range.kind.as_str() {
            "endDate" => self
                .range
                .end_date
                .as_deref()
                .and_then(parse_date)
                .map_or(until, |e| e.min(until)),
            _ => until,
        };
        let limit = match self.range.kind.as_str() {
            "numbered" => self.range.number_of_occurrences as usize,
            _ => MAX_OCCURRENCES,
        }
        .min(MAX_OCCURRENCES);
        let mut out = Vec::new();
        let mut period = 0i64;
        while out.len() < limit {
            let (dates, first_day) = self.period_dates(start, period);
            if first_day > end {
                break;
            }
            for d in dates {
                if d >= start && d <= end && out.len() < limit {
                    out.push(PrimitiveDateTime::new(d, at.time()));
                }
            }
            period += 1;
            if period > 100_000 {
                break;
            }
        }
        out
    }

    /// The pattern's dates in period `n` (days, weeks, months or years after the start,
    /// times the interval), in order, and the period's first day.
    fn period_dates(&self, start: Date, n: i64) -> (Vec<Date>, Date) {
        let p = &self.pattern;
        let step = n * i64::from(p.interval.max(1));
        let days: Vec<Weekday> = p
            .days_of_week
            .iter()
            .filter_map(|d| weekday_of_name(d))
            .collect();
        match p.kind.as_str() {
            "daily" => {
                let d = start + Duration::days(step);
                (vec![d], d)
            }
            "weekly" => {
                let first = p
                    .first_day_of_week
                    .as_deref()
                    .and_then(weekday_of_name)
                    .unwrap_or(Weekday::Sunday);
                let back = (start.weekday().number_days_from_monday() + 7
                    - first.number_days_from_monday())
                    % 7;
                let week = start - Duration::days(i64::from(back)) + Duration::weeks(step);
                let dates = (0..7)
                    .map(|i| week + Duration::days(i))
                    .filter(|d| days.contains(&d.weekday()))
                    .collect();
                (dates, week)
            }
            "absoluteMonthly" | "relativeMonthly" => {
                let months =
                    i64::from(start.year()) * 12 + i64::from(u8::from(start.month())) - 1 + step;
                let (year, month) = year_month(months);
                (self.month_dates(year, month, &days), first_of(year, month))
            }
            _ => {
                let year = start.year() + i32::try_from(step).unwrap_or(i32::MAX - start.year());
                let month = Month::try_from(p.month).unwrap_or(start.month());
                (
                    self.month_dates(year, month, &days),
                    first_of(year, Month::January),
                )
            }
        }
    }

    /// The pattern's dates in one month: its day of month, or the indexed one of its days.
    fn month_dates(&self, year: i32, month: Month, days: &[Weekday]) -> Vec<Date> {
        let p = &self.pattern;
        if p.kind.starts_with("absolute") {
            return Date::from_calendar_date(year, month, p.day_of_month)
                .into_iter()
                .collect();
        }
        let all: Vec<Date> = (1..=month.length(year))
            .filter_map(|d| Date::from_calendar_date(year, month, d).ok())
            .filter(|d| days.contains(&d.weekday()))
            .collect();
        let index = p
            .index
            .as_deref()
            .and_then(|i| INDEXES.iter().find(|(n, _)| n.eq_ignore_ascii_case(i)))
            .map_or(1, |(_, n)| *n);
        let pick = if index < 0 {
            all.last()
        } else {
            all.get(usize::try_from(index - 1).unwrap_or(0))
        };
        pick.copied().into_iter().collect()
    }
}

fn year_month(months: i64) -> (i32, Month) {
    let year = i32::try_from(months.div_euclid(12)).unwrap_or(9999);
    let m = u8::try_from(months.rem_euclid(12) + 1).unwrap_or(1);
    (year, Month::try_from(m).unwrap_or(Month::January))
}

fn first_of(year: i32, month: Month) -> Date {
    Date::from_calendar_date(year, month, 1).unwrap_or(Date::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn utc(start: PrimitiveDateTime) -> Anchor {
        Anchor {
            start,
            zone: Some("UTC".into()),
            all_day: false,
        }
    }

    fn round_trip(rule: &str, start: PrimitiveDateTime) -> (Recurrence, String) {
        let a = utc(start);
        let r = Recurrence::from_rule(rule, &a).unwrap();
        let back = r.to_rule(&a);
        (r, back)
    }

    #[test]
    fn rules_with_a_pattern_round_trip() {
        let start = datetime!(2025-01-06 09:00);
        for rule in [
            "FREQ=DAILY;COUNT=5",
            "FREQ=DAILY;INTERVAL=2",
            "FREQ=WEEKLY;COUNT=10;BYDAY=MO",
            "FREQ=WEEKLY;UNTIL=20250331T090000Z;INTERVAL=2;BYDAY=MO,WE;WKST=SU",
            "FREQ=MONTHLY;BYMONTHDAY=6",
            "FREQ=MONTHLY;COUNT=3;BYDAY=1MO",
            "FREQ=MONTHLY;BYDAY=-1FR",
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=6",
            "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
        ] {
            assert_eq!(round_trip(rule, start).1, rule, "{rule}");
        }
        let (r, _) = round_trip("FREQ=WEEKLY", start);
        assert_eq!(r.pattern.days_of_week, ["monday"]);
        assert!(Recurrence::from_rule("FREQ=HOURLY", &utc(start)).is_err());
        let e = Recurrence::from_rule("FREQ=MONTHLY;BYMONTHDAY=1,15", &utc(start)).unwrap_err();
        assert!(e.contains("one BYMONTHDAY"), "{e}");
    }

    #[test]
    fn occurrences_follow_the_pattern_and_range() {
        let start = datetime!(2025-01-06 09:00);
        let (r, _) = round_trip("FREQ=WEEKLY;COUNT=4;BYDAY=MO,TH", start);
        let days: Vec<Date> = r
            .occurrences(start, date!(2030 - 01 - 01))
            .iter()
            .map(|d| d.date())
            .collect();
        assert_eq!(
            days,
            [
                date!(2025 - 01 - 06),
                date!(2025 - 01 - 09),
                date!(2025 - 01 - 13),
                date!(2025 - 01 - 16)
            ]
        );
        let (r, _) = round_trip("FREQ=MONTHLY;BYDAY=-1FR", start);
        let days: Vec<Date> = r
            .occurrences(start, date!(2025 - 03 - 31))
            .iter()
            .map(|d| d.date())
            .collect();
        assert_eq!(
            days,
            [
                date!(2025 - 01 - 31),
                date!(2025 - 02 - 28),
                date!(2025 - 03 - 28)
            ]
        );
        let (r, _) = round_trip("FREQ=DAILY;INTERVAL=3", start);
        assert_eq!(r.occurrences(start, date!(2025 - 01 - 12)).len(), 3);
        let (r, _) = round_trip("FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", start);
        assert_eq!(
            r.occurrences(start, date!(2026 - 12 - 31))[0].date(),
            date!(2025 - 11 - 27)
        );
    }
}
