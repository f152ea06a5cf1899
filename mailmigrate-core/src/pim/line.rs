//! Content lines, the syntax vCard (RFC 6350 §3) and iCalendar (RFC 5545 §3.1) share:
//! `group.NAME;PARAM=value,"quoted:value":value`, folded at 75 octets, text escaped with
//! backslashes, parameter values caret-encoded (RFC 6868).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The longest physical line, in octets, excluding the CRLF (RFC 5545 §3.1, RFC 6350 §3.2).
pub const FOLD_OCTETS: usize = 75;

/// A property parameter such as `TYPE=work,voice` or `TZID=Europe/Berlin`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Param {
    /// The upper-cased name.
    pub name: String,
    /// The decoded values (caret escapes and quotes removed).
    pub values: Vec<String>,
}

impl Param {
    /// Builds a parameter; the name is upper-cased.
    pub fn new<I, S>(name: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: name.to_ascii_uppercase(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// The first value, if any.
    pub fn value(&self) -> Option<&str> {
        self.values.first().map(String::as_str)
    }
}

/// One content line, kept verbatim apart from unfolding and parameter decoding: `value`
/// is the text exactly as it appeared, still escaped, so re-writing it loses nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Property {
    /// The group prefix (`item1` in `item1.EMAIL`), if any.
    pub group: Option<String>,
    /// The upper-cased name.
    pub name: String,
    /// The parameters, in order.
    pub params: Vec<Param>,
    /// The raw (still escaped) value.
    pub value: String,
}

impl Property {
    /// Builds a property from a raw, already escaped value; the name is upper-cased.
    ///
    /// ```
    /// use mailmigrate_core::pim::{escape_text, Property};
    /// let p = Property::new("x-note", escape_text("a, b"));
    /// assert_eq!(p.to_line(), "X-NOTE:a\\, b");
    /// ```
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        Self {
            group: None,
            name: name.to_ascii_uppercase(),
            params: Vec::new(),
            value: value.into(),
        }
    }

    /// Adds a parameter.
    #[must_use]
    pub fn with_param(mut self, param: Param) -> Self {
        self.params.push(param);
        self
    }

    /// Sets the group.
    #[must_use]
    pub fn with_group(mut self, group: Option<String>) -> Self {
        self.group = group;
        self
    }

    /// The parameter called `name` (case-insensitive), if present.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Removes and returns the parameter called `name` (case-insensitive).
    pub(crate) fn take_param(&mut self, name: &str) -> Option<Param> {
        let i = self
            .params
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name))?;
        Some(self.params.remove(i))
    }

    /// The unescaped text value.
    pub fn text(&self) -> String {
        unescape_text(&self.value)
    }

    /// The unfolded content line, without CRLF.
    pub fn to_line(&self) -> String {
        let mut s = String::new();
        if let Some(g) = &self.group {
            s.push_str(g);
            s.push('.');
        }
        s.push_str(&self.name);
        for p in &self.params {
            s.push(';');
            s.push_str(&p.name);
            if p.values.is_empty() {
                continue;
            }
            s.push('=');
            for (i, v) in p.values.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                write_param_value(&mut s, v);
            }
        }
        s.push(':');
        s.push_str(&self.value);
        s
    }

    /// Parses one unfolded content line.
    pub(crate) fn parse(line: &str) -> Result<Self, &'static str> {
        let bytes = line.as_bytes();
        let name_end = bytes
            .iter()
            .position(|&b| b == b';' || b == b':')
            .ok_or("content line without ':'")?;
        let full_name = &line[..name_end];
        let (group, name) = match full_name.rfind('.') {
            Some(i) => (Some(&full_name[..i]), &full_name[i + 1..]),
            None => (None, full_name),
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !valid(name) || group.is_some_and(|g| !g.split('.').all(valid)) {
            return Err("invalid property name");
        }
        let mut params = Vec::new();
        let mut i = name_end;
        while bytes.get(i) == Some(&b';') {
            i += 1;
            let pn_end = i + bytes[i..]
                .iter()
                .position(|&b| matches!(b, b'=' | b';' | b':'))
                .ok_or("parameter without ':' after it")?;
            let pname = line[i..pn_end].trim();
            if pname.is_empty() {
                return Err("empty parameter name");
            }
            i = pn_end;
            if bytes[i] != b'=' {
                // vCard 2.1 bare parameter (`TEL;WORK;VOICE:`) means a TYPE.
                params.push(Param::new("TYPE", [pname.to_owned()]));
                continue;
            }
            i += 1;
            let mut values = Vec::new();
            loop {
                if bytes.get(i) == Some(&b'"') {
                    let close = bytes[i + 1..]
                        .iter()
                        .position(|&b| b == b'"')
                        .ok_or("unterminated quoted parameter value")?;
                    values.push(decode_caret(&line[i + 1..i + 1 + close]));
                    i += close + 2;
                } else {
                    let end = i + bytes[i..]
                        .iter()
                        .position(|&b| matches!(b, b',' | b';' | b':'))
                        .ok_or("parameter without ':' after it")?;
                    values.push(decode_caret(&line[i..end]));
                    i = end;
                }
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    Some(b';' | b':') => break,
                    _ => return Err("malformed parameter value"),
                }
            }
            params.push(Param {
                name: pname.to_ascii_uppercase(),
                values,
            });
        }
        if bytes.get(i) != Some(&b':') {
            return Err("content line without ':'");
        }
        Ok(Self {
            group: group.map(str::to_owned),
            name: name.to_ascii_uppercase(),
            params,
            value: line[i + 1..].to_owned(),
        })
    }
}

/// A component (`VEVENT`, `VALARM`, `VTIMEZONE`…) kept as properties and sub-components.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Component {
    /// The upper-cased name (`VTIMEZONE`).
    pub name: String,
    /// Its properties, in order.
    pub properties: Vec<Property>,
    /// Nested components (`STANDARD`, `DAYLIGHT`…).
    pub components: Vec<Component>,
}

impl Component {
    /// An empty component; the name is upper-cased.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_ascii_uppercase(),
            properties: Vec::new(),
            components: Vec::new(),
        }
    }

    /// The first property called `name` (case-insensitive).
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Appends the folded component, `BEGIN` to `END`, to `out`.
    pub(crate) fn write(&self, out: &mut String) {
        fold_into(out, &format!("BEGIN:{}", self.name));
        for p in &self.properties {
            fold_into(out, &p.to_line());
        }
        for c in &self.components {
            c.write(out);
        }
        fold_into(out, &format!("END:{}", self.name));
    }
}

fn write_param_value(s: &mut String, v: &str) {
    let quote = v.contains([':', ';', ',']);
    if quote {
        s.push('"');
    }
    for c in v.chars() {
        match c {
            '^' => s.push_str("^^"),
            '\n' => s.push_str("^n"),
            '"' => s.push_str("^'"),
            '\r' => {}
            c => s.push(c),
        }
    }
    if quote {
        s.push('"');
    }
}

fn decode_caret(v: &str) -> String {
    if !v.contains('^') {
        return v.to_owned();
    }
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars().peekable();
    while let Some(c) = it.next() {
        if c == '^' {
            match it.peek() {
                Some('^') => out.push('^'),
                Some('n' | 'N') => out.push('\n'),
                Some('\'') => out.push('"'),
                _ => {
                    out.push('^');
                    continue;
                }
            }
            it.next();
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes text for a property value: `\` `;` `,` and line breaks (RFC 6350 §3.4,
/// RFC 5545 §3.3.11).
///
/// ```
/// use mailmigrate_core::pim::{escape_text, unescape_text};
/// let s = "a;b,c\\d\ne";
/// assert_eq!(escape_text(s), "a\\;b\\,c\\\\d\\ne");
/// assert_eq!(unescape_text(&escape_text(s)), s);
/// ```
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                if it.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape_text`]; also accepts `\N` and a stray `\:`. An unknown escape keeps
/// its backslash.
pub fn unescape_text(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(c @ ('\\' | ';' | ',' | ':')) => out.push(c),
            Some(c) => {
                out.push('\\');
                out.push(c);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Splits `s` at every `sep` not escaped by a backslash; the parts stay escaped.
pub(crate) fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Appends `line` to `out`, folded so that no physical line exceeds [`FOLD_OCTETS`]
/// octets, never splitting a UTF-8 character, each line ending in CRLF.
///
/// ```
/// use mailmigrate_core::pim::fold;
/// let line = format!("SUMMARY:{}", "é".repeat(60));
/// let folded = fold(&line);
/// assert!(folded.split("\r\n").all(|l| l.len() <= 75));
/// assert_eq!(folded.replace("\r\n ", ""), format!("{line}\r\n"));
/// ```
pub fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3 + 2);
    fold_into(&mut out, line);
    out
}

pub(crate) fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    let mut first = true;
    loop {
        let limit = if first { FOLD_OCTETS } else { FOLD_OCTETS - 1 };
        if !first {
            out.push(' ');
        }
        if rest.len() <= limit {
            out.push_str(rest);
            out.push_str("\r\n");
            return;
        }
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n");
        rest = &rest[cut..];
        first = false;
    }
}

/// Unfolds physical lines into logical content lines, with the number of the physical
/// line each starts on. Blank lines are skipped. A vCard 2.1 quoted-printable value
/// ending in `=` continues on the next line.
#[derive(Debug)]
pub(crate) struct Lines<'a> {
    rest: &'a str,
    line_no: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(input: &'a str) -> Self {
        Self {
            rest: input.strip_prefix('\u{feff}').unwrap_or(input),
            line_no: 0,
        }
    }

    fn physical(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match self.rest.find('\n') {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, ""),
        };
        self.rest = rest;
        self.line_no += 1;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    fn peek_continues(&self) -> bool {
        self.rest.starts_with([' ', '\t'])
    }
}

fn is_quoted_printable_soft_break(line: &str) -> bool {
    if !line.ends_with('=') {
        return false;
    }
    let head = line.split(':').next().unwrap_or_default();
    head.to_ascii_uppercase().contains("QUOTED-PRINTABLE")
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let mut line: Cow<'a, str> = loop {
            let l = self.physical()?;
            if !l.trim().is_empty() {
                break Cow::Borrowed(l);
            }
        };
        let start = self.line_no;
        loop {
            if self.peek_continues() {
                let next = self.physical().unwrap_or_default();
                line.to_mut().push_str(&next[1..]);
            } else if is_quoted_printable_soft_break(&line) && !self.rest.is_empty() {
                let next = self.physical().unwrap_or_default();
                let joined = line.to_mut();
                joined.pop();
                joined.push_str(next);
            } else {
                return Some((start, line));
            }
        }
    }
}

/// Decodes a quoted-printable value (vCard 2.1), with soft line breaks already joined.
/// Line breaks in the result become `\n` escapes so the value stays one content line.
pub(crate) fn decode_quoted_printable(raw: &str) -> String {
    let mut bytes = Vec::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => {
                    bytes.push(v);
                    i += 3;
                }
                None => {
                    bytes.push(b'=');
                    i += 1;
                }
            }
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut out = String::with_capacity(text.len());
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\r' => {
                if it.peek() == Some(&'\n') {
                    it.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One logical line, classified.
#[derive(Debug)]
pub(crate) enum Item {
    Begin(String),
    End(String),
    Prop(Property),
}

/// Where a parse failed: a physical line number and a reason without content.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) message: String,
    /// The structure is broken: nothing after this point can be trusted.
    pub(crate) fatal: bool,
    /// The UID of the component being read, when it got that far.
    pub(crate) uid: Option<String>,
}

impl ParseError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
            fatal: false,
            uid: None,
        }
    }

    fn fatal(line: usize, message: String, comp: &Component) -> Self {
        Self {
            line,
            message,
            fatal: true,
            uid: comp.property("UID").map(Property::text),
        }
    }
}

pub(crate) fn classify(line: usize, text: &str) -> Result<Item, ParseError> {
    let mut prop = Property::parse(text).map_err(|m| ParseError::new(line, m))?;
    if prop.params.is_empty() && prop.group.is_none() {
        match prop.name.as_str() {
            "BEGIN" => return Ok(Item::Begin(prop.value.trim().to_ascii_uppercase())),
            "END" => return Ok(Item::End(prop.value.trim().to_ascii_uppercase())),
            _ => {}
        }
    }
    let qp = prop
        .param("ENCODING")
        .and_then(Param::value)
        .is_some_and(|v| v.eq_ignore_ascii_case("QUOTED-PRINTABLE"));
    if qp {
        prop.take_param("ENCODING");
        prop.value = decode_quoted_printable(&prop.value);
    }
    // The text is UTF-8 once it is a Rust string; a vCard 2.1/3.0 CHARSET says nothing more.
    prop.take_param("CHARSET");
    Ok(Item::Prop(prop))
}

/// Reads the body of a component whose `BEGIN:name` was on line `start`, up to and
/// including its `END`. A bad property line fails this component only (its `END` is still
/// found); a missing or mismatched `END` is fatal.
pub(crate) fn read_component(
    lines: &mut Lines<'_>,
    name: &str,
    start: usize,
) -> Result<Component, ParseError> {
    let mut comp = Component::new(name);
    let mut first_error: Option<ParseError> = None;
    loop {
        let Some((n, text)) = lines.next() else {
            return Err(ParseError::fatal(
                start,
                format!("BEGIN:{name} without END"),
                &comp,
            ));
        };
        match classify(n, &text) {
            Ok(Item::Begin(child)) => match read_component(lines, &child, n) {
                Ok(c) => comp.components.push(c),
                Err(e) if e.fatal => return Err(e),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            },
            Ok(Item::End(end)) if end == name => break,
            Ok(Item::End(end)) => {
                return Err(ParseError::fatal(
                    n,
                    format!("END:{end} inside BEGIN:{name}"),
                    &comp,
                ));
            }
            Ok(Item::Prop(p)) => comp.properties.push(p),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(mut e) => {
            e.uid = comp.property("UID").map(Property::text);
            Err(e)
        }
        None => Ok(comp),
    }
}

/// Writes `values` escaped and joined with `sep`.
pub(crate) fn join_escaped(values: &[String], sep: char) -> String {
    let mut s = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push(sep);
        }
        let _ = write!(s, "{}", escape_text(v));
    }
    s
}

/// Splits a raw value at unescaped `sep` and unescapes each part; an empty value gives
/// no parts.
pub(crate) fn split_text(raw: &str, sep: char) -> Vec<String> {
    if raw.is_empty() {
        return Vec::new();
    }
    split_unescaped(raw, sep)
        .into_iter()
        .map(unescape_text)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_group_params_quotes_and_colons_in_value() {
        let p = Property::parse(
            "item1.TEL;TYPE=work,\"voice;x\";X-LABEL=\"a:b\";PREF=1:tel:+1-555;ext=1",
        )
        .unwrap();
        assert_eq!(p.group.as_deref(), Some("item1"));
        assert_eq!(p.name, "TEL");
        assert_eq!(p.params[0].values, vec!["work", "voice;x"]);
        assert_eq!(p.param("x-label").unwrap().value(), Some("a:b"));
        assert_eq!(p.value, "tel:+1-555;ext=1");
        let back = Property::parse(&p.to_line()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn caret_encoding_round_trips() {
        let p = Property::new("X", "v").with_param(Param::new("X-P", ["say \"hi\"\n^up"]));
        let line = p.to_line();
        assert_eq!(line, "X;X-P=say ^'hi^'^n^^up:v");
        assert_eq!(Property::parse(&line).unwrap(), p);
    }

    #[test]
    fn bare_params_become_types() {
        let p = Property::parse("TEL;WORK;VOICE:123").unwrap();
        let types: Vec<_> = p.params.iter().map(|p| p.values[0].as_str()).collect();
        assert_eq!(types, ["WORK", "VOICE"]);
        assert!(p.params.iter().all(|p| p.name == "TYPE"));
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            "NOVALUE",
            ":value",
            "X;P=\"open:value",
            "BAD NAME:x",
            "X;=v:x",
        ] {
            assert!(Property::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folds_at_75_octets_without_splitting_characters() {
        let line = format!("DESCRIPTION:{}", "日本語テキスト".repeat(20));
        let folded = fold(&line);
        for l in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= FOLD_OCTETS, "{} octets", l.len());
        }
        let mut lines = Lines::new(&folded);
        assert_eq!(lines.next().unwrap().1, line);
        assert!(lines.next().is_none());
    }

    #[test]
    fn unfolds_tabs_and_lf_only_input_and_counts_lines() {
        let input = "BEGIN:X\nA:one\n\ttwo\n  three\n\nEND:X";
        let got: Vec<(usize, String)> = Lines::new(input).map(|(n, l)| (n, l.into())).collect();
        assert_eq!(
            got,
            vec![
                (1, "BEGIN:X".into()),
                (2, "A:onetwo three".into()),
                (6, "END:X".into())
            ]
        );
    }

    #[test]
    fn quoted_printable_soft_breaks_and_decoding() {
        let input =
            "NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Gr=C3=BC=C3=9Fe=0D=0A=\nzweite Zeile\r\n";
        let (_, line) = Lines::new(input).next().unwrap();
        let Item::Prop(p) = classify(1, &line).unwrap() else {
            panic!("not a property")
        };
        assert!(p.params.is_empty());
        assert_eq!(p.text(), "Grüße\nzweite Zeile");
    }

    #[test]
    fn split_respects_escapes() {
        assert_eq!(split_unescaped("a\\;b;c", ';'), vec!["a\\;b", "c"]);
        assert_eq!(split_text("x\\,y,z", ','), vec!["x,y", "z"]);
        assert!(split_text("", ',').is_empty());
    }

    #[test]
    fn mismatched_end_is_fatal_bad_line_is_not() {
        let mut l = Lines::new("A:1\nEND:Y\n");
        let e = read_component(&mut l, "X", 1).unwrap_err();
        assert!(e.fatal);
        let mut l = Lines::new("garbage\nEND:X\nBEGIN:X\n");
        let e = read_component(&mut l, "X", 1).unwrap_err();
        assert!(!e.fatal);
        assert_eq!(e.line, 1);
        // The reader resumed after the END.
        assert_eq!(l.next().unwrap().1, "BEGIN:X");
    }
}
