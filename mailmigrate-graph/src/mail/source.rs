//! Reading: a folder's changes by delta query, and each message's MIME.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use mailmigrate_core::{
    Change, Checkpoint, ErrorKind, Flag, Flags, FolderId, ItemResult, MessageId, MessageMeta,
    RawMessage, Result, Source,
};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::Graph;
use crate::client::{segment, Call, Client};
use crate::delta::{delta, DeltaEvent, DeltaQuery};

/// The fields a delta listing asks for: what a message's metadata is made of.
const DELTA_SELECT: &str = "isRead,isDraft,flag,categories,receivedDateTime,internetMessageId";

/// `PR_LAST_VERB_EXECUTED` ([MS-OXCMSG]): how `\Answered` and `$Forwarded` are kept.
pub(super) const LAST_VERB: &str = "Integer 0x1081";
/// `PR_LAST_VERB_EXECUTED` values: replied to sender, replied to all, forwarded.
pub(super) const VERB_REPLY: u32 = 102;
const VERB_REPLY_ALL: u32 = 103;
pub(super) const VERB_FORWARD: u32 = 104;

/// The `$expand` that reads the last verb with a message ([G-MDELTA]: delta takes
/// `$expand`).
fn expand_verb() -> String {
    format!("singleValueExtendedProperties($filter=id eq '{LAST_VERB}')")
}

/// Messages per delta page.
const DELTA_PAGE: u32 = 100;

/// One entry of a delta page ([G-MDELTA]): a message, or `@removed` for one that left the
/// folder. Look-ups read messages in the same shape.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeltaItem {
    pub(super) id: String,
    #[serde(rename = "@removed")]
    removed: Option<serde_json::Value>,
    is_read: Option<bool>,
    is_draft: Option<bool>,
    flag: Option<FollowUp>,
    categories: Option<Vec<String>>,
    received_date_time: Option<String>,
    internet_message_id: Option<String>,
    #[serde(default)]
    single_value_extended_properties: Vec<Property>,
}

/// One extended property as Graph renders it.
#[derive(Debug, Deserialize)]
pub(super) struct Property {
    pub(super) id: String,
    pub(super) value: String,
}

/// The flags `\Answered` and `$Forwarded` of a last verb.
pub(super) fn verb_flags(props: &[Property]) -> Option<Flag> {
    let verb = props
        .iter()
        .find(|p| {
            p.id.eq_ignore_ascii_case(LAST_VERB) || p.id.eq_ignore_ascii_case("Integer 0x1081")
        })?
        .value
        .trim()
        .parse::<u32>()
        .ok()?;
    match verb {
        VERB_REPLY | VERB_REPLY_ALL => Some(Flag::Answered),
        VERB_FORWARD => Some(Flag::Keyword(FORWARDED.into())),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FollowUp {
    flag_status: Option<String>,
}

impl DeltaItem {
    /// An update may carry only the properties that changed ([G-MDELTA]); such an entry
    /// says nothing of the others, and is read in full before it is listed.
    fn is_partial(&self) -> bool {
        self.removed.is_none() && (self.is_read.is_none() || self.categories.is_none())
    }

    fn into_change(self, folder: &FolderId) -> Change {
        if self.removed.is_some() {
            return Change::Removed(MessageId::new(self.id));
        }
        let (flags, date) = (self.flags(), self.received());
        Change::Upsert(
            MessageMeta::new(MessageId::new(self.id), folder.clone())
                .with_flags(flags)
                .with_internal_date(date)
                // Graph gives `<id@host>`; the core carries the bare id.
                .with_message_id(
                    self.internet_message_id
                        .as_deref()
                        .and_then(mailmigrate_core::headers::bare_message_id),
                ),
        )
    }

    /// The flags the fields say: `isRead`, `isDraft`, the follow-up flag, categories as
    /// keywords, the last verb.
    pub(super) fn flags(&self) -> Flags {
        let mut flags = Flags::new();
        if self.is_read == Some(true) {
            flags.insert(Flag::Seen);
        }
        if self.is_draft == Some(true) {
            flags.insert(Flag::Draft);
        }
        if self
            .flag
            .as_ref()
            .and_then(|f| f.flag_status.as_deref())
            .is_some_and(|s| s.eq_ignore_ascii_case("flagged"))
        {
            flags.insert(Flag::Flagged);
        }
        flags.extend(self.categories.iter().flatten().cloned().map(Flag::Keyword));
        flags.extend(verb_flags(&self.single_value_extended_properties));
        flags
    }

    /// `receivedDateTime`, the internal date.
    pub(super) fn received(&self) -> Option<OffsetDateTime> {
        self.received_date_time
            .as_deref()
            .and_then(|d| OffsetDateTime::parse(d, &Rfc3339).ok())
    }
}

/// The message `id` with every field a listing reads; `None` when it is gone.
async fn read_in_full(client: &Client, id: String) -> Result<Option<DeltaItem>> {
    let call = Call::get(
        client.user_url(&format!(
            "/messages/{}?$select={DELTA_SELECT}&$expand={}",
            segment(&id),
            expand_verb()
        )),
        format!("GET message {id}"),
    );
    match client.json::<DeltaItem>(&call).await {
        Ok(mut item) => {
            item.categories.get_or_insert_with(Vec::new);
            Ok(Some(item))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// One delta event as a change; a partial update is read in full first, and one gone
/// since is left out (a later page or pass lists its removal).
async fn to_change(
    client: Arc<Client>,
    folder: FolderId,
    event: Result<DeltaEvent<DeltaItem>>,
) -> Option<Result<Change>> {
    let item = match event {
        Ok(DeltaEvent::Reset) => return Some(Ok(Change::Reset)),
        Ok(DeltaEvent::Done(link)) => return Some(Ok(Change::Checkpoint(Checkpoint::new(link)))),
        Ok(DeltaEvent::Item(item)) => item,
        Err(e) => return Some(Err(e)),
    };
    if !item.is_partial() {
        return Some(Ok(item.into_change(&folder)));
    }
    match read_in_full(&client, item.id).await {
        Ok(full) => full.map(|f| Ok(f.into_change(&folder))),
        Err(e) => Some(Err(e)),
    }
}

#[async_trait]
impl Source for Graph {
    fn list_changes(
        &self,
        folder: &FolderId,
        since: Option<Checkpoint>,
    ) -> BoxStream<'static, Result<Change>> {
        let full = self.client.user_url(&format!(
            "/mailFolders/{}/messages/delta?$select={DELTA_SELECT}&$expand={}",
            segment(folder.as_str()),
            expand_verb()
        ));
        let query = DeltaQuery {
            full,
            since: since.map(|c| c.as_str().to_owned()),
            what: format!("delta of folder {folder}"),
            page_size: DELTA_PAGE,
        };
        let (client, folder) = (Arc::clone(&self.client), folder.clone());
        delta::<DeltaItem>(Arc::clone(&self.client), query)
            .then(move |event| to_change(Arc::clone(&client), folder.clone(), event))
            .filter_map(std::future::ready)
            .boxed()
    }

    fn fetch(
        &self,
        folder: &FolderId,
        ids: Vec<MessageId>,
    ) -> BoxStream<'static, ItemResult<RawMessage>> {
        let client = Arc::clone(&self.client);
        let folder = folder.clone();
        stream::iter(ids)
            .map(move |id| {
                let client = Arc::clone(&client);
                let folder = folder.clone();
                async move {
                    let result = mime_of(&client, &folder, &id).await;
                    (id, result)
                }
            })
            .buffer_unordered(4)
            .boxed()
    }
}

/// `GET messages/{id}/$value`: the message's MIME as Exchange holds it ([G-GMIME]).
pub(super) async fn mime_of(
    client: &Client,
    folder: &FolderId,
    id: &MessageId,
) -> Result<RawMessage> {
    let call = Call::get(
        client.user_url(&format!("/messages/{}/$value", segment(id.as_str()))),
        format!("GET message {id} ($value)"),
    );
    let answer = client.send(&call).await?;
    if !answer.status.is_success() {
        return Err(answer.error(&call).with_item(folder, id));
    }
    let meta = MessageMeta::new(id.clone(), folder.clone());
    Ok(RawMessage::new(meta, answer.body))
}

/// The categories that carry a message's keywords: all of them, but `$Forwarded` where
/// the last verb carries it (a message not also answered).
pub(super) fn categories(flags: &Flags) -> BTreeSet<String> {
    let by_verb = !flags.contains(&Flag::Answered);
    flags
        .iter()
        .filter_map(|f| match f {
            Flag::Keyword(k) if by_verb && k == FORWARDED => None,
            Flag::Keyword(k) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

/// The keyword of a forwarded message.
pub(super) const FORWARDED: &str = "$Forwarded";
