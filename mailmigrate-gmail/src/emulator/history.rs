//! `users.history.list`: the changes since a `startHistoryId`, 404 when it is out of date
//! \[GM-HIST\].

use axum::response::Response;
use serde_json::{json, Value};

use super::errors::{json, GoogleError};
use super::messages::{page_offset, page_size, page_token};
use super::server::{Req, State};
use super::store::{Mailbox, Recorded};

/// `GET history?startHistoryId=…[&historyTypes=…][&labelId=…]`: records after the start,
/// 100 a page by default (≤ 500). A start older than the oldest record kept (see
/// [`EmulatorBuilder::history_max_age`](super::EmulatorBuilder::history_max_age)) is 404
/// \[GM-HIST\].
pub(crate) fn list(st: &State, req: &Req, mbx: &mut Mailbox) -> Result<Response, GoogleError> {
    let start: u64 = req
        .param("startHistoryId")
        .ok_or_else(|| GoogleError::invalid("Required parameter: startHistoryId"))?
        .parse()
        .map_err(|_| GoogleError::invalid("Invalid startHistoryId"))?;
    mbx.prune_history(st.cfg.history_max_age);
    if start < mbx.valid_from {
        return Err(GoogleError::not_found());
    }
    let types = req.params("historyTypes");
    let label = req.param("labelId");
    let records: Vec<Value> = mbx
        .history
        .iter()
        .filter(|r| r.id > start)
        .filter(|r| {
            let kind = match r.change {
                Recorded::Added => "messageAdded",
                Recorded::Deleted => "messageDeleted",
                Recorded::LabelsAdded(_) => "labelAdded",
                Recorded::LabelsRemoved(_) => "labelRemoved",
            };
            types.is_empty() || types.contains(&kind)
        })
        .filter(|r| {
            label.is_none_or(|l| match &r.change {
                Recorded::LabelsAdded(ls) | Recorded::LabelsRemoved(ls) => {
                    ls.iter().any(|x| x == l)
                }
                _ => mbx
                    .messages
                    .get(&r.message)
                    .is_some_and(|m| m.labels.contains(l)),
            })
        })
        .map(|r| {
            let labels = mbx
                .messages
                .get(&r.message)
                .map(|m| m.labels.iter().cloned().collect::<Vec<_>>())
                .unwrap_or_default();
            let msg = json!({"id": r.message, "threadId": r.message, "labelIds": labels});
            let mut v = json!({"id": r.id.to_string(), "messages": [{"id": r.message, "threadId": r.message}]});
            match &r.change {
                Recorded::Added => v["messagesAdded"] = json!([{ "message": msg }]),
                Recorded::Deleted => {
                    v["messagesDeleted"] =
                        json!([{ "message": {"id": r.message, "threadId": r.message} }]);
                }
                Recorded::LabelsAdded(ls) => {
                    v["labelsAdded"] = json!([{ "message": msg, "labelIds": ls }]);
                }
                Recorded::LabelsRemoved(ls) => {
                    v["labelsRemoved"] = json!([{ "message": msg, "labelIds": ls }]);
                }
            }
            v
        })
        .collect();
    let size = page_size(req, 100);
    let offset = page_offset(req.param("pageToken"))?;
    let page: Vec<&Value> = records.iter().skip(offset).take(size).collect();
    let mut v = json!({ "historyId": mbx.history_id.to_string() });
    if !page.is_empty() {
        v["history"] = json!(page);
    }
    if offset + size < records.len() {
        v["nextPageToken"] = json!(page_token(offset + size));
    }
    Ok(json(200, &v))
}
