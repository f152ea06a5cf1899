//! The comparable form of an item: the content lines two stores holding the same item
//! agree on, whatever text each writes.
//!
//! Stores re-serialise what they are given: they reorder properties and parameters, put
//! `RRULE` parts in another order, refold lines, and a scheduling CalDAV server keeps the
//! `SCHEDULE-AGENT` a client set to stop it mailing attendees. None of that changes the
//! item. The comparable form is the multiset of the canonical text's content lines per
//! component, with parameters in name order, recurrence rules with `FREQ` first and the
//! other parts by name, and the RFC 6638 scheduling-control parameters left out. The
//! content hash and the field-level verification both use it, so they agree.

use std::collections::BTreeMap;

use super::line::Property;
use super::Payload;

/// RFC 6638 §7: parameters that instruct a scheduling server, not describe the event.
const SCHEDULING_PARAMS: [&str; 3] = ["SCHEDULE-AGENT", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND"];

/// A recurrence rule with `FREQ` first and the other parts by name.
fn canonical_rule(value: &str) -> String {
    let mut parts: Vec<String> = value
        .split(';')
        .filter(|p| !p.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    parts.sort_by(|a, b| {
        let key = |p: &str| {
            (
                !p.starts_with("FREQ="),
                p.split('=').next().unwrap_or_default().to_owned(),
            )
        };
        key(a).cmp(&key(b))
    });
    parts.join(";")
}

/// One unfolded content line in canonical form.
fn canonical_line(line: &str) -> String {
    let Ok(mut p) = Property::parse(line) else {
        return line.to_owned();
    };
    p.params
        .retain(|param| !SCHEDULING_PARAMS.contains(&param.name.as_str()));
    p.params
        .sort_by(|a, b| a.name.cmp(&b.name).then(a.values.cmp(&b.values)));
    if matches!(p.name.as_str(), "RRULE" | "EXRULE") {
        p.value = canonical_rule(&p.value);
    }
    p.to_line()
}

/// The comparable content lines of `payload`, each keyed by the components it is in
/// (`VEVENT`, an override as `VEVENT[<RECURRENCE-ID>]`, `VEVENT/VALARM`) and counted.
/// `VERSION` and `PRODID` say who wrote the text, not what it holds, and are left out.
pub(crate) fn comparable_lines(payload: &Payload) -> BTreeMap<String, usize> {
    let text = payload.to_text();
    let unfolded = text.replace("\r\n ", "").replace("\r\n\t", "");
    let mut path: Vec<String> = Vec::new();
    let mut out = BTreeMap::new();
    for line in unfolded.split("\r\n").filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix("BEGIN:") {
            path.push(name.to_owned());
            continue;
        }
        if line.starts_with("END:") {
            path.pop();
            continue;
        }
        if line.starts_with("VERSION:") || line.starts_with("PRODID:") {
            continue;
        }
        if line.starts_with("RECURRENCE-ID") {
            if let Some(last) = path.last_mut() {
                let value = line.rsplit(':').next().unwrap_or_default();
                *last = format!("{last}[{value}]");
            }
        }
        let inner: Vec<&str> = path
            .iter()
            .map(String::as_str)
            .filter(|c| *c != "VCALENDAR" && *c != "VCARD")
            .collect();
        *out.entry(format!("{}\u{0}{}", inner.join("/"), canonical_line(line)))
            .or_insert(0) += 1;
    }
    out
}

/// The bytes the content hash is taken of: the comparable lines in order, with counts.
pub(crate) fn comparable_bytes(payload: &Payload) -> Vec<u8> {
    let mut out = Vec::new();
    for (line, n) in comparable_lines(payload) {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(format!("\u{1}{n}\n").as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pim::CalendarObject;

    fn event(lines: &str) -> Payload {
        let ics = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART:20250106T090000Z\r\n{lines}END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        Payload::Event(CalendarObject::from_ics(&ics).unwrap())
    }

    #[test]
    fn rule_order_parameter_order_and_scheduling_do_not_count() {
        let a = event(
            "RRULE:FREQ=WEEKLY;WKST=SU;BYDAY=TU\r\nATTENDEE;CN=Bo;X-A=1;X-B=2:mailto:b@x\r\nX-P;Y=1;X=2:v\r\n",
        );
        let b = event(
            "RRULE:FREQ=WEEKLY;BYDAY=TU;WKST=SU\r\nATTENDEE;X-B=2;SCHEDULE-AGENT=CLIENT;X-A=1;CN=Bo:mailto:b@x\r\nX-P;X=2;Y=1:v\r\n",
        );
        assert_eq!(comparable_lines(&a), comparable_lines(&b));
        assert_eq!(comparable_bytes(&a), comparable_bytes(&b));
        let c = event("RRULE:FREQ=DAILY;BYDAY=TU\r\n");
        assert_ne!(comparable_bytes(&a), comparable_bytes(&c));
    }

    #[test]
    fn rules_put_freq_first() {
        assert_eq!(
            canonical_rule("BYDAY=MO;FREQ=WEEKLY;COUNT=3"),
            "FREQ=WEEKLY;BYDAY=MO;COUNT=3"
        );
    }
}
