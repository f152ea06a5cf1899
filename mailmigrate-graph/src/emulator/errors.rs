//! Responses: the Graph error envelope and JSON answers.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use bytes::Bytes;
use serde_json::{json, Value};

use super::ids;

/// A response the dispatcher produced (also the unit `$batch` collects).
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
}

/// The JSON content type Graph answers with.
pub(crate) const JSON_CT: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

impl Resp {
    pub(crate) fn json(status: u16, v: &Value) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: vec![(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static(JSON_CT),
            )],
            body: Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.to_str().ok())
    }
}

/// A Graph error: status, code, message, and optional extra response headers.
#[derive(Debug, Clone)]
pub(crate) struct GraphError {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    /// 429 `TooManyRequests` carries `code`/`status` "429" in innerError \[G-THG\].
    pub(crate) inner_status: bool,
}

impl GraphError {
    pub(crate) fn new(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            headers: Vec::new(),
            inner_status: false,
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    // [EE][1.6] unknown id.
    pub(crate) fn item_not_found() -> Self {
        Self::new(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    // [EE][1.6] bad id.
    pub(crate) fn malformed_id() -> Self {
        Self::new(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    }

    pub(crate) fn bad_request(message: &str) -> Self {
        Self::new(400, "BadRequest", message)
    }

    // [G-ERR] invalidRequest for an unparseable body (Graph says `RequestBodyRead`).
    pub(crate) fn body_read(message: &str) -> Self {
        Self::new(400, "RequestBodyRead", message)
    }

    /// The envelope `{"error":{"code","message","innerError":{...}}}` \[G-ERR\]\[1.2\].
    pub(crate) fn into_resp(self, client_request_id: Option<&str>) -> Resp {
        let request_id = request_id();
        let date = super::render::fmt_time(super::store::now());
        let mut inner = json!({
            "date": date,
            "request-id": request_id,
            "client-request-id": client_request_id.map(str::to_owned).unwrap_or_else(|| request_id.clone()),
        });
        if self.inner_status {
            inner["code"] = json!(self.status.to_string());
            inner["status"] = json!(self.status.to_string());
        }
        let body =
            json!({"error": {"code": self.code, "message": self.message, "innerError": inner}});
        let mut resp = Resp::json(self.status, &body).with_header("request-id", &request_id);
        for (name, value) in &self.headers {
            resp = resp.with_header(name, value);
        }
        resp
    }
}

/// A request id in GUID form.
pub(crate) fn request_id() -> String {
    ids::new_guid()
}

/// `Retry-After` text: whole seconds, or fractional like "2.128" \[G-THG\].
pub(crate) fn retry_after_text(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}.{:03}", d.as_secs(), d.subsec_millis())
    }
}
