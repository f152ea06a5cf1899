//! Per-folder delta \[4.3\]\[G-MDELTA\]\[G-DQM\]\[G-DQ\]: tokens, rounds and pages for any
//! item kind that records its changes ([`Tracked`]); messages here, contacts in `contacts`
//! \[G-CDELTA\].

use std::time::Instant;

use serde_json::{json, Value};

use super::errors::{GraphError, Resp};
use super::folders;
use super::ids;
use super::odata::{Cmp, Filter, Lit};
use super::render::{self, View};
use super::server::{Ctx, State};
use super::store::{Mailbox, Message, Tombstone};

/// An item delta can list: where it is and when it entered its folder and last changed,
/// in the mailbox's change sequence.
pub(crate) trait Tracked {
    fn imm_id(&self) -> &str;
    fn folder_id(&self) -> &str;
    /// (entered the folder, last changed).
    fn seqs(&self) -> (u64, u64);
}

impl Tracked for Message {
    fn imm_id(&self) -> &str {
        &self.imm_id
    }
    fn folder_id(&self) -> &str {
        &self.folder_id
    }
    fn seqs(&self) -> (u64, u64) {
        (self.folder_seq, self.changed_seq)
    }
}

/// One item of a delta round.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    imm_id: String,
    /// The id the item had when it left the folder (for `@removed`).
    removed_rest_id: Option<String>,
}

/// What a delta or skip token stands for; kept server-side, the token is opaque.
#[derive(Debug, Clone)]
pub(crate) struct DeltaState {
    /// The entity listed (`message`, `contact`): a token lists only its own kind.
    entity: &'static str,
    upn: String,
    folder_id: String,
    issued: Instant,
    epoch: u64,
    select: Option<Vec<String>>,
    /// `$expand` of the first call: links embed every query option [G-MDELTA].
    expand: Option<Vec<String>>,
    change_type: Option<String>,
    received_filter: Option<(Cmp, time::OffsetDateTime)>,
    page_size: usize,
    round: Round,
}

#[derive(Debug, Clone)]
enum Round {
    /// A deltaLink: changes after `since`.
    Since(u64),
    /// A nextLink inside a round.
    Page {
        entries: Vec<Entry>,
        pos: usize,
        upto: u64,
    },
}

fn gone(ctx: &Ctx, st: &State) -> GraphError {
    // [G-DQ] expired token: 410 Gone, syncStateNotFound, Location with an empty token.
    GraphError::new(
        410,
        "syncStateNotFound",
        "The sync state generation is not found. Resync is required.",
    )
    .with_header("location", format!("{}?$deltatoken=", ctx.self_url(st)))
}

/// `GET …/mailFolders/{id}/messages/delta` (initial, `$skiptoken`, `$deltatoken`).
pub(crate) fn delta(
    st: &State,
    ctx: &Ctx,
    mbx: &Mailbox,
    folder: &str,
) -> Result<Resp, GraphError> {
    let folder_id = mbx.folders[folders::resolve(mbx, folder)?].id.clone();
    let state = resume_or(st, ctx, mbx, "message", &folder_id, || {
        // [G-MDELTA] query options go on the first call only; links embed them.
        let change_type = ctx.query.get("changeType").map(str::to_ascii_lowercase);
        if change_type
            .as_deref()
            .is_some_and(|c| !matches!(c, "created" | "updated" | "deleted"))
        {
            return Err(GraphError::bad_request("Invalid changeType."));
        }
        let received_filter = match ctx.query.get("$filter") {
            None => None,
            Some(f) => {
                let f = Filter::parse(f)?;
                // [G-MDELTA] only receivedDateTime ge|gt.
                match f.0.as_slice() {
                    [(field, cmp @ (Cmp::Ge | Cmp::Gt), Lit::Time(t))]
                        if field.eq_ignore_ascii_case("receivedDateTime") =>
                    {
                        Some((cmp.clone(), *t))
                    }
                    _ => {
                        return Err(GraphError::bad_request(
                            "Delta supports only $filter=receivedDateTime ge|gt {value}.",
                        ))
                    }
                }
            }
        };
        Ok((change_type, received_filter))
    })?;
    let collect = |s: &DeltaState, since: u64| {
        collect(
            st,
            &mbx.messages,
            &mbx.tombstones,
            s,
            since,
            |m: &Message| {
                s.received_filter.as_ref().is_none_or(|(cmp, t)| {
                    m.received
                        .is_some_and(|r| if *cmp == Cmp::Gt { r > *t } else { r >= *t })
                })
            },
        )
    };
    let render = |e: &Entry, view: &View| {
        render_entry(&mbx.messages, e, (&folder_id, "message"), view, |m| {
            render::message(mbx, m, view)
        })
    };
    Ok(serve(st, ctx, mbx, state, &collect, &render))
}

/// The state of a delta call: the one its token stands for, or (without a token) a new
/// listing of `folder_id` whose query options `init` reads (`changeType`, the received
/// filter). An unknown, expired or foreign token is `410 syncStateNotFound` \[G-DQ\].
pub(crate) fn resume_or(
    st: &State,
    ctx: &Ctx,
    mbx: &Mailbox,
    entity: &'static str,
    folder_id: &str,
    init: impl FnOnce() -> Result<DeltaOptions, GraphError>,
) -> Result<DeltaState, GraphError> {
    let token = ctx
        .query
        .get("$skiptoken")
        .or_else(|| ctx.query.get("$deltatoken"))
        .filter(|t| !t.is_empty());
    if let Some(t) = token {
        let map = st.delta.lock().unwrap_or_else(|e| e.into_inner());
        let s = map.get(t).cloned().ok_or_else(|| gone(ctx, st))?;
        let too_old = st
            .cfg
            .delta_token_max_age
            .is_some_and(|max| s.issued.elapsed() > max);
        if s.epoch != st.faults.delta_epoch()
            || too_old
            || s.entity != entity
            || s.folder_id != folder_id
            || !s.upn.eq_ignore_ascii_case(&mbx.upn)
        {
            return Err(gone(ctx, st));
        }
        return Ok(s);
    }
    let (change_type, received_filter) = init()?;
    Ok(DeltaState {
        entity,
        upn: mbx.upn.clone(),
        folder_id: folder_id.to_owned(),
        issued: Instant::now(),
        epoch: st.faults.delta_epoch(),
        select: ctx.query.select(),
        expand: render::parse_expand(ctx.query.get("$expand")),
        change_type,
        received_filter,
        page_size: ctx
            .prefer
            .max_page_size
            .or_else(|| ctx.query.get("$top").and_then(|t| t.parse().ok()))
            .unwrap_or(st.cfg.delta_page_size),
        round: Round::Since(0),
    })
}

/// The query options a new listing reads on its first call: `changeType` and a received
/// filter (messages only).
pub(crate) type DeltaOptions = (Option<String>, Option<(Cmp, time::OffsetDateTime)>);

/// Answers one page of `state`'s round: the entries `collect` gives for a new round,
/// each rendered by `render`, then a nextLink or, after the last page, a deltaLink.
pub(crate) fn serve(
    st: &State,
    ctx: &Ctx,
    mbx: &Mailbox,
    mut state: DeltaState,
    collect: &dyn Fn(&DeltaState, u64) -> Vec<Entry>,
    render: &dyn Fn(&Entry, &View) -> Value,
) -> Resp {
    // A new round starts with an empty page when configured [G-DQM].
    let mut empty_first = false;
    if let Round::Since(since) = state.round {
        let entries = collect(&state, since);
        empty_first = st.cfg.delta_empty_pages;
        state.round = Round::Page {
            entries,
            pos: 0,
            upto: mbx.seq,
        };
    }
    let Round::Page { entries, pos, upto } = &state.round else {
        unreachable!("set above");
    };
    let (items, next_pos) = if empty_first {
        (&entries[0..0], *pos)
    } else {
        let end = (*pos + state.page_size).min(entries.len());
        (&entries[*pos..end], end)
    };
    let view = View {
        immutable: ctx.prefer.immutable,
        select: state.select.clone(),
        expand: state.expand.clone(),
    };
    let value: Vec<Value> = items.iter().map(|e| render(e, &view)).collect();
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#Collection({})", ctx.graph_url(st), state.entity),
        "value": value,
    });
    let mut next = state.clone();
    next.issued = Instant::now();
    let key = ids::new_token(32);
    if empty_first || next_pos < entries.len() {
        next.round = Round::Page {
            entries: entries.clone(),
            pos: next_pos,
            upto: *upto,
        };
        body["@odata.nextLink"] = json!(format!("{}?$skiptoken={key}", ctx.self_url(st)));
    } else {
        next.round = Round::Since(*upto);
        body["@odata.deltaLink"] = json!(format!("{}?$deltatoken={key}", ctx.self_url(st)));
    }
    st.delta
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, next);
    Resp::json(200, &body)
}

/// The changes of one round among `items` and `tombstones`: created (entered the folder
/// after `since`), updated, and removed (moved out or deleted) \[G-DQM\]; `keep` filters
/// the live ones (a received filter). Moved-in items count as created.
pub(crate) fn collect<T: Tracked>(
    st: &State,
    items: &[T],
    tombstones: &[Tombstone],
    s: &DeltaState,
    since: u64,
    keep: impl Fn(&T) -> bool,
) -> Vec<Entry> {
    let want = |kind: &str| s.change_type.as_deref().is_none_or(|c| c == kind);
    let mut out: Vec<(u64, Entry)> = Vec::new();
    for m in items.iter().filter(|m| m.folder_id() == s.folder_id) {
        let (entered, changed) = m.seqs();
        if changed <= since || !keep(m) {
            continue;
        }
        let kind = if entered > since {
            "created"
        } else {
            "updated"
        };
        if want(kind) {
            out.push((
                changed,
                Entry {
                    imm_id: m.imm_id().to_owned(),
                    removed_rest_id: None,
                },
            ));
        }
    }
    if since > 0 && want("deleted") {
        for t in tombstones
            .iter()
            .filter(|t| t.folder_id == s.folder_id && t.seq > since)
        {
            let back = items
                .iter()
                .any(|m| m.imm_id() == t.imm_id && m.folder_id() == s.folder_id);
            if back || out.iter().any(|(_, e)| e.imm_id == t.imm_id) {
                continue;
            }
            out.push((
                t.seq,
                Entry {
                    imm_id: t.imm_id.clone(),
                    removed_rest_id: Some(t.rest_id.clone()),
                },
            ));
        }
    }
    out.sort_by_key(|(seq, _)| *seq);
    let mut entries: Vec<Entry> = out.into_iter().map(|(_, e)| e).collect();
    // [G-DQ] replays must be tolerated: optionally repeat the last change.
    if st.cfg.delta_replay {
        if let Some(last) = entries.last().cloned() {
            entries.push(last);
        }
    }
    entries
}

/// One entry as delta shows it: the live item through `render`, or its id with
/// `@removed {reason: deleted}` \[G-DQM\].
pub(crate) fn render_entry<T: Tracked>(
    items: &[T],
    e: &Entry,
    (folder_id, entity): (&str, &str),
    view: &View,
    render: impl Fn(&T) -> Value,
) -> Value {
    let odata_type = format!("#microsoft.graph.{entity}");
    let live = items
        .iter()
        .find(|m| m.imm_id() == e.imm_id && m.folder_id() == folder_id);
    match (live, &e.removed_rest_id) {
        (Some(m), None) => {
            let mut v = render(m);
            v["@odata.type"] = json!(odata_type);
            v
        }
        _ => {
            let id = if view.immutable {
                e.imm_id.clone()
            } else {
                e.removed_rest_id
                    .clone()
                    .unwrap_or_else(|| e.imm_id.clone())
            };
            json!({"@odata.type": odata_type, "id": id, "@removed": {"reason": "deleted"}})
        }
    }
}
