//! The requests of the mailbox import/export API (\[G-EXP\]\[G-IMP\]\[G-IMPS\]\[G-MBXF\]),
//! one function each, with what their answers mean for the path a message takes.

use std::collections::HashMap;

use bytes::Bytes;
use mailmigrate_core::{ContentHash, Result};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::client::{segment, Answer, Call, Client};

/// \[G-EXP\]: "You can export up to 20 items in a single export request."
pub(super) const MAX_EXPORT: usize = 20;

/// Characters escaped in a mailbox id segment: `MBX:e0643f21@a7809c93` goes as the
/// documentation writes it (`:` and `@` are path characters, RFC 3986 `pchar`).
const MAILBOX_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b':');

/// `{graph}/admin/exchange/mailboxes/{mailboxId}{path}` \[G-MBXF\]\[G-EXP\]\[G-IMPS\].
fn admin_url(client: &Client, mailbox: &str, path: &str) -> String {
    let id = percent_encoding::utf8_percent_encode(mailbox, MAILBOX_SEGMENT);
    client.url(&format!("/admin/exchange/mailboxes/{id}{path}"))
}

/// Whether an answer says the API is not there for this app or tenant: 403 (no
/// `MailboxItem.ImportExport.All`, \[G-EXP\]\[G-IMPS\]), 404 or 501 (an endpoint the cloud
/// lacks; \[G-EXP\]: global service only), or 400 for an unknown segment.
pub(super) fn not_offered(answer: &Answer) -> bool {
    match answer.status {
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::NOT_IMPLEMENTED => true,
        StatusCode::BAD_REQUEST => {
            String::from_utf8_lossy(&answer.body).contains("Resource not found for the segment")
        }
        _ => false,
    }
}

/// Why the API is off, from a refusal.
fn refusal(what: &str, answer: &Answer) -> String {
    format!("{what} answered {}", answer.status.as_u16())
}

/// The mailbox id of the client's user: `primaryMailboxId` of `GET
/// /users/{id}/settings/exchange` (`exchangeSettings`, \[IE-GA\] part 1; Graph docs `api-reference/beta/api/usersettings-list-exchange.md`).
/// `Ok(Err(reason))` when the API is not offered.
pub(super) async fn mailbox_id(client: &Client) -> Result<std::result::Result<String, String>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Settings {
        primary_mailbox_id: Option<String>,
    }
    let call = Call::get(
        client.user_url("/settings/exchange"),
        "GET settings/exchange",
    );
    let answer = client.send(&call).await?;
    if not_offered(&answer) {
        return Ok(Err(refusal("settings/exchange", &answer)));
    }
    if !answer.status.is_success() {
        return Err(answer.error(&call));
    }
    let s: Settings = answer.json(&call.what)?;
    Ok(s.primary_mailbox_id
        .ok_or_else(|| "settings/exchange named no primary mailbox".to_owned()))
}

/// Whether the import API addresses the destination folder `folder` by the id Graph's
/// mail API gave it (`GET …/folders/{id}`, \[G-MBXF\]). `Ok(Err(reason))`: the folder is
/// not addressable, or the API is not offered (then `offered` is false).
pub(super) async fn folder_addressable(
    client: &Client,
    mailbox: &str,
    folder: &str,
) -> Result<(bool, std::result::Result<(), String>)> {
    let call = Call::get(
        admin_url(client, mailbox, &format!("/folders/{}", segment(folder))),
        format!("GET mailbox folder {folder}"),
    );
    let answer = client.send(&call).await?;
    if answer.status.is_success() {
        return Ok((true, Ok(())));
    }
    // Discovery answered, so a 404 is the folder's own: unknown to the import API.
    if answer.status == StatusCode::NOT_FOUND {
        return Ok((
            true,
            Err(format!("the import API does not know folder {folder}")),
        ));
    }
    if not_offered(&answer) {
        return Ok((false, Err(refusal("mailbox folders", &answer))));
    }
    Err(answer.error(&call))
}

/// One item of an export: its opaque stream, or why it was not exported.
#[derive(Debug)]
pub(super) enum Exported {
    /// The base64 FastTransfer stream, as exported (never decoded, \[G-IMP\]).
    Data(String),
    /// The item's own error (`exportItemResponse.error`, a `mailTipsError`).
    Refused(String),
}

/// `POST …/exportItems` for up to [`MAX_EXPORT`] ids of one mailbox \[G-EXP\]: each id's
/// stream, by id. `Ok(Err(reason))` when the API is not offered.
pub(super) async fn export(
    client: &Client,
    mailbox: &str,
    ids: &[&str],
) -> Result<std::result::Result<HashMap<String, Exported>, String>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Item {
        item_id: Option<String>,
        data: Option<String>,
        error: Option<MailTipsError>,
    }
    #[derive(Deserialize)]
    struct MailTipsError {
        code: Option<String>,
        message: Option<String>,
    }
    #[derive(Deserialize)]
    struct Items {
        #[serde(default)]
        value: Vec<Item>,
    }
    let call = Call::json(
        Method::POST,
        admin_url(client, mailbox, "/exportItems"),
        &json!({ "itemIds": ids }),
        format!("export {} items", ids.len()),
    );
    let answer = client.send(&call).await?;
    if not_offered(&answer) {
        return Ok(Err(refusal("exportItems", &answer)));
    }
    if !answer.status.is_success() {
        return Err(answer.error(&call));
    }
    let items: Items = answer.json(&call.what)?;
    // By the id each answer echoes; where the answers name the items otherwise (another
    // id form) but one came per id, by position: the documented sample answers in the
    // request's order [G-EXP].
    let by_id = items
        .value
        .iter()
        .all(|i| i.item_id.as_deref().is_some_and(|id| ids.contains(&id)));
    let by_position = !by_id && items.value.len() == ids.len();
    let mut out = HashMap::new();
    for (n, item) in items.value.into_iter().enumerate() {
        let id = if by_position {
            ids[n].to_owned()
        } else {
            match item.item_id {
                Some(id) => id,
                None => continue,
            }
        };
        let got = match (item.data, item.error) {
            (Some(data), None) => Exported::Data(data),
            (_, Some(e)) => Exported::Refused(format!(
                "{}: {}",
                e.code.unwrap_or_default(),
                e.message.unwrap_or_default()
            )),
            (None, None) => Exported::Refused("no data".into()),
        };
        out.insert(id, got);
    }
    Ok(Ok(out))
}

/// An import session: its pre-authenticated URL and when it expires \[G-IMPS\].
/// `Debug` leaves the URL out: its `authtoken` is the session's secret (\[IE-GA\] part 3).
#[derive(Clone)]
pub(super) struct Session {
    pub(super) url: String,
    expires: Option<OffsetDateTime>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether the URL is still good for a request started now, with a minute to spare
    /// (\[IE-GA\] part 3: clients track the expiry themselves).
    pub(super) fn fresh(&self) -> bool {
        self.expires
            .is_none_or(|e| OffsetDateTime::now_utc() + time::Duration::minutes(1) < e)
    }
}

/// `POST …/createImportSession` (no body) → `{importUrl, expirationDateTime}` \[G-IMPS\]
/// (200 there, 201 in \[G-IMP\]: any success). `Ok(Err(reason))` when not offered.
pub(super) async fn create_session(
    client: &Client,
    mailbox: &str,
) -> Result<std::result::Result<Session, String>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Created {
        import_url: String,
        expiration_date_time: Option<String>,
    }
    // An empty body, so the POST carries `Content-Length: 0` (Graph answers 411 without).
    let call = Call::bytes(
        Method::POST,
        admin_url(client, mailbox, "/createImportSession"),
        "application/json",
        Bytes::new(),
        "create an import session",
    );
    let answer = client.send(&call).await?;
    if not_offered(&answer) {
        return Ok(Err(refusal("createImportSession", &answer)));
    }
    if !answer.status.is_success() {
        return Err(answer.error(&call));
    }
    let c: Created = answer.json(&call.what)?;
    Ok(Ok(Session {
        url: c.import_url,
        expires: c
            .expiration_date_time
            .as_deref()
            .and_then(|d| OffsetDateTime::parse(d, &Rfc3339).ok()),
    }))
}

/// What one `importItem` came to.
#[derive(Debug)]
pub(super) enum Imported {
    /// The new item's id \[G-IMP\] `importMailboxItemResponse.itemId`.
    Created(String),
    /// 401 or 403: the session's token expired (or was refused); nothing was created.
    SessionExpired,
    /// 404 or 501: the import URL is not there; nothing was created.
    NotOffered(String),
}

/// `POST {importUrl}` `{"FolderId", "Mode": "create", "Data"}` \[G-IMP\]: pre-authenticated,
/// so sent without the bearer token; `create` carries no `ItemId`/`ChangeKey`.
///
/// # Errors
/// Graph's refusal; a lost answer is of unknown outcome (the client marks a write cut
/// off after it left so).
pub(super) async fn import(
    client: &Client,
    session: &Session,
    folder: &str,
    data: &str,
    what: String,
) -> Result<Imported> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Created {
        item_id: String,
    }
    let call = Call::json(
        Method::POST,
        session.url.clone(),
        &json!({"FolderId": folder, "Mode": "create", "Data": data}),
        what,
    )
    .preauthenticated();
    let answer = client.send(&call).await?;
    match answer.status {
        s if s.is_success() => Ok(Imported::Created(
            answer.json::<Created>(&call.what)?.item_id,
        )),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(Imported::SessionExpired),
        StatusCode::NOT_FOUND | StatusCode::NOT_IMPLEMENTED => {
            Ok(Imported::NotOffered(refusal("importItem", &answer)))
        }
        _ => Err(answer.error(&call)),
    }
}

/// Stamps the imported item `id` with the content hash the engine knows the message by
/// (the same named property the JSON path sets at creation, \[G-EXT\]\[G-UPD\]).
///
/// # Errors
/// Any failure is of unknown outcome: the copy exists, and the look-up that settles it
/// finds it by its `Message-ID` and bytes, and stamps it.
pub(super) async fn stamp(client: &Client, id: &str, hash: &ContentHash) -> Result<()> {
    let call = Call::json(
        Method::PATCH,
        client.user_url(&format!("/messages/{}", segment(id))),
        &json!({"singleValueExtendedProperties": [
            {"id": crate::mail::hash_property(), "value": hash.to_hex()}
        ]}),
        format!("stamp imported message {id}"),
    );
    match client.send(&call).await {
        Ok(a) if a.status.is_success() => Ok(()),
        Ok(a) => Err(a.error(&call).outcome_unknown()),
        Err(e) => Err(e.outcome_unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn answer(status: u16, body: &'static str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn refusals_that_mean_the_api_is_not_there() {
        for s in [403, 404, 501] {
            assert!(not_offered(&answer(s, "{}")), "{s}");
        }
        assert!(not_offered(&answer(
            400,
            r#"{"error":{"message":"Resource not found for the segment 'exchange'."}}"#
        )));
        assert!(!not_offered(&answer(400, "{}")));
        assert!(!not_offered(&answer(503, "{}")));
    }

    #[test]
    fn a_session_does_not_show_its_token() {
        let s = Session {
            url: "https://outlook.office365.com/x?authtoken=s3cret".into(),
            expires: None,
        };
        assert!(!format!("{s:?}").contains("s3cret"));
        assert!(s.fresh());
    }
}
