//! Emulator: token endpoint, auth, error envelope, folders and paging.
#![cfg(feature = "emulator")]

use mailmigrate_graph::emulator::Emulator;
use serde_json::{json, Value};

mod common;
use common::*;

#[tokio::test]
async fn token_response_has_the_documented_shape() {
    let emu = Emulator::builder().mailbox(UPN).start().await.unwrap();
    let http = reqwest::Client::new();
    let r = http
        .post(emu.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "mailmigrate-emulator"),
            ("client_secret", "emulator-secret"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    assert!(v["ext_expires_in"].is_u64());
    assert!(v["access_token"].as_str().unwrap().len() > 20);
    assert_eq!(emu.stats().tokens_issued, 1);
}

#[tokio::test]
async fn wrong_secret_scope_or_tenant_gives_oauth_errors() {
    let emu = Emulator::builder().mailbox(UPN).start().await.unwrap();
    let http = reqwest::Client::new();
    let send = |url: String, secret: &'static str, scope: &'static str| {
        let http = http.clone();
        async move {
            let r = http
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "mailmigrate-emulator"),
                    ("client_secret", secret),
                    ("scope", scope),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let scope = "https://graph.microsoft.com/.default";
    let (s, v) = send(emu.token_url(), "wrong", scope).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"], "invalid_client");
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS"));
    assert!(v["error_codes"].as_array().unwrap()[0].is_u64());
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(v[k].is_string(), "{k}");
    }
    let (s, v) = send(emu.token_url(), "emulator-secret", "Mail.Read").await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "invalid_scope");
    let other = format!("{}/other-tenant/oauth2/v2.0/token", emu.base_url());
    let (s, _) = send(other, "emulator-secret", scope).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn graph_calls_need_a_valid_token_and_expire_on_demand() {
    let t = setup(Emulator::builder()).await;
    let r = t
        .http
        .get(t.url(&format!("/users/{UPN}/mailFolders")))
        .header("client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_envelope(&v, "InvalidAuthenticationToken");
    assert_eq!(v["error"]["innerError"]["client-request-id"], "abc-123");
    assert_eq!(t.get(&format!("/users/{UPN}/mailFolders")).await.0, 200);
    t.emu.faults().expire_tokens();
    let (s, v) = t.get(&format!("/users/{UPN}/mailFolders")).await;
    assert_eq!(s, 401);
    assert_envelope(&v, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let t = setup(Emulator::builder().token_lifetime(std::time::Duration::from_millis(200))).await;
    assert_eq!(t.get(&format!("/users/{UPN}/mailFolders")).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(t.get(&format!("/users/{UPN}/mailFolders")).await.0, 401);
}

#[tokio::test]
async fn unknown_user_is_mailbox_not_enabled_and_upn_is_case_insensitive() {
    let t = setup(Emulator::builder()).await;
    let (s, v) = t.get("/users/nobody@example.com/mailFolders").await;
    assert_eq!(s, 404);
    assert_envelope(&v, "MailboxNotEnabledForRESTAPI");
    assert_eq!(t.get("/users/ADA@Example.com/mailFolders").await.0, 200);
}

#[tokio::test]
async fn default_folders_and_well_known_names() {
    let t = setup(Emulator::builder()).await;
    let (s, v) = t.get(&format!("/users/{UPN}/mailFolders/inbox")).await;
    assert_eq!(s, 200);
    assert_eq!(v["displayName"], "Inbox");
    for k in ["id", "parentFolderId"] {
        assert!(v[k].is_string(), "{k}");
    }
    for k in ["childFolderCount", "totalItemCount", "unreadItemCount"] {
        assert!(v[k].is_u64(), "{k}");
    }
    assert_eq!(v["isHidden"], false);
    assert!(
        v.get("wellKnownName").is_none(),
        "v1.0 has no wellKnownName"
    );
    let beta = format!("{}/beta/users/{UPN}/mailFolders/drafts", t.emu.base_url());
    let (_, b) = t.get(&beta).await;
    assert_eq!(b["wellKnownName"], "drafts");
    // Eight default folders at the root: all on one page of 10, no nextLink.
    let (_, list) = t.get(&format!("/users/{UPN}/mailFolders")).await;
    assert!(list["@odata.context"]
        .as_str()
        .unwrap()
        .contains("$metadata#"));
    assert_eq!(list["value"].as_array().unwrap().len(), 8);
    assert!(list.get("@odata.nextLink").is_none());
    // Malformed and unknown ids.
    let (s, v) = t.get(&format!("/users/{UPN}/mailFolders/not!an!id")).await;
    assert_eq!(s, 400);
    assert_envelope(&v, "ErrorInvalidIdMalformed");
}

#[tokio::test]
async fn twenty_five_folders_page_by_ten_with_skip_links() {
    let t = setup(Emulator::builder()).await;
    let (s, parent) = t
        .post(
            &format!("/users/{UPN}/mailFolders"),
            &json!({"displayName": "Projects"}),
        )
        .await;
    assert_eq!(s, 201);
    let pid = parent["id"].as_str().unwrap().to_owned();
    for i in 0..25 {
        let (s, _) = t
            .post(
                &format!("/users/{UPN}/mailFolders/{pid}/childFolders"),
                &json!({"displayName": format!("p{i:02}")}),
            )
            .await;
        assert_eq!(s, 201);
    }
    let mut url = format!("/users/{UPN}/mailFolders/{pid}/childFolders");
    let mut sizes = Vec::new();
    let mut names = std::collections::HashSet::new();
    loop {
        let (s, v) = t.get(&url).await;
        assert_eq!(s, 200);
        let page = v["value"].as_array().unwrap();
        sizes.push(page.len());
        for f in page {
            names.insert(f["displayName"].as_str().unwrap().to_owned());
            assert_eq!(f["parentFolderId"], pid.as_str());
        }
        match v["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.contains("%24skip="), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(names.len(), 25);
    let (_, v) = t
        .get(&format!(
            "/users/{UPN}/mailFolders/{pid}/childFolders?$top=20"
        ))
        .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 20);
    let (_, p) = t.get(&format!("/users/{UPN}/mailFolders/{pid}")).await;
    assert_eq!(p["childFolderCount"], 25);
}

#[tokio::test]
async fn duplicate_folder_name_is_folder_exists() {
    let t = setup(Emulator::builder()).await;
    let path = format!("/users/{UPN}/mailFolders/inbox/childFolders");
    assert_eq!(t.post(&path, &json!({"displayName": "Work"})).await.0, 201);
    let (s, v) = t.post(&path, &json!({"displayName": "WORK"})).await;
    assert_eq!(s, 409);
    assert_envelope(&v, "ErrorFolderExists");
    assert_eq!(
        v["error"]["message"],
        "A folder with the specified name already exists."
    );
    let t2 = setup(Emulator::builder().folder_exists_status(400)).await;
    assert_eq!(t2.post(&path, &json!({"displayName": "Work"})).await.0, 201);
    assert_eq!(t2.post(&path, &json!({"displayName": "work"})).await.0, 400);
}

#[tokio::test]
async fn hidden_folders_only_with_include_hidden() {
    let t = setup(Emulator::builder()).await;
    let path = format!("/users/{UPN}/mailFolders");
    let (s, v) = t
        .post(&path, &json!({"displayName": "Secret", "isHidden": true}))
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["isHidden"], true);
    let (_, v) = t.get(&path).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 8);
    let (_, v) = t.get(&format!("{path}?includeHiddenFolders=true")).await;
    assert_eq!(v["value"].as_array().unwrap().len(), 9);
    assert!(t
        .emu
        .folders(UPN)
        .iter()
        .any(|f| f.path == "Secret" && f.is_hidden));
}

#[tokio::test]
async fn seeded_paths_create_nested_folders() {
    let t = setup(Emulator::builder()).await;
    t.emu.seed_message(
        UPN,
        "Inbox/Projects/2024",
        b"Subject: a\r\n\r\nx\r\n",
        Default::default(),
    );
    let folders = t.emu.folders(UPN);
    let leaf = folders
        .iter()
        .find(|f| f.path == "Inbox/Projects/2024")
        .unwrap();
    let mid = folders.iter().find(|f| f.path == "Inbox/Projects").unwrap();
    assert_eq!(leaf.parent_id.as_deref(), Some(mid.id.as_str()));
    let (_, v) = t
        .get(&format!("/users/{UPN}/mailFolders/{}", leaf.id))
        .await;
    assert_eq!(v["totalItemCount"], 1);
    assert_eq!(v["unreadItemCount"], 1);
}
