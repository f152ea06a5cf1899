//! TLS against a real server: Radicale over https with a certificate from a private CA,
//! both made by `.ci/dav-servers.sh start`. Trusted with that CA the store discovers,
//! creates, writes and reads; without it, or when the certificate names another host, the
//! connection fails in the handshake with a permanent error saying so, before any request
//! reaches the server; an `http://` URL is refused before any connection is made.

mod common;

use std::time::Duration;

use futures::StreamExt;
use mailmigrate_core::pim::sync::adapt;
use mailmigrate_core::pim::*;
use mailmigrate_core::testkit::pim::sample_contact;
use mailmigrate_core::{Disposition, Error, ErrorKind};
use mailmigrate_dav::DavBuilder;

/// The TLS servers of `.ci/dav-servers.sh` and the CA that signed their certificates.
struct Tls {
    /// Radicale over https, its certificate for 127.0.0.1 and localhost.
    url: String,
    /// Radicale over https, its certificate (from the same CA) for wrong-name.invalid.
    wrong_name_url: String,
    /// The CA, PEM.
    ca: Vec<u8>,
    user: String,
    password: String,
}

/// The TLS servers, or `None` when they are not configured and not required.
fn tls() -> Option<Tls> {
    let var = |k: &str| common::env(&format!("MAILMIGRATE_TEST_RADICALE_TLS_{k}"));
    let ca_path = var("CA")?;
    let ca = std::fs::read(&ca_path).unwrap_or_else(|e| panic!("read the CA {ca_path}: {e}"));
    Some(Tls {
        url: var("URL")?,
        wrong_name_url: var("WRONG_NAME_URL")?,
        ca,
        user: var("USER")?,
        password: var("PASSWORD")?,
    })
}

impl Tls {
    /// A builder for `url` with the account's credentials, the CA not given.
    fn builder(&self, url: &str) -> DavBuilder {
        DavBuilder::new(url)
            .with_basic(&self.user, self.password.as_str())
            .with_timeout(Duration::from_secs(30))
    }

    /// A builder for the server whose certificate is right, trusting the CA.
    fn trusted(&self) -> DavBuilder {
        self.builder(&self.url)
            .with_root_certificate_pem(self.ca.clone())
    }
}

/// `url` with its host replaced by `host`.
fn with_host(url: &str, host: &str) -> String {
    let mut u = reqwest::Url::parse(url).unwrap();
    u.set_host(Some(host)).unwrap();
    u.to_string()
}

/// A certificate failure: permanent, of a request that was never sent, saying why.
fn assert_certificate_refused(e: &Error, why: &str) {
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(!e.is_temporary(), "the same certificate fails again: {e}");
    assert!(!e.is_outcome_unknown(), "nothing was sent: {e}");
    assert_ne!(e.disposition(), Disposition::Settle, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("the server's TLS certificate is not trusted"),
        "{text}"
    );
    assert!(text.contains(why), "{text}");
}

#[tokio::test]
async fn a_private_ca_makes_discovery_writes_and_reads_work() {
    let Some(tls) = tls() else {
        return;
    };
    let store = tls
        .trusted()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect over TLS: {e}"));
    let run = common::run_id();
    let book = common::collection(&store, PimKind::Contacts, &format!("mm-tls-{run}")).await;
    let cal = common::collection(&store, PimKind::Events, &format!("mm-tls-cal-{run}")).await;
    assert!(
        store
            .list_collections(PimKind::Contacts)
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == book.id),
        "the new address book is listed"
    );
    assert!(
        store
            .list_collections(PimKind::Events)
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == cal.id),
        "the new calendar is listed"
    );

    let uid = format!("tls-{run}@example.com");
    let written = store
        .write_items(
            &book.id,
            vec![ItemWrite::create(sample_contact(&uid))],
            &WriteOptions::default(),
        )
        .await
        .unwrap()
        .remove(0)
        .unwrap_or_else(|e| panic!("write over TLS: {e}"));
    let read: Vec<_> = store
        .fetch_items(&book.id, vec![written.id.clone()])
        .collect()
        .await;
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(read[0].0, written.id);
    let item = read[0].1.as_ref().unwrap_or_else(|e| panic!("read: {e}"));
    let mut expected = sample_contact(&uid);
    adapt(&mut expected, &store.pim_capabilities());
    assert_eq!(item.uid(), Some(uid.as_str()));
    assert_eq!(
        item.content_hash(),
        expected.content_hash(),
        "read back as written"
    );
    let found = store
        .find_by_uid(&book.id, std::slice::from_ref(&uid))
        .await
        .unwrap();
    assert_eq!(found[0].len(), 1, "{found:?}");
    assert_eq!(found[0][0].id, written.id);
}

#[tokio::test]
async fn without_the_ca_the_handshake_fails_before_any_request() {
    let Some(tls) = tls() else {
        return;
    };
    let e = tls.builder(&tls.url).connect().await.unwrap_err();
    assert_certificate_refused(&e, "UnknownIssuer");
    assert!(
        e.to_string().contains("with_root_certificate_pem"),
        "the error says what to do: {e}"
    );
    // The handshake failed (rustls' verifier said so, no HTTP status came back), so no
    // request, and no credentials, left the client; and without a connection there is no
    // store to write with.
    assert!(!format!("{e} {e:?}").contains(&tls.password));
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let Some(tls) = tls() else {
        return;
    };
    // The CA is trusted; the certificate is for wrong-name.invalid, reached as 127.0.0.1.
    let e = tls
        .builder(&tls.wrong_name_url)
        .with_root_certificate_pem(tls.ca.clone())
        .connect()
        .await
        .unwrap_err();
    assert_certificate_refused(&e, "not valid for name");
    assert!(
        e.to_string().contains("the URL must name a host"),
        "the error says what to do: {e}"
    );
    // The right certificate verifies by either name it holds (IP 127.0.0.1, DNS localhost).
    let by_name = with_host(&tls.url, "localhost");
    tls.builder(&by_name)
        .with_root_certificate_pem(tls.ca.clone())
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {by_name}: {e}"));
}

#[tokio::test]
async fn http_to_the_tls_server_is_refused_before_connecting() {
    let Some(tls) = tls() else {
        return;
    };
    let mut plain = reqwest::Url::parse(&tls.url).unwrap();
    plain.set_scheme("http").unwrap();
    // Refused by `connect` itself: a connection attempt would fail otherwise (Unavailable).
    let e = tls
        .builder(plain.as_str())
        .with_root_certificate_pem(tls.ca.clone())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{e}");
    assert!(e.to_string().contains("allow_plaintext"), "{e}");
    // Allowed, plaintext to a TLS port is no downgrade: the server does not answer it.
    let e = tls
        .builder(plain.as_str())
        .allow_plaintext(true)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
}
