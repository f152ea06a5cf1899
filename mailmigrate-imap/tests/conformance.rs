//! The shared conformance suite against real Dovecot and Cyrus servers.
//!
//! Targets come from `MAILMIGRATE_TEST_IMAP_{DOVECOT,CYRUS}_*` (written by
//! `.ci/imap-servers.sh start` into its `env` file). A missing target skips, unless
//! `MAILMIGRATE_TEST_REQUIRE` names `imap`, which makes it fail.
//!
//! The harness can renew a folder (a plain `DELETE` and `CREATE` on a connection of its own,
//! as another mail client would) and reach the server through the testkit's fault-injecting
//! proxy, so the renewal and wire cases run against the real servers too.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use mailmigrate_core::testkit::Harness;
use mailmigrate_core::{Destination, FolderPath};
use mailmigrate_imap::{Imap, ImapBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The builder of one configured server's account.
fn builder(prefix: &str) -> ImapBuilder {
    ImapBuilder::from_env_prefix(prefix)
        .allow_plaintext(true)
        .with_pool_size(3)
}

fn var(prefix: &str, key: &str) -> String {
    std::env::var(format!("{prefix}{key}")).unwrap_or_else(|_| panic!("{prefix}{key} is set"))
}

/// Connects to one configured server, or `None` when it is not configured.
async fn server(name: &str) -> Option<Harness> {
    let prefix = format!("MAILMIGRATE_TEST_IMAP_{name}_");
    if std::env::var(format!("{prefix}HOST")).is_err() {
        return mailmigrate_core::testkit::skip_unless_required(
            "imap",
            &format!("{prefix}HOST is not set (run .ci/imap-servers.sh start)"),
        );
    }
    let imap = builder(&prefix)
        .build()
        .await
        .unwrap_or_else(|e| panic!("{name}: cannot connect: {e:?}"));
    let upstream = (
        var(&prefix, "HOST"),
        var(&prefix, "PORT").parse::<u16>().expect("a port"),
    )
        .to_socket_addrs()
        .expect("the server's address resolves")
        .next()
        .expect("one address");
    let imap = Arc::new(imap);
    let (renewing, wire_prefix) = (Arc::clone(&imap), prefix.clone());
    let harness = Harness::same(Arc::clone(&imap))
        .with_renewal(move |path| {
            let (imap, prefix) = (Arc::clone(&renewing), prefix.clone());
            Box::pin(async move { renew(&imap, &prefix, upstream, &path).await })
        })
        .with_wire(upstream, move |addr| {
            let prefix = wire_prefix.clone();
            Box::pin(async move {
                let imap = builder(&prefix)
                    .with_host(addr.ip().to_string())
                    .with_port(addr.port())
                    .with_pool_size(1)
                    .build()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Arc::new(imap) as Arc<dyn Destination>)
            })
        });
    Some(harness)
}

/// Deletes and re-creates the mailbox of `path` on a connection of its own.
async fn renew(
    imap: &Imap,
    prefix: &str,
    addr: SocketAddr,
    path: &FolderPath,
) -> Result<(), String> {
    let mailbox = imap.mailbox_name(path).map_err(|e| e.to_string())?;
    let quoted = format!("\"{}\"", mailbox.as_str());
    let (user, password) = (var(prefix, "USER"), var(prefix, "PASSWORD"));
    let conn = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut conn = BufReader::new(conn);
    read_until(&mut conn, "*").await?;
    for (tag, command) in [
        ("l", format!("LOGIN \"{user}\" \"{password}\"")),
        ("d", format!("DELETE {quoted}")),
        ("c", format!("CREATE {quoted}")),
        ("o", "LOGOUT".to_owned()),
    ] {
        conn.write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let done = read_until(&mut conn, tag).await?;
        if !done.starts_with(&format!("{tag} OK")) {
            return Err(format!(
                "{} answered {done:?}",
                command.split(' ').next().unwrap_or("")
            ));
        }
    }
    Ok(())
}

/// Reads lines until one starts with `tag` and a space; returns it.
async fn read_until(conn: &mut BufReader<TcpStream>, tag: &str) -> Result<String, String> {
    let mut line = String::new();
    loop {
        line.clear();
        if conn.read_line(&mut line).await.map_err(|e| e.to_string())? == 0 {
            return Err("the server closed the connection".to_owned());
        }
        if line.starts_with(&format!("{tag} ")) {
            return Ok(line.trim_end().to_owned());
        }
    }
}

mod dovecot {
    mailmigrate_core::conformance_tests!(super::server("DOVECOT"));
}

mod cyrus {
    mailmigrate_core::conformance_tests!(super::server("CYRUS"));
}
