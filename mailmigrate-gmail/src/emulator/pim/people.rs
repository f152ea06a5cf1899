//! Contacts and contact groups \[GP-BCC\]\[GP-UPD\]\[GP-CONN\]\[GP-DISC\].
//!
//! A contact is stored as the Person JSON of its contact fields; `resourceName`
//! (`people/c…`) and `etag` are assigned on every write. Deleting leaves a tombstone that
//! sync tokens list with `metadata.deleted`. `personFields` (or `readMask`) chooses the
//! fields answered, and is required where the reference says so.

use axum::response::Response;
use serde_json::{json, Map, Value};

use super::{random_id, PimConfig, PimReq};
use crate::emulator::errors::{json as answer, GoogleError};

/// The Person fields a contact holds (`updatePersonFields` values) \[GP-UPD\].
const CONTACT_FIELDS: [&str; 23] = [
    "addresses",
    "biographies",
    "birthdays",
    "calendarUrls",
    "clientData",
    "emailAddresses",
    "events",
    "externalIds",
    "genders",
    "imClients",
    "interests",
    "locales",
    "locations",
    "memberships",
    "miscKeywords",
    "names",
    "nicknames",
    "occupations",
    "organizations",
    "phoneNumbers",
    "relations",
    "sipAddresses",
    "urls",
];

/// Fields a contact source holds at most once \[GP-UPD\].
const SINGLETONS: [&str; 4] = ["biographies", "birthdays", "genders", "names"];

/// Most contacts in one `batchCreateContacts` \[GP-BCC\].
pub(crate) const BATCH_MAX: usize = 200;

/// A contact as stored.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub(crate) resource: String,
    pub(crate) etag: String,
    pub(crate) seq: u64,
    pub(crate) deleted: bool,
    pub(crate) fields: Map<String, Value>,
}

/// A contact group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) resource: String,
    pub(crate) name: String,
    pub(crate) system: bool,
}

/// One user's contacts.
#[derive(Debug)]
pub(crate) struct People {
    pub(crate) people: Vec<Person>,
    pub(crate) groups: Vec<Group>,
    seq: u64,
    epoch: u64,
    next_id: u64,
}

impl Default for People {
    fn default() -> Self {
        let sys = |id: &str, name: &str| Group {
            resource: format!("contactGroups/{id}"),
            name: name.into(),
            system: true,
        };
        Self {
            people: Vec::new(),
            groups: vec![sys("myContacts", "myContacts"), sys("starred", "starred")],
            seq: 0,
            epoch: 0,
            next_id: 7_000_000_000_000_000,
        }
    }
}

impl People {
    fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Sync tokens handed out so far expire.
    pub(crate) fn expire_sync_tokens(&mut self) {
        self.epoch += 1;
    }

    fn find(&self, resource: &str) -> Option<usize> {
        self.people
            .iter()
            .position(|p| p.resource == resource && !p.deleted)
    }

    fn check_memberships(&self, fields: &Map<String, Value>) -> Result<(), GoogleError> {
        for m in fields
            .get("memberships")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let g = m
                .pointer("/contactGroupMembership/contactGroupResourceName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !self.groups.iter().any(|x| x.resource == g) {
                return Err(GoogleError::invalid(format!(
                    "Contact group resource name \"{g}\" is invalid."
                )));
            }
        }
        Ok(())
    }

    /// Stores a new contact; its resource name.
    pub(crate) fn create(&mut self, person: &Value) -> Result<String, GoogleError> {
        let fields = contact_fields(person)?;
        self.check_memberships(&fields)?;
        let mut fields = fields;
        if !fields.contains_key("memberships") {
            fields.insert(
                "memberships".into(),
                json!([membership("contactGroups/myContacts")]),
            );
        }
        self.next_id += 1;
        let resource = format!("people/c{}", self.next_id);
        let seq = self.bump();
        self.people.push(Person {
            resource: resource.clone(),
            etag: fresh_etag(),
            seq,
            deleted: false,
            fields,
        });
        Ok(resource)
    }
}

fn fresh_etag() -> String {
    format!("%Eg{}", random_id(20))
}

pub(crate) fn membership(group: &str) -> Value {
    json!({"contactGroupMembership": {
        "contactGroupResourceName": group,
        "contactGroupId": group.trim_start_matches("contactGroups/"),
    }})
}

/// The contact fields of a Person body; 400 for a singleton given twice.
fn contact_fields(person: &Value) -> Result<Map<String, Value>, GoogleError> {
    let mut out = Map::new();
    for k in CONTACT_FIELDS {
        if let Some(v) = person.get(k).filter(|v| !v.is_null()) {
            if SINGLETONS.contains(&k) && v.as_array().is_some_and(|a| a.len() > 1) {
                return Err(GoogleError::invalid(format!(
                    "Only one {k} field is allowed per contact source."
                )));
            }
            out.insert(k.to_owned(), v.clone());
        }
    }
    Ok(out)
}

/// `personFields` as a list; 400 when required and missing.
fn mask(v: Option<&str>, required: bool) -> Result<Vec<String>, GoogleError> {
    match v {
        Some(m) if !m.is_empty() => {
            let fields: Vec<String> = m.split(',').map(|s| s.trim().to_owned()).collect();
            if let Some(bad) = fields
                .iter()
                .find(|f| !CONTACT_FIELDS.contains(&f.as_str()) && *f != "metadata" && *f != "photos")
            {
                return Err(GoogleError::invalid(format!(
                    "Invalid personFields mask path: \"{bad}\"."
                )));
            }
            Ok(fields)
        }
        _ if required => Err(GoogleError::invalid(
            "personFields mask is required. Please specify one or more valid paths. Valid paths are documented at https://developers.google.com/people/api/rest/v1/people.connections/list.",
        )),
        _ => Ok(CONTACT_FIELDS.iter().map(|s| (*s).to_owned()).collect()),
    }
}

/// The Person JSON of `p` with the fields of `mask`.
fn person_json(p: &Person, mask: &[String]) -> Value {
    let mut v = Map::new();
    v.insert("resourceName".into(), json!(p.resource));
    v.insert("etag".into(), json!(p.etag));
    if p.deleted {
        v.insert("metadata".into(), json!({"deleted": true}));
        return Value::Object(v);
    }
    for f in mask {
        if let Some(x) = p.fields.get(f) {
            v.insert(f.clone(), x.clone());
        }
    }
    if mask.iter().any(|m| m == "metadata") {
        let id = p.resource.trim_start_matches("people/c");
        v.insert(
            "metadata".into(),
            json!({"sources": [{"type": "CONTACT", "id": id, "etag": p.etag}], "objectType": "PERSON"}),
        );
    }
    Value::Object(v)
}

fn group_json(g: &Group, people: &People) -> Value {
    let members = people
        .people
        .iter()
        .filter(|p| !p.deleted && has_group(p, &g.resource))
        .count();
    json!({
        "resourceName": g.resource, "etag": format!("%E{}", g.name.len()),
        "name": g.name, "formattedName": g.name,
        "groupType": if g.system { "SYSTEM_CONTACT_GROUP" } else { "USER_CONTACT_GROUP" },
        "memberCount": members,
    })
}

pub(crate) fn has_group(p: &Person, group: &str) -> bool {
    p.fields
        .get("memberships")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|m| {
            m.pointer("/contactGroupMembership/contactGroupResourceName")
                .and_then(Value::as_str)
                == Some(group)
        })
}

fn page_of(req: &PimReq, len: usize, default: usize) -> Result<(usize, usize), GoogleError> {
    let size = match req.param("pageSize").map(str::parse::<usize>) {
        None => default,
        Some(Ok(0)) => default,
        Some(Ok(n)) if n <= 1000 => n,
        _ => {
            return Err(GoogleError::invalid(
                "Page size must be less than or equal to 1000.",
            ))
        }
    };
    let from = req
        .param("pageToken")
        .and_then(|t| t.strip_prefix("p"))
        .and_then(|t| t.split('@').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    Ok((from.min(len), size))
}

/// Answers one People request.
pub(crate) fn handle(
    req: &PimReq,
    book: &mut People,
    cfg: &PimConfig,
) -> Result<Response, GoogleError> {
    let id = req.matched.method.id.strip_prefix("people.").unwrap_or("");
    match id {
        "contactGroups.list" => {
            let all: Vec<Value> = book.groups.iter().map(|g| group_json(g, book)).collect();
            let (from, size) = page_of(req, all.len(), 30)?;
            let next = (from + size < all.len()).then(|| format!("p{}", from + size));
            let items: Vec<Value> = all.into_iter().skip(from).take(size).collect();
            Ok(answer(
                200,
                &json!({"contactGroups": items, "totalItems": book.groups.len(), "nextPageToken": next}),
            ))
        }
        "contactGroups.create" => {
            let name = req
                .body()
                .pointer("/contactGroup/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if name.trim().is_empty() {
                return Err(GoogleError::invalid(
                    "Contact group name must not be empty.",
                ));
            }
            if book.groups.iter().any(|g| g.name == name) {
                return Err(GoogleError::new(
                    409,
                    "alreadyExists",
                    "Contact group name already exists.",
                ));
            }
            let g = Group {
                resource: format!("contactGroups/{}", random_id(12)),
                name,
                system: false,
            };
            book.groups.push(g.clone());
            Ok(answer(200, &group_json(&g, book)))
        }
        "contactGroups.members.modify" => {
            let group = format!("contactGroups/{}", req.path("contactGroupsId"));
            if !book.groups.iter().any(|g| g.resource == group) {
                return Err(GoogleError::not_found());
            }
            let b = req.body();
            let list = |k: &str| -> Vec<String> {
                b.get(k)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            };
            let mut missing = Vec::new();
            for (names, add) in [
                (list("resourceNamesToAdd"), true),
                (list("resourceNamesToRemove"), false),
            ] {
                for r in names {
                    let Some(i) = book.find(&r) else {
                        missing.push(r);
                        continue;
                    };
                    let seq = book.bump();
                    let p = &mut book.people[i];
                    let mut ms: Vec<Value> = p
                        .fields
                        .get("memberships")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    ms.retain(|m| {
                        m.pointer("/contactGroupMembership/contactGroupResourceName")
                            .and_then(Value::as_str)
                            != Some(&group)
                    });
                    if add {
                        ms.push(membership(&group));
                    }
                    p.fields.insert("memberships".into(), Value::Array(ms));
                    p.etag = fresh_etag();
                    p.seq = seq;
                }
            }
            Ok(answer(200, &json!({"notFoundResourceNames": missing})))
        }
        "people.connections.list" => connections(req, book),
        "people.createContact" => {
            let fields = mask(req.param("personFields"), false)?;
            let r = book.create(&req.body())?;
            let i = book.find(&r).unwrap_or(0);
            Ok(answer(200, &person_json(&book.people[i], &fields)))
        }
        "people.batchCreateContacts" => {
            let b = req.body();
            let contacts = b
                .get("contacts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if contacts.len() > BATCH_MAX {
                return Err(GoogleError::invalid(format!(
                    "Too many contacts in the request: {} (at most {BATCH_MAX}).",
                    contacts.len()
                )));
            }
            let read = b.get("readMask").and_then(Value::as_str);
            let fields = mask(read, true)?;
            // All or nothing: every contact is checked before one is stored.
            for c in &contacts {
                let person = c.get("contactPerson").cloned().unwrap_or(Value::Null);
                book.check_memberships(&contact_fields(&person)?)?;
            }
            let mut created = Vec::new();
            for c in contacts {
                let person = c.get("contactPerson").cloned().unwrap_or(Value::Null);
                let r = book.create(&person)?;
                let i = book.find(&r).unwrap_or(0);
                created.push(
                    json!({"httpStatusCode": 200, "person": person_json(&book.people[i], &fields)}),
                );
            }
            Ok(answer(200, &json!({"createdPeople": created})))
        }
        "people.get" => {
            let fields = mask(req.param("personFields"), true)?;
            let r = format!("people/{}", req.path("peopleId"));
            let i = book.find(&r).ok_or_else(GoogleError::not_found)?;
            Ok(answer(200, &person_json(&book.people[i], &fields)))
        }
        "people.getBatchGet" => {
            let fields = mask(req.param("personFields"), true)?;
            let names = req.params("resourceNames");
            if names.len() > BATCH_MAX {
                return Err(GoogleError::invalid(
                    "Too many resource names (at most 200).",
                ));
            }
            let responses: Vec<Value> = names
                .iter()
                .map(|r| match book.find(r) {
                    Some(i) => json!({"httpStatusCode": 200, "requestedResourceName": r,
                        "person": person_json(&book.people[i], &fields)}),
                    None => json!({"httpStatusCode": 404, "requestedResourceName": r,
                        "status": {"code": 5, "message": "Requested entity was not found."}}),
                })
                .collect();
            Ok(answer(200, &json!({"responses": responses})))
        }
        "people.updateContact" => {
            let r = format!("people/{}", req.path("peopleId"));
            let update = mask(req.param("updatePersonFields"), false)?;
            if req.param("updatePersonFields").is_none() {
                return Err(GoogleError::invalid("updatePersonFields mask is required."));
            }
            let fields = mask(req.param("personFields"), false)?;
            let b = req.body();
            let i = book.find(&r).ok_or_else(GoogleError::not_found)?;
            let given = b.get("etag").and_then(Value::as_str).or_else(|| {
                b.pointer("/metadata/sources/0/etag")
                    .and_then(Value::as_str)
            });
            let Some(given) = given else {
                return Err(GoogleError::invalid(
                    "Request must set person.etag or person.metadata.sources.etag for the source that is being updated.",
                ));
            };
            if given != book.people[i].etag {
                // [GP-UPD] 400 failedPrecondition now; 412 in older copies (conflict).
                let status = cfg.stale_etag_status;
                return Err(GoogleError::new(
                    status,
                    if status == 412 { "conditionNotMet" } else { "failedPrecondition" },
                    "Request person.etag is different than the current person.etag. Clear local cache and get the latest person.",
                ));
            }
            let new = contact_fields(&b)?;
            book.check_memberships(&new)?;
            let seq = book.bump();
            let p = &mut book.people[i];
            for f in &update {
                match new.get(f) {
                    Some(v) => {
                        p.fields.insert(f.clone(), v.clone());
                    }
                    None => {
                        p.fields.remove(f);
                    }
                }
            }
            p.etag = fresh_etag();
            p.seq = seq;
            Ok(answer(200, &person_json(p, &fields)))
        }
        "people.deleteContact" => {
            let r = format!("people/{}", req.path("peopleId"));
            let i = book.find(&r).ok_or_else(GoogleError::not_found)?;
            let seq = book.bump();
            let p = &mut book.people[i];
            p.deleted = true;
            p.seq = seq;
            p.etag = fresh_etag();
            Ok(answer(200, &json!({})))
        }
        other => Err(GoogleError::new(
            501,
            "notImplemented",
            format!("{other} is not emulated"),
        )),
    }
}

fn connections(req: &PimReq, book: &mut People) -> Result<Response, GoogleError> {
    if req.path("peopleId") != "me" {
        return Err(GoogleError::new(
            403,
            "forbidden",
            "Must be a G Suite domain user.",
        ));
    }
    let fields = mask(req.param("personFields"), true)?;
    let since = match req.param("syncToken") {
        None => None,
        Some(t) => {
            let parsed = t
                .strip_prefix("c")
                .and_then(|t| t.split_once('-'))
                .and_then(|(e, s)| Some((e.parse::<u64>().ok()?, s.parse::<u64>().ok()?)));
            match parsed {
                Some((e, s)) if e == book.epoch => Some(s),
                // [GP-CONN] an expired token: 400 FAILED_PRECONDITION, EXPIRED_SYNC_TOKEN.
                _ => {
                    return Err(GoogleError::new(
                        400,
                        "failedPrecondition",
                        "Sync token is expired. Clear local cache and retry call without the sync token. (EXPIRED_SYNC_TOKEN)",
                    ))
                }
            }
        }
    };
    let at_start = req
        .param("pageToken")
        .and_then(|p| p.split_once('@'))
        .and_then(|(_, s)| s.parse::<u64>().ok())
        .unwrap_or(book.seq);
    let all: Vec<&Person> = book
        .people
        .iter()
        .filter(|p| match since {
            Some(s) => p.seq > s,
            None => !p.deleted,
        })
        .collect();
    let (from, size) = page_of(req, all.len(), 100)?;
    let next = (from + size < all.len()).then(|| format!("p{}@{at_start}", from + size));
    let items: Vec<Value> = all
        .iter()
        .skip(from)
        .take(size)
        .map(|p| person_json(p, &fields))
        .collect();
    let sync = (next.is_none() && (req.flag("requestSyncToken") || since.is_some()))
        .then(|| format!("c{}-{at_start}", book.epoch));
    let total = book.people.iter().filter(|p| !p.deleted).count();
    Ok(answer(
        200,
        &json!({"connections": items, "nextPageToken": next, "nextSyncToken": sync,
            "totalPeople": total, "totalItems": total}),
    ))
}
