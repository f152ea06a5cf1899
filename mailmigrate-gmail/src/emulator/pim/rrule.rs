//! The recurrence rules the emulator expands into instances (RFC 5545 §3.3.10, the subset
//! Google Calendar's own UI writes): `FREQ` `DAILY`, `WEEKLY`, `MONTHLY`, `YEARLY` with
//! `INTERVAL`, `COUNT`, `UNTIL`, `BYDAY` (with ordinals for monthly rules), `BYMONTHDAY`
//! and `BYMONTH`. Times are wall-clock times of the series' zone: the emulator has no
//! time-zone database, so an occurrence is the start's local time on each date.

use time::{Date, Duration, Month, PrimitiveDateTime, Weekday};

/// A parsed rule.
#[derive(Debug, Default)]
struct Rule {
    freq: String,
    interval: i64,
    count: Option<usize>,
    until: Option<PrimitiveDateTime>,
    by_day: Vec<(i32, Weekday)>,
    by_month_day: Vec<i32>,
    by_month: Vec<u8>,
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "MO" => Weekday::Monday,
        "TU" => Weekday::Tuesday,
        "WE" => Weekday::Wednesday,
        "TH" => Weekday::Thursday,
        "FR" => Weekday::Friday,
        "SA" => Weekday::Saturday,
        "SU" => Weekday::Sunday,
        _ => return None,
    })
}

/// Parses an iCalendar `DATE` or `DATE-TIME` value (any `Z` ignored) as a local time.
pub(crate) fn parse_ical(v: &str) -> Option<PrimitiveDateTime> {
    let v = v.trim().trim_end_matches(['Z', 'z']);
    let d = |s: &str| -> Option<Date> {
        let y = s.get(0..4)?.parse().ok()?;
        let m: u8 = s.get(4..6)?.parse().ok()?;
        let day = s.get(6..8)?.parse().ok()?;
        Date::from_calendar_date(y, Month::try_from(m).ok()?, day).ok()
    };
    let date = d(v)?;
    let t = match v.get(8..) {
        Some(rest) if rest.starts_with('T') && rest.len() >= 7 => time::Time::from_hms(
            rest.get(1..3)?.parse().ok()?,
            rest.get(3..5)?.parse().ok()?,
            rest.get(5..7)?.parse().ok()?,
        )
        .ok()?,
        _ => time::Time::MIDNIGHT,
    };
    Some(PrimitiveDateTime::new(date, t))
}

fn parse(rule: &str) -> Option<Rule> {
    let mut r = Rule {
        interval: 1,
        ..Rule::default()
    };
    for part in rule.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=')?;
        match k.to_ascii_uppercase().as_str() {
            "FREQ" => r.freq = v.to_ascii_uppercase(),
            "INTERVAL" => r.interval = v.parse().ok().filter(|n| *n > 0)?,
            "COUNT" => r.count = Some(v.parse().ok()?),
            "UNTIL" => r.until = Some(parse_ical(v)?),
            "BYDAY" => {
                for d in v.split(',') {
                    let d = d.trim().to_ascii_uppercase();
                    let (n, wd) = d.split_at(d.len().saturating_sub(2));
                    let n = if n.is_empty() { 0 } else { n.parse().ok()? };
                    r.by_day.push((n, weekday(wd)?));
                }
            }
            "BYMONTHDAY" => {
                r.by_month_day = v.split(',').filter_map(|x| x.parse().ok()).collect();
            }
            "BYMONTH" => r.by_month = v.split(',').filter_map(|x| x.parse().ok()).collect(),
            _ => {}
        }
    }
    Some(r)
}

fn month_add(y: i32, m: u8, add: i64) -> (i32, u8) {
    let total = i64::from(y) * 12 + i64::from(m) - 1 + add;
    (
        (total.div_euclid(12)) as i32,
        (total.rem_euclid(12) + 1) as u8,
    )
}

fn days_in(y: i32, m: u8) -> u8 {
    Month::try_from(m).map_or(28, |m| m.length(y))
}

fn day_of(y: i32, m: u8, day: i32) -> Option<Date> {
    let len = i32::from(days_in(y, m));
    let d = if day < 0 { len + 1 + day } else { day };
    if !(1..=len).contains(&d) {
        return None;
    }
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d as u8).ok()
}

fn nth_weekday(y: i32, m: u8, n: i32, wd: Weekday) -> Vec<Date> {
    let all: Vec<Date> = (1..=i32::from(days_in(y, m)))
        .filter_map(|d| day_of(y, m, d))
        .filter(|d| d.weekday() == wd)
        .collect();
    match n {
        0 => all,
        n if n > 0 => all.get(n as usize - 1).copied().into_iter().collect(),
        n => all
            .len()
            .checked_sub(n.unsigned_abs() as usize)
            .and_then(|i| all.get(i).copied())
            .into_iter()
            .collect(),
    }
}

/// The dates of period `k` of the rule.
fn period(r: &Rule, start: Date, k: i64) -> (Date, Vec<Date>) {
    let step = k * r.interval;
    match r.freq.as_str() {
        "DAILY" => {
            let d = start + Duration::days(step);
            (d, vec![d])
        }
        "WEEKLY" => {
            let monday =
                start - Duration::days(i64::from(start.weekday().number_days_from_monday()));
            let week = monday + Duration::weeks(step);
            let mut days: Vec<Date> = if r.by_day.is_empty() {
                vec![week + Duration::days(i64::from(start.weekday().number_days_from_monday()))]
            } else {
                r.by_day
                    .iter()
                    .map(|(_, wd)| week + Duration::days(i64::from(wd.number_days_from_monday())))
                    .collect()
            };
            days.sort();
            (week, days)
        }
        "MONTHLY" => {
            let (y, m) = month_add(start.year(), start.month() as u8, step);
            let mut days: Vec<Date> = if !r.by_day.is_empty() {
                r.by_day
                    .iter()
                    .flat_map(|(n, wd)| nth_weekday(y, m, *n, *wd))
                    .collect()
            } else if !r.by_month_day.is_empty() {
                r.by_month_day
                    .iter()
                    .filter_map(|d| day_of(y, m, *d))
                    .collect()
            } else {
                day_of(y, m, i32::from(start.day())).into_iter().collect()
            };
            days.sort();
            (day_of(y, m, 1).unwrap_or(start), days)
        }
        _ => {
            let y = start.year() + step as i32;
            let months: Vec<u8> = if r.by_month.is_empty() {
                vec![start.month() as u8]
            } else {
                r.by_month.clone()
            };
            let day_list: Vec<i32> = if r.by_month_day.is_empty() {
                vec![i32::from(start.day())]
            } else {
                r.by_month_day.clone()
            };
            let mut days: Vec<Date> = months
                .iter()
                .flat_map(|m| day_list.iter().filter_map(move |d| day_of(y, *m, *d)))
                .collect();
            days.sort();
            (day_of(y, 1, 1).unwrap_or(start), days)
        }
    }
}

/// The occurrences of `rule` from `start` until `horizon` (at most `max`), the start
/// first as RFC 5545 counts it.
pub(crate) fn expand(
    start: PrimitiveDateTime,
    rule: &str,
    horizon: PrimitiveDateTime,
    max: usize,
) -> Vec<PrimitiveDateTime> {
    let Some(r) = parse(rule) else {
        return vec![start];
    };
    if !["DAILY", "WEEKLY", "MONTHLY", "YEARLY"].contains(&r.freq.as_str()) {
        return vec![start];
    }
    let mut out = Vec::new();
    for k in 0..20_000 {
        let (begin, days) = period(&r, start.date(), k);
        if begin > horizon.date() {
            break;
        }
        for d in days {
            let t = PrimitiveDateTime::new(d, start.time());
            if t < start {
                continue;
            }
            if r.until.is_some_and(|u| t > u) || t > horizon {
                return out;
            }
            if r.by_day.iter().any(|_| r.freq == "DAILY")
                && !r.by_day.iter().any(|(_, wd)| *wd == d.weekday())
            {
                continue;
            }
            out.push(t);
            if r.count.is_some_and(|c| out.len() >= c) || out.len() >= max {
                return out;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> PrimitiveDateTime {
        parse_ical(s).unwrap()
    }

    #[test]
    fn weekly_monthly_and_yearly_rules_expand() {
        let far = t("20300101T000000");
        let w = expand(
            t("20250106T090000"),
            "FREQ=WEEKLY;BYDAY=MO;COUNT=10",
            far,
            100,
        );
        assert_eq!(w.len(), 10);
        assert_eq!(w[1], t("20250113T090000"));
        let m = expand(
            t("20250131T150000"),
            "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20250601T000000Z",
            far,
            100,
        );
        assert_eq!(m.len(), 5, "{m:?}");
        assert_eq!(m[1], t("20250228T150000"));
        let y = expand(t("20250412"), "FREQ=YEARLY", t("20280101"), 100);
        assert_eq!(y.len(), 3);
        let d = expand(
            t("20250303T080000"),
            "FREQ=DAILY;INTERVAL=2;COUNT=3",
            far,
            100,
        );
        assert_eq!(d[2], t("20250307T080000"));
        let tw = expand(
            t("20250106T090000"),
            "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=3",
            far,
            100,
        );
        assert_eq!(tw[1], t("20250108T090000"));
    }
}
