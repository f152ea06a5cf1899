//! Text for the page: HTML escaping, and figures as people read them.

use serde::Serialize;
use time::OffsetDateTime;

/// `s` with `& < > " '` replaced by entities: safe in text and in quoted attributes.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A count with thousands separators (`12,345`).
pub(super) fn count(n: impl Into<u64>) -> String {
    let digits = n.into().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in binary units (`1.5 MiB`).
pub(super) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    #[allow(clippy::cast_precision_loss)] // shown to one decimal
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A span of seconds as `2d 3h`, `4h 05m`, `3m 20s` or `12.5s`.
pub(super) fn duration(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{}s", trim(secs, 1));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // positive, < 2^53
    let s = secs.round() as u64;
    let (d, h, m, s) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// A rate per second with a unit (`12.3 msg/s`, `1.5 MiB/s`).
pub(super) fn rate(per_sec: f64, bytes_unit: bool) -> String {
    if bytes_unit {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let b = per_sec.max(0.0).round() as u64;
        format!("{}/s", bytes(b))
    } else {
        format!("{} msg/s", trim(per_sec, 1))
    }
}

/// `x` to at most `places` decimals, without trailing zeros.
fn trim(x: f64, places: usize) -> String {
    let s = format!("{x:.places$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A time as `2025-03-01 20:00:05 UTC`.
pub(super) fn time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A short time for chart axes (`03-01 20:00`, or `20:00:05` within one day).
pub(super) fn short_time(t: OffsetDateTime, with_date: bool) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    if with_date {
        format!(
            "{:02}-{:02} {:02}:{:02}",
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        )
    } else {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    }
}

/// How a figure is shown; anything but [`Plain`](Format::Plain) is marked `data-format`
/// on the page, since its text is not the JSON value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// The value itself (counts get thousands separators).
    Plain,
    /// Bytes in binary units.
    Bytes,
    /// Seconds as a span.
    Duration,
    /// Messages per second.
    Rate,
    /// Bytes per second.
    ByteRate,
    /// A timestamp.
    Time,
    /// A name shown in words (a stage).
    Label,
}

impl Format {
    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::Plain => return None,
            Self::Bytes => "bytes",
            Self::Duration => "duration",
            Self::Rate => "rate",
            Self::ByteRate => "byte-rate",
            Self::Time => "time",
            Self::Label => "label",
        })
    }
}

/// The value as `data-value` carries it: strings bare, everything else as JSON text.
pub(super) fn raw<T: Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => v.to_string(),
        Err(_) => String::new(),
    }
}

/// The figure's text on the page.
fn shown(v: &serde_json::Value, format: Format) -> String {
    use serde_json::Value;
    match (v, format) {
        (Value::Null, _) => "—".to_owned(),
        (Value::Number(n), Format::Plain) if n.is_u64() => count(n.as_u64().unwrap_or(0)),
        (Value::Number(n), Format::Bytes) => bytes(n.as_u64().unwrap_or(0)),
        (Value::Number(n), Format::Duration) => duration(n.as_f64().unwrap_or(0.0)),
        (Value::Number(n), Format::Rate) => rate(n.as_f64().unwrap_or(0.0), false),
        (Value::Number(n), Format::ByteRate) => rate(n.as_f64().unwrap_or(0.0), true),
        (Value::String(s), Format::Time) => {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_or_else(|_| s.clone(), time)
        }
        (Value::String(s), Format::Label) => s.replace('_', " "),
        (Value::String(s), _) => s.clone(),
        (v, _) => v.to_string(),
    }
}

/// An element `<tag class=…>` showing one figure of the JSON at `pointer`, marked with
/// `data-field`, `data-value` and (when its text is not the value) `data-format`.
pub(super) fn figure<T: Serialize + ?Sized>(
    tag: &str,
    class: &str,
    pointer: &str,
    value: &T,
    format: Format,
) -> String {
    let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    let fmt_attr = format
        .name()
        .map(|f| format!(" data-format=\"{f}\""))
        .unwrap_or_default();
    let class_attr = if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{}\"", esc(class))
    };
    format!(
        "<{tag}{class_attr} data-field=\"{}\" data-value=\"{}\"{fmt_attr}>{}</{tag}>",
        esc(pointer),
        esc(&raw(value)),
        esc(&shown(&v, format))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            esc(r#"<script>alert('x & "y"')</script>"#),
            "&lt;script&gt;alert(&#39;x &amp; &quot;y&quot;&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(count(1_234_567u64), "1,234,567");
        assert_eq!(count(12u64), "12");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(duration(12.5), "12.5s");
        assert_eq!(duration(200.0), "3m 20s");
        assert_eq!(duration(3.0 * 3600.0 + 300.0), "3h 05m");
        assert_eq!(duration(2.0 * 86_400.0 + 3.0 * 3600.0), "2d 3h");
        assert_eq!(rate(2.0, false), "2 msg/s");
        let t = figure("td", "n", "/a/0", &7u64, Format::Plain);
        assert_eq!(
            t,
            "<td class=\"n\" data-field=\"/a/0\" data-value=\"7\">7</td>"
        );
    }
}
