//! Tests against a small scripted IMAP server: OAuth2 mechanisms, and servers that misbehave
//! (unsolicited lines, `BYE` mid-command, a connection lost after an APPEND literal).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use mailmigrate_core::{
    Change, Checkpoint, DedupeKey, Destination, Disposition, ErrorKind, FolderId, MessageId,
    MessageMeta, Provider, RawMessage, Source, SpecialUse,
};
use mailmigrate_imap::{AuthMechanism, Imap, ImapBuilder, Tls, TokenProvider};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the scripted server does with a command after login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Answers like a well-behaved (if chatty) server.
    Normal,
    /// Answers `UID FETCH` with `* BYE` and closes.
    ByeOnFetch,
    /// Reads an APPEND literal, then closes without answering.
    DropAfterAppendLiteral,
    /// Reads a whole APPEND command (every MULTIAPPEND literal), then closes unanswered.
    DropAfterAppendCommand,
    /// Closes on an APPEND command line without asking for its literal.
    DropBeforeAppendLiteral,
    /// Refuses XOAUTH2 with an error challenge, as Gmail does.
    RefuseAuth,
    /// Refuses XOAUTH2 like `RefuseAuth`, on every connection.
    RefuseAuthAlways,
    /// Answers `LIST "" "*"` with a mailbox name that is not UTF-8.
    NonUtf8List,
    /// Never answers `UID FETCH` (and stops reading).
    SilentOnFetch,
    /// Announces a body literal longer than the bytes it sends.
    LyingLiteral,
    /// Offers no AUTH=PLAIN, only the LOGIN command.
    LoginOnly,
}

#[derive(Debug)]
struct Seen {
    auth_payloads: Vec<String>,
    commands: Vec<String>,
    /// The UIDVALIDITY every SELECT reports; a test may change it between calls.
    uidvalidity: u32,
    /// Whether CONDSTORE is offered (read when a connection opens).
    condstore: bool,
    /// With `Some`, the server keeps a real mailbox (UID, bytes) shared by every connection:
    /// SELECT, UID FETCH, UID SEARCH and APPEND work on it instead of the canned replies.
    /// Its `SEARCH LARGER`/`SMALLER` compare the size with bare LF line ends, as some
    /// servers do with their stored form.
    mailbox: Option<Vec<(u32, Vec<u8>)>>,
    /// The mailbox answers `BODY[HEADER.FIELDS (MESSAGE-ID)]` with another `Message-ID` than
    /// the one stored: a server whose header field the client would read otherwise.
    other_header_ids: bool,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            auth_payloads: Vec::new(),
            commands: Vec::new(),
            uidvalidity: 77,
            condstore: true,
            mailbox: None,
            other_header_ids: false,
        }
    }
}

async fn start(behaviour: Behaviour) -> (u16, Arc<Mutex<Seen>>) {
    start_with(behaviour, "").await
}

async fn start_with(behaviour: Behaviour, extra_caps: &'static str) -> (u16, Arc<Mutex<Seen>>) {
    start_configured(behaviour, extra_caps, Seen::default()).await
}

async fn start_configured(
    behaviour: Behaviour,
    extra_caps: &'static str,
    seen: Seen,
) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(seen));
    let s = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((sock, _)) = listener.accept().await {
            n += 1;
            // Misbehaviour applies to the first connection only; later ones behave.
            let b = if n == 1 || behaviour == Behaviour::RefuseAuthAlways {
                behaviour
            } else {
                Behaviour::Normal
            };
            tokio::spawn(serve(sock, b, extra_caps, Arc::clone(&s)));
        }
    });
    (port, seen)
}

async fn serve(
    sock: TcpStream,
    behaviour: Behaviour,
    extra_caps: &'static str,
    seen: Arc<Mutex<Seen>>,
) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let condstore = if seen.lock().unwrap().condstore {
        "CONDSTORE "
    } else {
        ""
    };
    let caps = format!(
        "IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER UIDPLUS {condstore}NAMESPACE {extra_caps}"
    );
    let caps = if behaviour == Behaviour::LoginOnly {
        caps.replace("AUTH=PLAIN ", "")
    } else {
        caps
    };
    let gmail = extra_caps.contains("X-GM-EXT-1");
    let mut next_uid = 9;
    w.write_all(b"* OK scripted server ready\r\n")
        .await
        .unwrap();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_owned();
        seen.lock().unwrap().commands.push(cmd.clone());
        let (tag, rest) = cmd.split_once(' ').unwrap_or((&cmd, ""));
        let upper = rest.to_ascii_uppercase();
        let reply = if upper.starts_with("AUTHENTICATE") {
            w.write_all(b"+ \r\n").await.unwrap();
            let mut payload = String::new();
            r.read_line(&mut payload).await.unwrap();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(payload.trim_end())
                .unwrap();
            seen.lock()
                .unwrap()
                .auth_payloads
                .push(String::from_utf8(decoded).unwrap());
            if matches!(
                behaviour,
                Behaviour::RefuseAuth | Behaviour::RefuseAuthAlways
            ) {
                // RFC 7628 / Gmail: an error challenge, answered by an empty response.
                let err = base64::engine::general_purpose::STANDARD
                    .encode(br#"{"status":"401","schemes":"Bearer"}"#);
                w.write_all(format!("+ {err}\r\n").as_bytes())
                    .await
                    .unwrap();
                let mut empty = String::new();
                r.read_line(&mut empty).await.unwrap();
                format!("{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")
            } else {
                format!("{tag} OK [CAPABILITY {caps}] Logged in\r\n")
            }
        } else if upper.starts_with("CAPABILITY") {
            format!("* CAPABILITY {caps}\r\n{tag} OK done\r\n")
        } else if upper.starts_with("NAMESPACE") {
            format!("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n{tag} OK done\r\n")
        } else if upper.starts_with("LIST \"\" \"*\"") && behaviour == Behaviour::NonUtf8List {
            w.write_all(b"* LIST () \"/\" \"caf\xe9\"\r\n")
                .await
                .unwrap();
            format!("{tag} OK done\r\n")
        } else if upper.starts_with("LIST") {
            format!(
                "* LIST (\\HasNoChildren) \"/\" INBOX\r\n* LIST (\\HasChildren) \"/\" \"Arch&AOk-ologie\"\r\n\
                 * LIST (\\Noselect) \"/\" \"Arch&AOk-ologie/2020\"\r\n{tag} OK done\r\n"
            )
        } else if upper.starts_with("XLIST") {
            format!(
                "* XLIST (\\HasNoChildren \\Inbox) \"/\" \"Inbox\"\r\n\
                 * XLIST (\\Noselect \\HasChildren) \"/\" \"[Gmail]\"\r\n\
                 * XLIST (\\HasNoChildren \\AllMail) \"/\" \"[Gmail]/All Mail\"\r\n\
                 * XLIST (\\HasNoChildren \\Spam) \"/\" \"[Gmail]/Spam\"\r\n\
                 * XLIST (\\HasNoChildren) \"/\" \"Entw&APw-rfe\"\r\n{tag} OK done\r\n"
            )
        } else if upper.starts_with("LSUB") {
            format!("* LSUB () \"/\" \"Arch&AOk-ologie\"\r\n{tag} OK done\r\n")
        } else if let Some(reply) = mailbox_reply(&seen, tag, &upper, rest) {
            reply
        } else if upper.starts_with("EXAMINE") || upper.starts_with("SELECT") {
            // Chatty: unsolicited and unknown response codes between the useful lines.
            let (uidvalidity, condstore) = {
                let s = seen.lock().unwrap();
                (s.uidvalidity, s.condstore)
            };
            let modseq = if condstore {
                "* OK [HIGHESTMODSEQ 5] modseq\r\n"
            } else {
                ""
            };
            format!(
                "* FLAGS (\\Seen \\Answered)\r\n* 2 EXISTS\r\n* 0 RECENT\r\n\
                 * OK [UIDVALIDITY {uidvalidity}] UIDs valid\r\n* OK [UIDNEXT 3] next\r\n\
                 {modseq}* OK [X-UNKNOWN-CODE 1] whatever\r\n\
                 {tag} OK [READ-WRITE] done\r\n"
            )
        } else if upper.starts_with("UID FETCH") {
            if behaviour == Behaviour::SilentOnFetch {
                std::future::pending::<()>().await;
            }
            if behaviour == Behaviour::LyingLiteral {
                w.write_all(b"* 1 FETCH (UID 1 FLAGS () BODY[] {100}\r\nonly ten b")
                    .await
                    .unwrap();
                std::future::pending::<()>().await;
            }
            if behaviour == Behaviour::ByeOnFetch {
                w.write_all(b"* BYE server shutting down\r\n")
                    .await
                    .unwrap();
                return;
            }
            let labels = if gmail {
                " X-GM-LABELS (\\Important \"Work\" \"Entw&APw-rfe\")"
            } else {
                ""
            };
            format!(
                "* 1 FETCH (UID 1 FLAGS (\\Seen) INTERNALDATE \" 4-Mar-2019 05:06:07 +0200\" RFC822.SIZE 10{labels})\r\n\
                 * 3 EXISTS\r\n\
                 * 2 FETCH (UID 2 FLAGS () INTERNALDATE \"05-Mar-2019 05:06:07 +0000\" RFC822.SIZE 20)\r\n\
                 {tag} OK done\r\n"
            )
        } else if upper.starts_with("APPEND") {
            // One message, or several (MULTIAPPEND, RFC 3502): each literal is followed by
            // either CRLF (the end) or the next message's " (flags) {n}" and CRLF.
            let mut spec_line = cmd.clone();
            let (mut count, mut refusal) = (0u32, None);
            let mut literals = Vec::new();
            loop {
                let spec = spec_line.rsplit_once('{').unwrap().1.trim_end_matches('}');
                let non_sync = spec.ends_with('+');
                let size: usize = spec.trim_end_matches('+').parse().unwrap();
                if !non_sync {
                    if behaviour == Behaviour::DropBeforeAppendLiteral {
                        return;
                    }
                    w.write_all(b"+ go ahead\r\n").await.unwrap();
                }
                let mut literal = vec![0u8; size];
                r.read_exact(&mut literal).await.unwrap();
                if behaviour == Behaviour::DropAfterAppendLiteral {
                    return;
                }
                count += 1;
                refusal = refusal.or_else(|| refusal_for(&literal));
                literals.push(literal);
                let mut rest = String::new();
                r.read_line(&mut rest).await.unwrap();
                if rest.trim().is_empty() {
                    break;
                }
                spec_line = rest.trim_end().to_owned();
            }
            if behaviour == Behaviour::DropAfterAppendCommand {
                return;
            }
            if let Some(answer) = refusal {
                format!("{tag} {answer}\r\n")
            } else if let Some(set) = store_in_mailbox(&seen, literals) {
                format!("{tag} OK [APPENDUID 77 {set}] done\r\n")
            } else {
                let first = next_uid;
                next_uid += count;
                let set = if count == 1 {
                    first.to_string()
                } else {
                    format!("{first}:{}", next_uid - 1)
                };
                format!("{tag} OK [APPENDUID 77 {set}] done\r\n")
            }
        } else if upper.starts_with("LOGOUT") {
            format!("* BYE bye\r\n{tag} OK done\r\n")
        } else {
            format!("{tag} OK done\r\n")
        };
        if w.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The refusal a scripted server gives a message, chosen by the message's first bytes.
fn refusal_for(literal: &[u8]) -> Option<&'static str> {
    [
        (&b"REJECT"[..], "NO [PARSE] message refused"),
        (
            &b"NOCODE"[..],
            "NO Internal error occurred. Refer to server log.",
        ),
        (&b"ALERT"[..], "NO [ALERT] Too many commands, slow down"),
        (&b"BAD"[..], "BAD Invalid arguments."),
    ]
    .into_iter()
    .find(|(prefix, _)| literal.starts_with(prefix))
    .map(|(_, answer)| answer)
}

/// Stores appended messages in the shared mailbox, if there is one; returns their UID set.
fn store_in_mailbox(seen: &Mutex<Seen>, literals: Vec<Vec<u8>>) -> Option<String> {
    let mut s = seen.lock().unwrap();
    let mailbox = s.mailbox.as_mut()?;
    let first = mailbox.last().map_or(1, |(u, _)| u + 1);
    let count = literals.len() as u32;
    for (k, l) in literals.into_iter().enumerate() {
        mailbox.push((first + k as u32, l));
    }
    Some(if count == 1 {
        first.to_string()
    } else {
        format!("{first}:{}", first + count - 1)
    })
}

/// Answers SELECT, UID FETCH and UID SEARCH from the shared mailbox, if there is one.
fn mailbox_reply(seen: &Mutex<Seen>, tag: &str, upper: &str, rest: &str) -> Option<String> {
    let s = seen.lock().unwrap();
    let mailbox = s.mailbox.as_ref()?;
    let max = mailbox.last().map_or(0, |(u, _)| *u);
    if upper.starts_with("EXAMINE") || upper.starts_with("SELECT") {
        return Some(format!(
            "* {} EXISTS\r\n* OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT {}] next\r\n\
             {tag} OK done\r\n",
            mailbox.len(),
            s.uidvalidity,
            max + 1
        ));
    }
    let in_set = |set: &str, uid: u32| {
        set.split(',').any(|part| {
            let bound = |b: &str| if b == "*" { max } else { b.parse().unwrap() };
            match part.split_once(':') {
                Some((a, b)) => {
                    let (a, b) = (bound(a), bound(b));
                    (a.min(b)..=a.max(b)).contains(&uid)
                }
                None => bound(part) == uid,
            }
        })
    };
    if upper.starts_with("UID FETCH") {
        let set = rest.split_whitespace().nth(2).unwrap();
        let with_body = upper.contains("BODY.PEEK[]");
        let mut out = Vec::new();
        for (seq, (uid, bytes)) in mailbox.iter().enumerate() {
            if !in_set(set, *uid) {
                continue;
            }
            let mut line = format!("* {} FETCH (UID {uid} RFC822.SIZE {}", seq + 1, bytes.len());
            if upper.contains("BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]") {
                let field = message_id_field(bytes, s.other_header_ids);
                line.push_str(&format!(
                    " BODY[HEADER.FIELDS (MESSAGE-ID)] {{{}}}\r\n{field}",
                    field.len()
                ));
            }
            if with_body {
                line.push_str(&format!(" BODY[] {{{}}}\r\n", bytes.len()));
                line.push_str(std::str::from_utf8(bytes).unwrap());
            }
            line.push_str(")\r\n");
            out.push(line);
        }
        return Some(format!("{}{tag} OK done\r\n", out.concat()));
    }
    if upper.starts_with("UID SEARCH") {
        let criteria = &rest["UID SEARCH ".len()..];
        let found: Vec<String> = mailbox
            .iter()
            .filter(|(uid, bytes)| search_matches(criteria, *uid, bytes, &in_set))
            .map(|(uid, _)| uid.to_string())
            .collect();
        return Some(format!("* SEARCH {}\r\n{tag} OK done\r\n", found.join(" ")));
    }
    None
}

/// What a server answers to `BODY[HEADER.FIELDS (MESSAGE-ID)]`: the message's
/// `Message-ID` lines (unfolded ones only, as the tests' messages have), then a blank line;
/// with `other`, another id in their place.
fn message_id_field(bytes: &[u8], other: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    let header = text.split("\r\n\r\n").next().unwrap_or_default();
    let lines: String = header
        .split("\r\n")
        .filter(|l| l.to_ascii_lowercase().starts_with("message-id:"))
        .map(|l| match other {
            true => "Message-ID: <other@scripted.example>\r\n".to_owned(),
            false => format!("{l}\r\n"),
        })
        .collect();
    format!("{lines}\r\n")
}

/// The few SEARCH criteria the scripted mailbox understands (a conjunction of them).
fn search_matches(
    criteria: &str,
    uid: u32,
    bytes: &[u8],
    in_set: &dyn Fn(&str, u32) -> bool,
) -> bool {
    // The size as stored with bare LF line ends: what these servers compare.
    let lf_size = bytes.iter().filter(|&&b| b != b'\r').count() as u64;
    let words: Vec<&str> = criteria.split_whitespace().collect();
    let mut i = 0;
    let mut ok = true;
    while i < words.len() {
        match words[i].to_ascii_uppercase().as_str() {
            "ALL" => {}
            "UID" => {
                ok &= in_set(words[i + 1], uid);
                i += 1;
            }
            "LARGER" => {
                ok &= lf_size > words[i + 1].parse::<u64>().unwrap();
                i += 1;
            }
            "SMALLER" => {
                ok &= lf_size < words[i + 1].parse::<u64>().unwrap();
                i += 1;
            }
            "HEADER" => {
                let name = words[i + 1].to_ascii_lowercase();
                let value = words[i + 2].trim_matches('"');
                let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
                ok &= text.lines().any(|l| {
                    l.starts_with(&format!("{name}:")) && l.contains(&value.to_ascii_lowercase())
                });
                i += 2;
            }
            other => panic!("the scripted mailbox cannot search {other}"),
        }
        i += 1;
    }
    ok
}

#[derive(Debug)]
struct FixedToken(&'static str);

#[async_trait]
impl TokenProvider for FixedToken {
    async fn token(&self) -> mailmigrate_core::Result<mailmigrate_core::auth::AccessToken> {
        Ok(mailmigrate_core::auth::AccessToken::new(self.0))
    }

    fn invalidate(&self, _rejected: &mailmigrate_core::auth::AccessToken) {}
}

fn builder(port: u16) -> ImapBuilder {
    ImapBuilder::new()
        .with_host("127.0.0.1")
        .with_port(port)
        .with_user("alice@example.org")
        .with_tls(Tls::Plaintext)
        .allow_plaintext(true)
}

#[tokio::test]
async fn xoauth2_sends_the_bearer_token_and_never_shows_it() {
    let (port, seen) = start(Behaviour::Normal).await;
    let imap = builder(port)
        .with_credentials(Arc::new(FixedToken("ya29.secret-token")))
        .build()
        .await
        .unwrap();
    let payload = seen.lock().unwrap().auth_payloads[0].clone();
    assert_eq!(
        payload,
        "user=alice@example.org\u{1}auth=Bearer ya29.secret-token\u{1}\u{1}"
    );
    assert!(seen
        .lock()
        .unwrap()
        .commands
        .iter()
        .any(|c| c.ends_with("AUTHENTICATE XOAUTH2")));
    assert!(!format!("{imap:?}").contains("secret-token"));
}

#[tokio::test]
async fn oauthbearer_follows_rfc7628() {
    let (port, seen) = start(Behaviour::Normal).await;
    builder(port)
        .with_credentials(Arc::new(FixedToken("tok")))
        .with_auth_mechanism(AuthMechanism::OAuthBearer)
        .build()
        .await
        .unwrap();
    let payload = seen.lock().unwrap().auth_payloads[0].clone();
    assert_eq!(
        payload,
        format!("n,a=alice@example.org,\u{1}host=127.0.0.1\u{1}port={port}\u{1}auth=Bearer tok\u{1}\u{1}")
    );
}

/// Hands out `token-1`, `token-2`, … and counts fetches and invalidations.
#[derive(Debug, Default)]
struct Rotating {
    fetches: std::sync::atomic::AtomicU32,
    invalidated: Mutex<Vec<String>>,
}

#[async_trait]
impl TokenProvider for Rotating {
    async fn token(&self) -> mailmigrate_core::Result<mailmigrate_core::auth::AccessToken> {
        let n = self
            .fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        Ok(mailmigrate_core::auth::AccessToken::new(format!(
            "token-{n}"
        )))
    }

    fn invalidate(&self, rejected: &mailmigrate_core::auth::AccessToken) {
        let rejected = rejected.secret().expose_secret().to_owned();
        self.invalidated.lock().unwrap().push(rejected);
    }
}

#[tokio::test]
async fn refused_token_is_unauthenticated() {
    let (port, _) = start(Behaviour::RefuseAuthAlways).await;
    let provider = Arc::new(Rotating::default());
    let e = builder(port)
        .with_credentials(Arc::clone(&provider) as Arc<dyn TokenProvider>)
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e:?}");
    assert!(!format!("{e:?}").contains("token-"), "{e:?}");
    // One retry with a fresh token, then the refusal is the answer.
    assert_eq!(
        provider.fetches.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert_eq!(*provider.invalidated.lock().unwrap(), ["token-1"]);
}

#[tokio::test]
async fn a_refused_token_is_invalidated_and_a_fresh_one_logs_in() {
    let (port, seen) = start(Behaviour::RefuseAuth).await;
    let provider = Arc::new(Rotating::default());
    builder(port)
        .with_credentials(Arc::clone(&provider) as Arc<dyn TokenProvider>)
        .build()
        .await
        .unwrap();
    assert_eq!(*provider.invalidated.lock().unwrap(), ["token-1"]);
    let payloads = seen.lock().unwrap().auth_payloads.clone();
    assert!(
        payloads.last().unwrap().contains("auth=Bearer token-2"),
        "{payloads:?}"
    );
}

#[tokio::test]
async fn a_failing_token_provider_keeps_its_error_kind() {
    #[derive(Debug)]
    struct Down;
    #[async_trait]
    impl TokenProvider for Down {
        async fn token(&self) -> mailmigrate_core::Result<mailmigrate_core::auth::AccessToken> {
            Err(
                mailmigrate_core::Error::new(ErrorKind::Unavailable, "token endpoint down")
                    .temporary(),
            )
        }
        fn invalidate(&self, _rejected: &mailmigrate_core::auth::AccessToken) {}
    }
    let (port, _) = start(Behaviour::Normal).await;
    let e = builder(port)
        .with_credentials(Arc::new(Down))
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e:?}");
    assert!(e.is_temporary(), "{e:?}");
}

#[tokio::test]
async fn plain_password_goes_through_authenticate_plain() {
    let (port, seen) = start(Behaviour::Normal).await;
    builder(port).with_password("pw-123").build().await.unwrap();
    assert_eq!(
        seen.lock().unwrap().auth_payloads[0],
        "\0alice@example.org\0pw-123"
    );
}

#[tokio::test]
async fn folders_decode_utf7_and_noselect_and_subscriptions() {
    let (port, _) = start(Behaviour::Normal).await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    assert_eq!(imap.separator(), Some('/'));
    let folders = Provider::list_folders(&imap).await.unwrap();
    let names: Vec<String> = folders.iter().map(|f| f.path.to_string()).collect();
    assert_eq!(names, ["INBOX", "Archéologie", "Archéologie/2020"]);
    assert!(folders[1].subscribed && folders[1].selectable);
    assert!(!folders[2].subscribed && !folders[2].selectable);
    assert_eq!(folders[1].id.as_str(), "Arch&AOk-ologie");
}

#[tokio::test]
async fn chatty_server_listing_ignores_unsolicited_lines() {
    let (port, _) = start(Behaviour::Normal).await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    let changes: Vec<Change> = imap
        .list_changes(&FolderId::new("INBOX"), None)
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    let Change::Upsert(first) = &changes[0] else {
        panic!("{changes:?}")
    };
    assert_eq!(first.id.as_str(), "77:1");
    assert_eq!(first.size, Some(10));
    let Change::Checkpoint(cp) = &changes[2] else {
        panic!("{changes:?}")
    };
    assert_eq!(cp.as_str(), "imap1:77:3:5");
}

#[tokio::test]
async fn bye_mid_fetch_fails_each_item_temporarily() {
    let (port, _) = start(Behaviour::ByeOnFetch).await;
    let imap = builder(port)
        .with_password("pw")
        .with_pool_size(1)
        .build()
        .await
        .unwrap();
    let ids = vec![MessageId::new("77:1"), MessageId::new("77:2")];
    let out: Vec<_> = imap.fetch(&FolderId::new("INBOX"), ids).collect().await;
    assert_eq!(out.len(), 2);
    for (id, r) in out {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary(), "a read can be retried");
        assert_eq!(e.context("message"), Some(id.as_str()));
    }
    // The broken connection was dropped; the next call opens a fresh one that works.
    let again: Vec<_> = imap
        .list_changes(&FolderId::new("INBOX"), None)
        .collect()
        .await;
    assert!(again.iter().all(Result::is_ok), "{again:?}");
}

#[tokio::test]
async fn append_with_unknown_outcome_is_not_temporary() {
    let (port, _) = start(Behaviour::DropAfterAppendLiteral).await;
    let imap = builder(port)
        .with_password("pw")
        .with_pool_size(1)
        .build()
        .await
        .unwrap();
    let folder = FolderId::new("INBOX");
    let msg = |id: &str| {
        RawMessage::new(
            MessageMeta::new(MessageId::new(id), folder.clone()),
            Bytes::from_static(b"Subject: x\r\n\r\nbody\r\n"),
        )
    };
    let out = imap
        .append(&folder, vec![msg("a"), msg("b")])
        .await
        .unwrap();
    let e = out[0].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(!e.is_temporary(), "the server may have stored it: {e:?}");
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert_eq!(e.disposition(), Disposition::Settle);
    assert_eq!(e.context("message"), Some("a"));
    // The rest of the batch went over a fresh connection.
    let ok = out[1].as_ref().unwrap();
    assert_eq!(ok.id.as_ref().map(MessageId::as_str), Some("77:9"));
}

fn batch(folder: &FolderId, bodies: &[&'static [u8]]) -> Vec<RawMessage> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            RawMessage::new(
                MessageMeta::new(MessageId::new(format!("m{i}")), folder.clone()),
                Bytes::from_static(b),
            )
        })
        .collect()
}

#[tokio::test]
async fn literal_plus_appends_are_pipelined_and_isolate_rejections() {
    let (port, seen) = start_with(Behaviour::Normal, "LITERAL+").await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    let folder = FolderId::new("INBOX");
    let bodies: [&'static [u8]; 4] = [
        b"Subject: 1\r\n\r\none\r\n",
        b"REJECT me\r\n\r\n",
        b"Subject: 3\r\n\r\nthree\r\n",
        b"Subject: 4\r\n\r\nfour\r\n",
    ];
    let out = imap.append(&folder, batch(&folder, &bodies)).await.unwrap();
    let ids: Vec<Option<String>> = out
        .iter()
        .map(|r| {
            r.as_ref()
                .ok()
                .and_then(|a| a.id.as_ref())
                .map(|i| i.to_string())
        })
        .collect();
    assert_eq!(
        ids,
        [
            Some("77:9".to_owned()),
            None,
            Some("77:10".to_owned()),
            Some("77:11".to_owned())
        ]
    );
    let e = out[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidMessage);
    assert_eq!(e.context("message"), Some("m1"));
    let cmds = seen.lock().unwrap().commands.clone();
    assert_eq!(
        cmds.iter()
            .filter(|c| c.contains("APPEND") && c.ends_with("+}"))
            .count(),
        4
    );
}

#[tokio::test]
async fn pipelined_append_cut_off_reports_unknown_outcomes() {
    let (port, _) = start_with(Behaviour::DropAfterAppendLiteral, "LITERAL+").await;
    let imap = builder(port)
        .with_password("pw")
        .with_pool_size(1)
        .build()
        .await
        .unwrap();
    let folder = FolderId::new("INBOX");
    let bodies: [&'static [u8]; 2] = [b"Subject: a\r\n\r\na\r\n", b"Subject: b\r\n\r\nb\r\n"];
    let out = imap.append(&folder, batch(&folder, &bodies)).await.unwrap();
    let first = out[0].as_ref().unwrap_err();
    assert_eq!(first.kind(), ErrorKind::Unavailable);
    assert!(!first.is_temporary(), "{first:?}");
    assert!(first.is_outcome_unknown(), "{first:?}");
    // The second was either in flight (unknown, never temporary) or not yet sent and then
    // stored over a fresh connection.
    match &out[1] {
        Ok(a) => assert!(a.id.is_some()),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Unavailable);
            assert!(e.is_outcome_unknown(), "{e:?}");
        }
    }
}

#[tokio::test]
async fn gmail_labels_are_read_and_written_with_x_gm_ext_1() {
    let (port, seen) = start_with(Behaviour::Normal, "LITERAL+ X-GM-EXT-1").await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    assert!(Provider::info(&imap).capabilities.append_with_labels);
    let folder = FolderId::new("[Gmail]/All Mail");
    let changes: Vec<Change> = imap
        .list_changes(&folder, None)
        .map(Result::unwrap)
        .collect()
        .await;
    let Change::Upsert(first) = &changes[0] else {
        panic!("{changes:?}")
    };
    let want: std::collections::BTreeSet<String> = ["\\Important", "Work", "Entwürfe"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(first.labels, want);
    assert!(seen
        .lock()
        .unwrap()
        .commands
        .iter()
        .any(|c| c.contains("UID FETCH") && c.contains("X-GM-LABELS")));

    let msg = RawMessage::new(
        MessageMeta::new(MessageId::new("m"), folder.clone()).with_labels(want.clone()),
        Bytes::from_static(b"Subject: labelled\r\n\r\nbody\r\n"),
    );
    let out = imap.append(&folder, vec![msg]).await.unwrap();
    let id = out[0].as_ref().unwrap().id.clone().unwrap();
    let (_, uid) = id.as_str().split_once(':').unwrap();
    let store =
        format!("UID STORE {uid} +X-GM-LABELS.SILENT (\"Entw&APw-rfe\" \"Work\" \\Important)");
    assert!(
        seen.lock()
            .unwrap()
            .commands
            .iter()
            .any(|c| c.ends_with(&store)),
        "{:?}",
        seen.lock().unwrap().commands
    );
}

#[tokio::test]
async fn a_mailbox_name_that_is_not_utf8_fails_alone() {
    let (port, _) = start(Behaviour::NonUtf8List).await;
    let imap = builder(port)
        .with_password("pw")
        .with_pool_size(1)
        .build()
        .await
        .unwrap();
    // imap-proto decodes the name lossily; the folder is listed, but cannot be addressed.
    let folders = Provider::list_folders(&imap).await.unwrap();
    assert_eq!(folders.len(), 1);
    let bad = &folders[0].id;
    assert!(bad.as_str().contains('\u{fffd}'));
    let first = imap.list_changes(bad, None).next().await.unwrap();
    let e = first.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{e:?}");
    assert_eq!(e.context("folder"), Some(bad.as_str()));
    // The connection is still good for everything else.
    let ok: Vec<_> = imap
        .list_changes(&FolderId::new("INBOX"), None)
        .collect()
        .await;
    assert!(ok.iter().all(Result::is_ok), "{ok:?}");
}

#[tokio::test]
async fn a_cancelled_call_does_not_leave_its_connection_in_the_pool() {
    let (port, _) = start(Behaviour::SilentOnFetch).await;
    let imap = builder(port)
        .with_password("pw")
        .with_pool_size(1)
        .build()
        .await
        .unwrap();
    let ids = vec![MessageId::new("77:1")];
    // The caller gives up on a fetch the server never answers (cancellation, not a timing check).
    let cancelled = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        imap.fetch(&FolderId::new("INBOX"), ids).collect::<Vec<_>>(),
    )
    .await;
    assert!(cancelled.is_err());
    // The half-used connection was dropped: the next call gets a fresh one and completes.
    let next = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        imap.list_changes(&FolderId::new("INBOX"), None)
            .collect::<Vec<_>>(),
    )
    .await
    .expect("the next call must not inherit the stuck connection");
    assert!(next.iter().all(Result::is_ok), "{next:?}");
}

#[tokio::test]
async fn xlist_gives_roles_where_special_use_is_missing() {
    let (port, seen) = start_with(Behaviour::Normal, "XLIST").await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    let folders = Provider::list_folders(&imap).await.unwrap();
    let roles: Vec<(String, Option<SpecialUse>, bool)> = folders
        .iter()
        .map(|f| (f.path.to_string(), f.role, f.selectable))
        .collect();
    assert_eq!(
        roles,
        [
            ("INBOX".to_owned(), Some(SpecialUse::Inbox), true),
            ("[Gmail]".to_owned(), None, false),
            ("[Gmail]/All Mail".to_owned(), Some(SpecialUse::All), true),
            ("[Gmail]/Spam".to_owned(), Some(SpecialUse::Junk), true),
            ("Entwürfe".to_owned(), None, true),
        ]
    );
    assert!(seen
        .lock()
        .unwrap()
        .commands
        .iter()
        .any(|c| c.contains("XLIST")));
    // The connection used for the raw XLIST is retired; the backend goes on.
    let again = Provider::list_folders(&imap).await.unwrap();
    assert_eq!(again.len(), 5);
}

#[tokio::test]
async fn a_literal_that_lies_about_its_size_times_out_as_a_temporary_failure() {
    let (port, _) = start(Behaviour::LyingLiteral).await;
    let imap = builder(port)
        .with_password("pw")
        .with_pool_size(1)
        .with_timeout(std::time::Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let out: Vec<_> = imap
        .fetch(&FolderId::new("INBOX"), vec![MessageId::new("77:1")])
        .collect()
        .await;
    let e = out[0].1.as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e:?}");
    assert!(e.is_temporary());
    assert!(
        !format!("{e:?}").contains("only ten"),
        "no server bytes in errors"
    );
    let again: Vec<_> = imap
        .list_changes(&FolderId::new("INBOX"), None)
        .collect()
        .await;
    assert!(again.iter().all(Result::is_ok), "{again:?}");
}

#[tokio::test]
async fn multiappend_sends_one_command_and_isolates_a_refused_message() {
    let (port, seen) = start_with(Behaviour::Normal, "LITERAL+ MULTIAPPEND").await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    let folder = FolderId::new("INBOX");
    let good: [&'static [u8]; 3] = [
        b"Subject: 1\r\n\r\none\r\n",
        b"Subject: 2\r\n\r\ntwo\r\n",
        b"Subject: 3\r\n\r\nthree\r\n",
    ];
    let out = imap.append(&folder, batch(&folder, &good)).await.unwrap();
    let ids: Vec<String> = out
        .iter()
        .map(|r| r.as_ref().unwrap().id.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["77:9", "77:10", "77:11"]);
    let appends = |seen: &Arc<Mutex<Seen>>| {
        seen.lock()
            .unwrap()
            .commands
            .iter()
            .filter(|c| c.contains(" APPEND "))
            .count()
    };
    assert_eq!(appends(&seen), 1, "one MULTIAPPEND command for the batch");

    let mixed: [&'static [u8]; 3] = [
        b"Subject: 4\r\n\r\nfour\r\n",
        b"REJECT me\r\n\r\n",
        b"Subject: 6\r\n\r\nsix\r\n",
    ];
    let out = imap.append(&folder, batch(&folder, &mixed)).await.unwrap();
    assert!(out[0].is_ok() && out[2].is_ok(), "{out:?}");
    let e = out[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidMessage);
    assert_eq!(e.context("message"), Some("m1"));
    // The refused group (1 command) was re-sent as three single APPENDs.
    assert_eq!(appends(&seen), 1 + 1 + 3);
}

#[tokio::test]
async fn login_is_used_when_plain_is_not_offered() {
    let (port, seen) = start(Behaviour::LoginOnly).await;
    builder(port).with_password("pw-9").build().await.unwrap();
    let cmds = seen.lock().unwrap().commands.clone();
    assert!(
        cmds.iter().any(|c| c.ends_with("CAPABILITY")),
        "asked before login: {cmds:?}"
    );
    assert!(cmds.iter().any(|c| c.contains(" LOGIN ")), "{cmds:?}");
    assert!(!cmds.iter().any(|c| c.contains("AUTHENTICATE")), "{cmds:?}");
}

#[tokio::test]
async fn a_connection_lost_before_the_literal_sends_the_message_again() {
    let (port, seen) = start(Behaviour::DropBeforeAppendLiteral).await;
    let imap = builder(port)
        .with_password("pw")
        .with_pool_size(1)
        .build()
        .await
        .unwrap();
    let folder = FolderId::new("INBOX");
    let bodies: [&'static [u8]; 2] = [b"Subject: a\r\n\r\na\r\n", b"Subject: b\r\n\r\nb\r\n"];
    let out = imap.append(&folder, batch(&folder, &bodies)).await.unwrap();
    // Nothing of the first message reached the server: it went again over a fresh
    // connection, with the rest.
    let ids: Vec<String> = out
        .iter()
        .map(|r| r.as_ref().unwrap().id.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["77:9", "77:10"]);
    let appends = seen
        .lock()
        .unwrap()
        .commands
        .iter()
        .filter(|c| c.contains(" APPEND "))
        .count();
    assert_eq!(appends, 3, "the cut-off command, then both again");
}

#[tokio::test]
async fn a_multiappend_whose_answer_is_lost_is_unknown_as_a_whole() {
    let (port, _) = start_with(Behaviour::DropAfterAppendCommand, "LITERAL+ MULTIAPPEND").await;
    let imap = builder(port)
        .with_password("pw")
        .with_pool_size(1)
        .build()
        .await
        .unwrap();
    let folder = FolderId::new("INBOX");
    let bodies: [&'static [u8]; 3] = [
        b"Subject: 1\r\n\r\none\r\n",
        b"Subject: 2\r\n\r\ntwo\r\n",
        b"Subject: 3\r\n\r\nthree\r\n",
    ];
    let out = imap.append(&folder, batch(&folder, &bodies)).await.unwrap();
    for (i, r) in out.iter().enumerate() {
        let e = r.as_ref().unwrap_err();
        assert!(e.is_outcome_unknown(), "{i}: {e:?}");
        assert_eq!(e.disposition(), Disposition::Settle, "{i}");
        assert_eq!(e.context("message"), Some(format!("m{i}").as_str()));
    }
}

#[tokio::test]
async fn append_refusals_that_are_not_the_message_s_fault_are_retried() {
    let (port, _) = start_with(Behaviour::Normal, "LITERAL+").await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    let folder = FolderId::new("INBOX");
    let bodies: [&'static [u8]; 5] = [
        b"NOCODE\r\n\r\n",
        b"ALERT\r\n\r\n",
        b"BAD\r\n\r\n",
        b"REJECT\r\n\r\n",
        b"Subject: fine\r\n\r\nfine\r\n",
    ];
    let out = imap.append(&folder, batch(&folder, &bodies)).await.unwrap();
    let got: Vec<_> = out[..4]
        .iter()
        .map(|r| {
            let e = r.as_ref().unwrap_err();
            (e.kind(), e.is_temporary(), e.disposition())
        })
        .collect();
    assert_eq!(
        got,
        [
            (ErrorKind::Unexpected, true, Disposition::Retry),
            (ErrorKind::RateLimited, true, Disposition::Retry),
            (ErrorKind::Unexpected, false, Disposition::Retry),
            (ErrorKind::InvalidMessage, false, Disposition::Final),
        ]
    );
    assert!(out[4].is_ok(), "{:?}", out[4]);
}

/// A scripted server holding `messages` (UIDs from 1) in a real mailbox.
async fn mailbox_server(messages: &[&[u8]]) -> (u16, Arc<Mutex<Seen>>) {
    let seen = Seen {
        mailbox: Some(
            messages
                .iter()
                .enumerate()
                .map(|(i, m)| (i as u32 + 1, m.to_vec()))
                .collect(),
        ),
        ..Seen::default()
    };
    start_configured(Behaviour::Normal, "LITERAL+", seen).await
}

fn raw_in(folder: &FolderId, bytes: &'static [u8]) -> RawMessage {
    RawMessage::new(
        MessageMeta::new(MessageId::new("src"), folder.clone()),
        Bytes::from_static(bytes),
    )
}

/// The ids of the copies `find_existing` finds for `key`, lowest UID first.
async fn copy_ids(imap: &Imap, folder: &FolderId, key: &DedupeKey) -> Vec<MessageId> {
    let found = imap.find_existing(folder, key).await.unwrap();
    found.into_iter().map(|c| c.id).collect()
}

fn ids(found: &[MessageId]) -> Vec<&str> {
    found.iter().map(MessageId::as_str).collect()
}

/// The `UID FETCH` commands a look-up sent, without their tags: index reads
/// (`RFC822.SIZE` and the `Message-ID` field) and body fetches.
fn lookup_fetches(seen: &Mutex<Seen>) -> Vec<String> {
    seen.lock()
        .unwrap()
        .commands
        .iter()
        .filter(|c| {
            c.contains("UID FETCH") && (c.contains("HEADER.FIELDS") || c.contains("BODY.PEEK[]"))
        })
        .map(|c| c.split_once(' ').unwrap().1.to_owned())
        .collect()
}

const INDEX: &str = "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])";
const BODIES: &str = "(UID FLAGS INTERNALDATE BODY.PEEK[])";

#[tokio::test]
async fn find_existing_compares_sizes_itself_and_keeps_them_between_lookups() {
    const ONE: &[u8] = b"Subject: one\r\n\r\nbody one\r\n";
    const TWO: &[u8] = b"Subject: two\r\n\r\nbody two!\r\n";
    const THREE: &[u8] = b"Subject: three\r\n\r\nbody three\r\n";
    let (port, seen) = mailbox_server(&[ONE, TWO]).await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    let folder = FolderId::new("INBOX");
    // This server's SEARCH LARGER/SMALLER compare LF sizes: it would find nothing.
    let found = copy_ids(&imap, &folder, &DedupeKey::of(&raw_in(&folder, TWO))).await;
    assert_eq!(ids(&found), ["77:2"]);
    let found = copy_ids(&imap, &folder, &DedupeKey::of(&raw_in(&folder, ONE))).await;
    assert_eq!(ids(&found), ["77:1"]);
    // A message this process appends is found by the next lookup.
    let out = imap
        .append(&folder, vec![raw_in(&folder, THREE)])
        .await
        .unwrap();
    assert_eq!(
        out[0].as_ref().unwrap().id.as_ref().unwrap().as_str(),
        "77:3"
    );
    let found = copy_ids(&imap, &folder, &DedupeKey::of(&raw_in(&folder, THREE))).await;
    assert_eq!(ids(&found), ["77:3"]);
    // The index was read once, then only above the last UID seen; only the body of the
    // message of the key's size was fetched.
    assert_eq!(
        lookup_fetches(&seen),
        [
            format!("UID FETCH 1:* {INDEX}"),
            format!("UID FETCH 2 {BODIES}"),
            format!("UID FETCH 3:* {INDEX}"),
            format!("UID FETCH 1 {BODIES}"),
            format!("UID FETCH 3:* {INDEX}"),
            format!("UID FETCH 3 {BODIES}"),
        ]
    );
    // A key without a size (rebuilt from the ledger) compares every message's hash.
    let mut key = DedupeKey::of(&raw_in(&folder, TWO));
    key.size = None;
    let found = copy_ids(&imap, &folder, &key).await;
    assert_eq!(ids(&found), ["77:2"]);
}

/// Messages of one size, told apart by their `Message-ID` (two differ by a suffix only).
const SAME_SIZE: [&[u8]; 4] = [
    b"Message-ID: <a@x.example>\r\n\r\nbody 1\r\n",
    b"Message-ID: <b@x.example>\r\n\r\nbody 2\r\n",
    b"Message-ID: <c@x.example>\r\n\r\nbody 3\r\n",
    b"Message-ID: <c@x.exampl>\r\n\r\nbody 3!\r\n",
];

#[tokio::test]
async fn a_batch_is_one_index_read_and_the_bodies_its_ids_name() {
    let (port, seen) = mailbox_server(&SAME_SIZE).await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    let folder = FolderId::new("INBOX");
    let keys: Vec<DedupeKey> = [SAME_SIZE[0], SAME_SIZE[2], SAME_SIZE[3]]
        .into_iter()
        .map(|m| DedupeKey::of(&raw_in(&folder, m)))
        .collect();
    let found = imap.find_existing_many(&folder, &keys).await.unwrap();
    let found: Vec<Vec<&str>> = found
        .iter()
        .map(|copies| copies.iter().map(|c| c.id.as_str()).collect())
        .collect();
    assert_eq!(found, [vec!["77:1"], vec!["77:3"], vec!["77:4"]]);
    // Not the body of 77:2, which has their size but another id.
    assert_eq!(
        lookup_fetches(&seen),
        [
            format!("UID FETCH 1:* {INDEX}"),
            format!("UID FETCH 1,3:4 {BODIES}"),
        ]
    );
}

#[tokio::test]
async fn a_header_field_read_otherwise_still_finds_the_copy() {
    let seen = Seen {
        mailbox: Some(vec![(1, SAME_SIZE[0].to_vec()), (2, SAME_SIZE[1].to_vec())]),
        other_header_ids: true,
        ..Seen::default()
    };
    let (port, seen) = start_configured(Behaviour::Normal, "LITERAL+", seen).await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    let folder = FolderId::new("INBOX");
    let found = copy_ids(
        &imap,
        &folder,
        &DedupeKey::of(&raw_in(&folder, SAME_SIZE[1])),
    )
    .await;
    assert_eq!(ids(&found), ["77:2"]);
    // No message had the key's id: every message of its size was hashed.
    assert_eq!(
        lookup_fetches(&seen),
        [
            format!("UID FETCH 1:* {INDEX}"),
            format!("UID FETCH 1:2 {BODIES}"),
        ]
    );
}

#[tokio::test]
async fn a_source_without_condstore_resets_when_uidvalidity_changes() {
    let seen = Seen {
        condstore: false,
        ..Seen::default()
    };
    let (port, seen) = start_configured(Behaviour::Normal, "", seen).await;
    let imap = builder(port).with_password("pw").build().await.unwrap();
    assert!(!Provider::info(&imap).capabilities.list_since);
    let folder = FolderId::new("INBOX");
    let list = |since: Option<Checkpoint>| {
        let imap = imap.clone();
        let folder = folder.clone();
        async move {
            imap.list_changes(&folder, since)
                .map(Result::unwrap)
                .collect::<Vec<Change>>()
                .await
        }
    };
    let first = list(None).await;
    let Some(Change::Checkpoint(cp)) = first.last().cloned() else {
        panic!("{first:?}")
    };
    assert_eq!(cp.as_str(), "imap1:77:3:0");
    // Same UIDVALIDITY: everything is listed again (flag changes are invisible), no reset.
    let again = list(Some(cp.clone())).await;
    assert!(!again.contains(&Change::Reset), "{again:?}");
    assert_eq!(again.len(), 3, "{again:?}");

    seen.lock().unwrap().uidvalidity = 78;
    let reset = list(Some(cp)).await;
    assert_eq!(reset.first(), Some(&Change::Reset), "{reset:?}");
    let Change::Upsert(m) = &reset[1] else {
        panic!("{reset:?}")
    };
    assert_eq!(m.id.as_str(), "78:1");
    assert_eq!(
        reset.last(),
        Some(&Change::Checkpoint(Checkpoint::new("imap1:78:3:0")))
    );
}
