//! `users.messages.import`: a message delivered as by SMTP, through the media upload
//! protocols `multipart` and `media`, or as `raw` JSON \[GM-IMPORT\]\[GM-UPL\]\[13\].

use std::collections::BTreeSet;

use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;

use super::discovery::Via;
use super::errors::{json, GoogleError};
use super::messages::render;
use super::server::{Req, State};
use super::store::Mailbox;

/// The request-size cap of the JSON (`raw`) path, as reported: "Request payload size
/// exceeds the limit: 1048576 bytes" \[GYB\]\[13\] (observed; another report says 10 MB).
const JSON_PAYLOAD_CAP: usize = 1_048_576;

/// The Message resource parts of an import body that matter: `labelIds`, `raw`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metadata {
    #[serde(default)]
    pub(crate) label_ids: Vec<String>,
    pub(crate) raw: Option<String>,
}

/// `import` \[GM-IMPORT\]: labels applied as given (no INBOX → archived, no UNREAD → read),
/// `internalDateSource` `dateHeader` by default (the `Date` header when valid, else now),
/// spam classification unless `neverMarkSpam=true`, calendar processing only with
/// `processForCalendar=true`.
pub(crate) fn import(st: &State, req: &Req, mbx: &mut Mailbox) -> Result<Response, GoogleError> {
    if req.param("uploadType") == Some("resumable") {
        // [GM-UPL] the initiating request of a resumable upload: a session, no message yet.
        return super::resumable::initiate(st, req, mbx);
    }
    let (meta, raw) = body(st, req)?;
    let v = deliver(st, mbx, meta.label_ids, raw, &req.query)?;
    Ok(json(200, &v))
}

/// Delivers `raw` with `label_ids` as `import` does, under the import's query
/// parameters; returns the Message resource (`minimal`).
pub(crate) fn deliver(
    st: &State,
    mbx: &mut Mailbox,
    label_ids: Vec<String>,
    raw: Bytes,
    query: &[(String, String)],
) -> Result<serde_json::Value, GoogleError> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let flag = |name: &str| param(name) == Some("true");
    if raw.is_empty() {
        return Err(GoogleError::invalid(
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required",
        ));
    }
    check_size(st, raw.len() as u64)?;
    mbx.check_labels(&label_ids)?;
    let mut labels: BTreeSet<String> = label_ids.into_iter().collect();
    let spam = st
        .cfg
        .spam_marker
        .as_deref()
        .is_some_and(|m| !flag("neverMarkSpam") && contains(&raw, m.as_bytes()));
    if spam {
        labels.remove("INBOX");
        labels.insert("SPAM".into());
    }
    if flag("processForCalendar") {
        st.counters().calendar_processed += 1;
    }
    let now = time::OffsetDateTime::now_utc();
    let date = match param("internalDateSource").unwrap_or("dateHeader") {
        "dateHeader" => date_header(&raw).unwrap_or(now),
        _ => now,
    };
    let ms = (date.unix_timestamp_nanos() / 1_000_000) as i64;
    let id = mbx.insert(raw, labels, ms, "import");
    Ok(render(&mbx.messages[&id], "minimal", &[]))
}

/// 413 `uploadTooLarge` over the upload cap.
pub(crate) fn check_size(st: &State, size: u64) -> Result<(), GoogleError> {
    if size > st.cfg.max_upload {
        // [GM-DISC] mediaUpload.maxSize; the wording of Google's refusal is inferred.
        return Err(GoogleError::new(
            413,
            "uploadTooLarge",
            format!(
                "Media larger than the maximum size of {} bytes",
                st.cfg.max_upload
            ),
        ));
    }
    Ok(())
}

/// The `Date` header of `raw`, when it parses.
fn date_header(raw: &[u8]) -> Option<time::OffsetDateTime> {
    let parsed = mail_parser::MessageParser::new().parse_headers(raw)?;
    let d = parsed.date().filter(|d| d.is_valid())?;
    time::OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether `content_type` is one of the method's accepted media types (`message/*`).
pub(crate) fn accepted(st_accept: &[String], content_type: &str) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    st_accept.iter().any(|a| match a.strip_suffix("/*") {
        Some(major) => ct
            .split_once('/')
            .is_some_and(|(m, _)| m.eq_ignore_ascii_case(major)),
        None => a.eq_ignore_ascii_case(ct),
    })
}

/// The metadata and the message of an import request, by protocol \[GM-UPL\].
fn body(st: &State, req: &Req) -> Result<(Metadata, Bytes), GoogleError> {
    let accept = req
        .matched
        .method
        .media
        .as_ref()
        .map(|m| m.accept.clone())
        .unwrap_or_default();
    let unsupported = |ct: &str| {
        GoogleError::invalid(format!(
            "Media type '{ct}' is not supported. Valid media types: [{}]",
            accept.join(", ")
        ))
    };
    let content_type = req.header("content-type").unwrap_or("").to_owned();
    match (req.matched.via, req.param("uploadType")) {
        (Via::Rest, _) => {
            if req.body.len() > JSON_PAYLOAD_CAP {
                return Err(GoogleError::new(
                    400,
                    "badRequest",
                    format!("Request payload size exceeds the limit: {JSON_PAYLOAD_CAP} bytes."),
                ));
            }
            let meta: Metadata = serde_json::from_slice(&req.body)
                .map_err(|e| GoogleError::invalid(format!("Invalid JSON payload received. {e}")))?;
            let raw = meta
                .raw
                .as_deref()
                .map(decode_base64url)
                .transpose()?
                .unwrap_or_default();
            Ok((meta, Bytes::from(raw)))
        }
        (Via::Upload, Some("media")) => {
            if !accepted(&accept, &content_type) {
                return Err(unsupported(&content_type));
            }
            Ok((Metadata::default(), req.body.clone()))
        }
        (Via::Upload, Some("multipart")) => {
            let (meta_part, media_ct, media) = multipart(&content_type, &req.body)?;
            if !accepted(&accept, &media_ct) {
                return Err(unsupported(&media_ct));
            }
            let meta: Metadata = serde_json::from_slice(&meta_part)
                .map_err(|e| GoogleError::invalid(format!("Invalid JSON payload received. {e}")))?;
            if meta.raw.is_some() {
                return Err(GoogleError::invalid(
                    "'raw' must not be set when the message is uploaded",
                ));
            }
            Ok((meta, media))
        }
        (_, kind) => {
            let _ = st;
            Err(GoogleError::invalid(format!(
                "Upload type {kind:?} is not emulated on this path (media and multipart are)"
            )))
        }
    }
}

/// Base64url as Gmail sends and takes it, padded or not \[GM-DISC\].
pub(crate) fn decode_base64url(s: &str) -> Result<Vec<u8>, GoogleError> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(s.trim())
        .map_err(|_| GoogleError::invalid("Invalid value for ByteString: raw"))
}

/// Splits a `multipart/related` body into its JSON metadata part and its media part (with
/// the media part's content type) \[GM-UPL\]. The CRLF before each delimiter belongs to the
/// delimiter (RFC 2046 §5.1.1), so the media comes back byte for byte.
fn multipart(content_type: &str, body: &[u8]) -> Result<(Bytes, String, Bytes), GoogleError> {
    let bad = |why: &str| GoogleError::invalid(format!("Bad multipart request: {why}"));
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/related")
    {
        return Err(bad("the Content-Type is not multipart/related"));
    }
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or_else(|| bad("no boundary"))?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    let first = find(rest, delimiter.as_bytes()).ok_or_else(|| bad("no first delimiter"))?;
    rest = &rest[first + delimiter.len()..];
    let next_delim = format!("\r\n--{boundary}");
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        let rest_line = find(rest, b"\r\n").ok_or_else(|| bad("a delimiter line does not end"))?;
        rest = &rest[rest_line + 2..];
        let end = find(rest, next_delim.as_bytes()).ok_or_else(|| bad("a part does not end"))?;
        parts.push(&rest[..end]);
        rest = &rest[end + next_delim.len()..];
    }
    let [meta, media] = parts.as_slice() else {
        return Err(bad("expected two parts: metadata and media"));
    };
    let split = |part: &[u8]| -> Result<(String, Bytes), GoogleError> {
        let at = find(part, b"\r\n\r\n").ok_or_else(|| bad("a part has no header end"))?;
        let head = String::from_utf8_lossy(&part[..at]).to_string();
        let ct = head
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        Ok((ct, Bytes::copy_from_slice(&part[at + 4..])))
    };
    let (meta_ct, meta) = split(meta)?;
    if !meta_ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(bad("the first part is not application/json"));
    }
    let (media_ct, media) = split(media)?;
    Ok((meta, media_ct, media))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_keeps_the_media_bytes() {
        let body = b"--b1\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"labelIds\":[\"INBOX\"]}\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\n\nbare\nLF\r\n--b1--\r\n";
        let (meta, ct, media) = multipart("multipart/related; boundary=b1", body).unwrap();
        assert_eq!(&meta[..], b"{\"labelIds\":[\"INBOX\"]}");
        assert_eq!(ct, "message/rfc822");
        assert_eq!(&media[..], b"Subject: x\n\nbare\nLF");
    }

    #[test]
    fn only_message_types_are_accepted() {
        let accept = vec!["message/*".to_owned()];
        assert!(accepted(&accept, "message/rfc822"));
        assert!(!accepted(&accept, "text/plain"));
    }
}
