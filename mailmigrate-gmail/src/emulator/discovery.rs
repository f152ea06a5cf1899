//! Request shapes checked against the Gmail discovery document \[GM-DISC\]: the methods the
//! emulator serves, their paths, and their query parameters' names, types and enums.
//!
//! `discovery.json` is the published document trimmed to those methods (its `revision`
//! says which); a client that sends a parameter Gmail does not know, or a value outside an
//! enum, gets the 400 Google answers.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::errors::GoogleError;

#[derive(Debug, Deserialize)]
struct Document {
    parameters: HashMap<String, Param>,
    methods: Vec<Method>,
}

#[derive(Debug, Deserialize)]
struct Param {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "enum", default)]
    values: Option<Vec<String>>,
    #[serde(default)]
    repeated: bool,
}

/// One method of the document.
#[derive(Debug, Deserialize)]
pub(crate) struct Method {
    /// `gmail.users.messages.import`.
    pub(crate) id: String,
    #[serde(rename = "httpMethod")]
    http_method: String,
    path: String,
    parameters: HashMap<String, Param>,
    #[serde(rename = "mediaUpload")]
    pub(crate) media: Option<Media>,
}

/// A method's `mediaUpload`.
#[derive(Debug, Deserialize)]
pub(crate) struct Media {
    /// Accepted media types (`message/*`).
    pub(crate) accept: Vec<String>,
    simple: String,
    resumable: Option<String>,
}

fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(include_str!("discovery.json")).expect("discovery.json parses")
    })
}

/// Whether `path` (segments) matches `template` (`gmail/v1/users/{userId}/messages/{id}`);
/// the path parameters by name.
fn bind<'a>(template: &'a str, path: &[&'a str]) -> Option<HashMap<&'a str, &'a str>> {
    let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    if parts.len() != path.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (t, p) in parts.iter().zip(path) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) => {
                params.insert(name, *p);
            }
            None if t == p => {}
            None => return None,
        }
    }
    Some(params)
}

/// How a request reached a method: the REST path, or a media upload path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Rest,
    Upload,
    Resumable,
}

/// A request matched to a method: the method, how, and its path parameters.
#[derive(Debug)]
pub(crate) struct Matched {
    pub(crate) method: &'static Method,
    pub(crate) via: Via,
    pub(crate) path: HashMap<String, String>,
}

/// Finds the method `http` `segments` name; `None` when Gmail has no such path.
pub(crate) fn find(http: &str, segments: &[&str]) -> Option<Matched> {
    for m in &document().methods {
        if !m.http_method.eq_ignore_ascii_case(http) {
            continue;
        }
        let mut paths = vec![(m.path.as_str(), Via::Rest)];
        if let Some(media) = &m.media {
            paths.push((media.simple.as_str(), Via::Upload));
            if let Some(r) = &media.resumable {
                paths.push((r.as_str(), Via::Resumable));
            }
        }
        for (template, via) in paths {
            if let Some(params) = bind(template, segments) {
                let path = params
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                return Some(Matched {
                    method: m,
                    via,
                    path,
                });
            }
        }
    }
    None
}

/// Checks the query of a request to `method`: every name known (the method's or a
/// global parameter), repeated only where the document says so, booleans, integers and
/// enums well-formed.
///
/// # Errors
/// The 400 Google answers, naming the parameter.
pub(crate) fn check_query(method: &Method, query: &[(String, String)]) -> Result<(), GoogleError> {
    let doc = document();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (name, value) in query {
        let Some(p) = method
            .parameters
            .get(name)
            .or_else(|| doc.parameters.get(name))
        else {
            return Err(GoogleError::invalid(format!(
                "Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query \
                 parameter. Field '{name}' could not be found in request message."
            )));
        };
        let n = seen.entry(name).or_default();
        *n += 1;
        if *n > 1 && !p.repeated {
            return Err(GoogleError::invalid(format!(
                "Invalid JSON payload received. Repeated values for non-repeated field '{name}'."
            )));
        }
        let well_formed = match p.kind.as_str() {
            "boolean" => value == "true" || value == "false",
            "integer" => value.parse::<i64>().is_ok(),
            _ => true,
        } && p.values.as_ref().is_none_or(|v| v.contains(value));
        if !well_formed {
            return Err(GoogleError::invalid(format!(
                "Invalid value at '{name}' ({}), \"{value}\"",
                p.kind
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_document() {
        let m = find(
            "POST",
            &["upload", "gmail", "v1", "users", "me", "messages", "import"],
        )
        .unwrap();
        assert_eq!(m.method.id, "gmail.users.messages.import");
        assert_eq!(m.via, Via::Upload);
        let m = find("GET", &["gmail", "v1", "users", "me", "messages", "abc"]).unwrap();
        assert_eq!(m.method.id, "gmail.users.messages.get");
        assert_eq!(m.path["id"], "abc");
        assert!(find("DELETE", &["gmail", "v1", "users", "me", "labels", "x"]).is_none());
    }

    #[test]
    fn unknown_parameters_and_bad_enums_are_refused() {
        let get = find("GET", &["gmail", "v1", "users", "me", "messages", "abc"]).unwrap();
        let q = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(check_query(get.method, &q("format", "raw")).is_ok());
        assert!(check_query(get.method, &q("format", "RAW")).is_err());
        assert!(check_query(get.method, &q("fromat", "raw")).is_err());
        assert!(check_query(get.method, &q("prettyPrint", "false")).is_ok());
    }
}
