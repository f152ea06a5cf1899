//! The time zones this crate can convert without a zone database: a small table of common
//! zones by IANA and Windows name, with their UTC offsets and daylight-saving rules.
//!
//! Graph takes either name in `dateTimeTimeZone.timeZone` and answers times in UTC unless
//! asked otherwise \[G-EVT\], so reading an event's local time back needs the offset its
//! zone had then. Zones outside the table keep their name as given; their times cannot be
//! converted here, and callers say what they do instead. The rules are the current ones
//! (the EU's since 1996, the US's since 2007); earlier dates convert with them too.

use time::{Date, Duration, Month, PrimitiveDateTime, Time, Weekday};

/// When a zone observes daylight saving time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Daylight {
    /// Never.
    None,
    /// One hour from the last Sunday of March to the last Sunday of October, at 01:00 UTC.
    Eu,
    /// One hour from the second Sunday of March to the first Sunday of November, at
    /// 02:00 local time.
    Us,
}

/// One zone of the table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Zone {
    /// The IANA name (`Europe/Berlin`).
    pub(crate) iana: &'static str,
    /// The Windows name Exchange uses (`W. Europe Standard Time`).
    pub(crate) windows: &'static str,
    /// The standard offset from UTC, in minutes.
    standard: i64,
    daylight: Daylight,
}

const fn zone(
    iana: &'static str,
    windows: &'static str,
    standard: i64,
    daylight: Daylight,
) -> Zone {
    Zone {
        iana,
        windows,
        standard,
        daylight,
    }
}

/// The table: Windows names from CLDR's `windowsZones.xml` mapping (the "001" territory
/// of each) \[CLDR-WZ\], offsets and rules from the IANA database \[IANA-TZ\].
const ZONES: &[Zone] = &[
    zone("UTC", "UTC", 0, Daylight::None),
    zone("Europe/London", "GMT Standard Time", 0, Daylight::Eu),
    zone("Europe/Lisbon", "GMT Standard Time", 0, Daylight::Eu),
    zone("Europe/Berlin", "W. Europe Standard Time", 60, Daylight::Eu),
    zone(
        "Europe/Amsterdam",
        "W. Europe Standard Time",
        60,
        Daylight::Eu,
    ),
    zone("Europe/Zurich", "W. Europe Standard Time", 60, Daylight::Eu),
    zone("Europe/Vienna", "W. Europe Standard Time", 60, Daylight::Eu),
    zone("Europe/Rome", "W. Europe Standard Time", 60, Daylight::Eu),
    zone("Europe/Paris", "Romance Standard Time", 60, Daylight::Eu),
    zone("Europe/Madrid", "Romance Standard Time", 60, Daylight::Eu),
    zone("Europe/Brussels", "Romance Standard Time", 60, Daylight::Eu),
    zone(
        "Europe/Warsaw",
        "Central European Standard Time",
        60,
        Daylight::Eu,
    ),
    zone(
        "Europe/Prague",
        "Central Europe Standard Time",
        60,
        Daylight::Eu,
    ),
    zone("Europe/Helsinki", "FLE Standard Time", 120, Daylight::Eu),
    zone("Europe/Athens", "GTB Standard Time", 120, Daylight::Eu),
    zone(
        "America/New_York",
        "Eastern Standard Time",
        -300,
        Daylight::Us,
    ),
    zone(
        "America/Chicago",
        "Central Standard Time",
        -360,
        Daylight::Us,
    ),
    zone(
        "America/Denver",
        "Mountain Standard Time",
        -420,
        Daylight::Us,
    ),
    zone(
        "America/Phoenix",
        "US Mountain Standard Time",
        -420,
        Daylight::None,
    ),
    zone(
        "America/Los_Angeles",
        "Pacific Standard Time",
        -480,
        Daylight::Us,
    ),
    zone(
        "America/Anchorage",
        "Alaskan Standard Time",
        -540,
        Daylight::Us,
    ),
    zone(
        "Pacific/Honolulu",
        "Hawaiian Standard Time",
        -600,
        Daylight::None,
    ),
    zone("Asia/Tokyo", "Tokyo Standard Time", 540, Daylight::None),
    zone("Asia/Shanghai", "China Standard Time", 480, Daylight::None),
    zone(
        "Asia/Singapore",
        "Singapore Standard Time",
        480,
        Daylight::None,
    ),
    zone("Asia/Kolkata", "India Standard Time", 330, Daylight::None),
    zone("Asia/Dubai", "Arabian Standard Time", 240, Daylight::None),
];

/// The zone named `name` (IANA or Windows, any case; `Etc/UTC`, `GMT` and `Z` are UTC).
/// For a Windows name several IANA zones share, the first of the table.
pub(crate) fn find(name: &str) -> Option<&'static Zone> {
    let name = name.trim();
    if ["Etc/UTC", "Etc/GMT", "GMT", "Z", "tzone://Microsoft/Utc"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
    {
        return ZONES.first();
    }
    ZONES
        .iter()
        .find(|z| z.iana.eq_ignore_ascii_case(name))
        .or_else(|| ZONES.iter().find(|z| z.windows.eq_ignore_ascii_case(name)))
}

/// The IANA name of `name`: a Windows name of the table becomes its IANA zone, anything
/// else is kept as given.
pub(crate) fn iana_name(name: &str) -> String {
    match find(name) {
        Some(z) if z.windows.eq_ignore_ascii_case(name.trim()) => z.iana.to_owned(),
        _ => name.to_owned(),
    }
}

/// The `n`-th (1-based) `weekday` of a month, or the last one for `n == 0`.
fn nth_weekday(year: i32, month: Month, weekday: Weekday, n: u8) -> Date {
    if n == 0 {
        let last = Date::from_calendar_date(year, month, month.length(year)).unwrap_or(Date::MIN);
        let back =
            (last.weekday().number_days_from_monday() + 7 - weekday.number_days_from_monday()) % 7;
        return last - Duration::days(i64::from(back));
    }
    let first = Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN);
    let ahead =
        (weekday.number_days_from_monday() + 7 - first.weekday().number_days_from_monday()) % 7;
    first + Duration::days(i64::from(ahead) + 7 * i64::from(n - 1))
}

impl Zone {
    /// Whether daylight time is in force at the UTC instant `utc`.
    fn is_daylight(&self, utc: PrimitiveDateTime) -> bool {
        let year = utc.year();
        let at = |d: Date, h: u8| {
            PrimitiveDateTime::new(d, Time::from_hms(h, 0, 0).unwrap_or(Time::MIDNIGHT))
        };
        match self.daylight {
            Daylight::None => false,
            Daylight::Eu => {
                let start = at(nth_weekday(year, Month::March, Weekday::Sunday, 0), 1);
                let end = at(nth_weekday(year, Month::October, Weekday::Sunday, 0), 1);
                utc >= start && utc < end
            }
            Daylight::Us => {
                let local_two = |d: Date, offset: i64| at(d, 2) - Duration::minutes(offset);
                let start = local_two(
                    nth_weekday(year, Month::March, Weekday::Sunday, 2),
                    self.standard,
                );
                let end = local_two(
                    nth_weekday(year, Month::November, Weekday::Sunday, 1),
                    self.standard + 60,
                );
                utc >= start && utc < end
            }
        }
    }

    /// The offset from UTC at the UTC instant `utc`, in minutes.
    fn offset_at(&self, utc: PrimitiveDateTime) -> i64 {
        self.standard + if self.is_daylight(utc) { 60 } else { 0 }
    }

    /// The UTC instant of the wall-clock time `local` (in a gap or an overlap, the
    /// standard-time reading).
    pub(crate) fn to_utc(&self, local: PrimitiveDateTime) -> PrimitiveDateTime {
        let standard = local - Duration::minutes(self.standard);
        let daylight = standard - Duration::minutes(60);
        if self.daylight != Daylight::None && self.is_daylight(daylight) {
            daylight
        } else {
            standard
        }
    }

    /// The wall-clock time of the UTC instant `utc`.
    pub(crate) fn local_of_utc(&self, utc: PrimitiveDateTime) -> PrimitiveDateTime {
        utc + Duration::minutes(self.offset_at(utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names_resolve_both_ways_and_unknown_ones_stay() {
        assert_eq!(
            find("w. europe standard time").unwrap().iana,
            "Europe/Berlin"
        );
        assert_eq!(iana_name("Eastern Standard Time"), "America/New_York");
        assert_eq!(iana_name("Europe/Berlin"), "Europe/Berlin");
        assert_eq!(iana_name("Customized Time Zone"), "Customized Time Zone");
        assert!(find("Mars/Olympus").is_none());
    }

    #[test]
    fn daylight_time_follows_the_eu_and_us_rules() {
        let berlin = find("Europe/Berlin").unwrap();
        assert_eq!(
            berlin.to_utc(datetime!(2025-01-06 09:00)),
            datetime!(2025-01-06 08:00)
        );
        assert_eq!(
            berlin.to_utc(datetime!(2025-07-01 09:00)),
            datetime!(2025-07-01 07:00)
        );
        assert_eq!(
            berlin.local_of_utc(datetime!(2025-03-30 00:59)),
            datetime!(2025-03-30 01:59)
        );
        assert_eq!(
            berlin.local_of_utc(datetime!(2025-03-30 01:00)),
            datetime!(2025-03-30 03:00)
        );
        let ny = find("America/New_York").unwrap();
        assert_eq!(
            ny.to_utc(datetime!(2025-03-10 09:00)),
            datetime!(2025-03-10 13:00)
        );
        assert_eq!(
            ny.to_utc(datetime!(2025-03-07 09:00)),
            datetime!(2025-03-07 14:00)
        );
        assert_eq!(
            ny.local_of_utc(datetime!(2025-11-02 05:59)),
            datetime!(2025-11-02 01:59)
        );
        assert_eq!(
            ny.local_of_utc(datetime!(2025-11-02 06:00)),
            datetime!(2025-11-02 01:00)
        );
        for local in [datetime!(2025-06-01 12:00), datetime!(2025-12-01 12:00)] {
            assert_eq!(ny.local_of_utc(ny.to_utc(local)), local);
            assert_eq!(berlin.local_of_utc(berlin.to_utc(local)), local);
        }
    }
}
