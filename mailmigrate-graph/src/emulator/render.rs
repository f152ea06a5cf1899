//! JSON renderings of folders and messages, as Graph shows them \[G-FOLD\]\[G-EVT message table\].

use serde_json::{json, Map, Value};
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::store::{Folder, Mailbox, Message, Recipient};

/// `2024-01-31T10:00:00Z`, the form Graph returns.
pub(crate) fn fmt_time(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

fn opt_time(t: Option<OffsetDateTime>) -> Value {
    t.map(|t| Value::String(fmt_time(t))).unwrap_or(Value::Null)
}

pub(crate) fn recipient(r: &Recipient) -> Value {
    json!({"emailAddress": {"name": r.name.clone().unwrap_or_else(|| r.address.clone()), "address": r.address}})
}

fn recipients(v: &[Recipient]) -> Value {
    Value::Array(v.iter().map(recipient).collect())
}

/// Parses `{"emailAddress":{"name","address"}}`.
pub(crate) fn parse_recipient(v: &Value) -> Option<Recipient> {
    let e = v.get("emailAddress")?;
    Some(Recipient {
        name: e.get("name").and_then(Value::as_str).map(str::to_owned),
        address: e.get("address").and_then(Value::as_str)?.to_owned(),
    })
}

pub(crate) fn parse_recipients(v: &Value) -> Vec<Recipient> {
    v.as_array()
        .map(|a| a.iter().filter_map(parse_recipient).collect())
        .unwrap_or_default()
}

/// A folder \[G-FOLD\]; `wellKnownName` only on beta.
pub(crate) fn folder(mbx: &Mailbox, f: &Folder, beta: bool) -> Value {
    let msgs = mbx.messages.iter().filter(|m| m.folder_id == f.id);
    let (total, unread) = msgs.fold((0, 0), |(t, u), m| (t + 1, u + usize::from(!m.is_read)));
    let mut v = json!({
        "id": f.id,
        "displayName": f.display_name,
        "parentFolderId": f.parent_id,
        "childFolderCount": mbx.children(&f.id).count(),
        "unreadItemCount": unread,
        "totalItemCount": total,
        "isHidden": f.is_hidden,
    });
    if beta {
        v["wellKnownName"] = json!(f.well_known);
    }
    v
}

/// How to render a message for this request.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    pub(crate) immutable: bool,
    pub(crate) select: Option<Vec<String>>,
    /// Extended property ids requested by `$expand=singleValueExtendedProperties(...)`.
    pub(crate) expand: Option<Vec<String>>,
}

/// Normalises an extended-property id: `Integer 0x0E07` → `Integer 0xe07` (Graph echoes
/// proptags lower-case without leading zeros) \[G-EXT\].
pub(crate) fn normalize_prop_id(id: &str) -> String {
    let mut parts = id.split_whitespace();
    let (Some(ty), Some(tag), None) = (parts.next(), parts.next(), parts.next()) else {
        return id.to_owned();
    };
    match u32::from_str_radix(tag.trim_start_matches("0x").trim_start_matches("0X"), 16) {
        Ok(n) if tag.to_ascii_lowercase().starts_with("0x") => {
            let t = match ty.to_ascii_lowercase().as_str() {
                "integer" => "Integer",
                "systemtime" => "SystemTime",
                "string" => "String",
                "boolean" => "Boolean",
                "long" => "Long",
                "binary" => "Binary",
                _ => ty,
            };
            format!("{t} 0x{n:x}")
        }
        _ => id.to_owned(),
    }
}

/// PR_MESSAGE_FLAGS as the store computes it: read 0x01, unsent 0x08, has-attach 0x10
/// \[MS-OXCMSG\]\[MAPI-MF\].
pub(crate) fn message_flags(m: &Message) -> u32 {
    u32::from(m.is_read)
        | if m.is_draft { 0x08 } else { 0 }
        | if m.has_attachments() { 0x10 } else { 0 }
}

fn preview(m: &Message) -> String {
    let text = if m.body_type == "html" {
        let mut out = String::new();
        let mut in_tag = false;
        for c in m.body.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    } else {
        m.body.clone()
    };
    let squashed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    squashed.chars().take(255).collect()
}

/// A message \[G-EVT message table\]; `internetMessageHeaders` only with `$select`
/// (\[G-MSG\]: "returned only on applying a `$select` query option").
pub(crate) fn message(mbx: &Mailbox, m: &Message, view: &View) -> Value {
    let _ = mbx;
    let mut v = Map::new();
    let ins = |v: &mut Map<String, Value>, k: &str, val: Value| {
        v.insert(k.to_owned(), val);
    };
    ins(
        &mut v,
        "@odata.etag",
        json!(format!("W/\"{}\"", m.change_key())),
    );
    ins(&mut v, "id", json!(m.id(view.immutable)));
    ins(&mut v, "createdDateTime", json!(fmt_time(m.created)));
    ins(&mut v, "lastModifiedDateTime", json!(fmt_time(m.modified)));
    ins(&mut v, "changeKey", json!(m.change_key()));
    ins(&mut v, "categories", json!(m.categories));
    ins(&mut v, "receivedDateTime", opt_time(m.received));
    ins(&mut v, "sentDateTime", opt_time(m.sent));
    ins(&mut v, "hasAttachments", json!(m.has_attachments()));
    ins(&mut v, "internetMessageId", json!(m.internet_message_id));
    ins(&mut v, "subject", json!(m.subject));
    ins(&mut v, "bodyPreview", json!(preview(m)));
    ins(&mut v, "importance", json!(m.importance));
    ins(&mut v, "parentFolderId", json!(m.folder_id));
    ins(&mut v, "conversationId", json!(m.conversation_id));
    ins(&mut v, "isRead", json!(m.is_read));
    ins(&mut v, "isDraft", json!(m.is_draft));
    ins(&mut v, "inferenceClassification", json!("focused"));
    ins(
        &mut v,
        "body",
        json!({"contentType": m.body_type, "content": m.body}),
    );
    ins(
        &mut v,
        "sender",
        m.sender.as_ref().map(recipient).unwrap_or(Value::Null),
    );
    ins(
        &mut v,
        "from",
        m.from.as_ref().map(recipient).unwrap_or(Value::Null),
    );
    ins(&mut v, "toRecipients", recipients(&m.to));
    ins(&mut v, "ccRecipients", recipients(&m.cc));
    ins(&mut v, "bccRecipients", recipients(&m.bcc));
    ins(&mut v, "replyTo", recipients(&m.reply_to));
    ins(&mut v, "flag", json!({"flagStatus": m.flag_status}));
    if let Some(select) = &view.select {
        let headers: Vec<Value> = m
            .headers
            .iter()
            .map(|(n, val)| json!({"name": n, "value": val}))
            .collect();
        v.insert("internetMessageHeaders".into(), Value::Array(headers));
        v.retain(|k, _| {
            k == "@odata.etag" || k == "id" || select.iter().any(|s| s.eq_ignore_ascii_case(k))
        });
    }
    if let Some(wanted) = &view.expand {
        let mut props = Vec::new();
        for w in wanted {
            let id = normalize_prop_id(w);
            if id == "Integer 0xe07" {
                // PR_MESSAGE_FLAGS always exists on a stored item [MS-OXCMSG].
                props.push(json!({"id": id, "value": message_flags(m).to_string()}));
            } else if let Some((_, val)) = m
                .extended
                .iter()
                .find(|(k, _)| normalize_prop_id(k).eq_ignore_ascii_case(&id))
            {
                props.push(json!({"id": id, "value": val}));
            }
        }
        // Messages lacking the property do not return it [4.1].
        if !props.is_empty() {
            v.insert("singleValueExtendedProperties".into(), Value::Array(props));
        }
    }
    Value::Object(v)
}

/// Parses `$expand=singleValueExtendedProperties($filter=id eq 'A' or id eq 'B')` \[4.1\].
pub(crate) fn parse_expand(expand: Option<&str>) -> Option<Vec<String>> {
    let e = expand?;
    let start = e.find("singleValueExtendedProperties")?;
    let rest = &e[start..];
    let ids: Vec<String> = rest
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prop_ids_normalise() {
        assert_eq!(normalize_prop_id("Integer 0x0E07"), "Integer 0xe07");
        assert_eq!(normalize_prop_id("SystemTime 0x0039"), "SystemTime 0x39");
        assert_eq!(
            parse_expand(Some(
                "singleValueExtendedProperties($filter=id eq 'Integer 0x0E07')"
            )),
            Some(vec!["Integer 0x0E07".to_owned()])
        );
    }
}
