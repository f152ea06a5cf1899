//! `messages.import` by resumable upload, for messages over the threshold \[GM-UPL\]:
//! an initiating `POST` with the metadata (`labelIds`) and `X-Upload-Content-Type` /
//! `X-Upload-Content-Length` answers a session URI in `Location`; `PUT`s of chunks
//! (multiples of 256 KiB but the last) with `Content-Range: bytes A-B/TOTAL` answer
//! `308 Resume Incomplete` with the `Range` received so far, and the final one the
//! Message. After an interrupted chunk (a cut connection, a 5xx) a `PUT` with
//! `Content-Range: bytes */TOTAL` and no body asks the session where it stands: `308` with
//! `Range` (resume after it; no `Range` means nothing arrived), `200`/`201` (it is
//! complete), or `404` (the session expired: start again).

use bytes::Bytes;
use mailmigrate_core::{Error, ErrorKind, Result};
use reqwest::header::{HeaderMap, LOCATION};
use serde::Deserialize;
use serde_json::json;

use crate::client::{Answer, Call, Client};
use crate::quota::Cost;
use crate::PROVIDER;

/// Chunks are multiples of this, all but the last \[GM-UPL\].
const QUANTUM: usize = 256 * 1024;

/// The import's parameters, as for the multipart upload \[GM-IMPORT\].
const IMPORT_QUERY: &str =
    "uploadType=resumable&internalDateSource=dateHeader&neverMarkSpam=true&processForCalendar=false";

/// `n` rounded down to a multiple of 256 KiB, at least 256 KiB.
pub(crate) fn chunk_size(n: usize) -> usize {
    (n / QUANTUM).max(1) * QUANTUM
}

/// Where a session stands after an answer.
#[derive(Debug, PartialEq, Eq)]
enum Stand {
    /// Complete: the new message's id.
    Done(String),
    /// `308`: the next byte to send.
    Incomplete(usize),
    /// `404`/`410`: the session is gone.
    Gone,
    /// Refused for another reason.
    Refused,
}

fn stand(answer: &Answer) -> Stand {
    #[derive(Deserialize)]
    struct Created {
        id: String,
    }
    match answer.status.as_u16() {
        200 | 201 => match serde_json::from_slice::<Created>(&answer.body) {
            Ok(c) => Stand::Done(c.id),
            Err(_) => Stand::Refused,
        },
        308 => Stand::Incomplete(received(&answer.headers)),
        404 | 410 => Stand::Gone,
        _ => Stand::Refused,
    }
}

/// The byte after the `Range: bytes=0-N` of a `308` (0 without one) \[GM-UPL\].
fn received(headers: &HeaderMap) -> usize {
    headers
        .get(reqwest::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes=0-"))
        .and_then(|end| end.trim().parse::<usize>().ok())
        .map_or(0, |end| end + 1)
}

/// How one session ended, when it did not fail.
enum Ended {
    Imported(String),
    /// The session expired before the message was complete: nothing was imported.
    Expired,
}

/// Imports `raw` with `labels` by resumable upload in chunks of `chunk` bytes; returns
/// the new id. A session that expires before the last byte is started again once.
///
/// # Errors
/// The import's refusals (as for the multipart upload); `Unavailable` (temporary) when
/// chunks keep failing before the last byte was sent; `Unavailable` of unknown outcome
/// when the last chunk went out and neither its answer nor the session's status could be
/// read (the engine's look-up settles it).
pub(crate) async fn import(
    client: &Client,
    raw: &Bytes,
    labels: &[String],
    what: &str,
    chunk: usize,
) -> Result<String> {
    let chunk = chunk_size(chunk);
    for _ in 0..2 {
        let session = initiate(client, raw.len(), labels, what).await?;
        match send(client, &session, raw, what, chunk).await? {
            Ended::Imported(id) => return Ok(id),
            Ended::Expired => {
                tracing::debug!(what, "upload session expired; starting a new one");
            }
        }
    }
    Err(Error::new(
        ErrorKind::Unavailable,
        format!("{what}: the upload session expired twice before the message was complete"),
    )
    .with_provider(PROVIDER)
    .temporary())
}

/// The initiating request: the session URI.
async fn initiate(client: &Client, total: usize, labels: &[String], what: &str) -> Result<String> {
    let meta = json!({ "labelIds": labels });
    // Starting a session imports nothing: safe to send again.
    let call = Call::post(
        client.upload_url(&format!("/messages/import?{IMPORT_QUERY}")),
        "application/json; charset=UTF-8",
        Bytes::from(meta.to_string()),
        Cost::Import,
        format!("{what} (starting a resumable upload)"),
    )
    .with_header("X-Upload-Content-Type", "message/rfc822")
    .with_header("X-Upload-Content-Length", total.to_string())
    .idempotent();
    let answer = client.send(&call).await?;
    if !answer.status.is_success() {
        return Err(answer.error(&call));
    }
    let location = answer
        .headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unexpected(what, "the upload session's answer has no Location"))?;
    if !same_service(client.api_root(), location) {
        // The bearer token goes along with every chunk: only to Google's own hosts.
        return Err(unexpected(
            what,
            "the upload session URI points outside the API's host",
        ));
    }
    Ok(location.to_owned())
}

/// Whether `location` is on the API root's origin, or an `https` Google API host.
fn same_service(api_root: &str, location: &str) -> bool {
    let (Ok(api), Ok(loc)) = (reqwest::Url::parse(api_root), reqwest::Url::parse(location)) else {
        return false;
    };
    let same_origin = api.origin() == loc.origin();
    let google = loc.scheme() == "https"
        && loc
            .host_str()
            .is_some_and(|h| h == "googleapis.com" || h.ends_with(".googleapis.com"));
    same_origin || google
}

/// Sends the bytes from the start, resuming after interruptions.
async fn send(
    client: &Client,
    session: &str,
    raw: &Bytes,
    what: &str,
    chunk: usize,
) -> Result<Ended> {
    let total = raw.len();
    let retries = client.limits().server_retries;
    let (mut offset, mut interrupted) = (0usize, 0u32);
    loop {
        let end = (offset + chunk).min(total);
        let last = end == total;
        let put = Call::put(
            session.to_owned(),
            raw.slice(offset..end),
            Cost::Free,
            format!(
                "{what} (bytes {offset}-{} of {total})",
                end.saturating_sub(1)
            ),
        )
        .with_header(
            "Content-Range",
            format!("bytes {offset}-{}/{total}", end.saturating_sub(1)),
        );
        let answer = match client.send(&put).await {
            Ok(a) if a.status.is_server_error() => None,
            Ok(a) => Some(a),
            // Cut off while sending or waiting: where it stands is asked below.
            Err(e) if e.kind() == ErrorKind::Unavailable => None,
            Err(e) => return Err(e),
        };
        if let Some(a) = answer {
            match stand(&a) {
                Stand::Done(id) => return Ok(Ended::Imported(id)),
                Stand::Incomplete(next) if next > offset && next <= total => {
                    offset = next;
                    continue;
                }
                // No progress: as an interruption.
                Stand::Incomplete(_) => {}
                Stand::Gone => return Ok(Ended::Expired),
                Stand::Refused => return Err(a.error(&put)),
            }
        }
        interrupted += 1;
        if interrupted > retries {
            return Err(gave_up(what, last));
        }
        tokio::time::sleep(client.limits().backoff(interrupted)).await;
        let query = Call::put(
            session.to_owned(),
            Bytes::new(),
            Cost::Free,
            format!("{what} (asking the upload session where it stands)"),
        )
        .with_header("Content-Range", format!("bytes */{total}"))
        .idempotent();
        let answer = match client.send(&query).await {
            Ok(a) => a,
            Err(e) if last => return Err(e.outcome_unknown()),
            Err(e) => return Err(e),
        };
        match stand(&answer) {
            Stand::Done(id) => return Ok(Ended::Imported(id)),
            Stand::Incomplete(next) if next <= total => offset = next,
            Stand::Incomplete(_) => {
                return Err(unexpected(what, "the session claims more bytes than sent"))
            }
            // The last chunk may have completed the message before the session went.
            Stand::Gone if last => return Err(gave_up(what, true)),
            Stand::Gone => return Ok(Ended::Expired),
            Stand::Refused if last => return Err(answer.error(&query).outcome_unknown()),
            Stand::Refused => return Err(answer.error(&query)),
        }
    }
}

fn gave_up(what: &str, last_sent: bool) -> Error {
    let err = Error::new(
        ErrorKind::Unavailable,
        format!("{what}: the resumable upload kept failing"),
    )
    .with_provider(PROVIDER);
    if last_sent {
        // The final chunk may have completed the import.
        err.outcome_unknown()
    } else {
        err.temporary()
    }
}

fn unexpected(what: &str, why: &str) -> Error {
    Error::new(ErrorKind::Unexpected, format!("{what}: {why}")).with_provider(PROVIDER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn chunks_are_multiples_of_256_kib() {
        assert_eq!(chunk_size(1), QUANTUM);
        assert_eq!(chunk_size(QUANTUM * 3 + 5), QUANTUM * 3);
    }

    #[test]
    fn the_range_header_says_what_arrived() {
        let mut h = HeaderMap::new();
        assert_eq!(received(&h), 0);
        h.insert(reqwest::header::RANGE, "bytes=0-262143".parse().unwrap());
        assert_eq!(received(&h), 262_144);
        let a = Answer {
            status: StatusCode::PERMANENT_REDIRECT,
            headers: h,
            body: Bytes::new(),
        };
        assert_eq!(stand(&a), Stand::Incomplete(262_144));
    }

    #[test]
    fn session_uris_stay_with_the_service() {
        let api = "https://gmail.googleapis.com";
        assert!(same_service(
            api,
            "https://gmail.googleapis.com/upload/x?upload_id=1"
        ));
        assert!(same_service(
            api,
            "https://www.googleapis.com/upload/x?upload_id=1"
        ));
        assert!(!same_service(api, "https://evil.example/upload"));
        assert!(!same_service(api, "http://www.googleapis.com/upload"));
        assert!(same_service(
            "http://127.0.0.1:9",
            "http://127.0.0.1:9/upload?upload_id=1"
        ));
    }
}
