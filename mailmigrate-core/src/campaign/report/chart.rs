//! The page's charts, as inline SVG: volume per mailbox (horizontal bars) and progress
//! over time (step lines).

use std::fmt::Write as _;

use super::model::{MailboxReport, ProgressPoint};
use super::text::{bytes, count, esc, raw, short_time};

/// A progress line: its name, the count it draws, its CSS class.
type Series = (&'static str, fn(&ProgressPoint) -> usize, &'static str);

/// Width of every chart's drawing, in SVG units (it scales to its box).
const WIDTH: f64 = 480.0;

/// The CSS class of a mailbox's bar colour.
fn stage_class(m: &MailboxReport) -> &'static str {
    use crate::campaign::Stage;
    match m.stage {
        Stage::Validated => "ok",
        Stage::Synced | Stage::Finalising => "synced",
        Stage::Failed => "bad",
        Stage::Paused => "paused",
        _ => "active",
    }
}

/// `s` cut to `n` characters, with an ellipsis when cut.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// One bar per mailbox, its length the bytes copied (the messages copied when no mailbox
/// reports bytes), coloured by stage.
pub(super) fn volume(mailboxes: &[MailboxReport]) -> String {
    const ROW: f64 = 26.0;
    const LABEL: f64 = 150.0;
    const BAR: f64 = 200.0;
    let by_bytes = mailboxes.iter().any(|m| m.volume.bytes_copied > 0);
    let value = |m: &MailboxReport| {
        if by_bytes {
            m.volume.bytes_copied
        } else {
            m.volume.items_copied
        }
    };
    let max = mailboxes.iter().map(value).max().unwrap_or(0).max(1);
    #[allow(clippy::cast_precision_loss)]
    let height = ROW * mailboxes.len().max(1) as f64 + 30.0;
    let mut s = format!(
        "<svg id=\"chart-volume\" class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" \
         role=\"img\" aria-label=\"Volume copied per mailbox\">"
    );
    let field = if by_bytes {
        "bytes_copied"
    } else {
        "items_copied"
    };
    for (i, m) in mailboxes.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let y = ROW * i as f64 + 6.0;
        #[allow(clippy::cast_precision_loss)]
        let w = (value(m) as f64 / max as f64 * BAR).max(0.0);
        let mut shown = if by_bytes {
            format!(
                "{} · {} msg",
                bytes(m.volume.bytes_copied),
                count(m.volume.items_copied)
            )
        } else {
            format!("{} msg", count(m.volume.items_copied))
        };
        if m.stage == crate::campaign::Stage::Failed {
            shown.push_str(" · failed");
        }
        let _ = write!(
            s,
            "<text class=\"label\" x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{name}</text>\
             <rect class=\"bar {cls}\" x=\"{LABEL}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"18\" \
             rx=\"3\" data-mailbox=\"{key}\" data-field=\"/mailboxes/{i}/volume/{field}\" \
             data-value=\"{v}\" data-format=\"{fmt}\"><title>{key}: {shown}</title></rect>\
             <text class=\"value {cls}\" x=\"{vx:.1}\" y=\"{ty:.1}\">{shown}</text>",
            lx = LABEL - 8.0,
            ty = y + 13.0,
            name = esc(&cut(&m.mailbox, 24)),
            cls = stage_class(m),
            key = esc(&m.mailbox),
            v = raw(&value(m)),
            fmt = if by_bytes { "bytes" } else { "count" },
            vx = LABEL + w + 6.0,
            shown = esc(&shown),
        );
    }
    let _ = write!(
        s,
        "<text class=\"axis\" x=\"{LABEL}\" y=\"{:.1}\">{}</text></svg>",
        height - 6.0,
        if by_bytes {
            "bytes copied"
        } else {
            "messages copied"
        }
    );
    s
}

/// Mailboxes synced, validated and failed over time, as step lines over `total`
/// mailboxes.
pub(super) fn progress(points: &[ProgressPoint], total: usize) -> String {
    const H: f64 = 250.0;
    const LEFT: f64 = 44.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 28.0;
    const BOTTOM: f64 = 36.0;
    let mut s = format!(
        "<svg id=\"chart-progress\" class=\"chart\" viewBox=\"0 0 {WIDTH} {H}\" role=\"img\" \
         aria-label=\"Mailboxes done over time\">"
    );
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        s.push_str("<text class=\"axis\" x=\"20\" y=\"40\">no progress recorded yet</text></svg>");
        return s;
    };
    let t0 = first.at;
    let span = (last.at - t0).as_seconds_f64().max(1.0);
    #[allow(clippy::cast_precision_loss)]
    let ymax = total.max(1) as f64;
    let x = |p: &ProgressPoint| LEFT + (p.at - t0).as_seconds_f64() / span * (WIDTH - LEFT - RIGHT);
    #[allow(clippy::cast_precision_loss)]
    let y = |n: usize| TOP + (1.0 - n as f64 / ymax) * (H - TOP - BOTTOM);
    // Grid and y axis: at most five integer ticks.
    let step = total.max(1).div_ceil(4);
    let mut n = 0;
    while n <= total.max(1) {
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{n}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(n) + 4.0,
            yy = y(n),
        );
        n += step;
    }
    // X axis: the first and last moments and three between.
    let with_date = span > 86_400.0 || t0.date() != last.at.date();
    for k in 0..=4u8 {
        let at = t0 + time::Duration::seconds_f64(span * f64::from(k) / 4.0);
        let xx = LEFT + f64::from(k) / 4.0 * (WIDTH - LEFT - RIGHT);
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            "<text class=\"axis\" x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            H - BOTTOM + 18.0,
            short_time(at, with_date)
        );
    }
    let series: [Series; 3] = [
        ("synced", |p| p.synced, "line-synced"),
        ("validated", |p| p.validated, "line-ok"),
        ("failed", |p| p.failed, "line-bad"),
    ];
    for (name, get, class) in series {
        let mut d = format!("M{:.1},{:.1}", x(first), y(get(first)));
        for w in points.windows(2) {
            let _ = write!(d, " H{:.1} V{:.1}", x(&w[1]), y(get(&w[1])));
        }
        let _ = write!(
            s,
            "<path class=\"{class}\" data-series=\"{name}\" d=\"{d}\" fill=\"none\"/>"
        );
    }
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            s,
            "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" \
             data-field=\"/timeline/{i}/synced\" data-value=\"{}\" data-format=\"count\">\
             <title>{}: {} synced, {} validated, {} failed</title></circle>",
            x(p),
            y(p.synced),
            p.synced,
            super::text::time(p.at),
            p.synced,
            p.validated,
            p.failed
        );
    }
    let legend = [
        ("synced", "line-synced"),
        ("validated", "line-ok"),
        ("failed", "line-bad"),
    ];
    for (k, (name, class)) in legend.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let lx = LEFT + 110.0 * k as f64;
        let _ = write!(
            s,
            "<line class=\"{class}\" x1=\"{lx:.1}\" x2=\"{:.1}\" y1=\"12\" y2=\"12\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"16\">{name}</text>",
            lx + 22.0,
            lx + 28.0
        );
    }
    s.push_str("</svg>");
    s
}
