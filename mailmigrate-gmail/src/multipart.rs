//! `multipart/mixed` bodies of `application/http` parts, as the batch endpoint sends and
//! answers them \[GM-BATCH\]: shared by the client and the emulator.

/// The `boundary` parameter of a `Content-Type` value.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The parts of a multipart body between `--boundary` lines (preamble and epilogue
/// dropped), each without the line break before the next delimiter.
pub(crate) fn split<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        let at_line_start = i == 0 || body[i - 1] == b'\n';
        if at_line_start && &body[i..i + d.len()] == d {
            starts.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    let mut parts = Vec::new();
    for w in starts.windows(2) {
        let (a, b) = (w[0] + d.len(), w[1]);
        let part = &body[a..b];
        let part = part
            .strip_prefix(b"\r\n")
            .or_else(|| part.strip_prefix(b"\n"))
            .unwrap_or(part);
        let part = part
            .strip_suffix(b"\r\n")
            .or_else(|| part.strip_suffix(b"\n"))
            .unwrap_or(part);
        parts.push(part);
    }
    parts
}

/// Header lines up to the first empty line, and what follows it.
pub(crate) fn head_and_body(part: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (head, body) = match find(part, b"\r\n\r\n") {
        Some(i) => (&part[..i], &part[i + 4..]),
        None => match find(part, b"\n\n") {
            Some(i) => (&part[..i], &part[i + 2..]),
            None => (part, &[][..]),
        },
    };
    let headers = String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    (headers, body)
}

/// An HTTP message inside a part: its start line (`GET /path HTTP/1.1`,
/// `HTTP/1.1 200 OK`), its headers and its body.
pub(crate) fn http_message(bytes: &[u8]) -> (String, Vec<(String, String)>, &[u8]) {
    let text_end = find(bytes, b"\n").unwrap_or(bytes.len());
    let start = String::from_utf8_lossy(&bytes[..text_end])
        .trim()
        .to_owned();
    let rest = bytes.get(text_end + 1..).unwrap_or(&[]);
    // Headers may be absent: the start line is then followed by the empty line at once.
    if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
        let skip = if rest.starts_with(b"\r\n") { 2 } else { 1 };
        return (start, Vec::new(), &rest[skip..]);
    }
    let (headers, body) = head_and_body(rest);
    (start, headers, body)
}

/// The value of header `name` (case-insensitive).
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_messages_come_apart() {
        let body = b"preamble\r\n--b1\r\nContent-Type: application/http\r\nContent-ID: <item-0>\r\n\r\nGET /gmail/v1/users/me/profile HTTP/1.1\r\n\r\n\r\n--b1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--b1--\r\n";
        assert_eq!(
            boundary("multipart/mixed; boundary=\"b1\"").as_deref(),
            Some("b1")
        );
        let parts = split(body, "b1");
        assert_eq!(parts.len(), 2);
        let (h, inner) = head_and_body(parts[0]);
        assert_eq!(header(&h, "content-id"), Some("<item-0>"));
        let (start, _, b) = http_message(inner);
        assert_eq!(start, "GET /gmail/v1/users/me/profile HTTP/1.1");
        assert!(b.iter().all(u8::is_ascii_whitespace));
        let (_, inner) = head_and_body(parts[1]);
        let (start, hs, b) = http_message(inner);
        assert_eq!(start, "HTTP/1.1 200 OK");
        assert_eq!(header(&hs, "Content-Type"), Some("application/json"));
        assert_eq!(b, b"{\"a\":1}");
    }
}
