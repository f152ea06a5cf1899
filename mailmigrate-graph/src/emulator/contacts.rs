//! Contact folders and contacts \[G-CFOLD\]\[G-CONT\]: the default `Contacts` folder, its
//! `contactFolders` and their `childFolders`, contacts with the fields Graph has, the
//! multi-value limits Exchange enforces \[I-CONTACT\], named properties \[G-EXT\] and
//! per-folder delta \[G-CDELTA\] through the shared machinery in `delta`.
//!
//! Contacts do not move between folders here, so a contact's id is the same with or
//! without `Prefer: IdType="ImmutableId"` \[G-IMM\].

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::delta::{self, Entry, Tracked};
use super::errors::{GraphError, Resp};
use super::handle::EmulatorHandle;
use super::ids::{self, FOLDER_PREFIX, IMMUTABLE_PREFIX};
use super::odata::extended_property_filter;
use super::render::{self, fmt_time, normalize_prop_id, View};
use super::server::{unknown_segment, Ctx, State};
use super::store::{now, Mailbox, Tombstone};

/// The well-known name of the default contacts folder (beta `wellKnownName`) \[G-CFOLD\].
const DEFAULT_FOLDER: &str = "contacts";

/// Text properties of a contact \[G-CONT\].
const TEXT: &[&str] = &[
    "assistantName",
    "birthday",
    "businessHomePage",
    "companyName",
    "department",
    "displayName",
    "fileAs",
    "generation",
    "givenName",
    "initials",
    "jobTitle",
    "manager",
    "middleName",
    "mobilePhone",
    "nickName",
    "officeLocation",
    "personalNotes",
    "profession",
    "spouseName",
    "surname",
    "title",
    "yomiCompanyName",
    "yomiGivenName",
    "yomiSurname",
];

/// String-collection properties \[G-CONT\].
const LISTS: &[&str] = &[
    "businessPhones",
    "homePhones",
    "categories",
    "children",
    "imAddresses",
];

/// `physicalAddress` properties and their members \[G-CONT\].
const ADDRESSES: &[&str] = &["businessAddress", "homeAddress", "otherAddress"];
const ADDRESS_MEMBERS: &[&str] = &["street", "city", "state", "countryOrRegion", "postalCode"];

/// Properties the server sets; a body may carry them, and they are ignored.
const READ_ONLY: &[&str] = &[
    "id",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "parentFolderId",
];

/// The undocumented limits Exchange enforces with a 400 \[I-CONTACT\]: (property, its
/// name in the message, most entries).
const LIMITS: &[(&str, &str, usize)] = &[
    ("emailAddresses", "EmailAddresses", 3),
    ("businessPhones", "BusinessPhones", 2),
];

/// A contact folder. Containers have stable ids \[G-IMM\].
#[derive(Debug, Clone)]
pub(crate) struct ContactFolder {
    pub(crate) id: String,
    pub(crate) display_name: String,
    pub(crate) parent_id: String,
    /// The default `Contacts` folder.
    pub(crate) is_default: bool,
}

/// A stored contact: its writable properties as Graph renders them, and its named
/// properties.
#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub(crate) id: String,
    pub(crate) folder_id: String,
    pub(crate) props: Map<String, Value>,
    pub(crate) extended: Vec<(String, String)>,
    created: OffsetDateTime,
    modified: OffsetDateTime,
    change_n: u64,
    folder_seq: u64,
    changed_seq: u64,
}

impl Contact {
    /// `changeKey`: opaque, new on every change \[G-CONT\].
    fn change_key(&self) -> String {
        format!("EQAAABYAAAA{:08x}{}", self.change_n, &self.id[6..14])
    }
}

impl Tracked for Contact {
    fn imm_id(&self) -> &str {
        &self.id
    }
    fn folder_id(&self) -> &str {
        &self.folder_id
    }
    fn seqs(&self) -> (u64, u64) {
        (self.folder_seq, self.changed_seq)
    }
}

/// A mailbox's contacts: folders (the default one first), contacts, and the removals
/// delta reports.
#[derive(Debug)]
pub(crate) struct Book {
    pub(crate) folders: Vec<ContactFolder>,
    pub(crate) contacts: Vec<Contact>,
    tombstones: Vec<Tombstone>,
}

impl Book {
    /// The default `Contacts` folder under the mailbox root `root_id`, empty.
    pub(crate) fn new(root_id: &str) -> Self {
        Self {
            folders: vec![ContactFolder {
                id: ids::new_id(FOLDER_PREFIX),
                display_name: "Contacts".into(),
                parent_id: root_id.to_owned(),
                is_default: true,
            }],
            contacts: Vec::new(),
            tombstones: Vec::new(),
        }
    }

    /// A folder by id (case-sensitive) or the well-known name `contacts`.
    fn folder_index(&self, key: &str) -> Result<usize, GraphError> {
        if key.eq_ignore_ascii_case(DEFAULT_FOLDER) {
            return Ok(0);
        }
        match self.folders.iter().position(|f| f.id == key) {
            Some(i) => Ok(i),
            None if ids::is_well_formed(key, FOLDER_PREFIX) => Err(GraphError::item_not_found()),
            None => Err(GraphError::malformed_id()),
        }
    }

    fn contact_index(&self, id: &str) -> Result<usize, GraphError> {
        match self.contacts.iter().position(|c| c.id == id) {
            Some(i) => Ok(i),
            None if ids::is_well_formed(id, IMMUTABLE_PREFIX) => Err(GraphError::item_not_found()),
            None => Err(GraphError::malformed_id()),
        }
    }

    /// Creates `name` under `parent` (an id); a sibling of that name (case-insensitive)
    /// is `Err(())`.
    fn create_folder(&mut self, parent: &str, name: &str) -> Result<usize, ()> {
        let taken = self
            .folders
            .iter()
            .any(|f| f.parent_id == parent && f.display_name.eq_ignore_ascii_case(name));
        if taken {
            return Err(());
        }
        self.folders.push(ContactFolder {
            id: ids::new_id(FOLDER_PREFIX),
            display_name: name.to_owned(),
            parent_id: parent.to_owned(),
            is_default: false,
        });
        Ok(self.folders.len() - 1)
    }

    /// The folder path below the default folder (`""` for it, `Work/Team`).
    fn path(&self, id: &str) -> String {
        let mut parts = Vec::new();
        let mut cur = self.folders.iter().find(|f| f.id == id);
        while let Some(f) = cur.filter(|f| !f.is_default) {
            parts.push(f.display_name.clone());
            cur = self.folders.iter().find(|p| p.id == f.parent_id);
        }
        parts.reverse();
        parts.join("/")
    }

    /// The folder at `path` below the default one, created as needed (seeding).
    fn ensure_path(&mut self, path: &str) -> String {
        let mut cur = self.folders[0].id.clone();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let found = self
                .folders
                .iter()
                .find(|f| f.parent_id == cur && f.display_name.eq_ignore_ascii_case(part))
                .map(|f| f.id.clone());
            cur = match found {
                Some(id) => id,
                None => {
                    let i = self.create_folder(&cur, part).unwrap_or_default();
                    self.folders[i].id.clone()
                }
            };
        }
        cur
    }
}

fn invalid_body(message: &str) -> GraphError {
    GraphError::body_read(message)
}

/// A body's writable properties and its named properties (id, value).
pub(crate) type Body = (Map<String, Value>, Vec<(String, String)>);

/// Reads the writable properties of a contact body, checking names, types and the
/// multi-value limits \[G-CONT\]\[I-CONTACT\]; named properties go to `extended`.
fn parse_body(body: &[u8]) -> Result<Body, GraphError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| invalid_body("Invalid JSON in the request body."))?;
    let Value::Object(obj) = v else {
        return Err(invalid_body("The request body must be a JSON object."));
    };
    let mut props = Map::new();
    let mut extended = Vec::new();
    for (k, val) in obj {
        let string_or_null = |v: &Value| v.is_null() || v.is_string();
        let ok = if TEXT.contains(&k.as_str()) {
            string_or_null(&val)
        } else if LISTS.contains(&k.as_str()) {
            val.as_array()
                .is_some_and(|a| a.iter().all(Value::is_string))
        } else if ADDRESSES.contains(&k.as_str()) {
            val.is_null()
                || val.as_object().is_some_and(|o| {
                    o.iter()
                        .all(|(m, v)| ADDRESS_MEMBERS.contains(&m.as_str()) && string_or_null(v))
                })
        } else if k == "emailAddresses" {
            val.as_array().is_some_and(|a| {
                a.iter().all(|e| {
                    e.as_object().is_some_and(|o| {
                        o.iter().all(|(m, v)| {
                            matches!(m.as_str(), "address" | "name") && string_or_null(v)
                        })
                    })
                })
            })
        } else if k == "singleValueExtendedProperties" {
            for p in val.as_array().into_iter().flatten() {
                let id = p.get("id").and_then(Value::as_str);
                let value = p.get("value").and_then(Value::as_str);
                let (Some(id), Some(value)) = (id, value) else {
                    return Err(invalid_body(
                        "An extended property needs a string id and value.",
                    ));
                };
                extended.push((id.to_owned(), value.to_owned()));
            }
            continue;
        } else if READ_ONLY.contains(&k.as_str()) || k.starts_with("@odata.") {
            continue;
        } else {
            // (observed) the message Exchange gives for an unknown property.
            return Err(invalid_body(&format!(
                "The property '{k}' does not exist on type 'Microsoft.OutlookServices.Contact'. Make sure to only use property names that are defined by the type."
            )));
        };
        if !ok {
            return Err(invalid_body(&format!(
                "Cannot convert the value of the property '{k}' to its type."
            )));
        }
        props.insert(k, val);
    }
    Ok((props, extended))
}

/// \[I-CONTACT\] the 400 for a multi-value property over its limit, with the exact
/// message Exchange gives.
fn check_limits(props: &Map<String, Value>) -> Result<(), GraphError> {
    for (field, name, max) in LIMITS {
        let n = props
            .get(*field)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if n > *max {
            return Err(GraphError::bad_request(&format!(
                "The multi value property {name} has {n} entries, that exceeds the max allowed value of {max}"
            )));
        }
    }
    Ok(())
}

/// Sets or replaces named properties (a PATCH updates the ones it names) \[G-EXT\].
fn upsert_extended(into: &mut Vec<(String, String)>, props: Vec<(String, String)>) {
    for (id, value) in props {
        let key = normalize_prop_id(&id);
        match into
            .iter_mut()
            .find(|(k, _)| normalize_prop_id(k).eq_ignore_ascii_case(&key))
        {
            Some(slot) => slot.1 = value,
            None => into.push((id, value)),
        }
    }
}

/// A contact as Graph renders it: every property (`null`, `[]` or `{}` when unset), the
/// server's own, `$select` and the `$expand`ed named properties \[G-CONT\]\[G-EXT\].
fn render_contact(c: &Contact, view: &View) -> Value {
    let mut v = Map::new();
    v.insert(
        "@odata.etag".into(),
        json!(format!("W/\"{}\"", c.change_key())),
    );
    v.insert("id".into(), json!(c.id));
    v.insert("createdDateTime".into(), json!(fmt_time(c.created)));
    v.insert("lastModifiedDateTime".into(), json!(fmt_time(c.modified)));
    v.insert("changeKey".into(), json!(c.change_key()));
    v.insert("parentFolderId".into(), json!(c.folder_id));
    for k in TEXT {
        v.insert((*k).into(), c.props.get(*k).cloned().unwrap_or(Value::Null));
    }
    for k in LISTS.iter().chain(&["emailAddresses"]) {
        v.insert((*k).into(), c.props.get(*k).cloned().unwrap_or(json!([])));
    }
    for k in ADDRESSES {
        let a = c.props.get(*k).filter(|a| !a.is_null()).cloned();
        v.insert((*k).into(), a.unwrap_or(json!({})));
    }
    if let Some(select) = &view.select {
        v.retain(|k, _| {
            k == "@odata.etag" || k == "id" || select.iter().any(|s| s.eq_ignore_ascii_case(k))
        });
    }
    if let Some(wanted) = &view.expand {
        let props: Vec<Value> = wanted
            .iter()
            .filter_map(|w| {
                let id = normalize_prop_id(w);
                c.extended
                    .iter()
                    .find(|(k, _)| normalize_prop_id(k).eq_ignore_ascii_case(&id))
                    .map(|(_, val)| json!({"id": w, "value": val}))
            })
            .collect();
        // Items lacking the property do not return it [4.1].
        if !props.is_empty() {
            v.insert("singleValueExtendedProperties".into(), Value::Array(props));
        }
    }
    Value::Object(v)
}

fn view(ctx: &Ctx) -> View {
    View {
        immutable: ctx.prefer.immutable,
        select: ctx.query.select(),
        expand: render::parse_expand(ctx.query.get("$expand")),
    }
}

fn folder_json(f: &ContactFolder) -> Value {
    json!({"id": f.id, "displayName": f.display_name, "parentFolderId": f.parent_id})
}

/// Routes `…/contactFolders…` and `…/contacts…` (`rest` is the path after the user).
pub(crate) fn route(
    st: &State,
    ctx: &Ctx,
    mbx: &mut Mailbox,
    rest: &[&str],
) -> Result<Resp, GraphError> {
    match (ctx.method.as_str(), rest) {
        ("GET", ["contactFolders"]) => list_folders(st, ctx, mbx, None),
        ("POST", ["contactFolders"]) => create_folder(ctx, st, mbx, None),
        ("GET", ["contactFolders", f]) => {
            let f = &mbx.contacts.folders[mbx.contacts.folder_index(f)?];
            Ok(Resp::json(200, &folder_json(f)))
        }
        ("GET", ["contactFolders", f, "childFolders"]) => list_folders(st, ctx, mbx, Some(f)),
        ("POST", ["contactFolders", f, "childFolders"]) => create_folder(ctx, st, mbx, Some(f)),
        ("GET", ["contactFolders", f, "contacts"]) => list(st, ctx, mbx, f),
        ("POST", ["contactFolders", f, "contacts"]) => create(ctx, mbx, f),
        ("GET", ["contactFolders", f, "contacts", "delta"]) => delta(st, ctx, mbx, f),
        (_, ["contactFolders", _, "contacts", id] | ["contacts", id]) => item(ctx, mbx, id),
        ("GET", ["contacts"]) => list(st, ctx, mbx, DEFAULT_FOLDER),
        ("POST", ["contacts"]) => create(ctx, mbx, DEFAULT_FOLDER),
        (_, [.., last]) => Err(unknown_segment(last)),
        (_, []) => Err(unknown_segment("")),
    }
}

/// Pages of `$top` (default 10, like folders \[I-FOLD10\]) with `$skip` nextLinks; calendars
/// and events page the same way.
pub(crate) fn page(st: &State, ctx: &Ctx, all: Vec<Value>) -> Result<Resp, GraphError> {
    let top = ctx.query.top(st.cfg.page_size)?;
    let skip = ctx.query.skip()?;
    let n = all.len();
    let value: Vec<Value> = all.into_iter().skip(skip).take(top).collect();
    let mut body = json!({"value": value});
    if skip + top < n {
        body["@odata.nextLink"] = json!(format!(
            "{}?{}",
            ctx.self_url(st),
            ctx.query.with("$skip", &(skip + top).to_string())
        ));
    }
    Ok(Resp::json(200, &body))
}

/// `GET …/contactFolders` (the default folder's children) or `…/{id}/childFolders`.
fn list_folders(
    st: &State,
    ctx: &Ctx,
    mbx: &Mailbox,
    parent: Option<&str>,
) -> Result<Resp, GraphError> {
    let book = &mbx.contacts;
    let parent = &book.folders[book.folder_index(parent.unwrap_or(DEFAULT_FOLDER))?].id;
    let mut all: Vec<&ContactFolder> = book
        .folders
        .iter()
        .filter(|f| &f.parent_id == parent)
        .collect();
    all.sort_by_key(|f| f.display_name.to_lowercase());
    page(st, ctx, all.into_iter().map(folder_json).collect())
}

/// `POST …/contactFolders` or `…/{id}/childFolders` `{displayName}` → 201; a sibling of
/// the same name → `ErrorFolderExists` (409 or 400, observed) \[1.6\].
fn create_folder(
    ctx: &Ctx,
    st: &State,
    mbx: &mut Mailbox,
    parent: Option<&str>,
) -> Result<Resp, GraphError> {
    let book = &mut mbx.contacts;
    let parent = book.folders[book.folder_index(parent.unwrap_or(DEFAULT_FOLDER))?]
        .id
        .clone();
    let v: Value = serde_json::from_slice(&ctx.body)
        .map_err(|_| invalid_body("Invalid JSON in the request body."))?;
    let name = super::folders::display_name(&v)?;
    let i = book.create_folder(&parent, name).map_err(|()| {
        GraphError::new(
            st.cfg.folder_exists_status,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        )
    })?;
    Ok(Resp::json(201, &folder_json(&book.folders[i])))
}

/// `GET …/contacts` of a folder: `$filter` by a named property's value \[G-EXT\],
/// `$select`, `$expand`, paging.
fn list(st: &State, ctx: &Ctx, mbx: &Mailbox, folder: &str) -> Result<Resp, GraphError> {
    let book = &mbx.contacts;
    let folder_id = &book.folders[book.folder_index(folder)?].id;
    let by_property = match ctx.query.get("$filter") {
        None => None,
        Some(f) => Some(extended_property_filter(f).ok_or_else(|| {
            GraphError::new(
                400,
                "ErrorInvalidUrlQueryFilter",
                "The query filter contains one or more invalid nodes.",
            )
        })?),
    };
    let v = view(ctx);
    let all: Vec<Value> = book
        .contacts
        .iter()
        .filter(|c| &c.folder_id == folder_id)
        .filter(|c| {
            by_property.as_ref().is_none_or(|(id, value)| {
                let id = normalize_prop_id(id);
                c.extended
                    .iter()
                    .any(|(k, v)| normalize_prop_id(k).eq_ignore_ascii_case(&id) && v == value)
            })
        })
        .map(|c| render_contact(c, &v))
        .collect();
    page(st, ctx, all)
}

/// `POST …/contacts` → 201 with the contact \[G-CONT\]; over a limit → 400 \[I-CONTACT\].
fn create(ctx: &Ctx, mbx: &mut Mailbox, folder: &str) -> Result<Resp, GraphError> {
    let i = mbx.contacts.folder_index(folder)?;
    let folder_id = mbx.contacts.folders[i].id.clone();
    let (props, extended) = parse_body(&ctx.body)?;
    check_limits(&props)?;
    let seq = mbx.bump();
    let t = now();
    let c = Contact {
        id: ids::new_id(IMMUTABLE_PREFIX),
        folder_id,
        props,
        extended,
        created: t,
        modified: t,
        change_n: 1,
        folder_seq: seq,
        changed_seq: seq,
    };
    let out = render_contact(&c, &view(ctx));
    mbx.contacts.contacts.push(c);
    Ok(Resp::json(201, &out))
}

/// `GET`, `PATCH` (the properties it names; a new `changeKey`) and `DELETE` (204) of one
/// contact \[G-CONT\].
fn item(ctx: &Ctx, mbx: &mut Mailbox, id: &str) -> Result<Resp, GraphError> {
    let i = mbx.contacts.contact_index(id)?;
    match ctx.method.as_str() {
        "GET" => Ok(Resp::json(
            200,
            &render_contact(&mbx.contacts.contacts[i], &view(ctx)),
        )),
        "PATCH" => {
            let (props, extended) = parse_body(&ctx.body)?;
            let mut merged = mbx.contacts.contacts[i].props.clone();
            merged.extend(props);
            check_limits(&merged)?;
            let seq = mbx.bump();
            let c = &mut mbx.contacts.contacts[i];
            c.props = merged;
            upsert_extended(&mut c.extended, extended);
            c.change_n += 1;
            c.changed_seq = seq;
            c.modified = now();
            Ok(Resp::json(200, &render_contact(c, &view(ctx))))
        }
        "DELETE" => {
            remove(mbx, i);
            Ok(Resp::empty(204))
        }
        _ => Err(GraphError::new(
            405,
            "ErrorInvalidRequest",
            "The OData request is not supported.",
        )),
    }
}

fn remove(mbx: &mut Mailbox, i: usize) {
    let seq = mbx.bump();
    let c = mbx.contacts.contacts.remove(i);
    mbx.contacts.tombstones.push(Tombstone {
        folder_id: c.folder_id,
        imm_id: c.id.clone(),
        rest_id: c.id,
        seq,
    });
}

/// `GET …/contactFolders/{id}/contacts/delta` \[G-CDELTA\]\[G-DQ\].
fn delta(st: &State, ctx: &Ctx, mbx: &Mailbox, folder: &str) -> Result<Resp, GraphError> {
    let book = &mbx.contacts;
    let folder_id = book.folders[book.folder_index(folder)?].id.clone();
    let state = delta::resume_or(st, ctx, mbx, "contact", &folder_id, || Ok((None, None)))?;
    let collect = |s: &delta::DeltaState, since: u64| {
        delta::collect(st, &book.contacts, &book.tombstones, s, since, |_| true)
    };
    let render = |e: &Entry, v: &View| {
        delta::render_entry(&book.contacts, e, (&folder_id, "contact"), v, |c| {
            render_contact(c, v)
        })
    };
    Ok(delta::serve(st, ctx, mbx, state, &collect, &render))
}

/// A contact as the emulator holds it, for tests.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredContact {
    /// Its id.
    pub id: String,
    /// Its folder's path below the default `Contacts` folder (`""` for that one).
    pub folder_path: String,
    /// Its writable properties as sent (`givenName`, `emailAddresses`…).
    pub props: Map<String, Value>,
    /// Its named properties (id, value) \[G-EXT\].
    pub extended: Vec<(String, String)>,
}

impl EmulatorHandle {
    /// Every contact of `upn`'s mailbox, in every contact folder.
    ///
    /// # Panics
    /// When the emulator has no such mailbox.
    ///
    /// # Examples
    /// ```
    /// use mailmigrate_graph::emulator::Emulator;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let emu = Emulator::builder().mailbox("ada@example.com").start().await.unwrap();
    /// let id = emu.seed_contact(
    ///     "ada@example.com",
    ///     "Friends",
    ///     serde_json::json!({"displayName": "Bo", "emailAddresses": [{"address": "bo@x.org"}]}),
    /// );
    /// let all = emu.contacts("ada@example.com");
    /// assert_eq!((all[0].id.as_str(), all[0].folder_path.as_str()), (id.as_str(), "Friends"));
    /// emu.shutdown().await;
    /// # });
    /// ```
    pub fn contacts(&self, upn: &str) -> Vec<StoredContact> {
        self.with_mailbox(upn, |mbx| {
            mbx.contacts
                .contacts
                .iter()
                .map(|c| StoredContact {
                    id: c.id.clone(),
                    folder_path: mbx.contacts.path(&c.folder_id),
                    props: c.props.clone(),
                    extended: c.extended.clone(),
                })
                .collect()
        })
    }

    /// Adds a contact with the Graph properties `props` to the folder at `folder_path`
    /// below the default `Contacts` folder (`""`: that one), created as needed, as a user
    /// would; returns its id. Limits and property names are not checked.
    ///
    /// # Panics
    /// When the emulator has no such mailbox or `props` is not a JSON object.
    pub fn seed_contact(&self, upn: &str, folder_path: &str, props: Value) -> String {
        self.with_mailbox(upn, |mbx| {
            let folder_id = mbx.contacts.ensure_path(folder_path);
            let Value::Object(props) = props else {
                panic!("a contact's properties are a JSON object");
            };
            let seq = mbx.bump();
            let t = now();
            let id = ids::new_id(IMMUTABLE_PREFIX);
            mbx.contacts.contacts.push(Contact {
                id: id.clone(),
                folder_id,
                props,
                extended: Vec::new(),
                created: t,
                modified: t,
                change_n: 1,
                folder_seq: seq,
                changed_seq: seq,
            });
            id
        })
    }

    /// Changes contact `id`'s properties as a user would (the ones `patch` names, a new
    /// `changeKey`).
    ///
    /// # Panics
    /// When the mailbox or the contact does not exist, or `patch` is not an object.
    pub fn update_contact(&self, upn: &str, id: &str, patch: Value) {
        self.with_mailbox(upn, |mbx| {
            let i = mbx.contacts.contact_index(id).expect("no such contact");
            let Value::Object(patch) = patch else {
                panic!("a patch is a JSON object");
            };
            let seq = mbx.bump();
            let c = &mut mbx.contacts.contacts[i];
            c.props.extend(patch);
            c.change_n += 1;
            c.changed_seq = seq;
            c.modified = now();
        });
    }

    /// Deletes contact `id` as a user would.
    ///
    /// # Panics
    /// When the mailbox or the contact does not exist.
    pub fn delete_contact(&self, upn: &str, id: &str) {
        self.with_mailbox(upn, |mbx| {
            let i = mbx.contacts.contact_index(id).expect("no such contact");
            remove(mbx, i);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_answer_the_exact_message() {
        let body = json!({"emailAddresses": [{"address": "a"}, {"address": "b"}, {"address": "c"}, {"address": "d"}]});
        let (props, _) = parse_body(body.to_string().as_bytes()).unwrap();
        let e = check_limits(&props).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            "The multi value property EmailAddresses has 4 entries, that exceeds the max allowed value of 3"
        );
        let body = json!({"businessPhones": ["1", "2", "3"]});
        let (props, _) = parse_body(body.to_string().as_bytes()).unwrap();
        assert!(check_limits(&props)
            .unwrap_err()
            .message
            .starts_with("The multi value property BusinessPhones has 3 entries"));
    }

    #[test]
    fn unknown_and_mistyped_properties_are_refused() {
        assert!(parse_body(br#"{"nickname": "x"}"#).is_err());
        assert!(parse_body(br#"{"businessPhones": "x"}"#).is_err());
        assert!(parse_body(br#"{"homeAddress": {"street": "x", "zip": "1"}}"#).is_err());
        let (p, e) = parse_body(
            br#"{"id": "ignored", "nickName": "x", "singleValueExtendedProperties": [{"id": "a", "value": "b"}]}"#,
        )
        .unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(e, [("a".to_owned(), "b".to_owned())]);
    }
}
