//! The Gmail calls the mailbox makes, and their wire shapes \[GM-DISC\].

use base64::Engine;
use bytes::Bytes;
use mailmigrate_core::{Error, ErrorKind, FolderId, Result};
use serde::Deserialize;
use serde_json::json;

use super::labels::ALL_MAIL;
use crate::client::{segment, Call, Client};
use crate::quota::Cost;
use crate::PROVIDER;

/// `messages.list` pages: the most Gmail gives \[GM-DISC\]\[12\].
const PAGE: u32 = 500;

/// A Message resource, as far as it is read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Message {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) label_ids: Vec<String>,
    pub(crate) internal_date: Option<String>,
    pub(crate) raw: Option<String>,
    pub(crate) payload: Option<Payload>,
}

/// A message's top part: its headers.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Payload {
    #[serde(default)]
    pub(crate) headers: Vec<Header>,
}

/// One header field.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Header {
    pub(crate) name: String,
    pub(crate) value: String,
}

impl Message {
    /// `internalDate` (epoch ms) as a time.
    pub(crate) fn internal_date(&self) -> Option<time::OffsetDateTime> {
        let ms: i128 = self.internal_date.as_deref()?.parse().ok()?;
        time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok()
    }

    /// The `Message-ID` header without angle brackets.
    pub(crate) fn message_id(&self) -> Option<String> {
        let h = self
            .payload
            .as_ref()?
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("message-id"))?;
        let v = h.value.trim().trim_start_matches('<').trim_end_matches('>');
        (!v.is_empty()).then(|| v.to_owned())
    }

    /// The raw bytes of a `format=raw` answer (base64url, padded or not).
    pub(crate) fn raw_bytes(&self) -> Result<Bytes> {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let raw = self.raw.as_deref().unwrap_or("");
        engine.decode(raw.trim()).map(Bytes::from).map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                format!("message {}: raw is not base64url ({e})", self.id),
            )
            .with_provider(PROVIDER)
        })
    }
}

/// The query that limits a listing to `folder`: its label, and Spam and Trash included
/// only when they are the folder (`All Mail` has neither) \[GM-DISC\].
fn scope(folder: &FolderId) -> String {
    match folder.as_str() {
        ALL_MAIL => String::new(),
        id @ ("SPAM" | "TRASH") => format!("&labelIds={id}&includeSpamTrash=true"),
        id => format!("&labelIds={}", segment(id)),
    }
}

/// Whether a message with `labels` is in `folder`.
pub(crate) fn in_folder(folder: &FolderId, labels: &[String]) -> bool {
    let has = |l: &str| labels.iter().any(|x| x == l);
    match folder.as_str() {
        ALL_MAIL => !has("SPAM") && !has("TRASH"),
        id => has(id),
    }
}

/// The ids of the messages in `folder` (matching `q` when given), every page.
pub(crate) async fn list_ids(
    client: &Client,
    folder: &FolderId,
    q: Option<&str>,
) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Page {
        #[serde(default)]
        messages: Vec<Ref>,
        next_page_token: Option<String>,
    }
    #[derive(Deserialize)]
    struct Ref {
        id: String,
    }
    let mut base = format!("/messages?maxResults={PAGE}{}", scope(folder));
    if let Some(q) = q {
        base.push_str(&format!("&q={}", segment(q)));
    }
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = base.clone();
        if let Some(t) = &token {
            path.push_str(&format!("&pageToken={}", segment(t)));
        }
        let call = Call::get(
            client.url(&path),
            Cost::Read,
            format!("list messages of {folder}"),
        );
        let page: Page = client.json(&call).await?;
        ids.extend(page.messages.into_iter().map(|m| m.id));
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => return Ok(ids),
        }
    }
}

/// How much of a message to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Labels, internal date and the `Message-ID` header.
    Metadata,
    /// Labels, internal date, and the bytes.
    Raw,
}

/// The `messages.get` call for `id` in `format`.
pub(crate) fn get_call(client: &Client, id: &str, format: Format) -> Call {
    let query = match format {
        Format::Metadata => "format=metadata&metadataHeaders=Message-ID",
        Format::Raw => "format=raw",
    };
    Call::get(
        client.url(&format!("/messages/{}?{query}", segment(id))),
        Cost::Read,
        format!("get message {id}"),
    )
}

/// `messages.get`: `Ok(None)` when there is no such message.
pub(crate) async fn get(client: &Client, id: &str, format: Format) -> Result<Option<Message>> {
    let call = get_call(client, id, format);
    match client.json::<Message>(&call).await {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The `messages.list` call of one page of `folder` matching `q`, from `token`.
pub(crate) fn list_call(client: &Client, folder: &FolderId, q: &str, token: Option<&str>) -> Call {
    let mut path = format!(
        "/messages?maxResults={PAGE}{}&q={}",
        scope(folder),
        segment(q)
    );
    if let Some(t) = token {
        path.push_str(&format!("&pageToken={}", segment(t)));
    }
    Call::get(
        client.url(&path),
        Cost::Read,
        format!("list messages of {folder}"),
    )
}

/// One page of `messages.list`: the ids and the next page's token.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListPage {
    #[serde(default)]
    pub(crate) messages: Vec<Ref>,
    pub(crate) next_page_token: Option<String>,
}

/// Reads a successful answer's JSON, or its error.
pub(crate) fn read<T: serde::de::DeserializeOwned>(
    answer: &crate::client::Answer,
    call: &Call,
) -> Result<T> {
    if !answer.status.is_success() {
        return Err(answer.error(call));
    }
    serde_json::from_slice(&answer.body).map_err(|e| {
        Error::new(
            ErrorKind::Unexpected,
            format!("{}: unreadable answer ({e})", call.what),
        )
        .with_provider(PROVIDER)
    })
}

/// `getProfile`: the mailbox's current history id \[GM-HIST\] (the baseline of a full
/// listing).
pub(crate) async fn history_id(client: &Client) -> Result<u64> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Profile {
        history_id: String,
    }
    let call = Call::get(client.url("/profile"), Cost::Small, "get profile");
    let p: Profile = client.json(&call).await?;
    p.history_id.parse().map_err(|_| {
        Error::new(
            ErrorKind::Unexpected,
            format!("profile: history id {:?} is not a number", p.history_id),
        )
        .with_provider(PROVIDER)
    })
}

/// What a mailbox holds by Gmail's own counts: `messagesTotal` of `users.getProfile`
/// and the number of labels of `users.labels.list` \[GM-DISC\].
pub(crate) async fn counts(client: &Client) -> Result<mailmigrate_core::directory::MailboxStats> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Profile {
        #[serde(default)]
        messages_total: u64,
    }
    #[derive(Deserialize)]
    struct Labels {
        #[serde(default)]
        labels: Vec<serde_json::Value>,
    }
    let call = Call::get(client.url("/profile"), Cost::Small, "get profile");
    let p: Profile = client.json(&call).await?;
    let call = Call::get(client.url("/labels"), Cost::Small, "list labels");
    let l: Labels = client.json(&call).await?;
    Ok(mailmigrate_core::directory::MailboxStats::new()
        .with_messages(p.messages_total)
        .with_folders(l.labels.len() as u64))
}

/// The mailbox's delegations: each `accepted` delegate of `users.settings.delegates`
/// (\[GM-DELEG\]: they read, send and delete the account's mail) holds full access on
/// `address`; each accepted custom "from" address of `users.settings.sendAs` other than
/// the primary one (\[GM-SENDAS\]) is one `address` may send as. One unit each
/// \[GM-QUOTA\].
pub(crate) async fn delegations(
    client: &Client,
    address: &str,
) -> Result<Vec<mailmigrate_core::directory::Permission>> {
    use mailmigrate_core::directory::{Permission, Right};
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Delegate {
        delegate_email: String,
        #[serde(default)]
        verification_status: Option<String>,
    }
    #[derive(Deserialize)]
    struct Delegates {
        // Left out when there are none [GM-DISC].
        #[serde(default)]
        delegates: Vec<Delegate>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SendAs {
        send_as_email: String,
        #[serde(default)]
        is_primary: bool,
        #[serde(default)]
        verification_status: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SendAsList {
        #[serde(default)]
        send_as: Vec<SendAs>,
    }
    // Only a verified address acts: a pending, rejected or expired one grants nothing.
    let accepted = |status: &Option<String>| status.as_deref().is_none_or(|s| s == "accepted");
    let call = Call::get(
        client.url("/settings/delegates"),
        Cost::Small,
        "list delegates",
    );
    let d: Delegates = client.json(&call).await?;
    let call = Call::get(
        client.url("/settings/sendAs"),
        Cost::Small,
        "list send-as addresses",
    );
    let a: SendAsList = client.json(&call).await?;
    let mut out: Vec<Permission> = d
        .delegates
        .into_iter()
        .filter(|d| accepted(&d.verification_status))
        .map(|d| Permission::new(address, d.delegate_email, Right::FullAccess))
        .collect();
    out.extend(
        a.send_as
            .into_iter()
            .filter(|s| !s.is_primary && accepted(&s.verification_status))
            .map(|s| Permission::new(s.send_as_email, address, Right::SendAs)),
    );
    Ok(out)
}

/// A history record, as far as it is read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    #[serde(default)]
    pub(crate) messages: Vec<Ref>,
    #[serde(default)]
    pub(crate) messages_deleted: Vec<Touched>,
    #[serde(default)]
    pub(crate) labels_added: Vec<Touched>,
    #[serde(default)]
    pub(crate) labels_removed: Vec<Touched>,
}

/// A message a record names.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Ref {
    pub(crate) id: String,
}

/// A message a record changed, with the labels it changed.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Touched {
    pub(crate) message: Ref,
    #[serde(default)]
    pub(crate) label_ids: Vec<String>,
}

/// `history.list` from `start`, every page: the records and the history id to resume
/// from; `Ok(None)` when `start` is out of date (404, \[GM-HIST\]).
pub(crate) async fn history(client: &Client, start: u64) -> Result<Option<(Vec<Record>, u64)>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Page {
        #[serde(default)]
        history: Vec<Record>,
        history_id: String,
        next_page_token: Option<String>,
    }
    let mut records = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = format!("/history?startHistoryId={start}&maxResults={PAGE}");
        if let Some(t) = &token {
            path.push_str(&format!("&pageToken={}", segment(t)));
        }
        let call = Call::get(
            client.url(&path),
            Cost::History,
            format!("list history since {start}"),
        );
        let page: Page = match client.json(&call).await {
            Ok(p) => p,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        records.extend(page.history);
        if let Some(t) = page.next_page_token {
            token = Some(t);
            continue;
        }
        let last = page.history_id.parse().unwrap_or(start);
        return Ok(Some((records, last)));
    }
}

/// `messages.import` of `raw` with `labels`, as a `multipart/related` upload of the
/// exact bytes \[GM-UPL\]: delivered as by SMTP, never marked spam, no calendar
/// processing, its internal date from its `Date` header \[GM-IMPORT\]. Returns the new id.
pub(crate) async fn import(
    client: &Client,
    raw: &Bytes,
    labels: &[String],
    what: String,
) -> Result<String> {
    let boundary = boundary_for(raw);
    let meta = json!({ "labelIds": labels });
    let mut body = Vec::with_capacity(raw.len() + 512);
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(raw);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let url = client.upload_url(
        "/messages/import?uploadType=multipart&internalDateSource=dateHeader&neverMarkSpam=true&processForCalendar=false",
    );
    let call = Call::post(
        url,
        format!("multipart/related; boundary={boundary}"),
        Bytes::from(body),
        Cost::Import,
        what,
    );
    #[derive(Deserialize)]
    struct Created {
        id: String,
    }
    Ok(client.json::<Created>(&call).await?.id)
}

/// A multipart boundary that does not occur in `raw`.
fn boundary_for(raw: &[u8]) -> String {
    loop {
        let b = format!("mailmigrate-{:032x}", rand::random::<u128>());
        if !raw.windows(b.len()).any(|w| w == b.as_bytes()) {
            return b;
        }
    }
}

/// `messages.modify`: adds and removes labels (safe to repeat).
pub(crate) async fn modify(
    client: &Client,
    id: &str,
    add: &[String],
    remove: &[String],
) -> Result<()> {
    let call = Call::post_json(
        client.url(&format!("/messages/{}/modify", segment(id))),
        &json!({"addLabelIds": add, "removeLabelIds": remove}),
        Cost::Modify,
        format!("change labels of {id}"),
    )
    .idempotent();
    let answer = client.send(&call).await?;
    if answer.status.is_success() {
        Ok(())
    } else {
        Err(answer.error(&call))
    }
}
