//! `SmtpSubmission` against a scripted SMTP server on 127.0.0.1: EHLO, STARTTLS (with the
//! test servers' certificate, when `MAILMIGRATE_TEST_IMAP_CA_FILE` names it), AUTH PLAIN,
//! several recipients, dot-stuffing, and refusals.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailmigrate_core::campaign::probe::{Envelope, Submission};
use mailmigrate_core::ErrorKind;
use mailmigrate_imap::{SmtpSubmission, Tls};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the server saw: the command lines and the message data.
#[derive(Debug, Default)]
struct Seen {
    commands: Vec<String>,
    data: Vec<u8>,
}

/// Serves one session; returns whether the client asked for STARTTLS (then the caller
/// upgrades and serves again).
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    seen: &Mutex<Seen>,
    tls_offered: bool,
) -> bool {
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await.unwrap_or(0) == 0 {
            return false;
        }
        let line = line.trim_end().to_owned();
        seen.lock().unwrap().commands.push(line.clone());
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            if tls_offered {
                b"250-test.invalid\r\n250-STARTTLS\r\n250 AUTH LOGIN PLAIN\r\n"
            } else {
                b"250-test.invalid\r\n250 AUTH LOGIN PLAIN\r\n"
            }
        } else if upper == "STARTTLS" {
            io.write_all(b"220 go ahead\r\n").await.unwrap();
            return true;
        } else if upper.starts_with("AUTH PLAIN ") {
            if line.ends_with("AGFubgBzZWNyZXQ=") {
                b"235 2.7.0 ok\r\n"
            } else {
                b"535 5.7.8 bad credentials\r\n"
            }
        } else if upper.starts_with("RCPT") && upper.contains("NOBODY") {
            b"550 5.1.1 no such user\r\n"
        } else if upper == "DATA" {
            io.write_all(b"354 go\r\n").await.unwrap();
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                io.read_until(b'\n', &mut l).await.unwrap();
                if l == b".\r\n" {
                    break;
                }
                data.extend_from_slice(&l);
            }
            seen.lock().unwrap().data = data;
            b"250 2.0.0 queued\r\n"
        } else if upper == "QUIT" {
            io.write_all(b"221 bye\r\n").await.unwrap();
            return false;
        } else {
            b"250 ok\r\n"
        };
        io.write_all(reply).await.unwrap();
    }
}

/// The certificate and key `.ci/imap-servers.sh` made beside its CA.
fn tls_files() -> Option<(PathBuf, PathBuf, PathBuf)> {
    let ca = PathBuf::from(std::env::var("MAILMIGRATE_TEST_IMAP_CA_FILE").ok()?);
    let dir = ca.parent()?.to_owned();
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    (cert.exists() && key.exists()).then_some((ca, cert, key))
}

/// A server on a free port that serves one connection.
async fn server(starttls: bool) -> (u16, Arc<Mutex<Seen>>, Option<PathBuf>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let files = if starttls { tls_files() } else { None };
    let acceptor = files.as_ref().map(|(_, cert, key)| {
        use rustls_pki_types::pem::PemObject as _;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        use tokio_rustls::rustls;
        let certs: Vec<_> = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let s = Arc::clone(&seen);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut io = BufReader::new(tcp);
        io.write_all(b"220 test.invalid ESMTP\r\n").await.unwrap();
        if session(&mut io, &s, acceptor.is_some()).await {
            let tls = acceptor.unwrap().accept(io.into_inner()).await.unwrap();
            session(&mut BufReader::new(tls), &s, false).await;
        }
    });
    (port, seen, files.map(|f| f.0))
}

fn envelope(to: &[&str]) -> Envelope {
    Envelope::new("probe@new.example", to.iter().copied())
}

#[tokio::test]
async fn plaintext_smtp_with_auth_plain_and_two_recipients() {
    let (port, seen, _) = server(false).await;
    let sub = SmtpSubmission::new("127.0.0.1", port)
        .with_tls(Tls::Plaintext)
        .allow_plaintext(true)
        .with_credentials("ann", "secret")
        .with_timeout(Duration::from_secs(5));
    let message = b"Subject: hi\r\n\r\n.leading dot\nbare LF\r\n";
    sub.submit(&envelope(&["ann@new.example", "bo@new.example"]), message)
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.commands,
        [
            "EHLO mailmigrate.invalid",
            "AUTH PLAIN AGFubgBzZWNyZXQ=",
            "MAIL FROM:<probe@new.example>",
            "RCPT TO:<ann@new.example>",
            "RCPT TO:<bo@new.example>",
            "DATA",
            "QUIT"
        ]
    );
    assert_eq!(
        seen.data,
        b"Subject: hi\r\n\r\n..leading dot\r\nbare LF\r\n"
    );
}

#[tokio::test]
async fn an_unknown_recipient_and_bad_credentials_are_refused() {
    let (port, _, _) = server(false).await;
    let sub = SmtpSubmission::new("127.0.0.1", port)
        .with_tls(Tls::Plaintext)
        .allow_plaintext(true);
    let e = sub
        .submit(&envelope(&["nobody@new.example"]), b"x\r\n")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("550 5.1.1"), "{e}");

    let (port, _, _) = server(false).await;
    let sub = SmtpSubmission::new("127.0.0.1", port)
        .with_tls(Tls::Plaintext)
        .allow_plaintext(true)
        .with_credentials("ann", "wrong");
    let e = sub
        .submit(&envelope(&["ann@new.example"]), b"x\r\n")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
}

#[tokio::test]
async fn plaintext_needs_opting_in() {
    let sub = SmtpSubmission::new("127.0.0.1", 1).with_tls(Tls::Plaintext);
    let e = sub
        .submit(&envelope(&["ann@new.example"]), b"x\r\n")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
}

#[tokio::test]
async fn starttls_upgrades_before_authenticating() {
    let (port, seen, ca) = server(true).await;
    let Some(ca) = ca else {
        eprintln!(
            "skipping: MAILMIGRATE_TEST_IMAP_CA_FILE is not set (run .ci/imap-servers.sh start)"
        );
        return;
    };
    let sub = SmtpSubmission::new("127.0.0.1", port)
        .with_ca_file(ca)
        .with_credentials("ann", "secret")
        .with_timeout(Duration::from_secs(5));
    sub.submit(
        &envelope(&["ann@new.example"]),
        b"Subject: tls\r\n\r\nx\r\n",
    )
    .await
    .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.commands[..4],
        [
            "EHLO mailmigrate.invalid",
            "STARTTLS",
            "EHLO mailmigrate.invalid",
            "AUTH PLAIN AGFubgBzZWNyZXQ="
        ]
    );
    assert_eq!(seen.data, b"Subject: tls\r\n\r\nx\r\n");
}
