//! JSON batching, `POST /v1.0/$batch` \[1.5\]\[G-BAT\].

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use super::errors::{GraphError, Resp};
use super::odata::{Prefer, Query};
use super::server::{graph, Ctx, State};

/// Outlook runs up to 4 batch items in parallel \[G-THR\]\[I-CONC\].
const PARALLEL: usize = 4;
/// At most 20 requests per batch \[G-BAT\].
const MAX_REQUESTS: usize = 20;

struct Item {
    id: String,
    depends_on: Vec<String>,
    ctx: Ctx,
}

fn inner_ctx(outer: &Ctx, req: &Value) -> Result<Ctx, GraphError> {
    let method = req
        .get("method")
        .and_then(Value::as_str)
        .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
        .ok_or_else(|| GraphError::bad_request("Each batch request needs a method."))?;
    let url = req
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("Each batch request needs a url."))?;
    // [G-BAT] urls are relative to the version (`/users/...`).
    let url = url.trim_start_matches('/');
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    let mut headers = HeaderMap::new();
    if let Some(h) = req.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::from_bytes(k.as_bytes()),
                v.as_str().map(HeaderValue::from_str),
            ) {
                headers.append(name, value);
            }
        }
    }
    let body = match req.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        // [G-BAT] a body needs a Content-Type header.
        Some(_) if !headers.contains_key("content-type") => {
            return Err(GraphError::bad_request(
                "Content-Type header is required when a body is present.",
            ))
        }
        Some(Value::String(s)) => Bytes::from(s.clone().into_bytes()),
        Some(v) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
    };
    let prefer = Prefer::parse(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let prefix = if outer.beta { "/beta/" } else { "/v1.0/" };
    Ok(Ctx {
        method,
        beta: outer.beta,
        segs: path
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect(),
        path: format!("{prefix}{path}"),
        query: Query::parse(query),
        headers,
        body,
        prefer,
        client_id: outer.client_id.clone(),
        user: outer.user.clone(),
    })
}

fn parse(outer: &Ctx) -> Result<Vec<Item>, GraphError> {
    let v: Value = serde_json::from_slice(&outer.body)
        .map_err(|_| GraphError::bad_request("Invalid batch payload format."))?;
    let reqs = v
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| GraphError::bad_request("Invalid batch payload format."))?;
    if reqs.is_empty() || reqs.len() > MAX_REQUESTS {
        return Err(GraphError::bad_request(
            "The number of batch requests must be between 1 and 20.",
        ));
    }
    let mut items = Vec::new();
    for r in reqs {
        let id = match r.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(GraphError::bad_request("Each batch request needs an id.")),
        };
        // [G-BAT] ids are unique, case-insensitively.
        if items.iter().any(|i: &Item| i.id.eq_ignore_ascii_case(&id)) {
            return Err(GraphError::bad_request("Batch request ids must be unique."));
        }
        let depends_on = r
            .get("dependsOn")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        items.push(Item {
            id,
            depends_on,
            ctx: inner_ctx(outer, r)?,
        });
    }
    for i in &items {
        for d in &i.depends_on {
            if !items.iter().any(|o| o.id.eq_ignore_ascii_case(d)) {
                return Err(GraphError::bad_request(&format!(
                    "dependsOn names an unknown request '{d}'."
                )));
            }
        }
    }
    Ok(items)
}

fn inner_json(id: &str, r: &Resp) -> Value {
    let mut headers = Map::new();
    for (k, v) in &r.headers {
        if let Ok(v) = v.to_str() {
            headers.insert(k.as_str().to_owned(), json!(v));
        }
    }
    let mut out = json!({"id": id, "status": r.status.as_u16(), "headers": headers});
    if !r.body.is_empty() {
        let is_json = r.header("content-type").is_some_and(|c| c.contains("json"));
        out["body"] = match serde_json::from_slice::<Value>(&r.body) {
            Ok(v) if is_json => v,
            // [G-BAT] non-JSON bodies come back base64-encoded.
            _ => json!(super::ids::encode_std(&r.body)),
        };
    }
    out
}

/// Runs a batch: sequentially when any request has `dependsOn` (dependents of a failed
/// request get 424), otherwise up to 4 at a time; each inner request is throttled and
/// faulted individually and a 429 carries its own `Retry-After` \[G-BAT\]\[G-THG\].
pub(crate) async fn handle(st: &Arc<State>, outer: &Ctx) -> Resp {
    let crid = outer.header("client-request-id");
    let items = match parse(outer) {
        Ok(i) => i,
        Err(e) => return e.into_resp(crid),
    };
    let mut results: Vec<(String, Resp)> = Vec::new();
    if items.iter().any(|i| !i.depends_on.is_empty()) {
        let mut status: HashMap<String, u16> = HashMap::new();
        for item in &items {
            let failed = item.depends_on.iter().any(|d| {
                status
                    .get(&d.to_ascii_lowercase())
                    .is_none_or(|s| *s >= 400)
            });
            let resp = if failed {
                GraphError::new(
                    424,
                    "FailedDependency",
                    "A dependency of this request failed.",
                )
                .into_resp(None)
            } else {
                graph(st, &item.ctx).await
            };
            status.insert(item.id.to_ascii_lowercase(), resp.status.as_u16());
            results.push((item.id.clone(), resp));
        }
    } else {
        let futs: Vec<_> = items
            .into_iter()
            .map(|item| {
                let st = Arc::clone(st);
                Box::pin(async move {
                    let resp = graph(&st, &item.ctx).await;
                    (item.id, resp)
                }) as futures::future::BoxFuture<'static, (String, Resp)>
            })
            .collect();
        results = stream::iter(futs)
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
    }
    if st.cfg.batch_reorder {
        // [G-BAT] responses may come back in any order.
        results.reverse();
    }
    let responses: Vec<Value> = results.iter().map(|(id, r)| inner_json(id, r)).collect();
    Resp::json(200, &json!({"responses": responses}))
}
