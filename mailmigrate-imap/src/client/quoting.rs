//! Names made into IMAP quoted strings, and tagged refusals made into errors.

use async_imap::imap_proto::{Outcome, ResponseCode, Status as ProtoStatus};

use super::Res;
use crate::error::{ImapError, Status};

/// Quotes a string as an IMAP quoted string; `None` if it cannot be quoted (CR, LF, NUL or
/// non-ASCII, which would need a literal).
pub(crate) fn quote(s: &str) -> Option<String> {
    if s.bytes()
        .any(|b| b == b'\r' || b == b'\n' || b == 0 || !b.is_ascii())
    {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

pub(super) fn quote_mailbox(name: &str) -> Res<String> {
    quote(name).ok_or_else(|| ImapError::Config("mailbox name cannot be sent".into()))
}

fn code_name(code: &ResponseCode<'_>) -> String {
    match code {
        ResponseCode::TryCreate => "TRYCREATE".into(),
        ResponseCode::Parse => "PARSE".into(),
        ResponseCode::Alert => "ALERT".into(),
        ResponseCode::ReadOnly => "READ-ONLY".into(),
        ResponseCode::ReadWrite => "READ-WRITE".into(),
        ResponseCode::BadCharset(_) => "BADCHARSET".into(),
        ResponseCode::UidNotSticky => "UIDNOTSTICKY".into(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

pub(super) fn status_error(status: &ProtoStatus, outcome: &Outcome<'_>) -> ImapError {
    let status = match status {
        ProtoStatus::Bad => Status::Bad,
        ProtoStatus::Bye => Status::Bye,
        _ => Status::No,
    };
    ImapError::status(
        status,
        outcome.code.as_ref().map(code_name),
        outcome.information.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_and_refuses_what_needs_a_literal() {
        assert_eq!(quote("INBOX").as_deref(), Some("\"INBOX\""));
        assert_eq!(quote("a\"b\\c").as_deref(), Some("\"a\\\"b\\\\c\""));
        assert_eq!(quote("a\r\nb"), None);
        assert_eq!(quote("caf\u{e9}"), None);
    }

    #[test]
    fn code_names_are_upper_case_atoms() {
        assert_eq!(code_name(&ResponseCode::TryCreate), "TRYCREATE");
        let outcome = Outcome {
            code: Some(ResponseCode::TryCreate),
            information: Some("x".into()),
        };
        let e = status_error(&ProtoStatus::No, &outcome);
        assert_eq!(
            e.into_error(mailmigrate_core::Operation::Append).kind(),
            mailmigrate_core::ErrorKind::NotFound
        );
    }
}
