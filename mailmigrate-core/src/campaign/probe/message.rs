//! The probe message: unique, recognisable, small.

use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

use super::Envelope;

/// A test message no one else can have sent: `Message-ID: <probe-UUID@mailmigrate>` with
/// a random UUID, a subject naming the campaign, and an `X-Mailmigrate-Probe` header.
///
/// ```
/// use mailmigrate_core::campaign::probe::ProbeMessage;
/// let m = ProbeMessage::new("acme", "probe@new.example", "ann@new.example");
/// assert!(m.message_id.starts_with("probe-") && m.message_id.ends_with("@mailmigrate"));
/// let text = String::from_utf8(m.to_bytes()).unwrap();
/// assert!(text.contains(&format!("Message-ID: <{}>\r\n", m.message_id)));
/// assert!(text.contains("Subject: mailmigrate probe for campaign acme\r\n"));
/// assert_ne!(m.message_id, ProbeMessage::new("acme", "probe@new.example", "ann@new.example").message_id);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeMessage {
    /// The campaign it is sent for.
    pub campaign: String,
    /// The sender (header and return path).
    pub from: String,
    /// The mailbox it is sent to.
    pub to: String,
    /// Its Message-ID, without angle brackets (`probe-UUID@mailmigrate`).
    pub message_id: String,
    /// Its `Subject`.
    pub subject: String,
    /// Its `Date`.
    pub date: OffsetDateTime,
}

impl ProbeMessage {
    /// A new probe from `from` to `to` for `campaign`, with a fresh Message-ID.
    pub fn new(
        campaign: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        let campaign = campaign.into();
        Self {
            subject: format!("mailmigrate probe for campaign {}", one_line(&campaign)),
            campaign,
            from: from.into(),
            to: to.into(),
            message_id: format!("probe-{}@mailmigrate", uuid_v4()),
            date: OffsetDateTime::now_utc(),
        }
    }

    /// The envelope: from [`from`](Self::from) to [`to`](Self::to).
    pub fn envelope(&self) -> Envelope {
        Envelope::new(self.from.trim(), [self.to.trim()])
    }

    /// The message as sent: headers and a short text body, CRLF line ends.
    pub fn to_bytes(&self) -> Vec<u8> {
        let date = self
            .date
            .format(&Rfc2822)
            .unwrap_or_else(|_| "Thu, 1 Jan 1970 00:00:00 +0000".to_owned());
        format!(
            "From: mailmigrate probe <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
             Date: {date}\r\nMessage-ID: <{id}>\r\nX-Mailmigrate-Probe: {campaign}\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n\
             This message checks that mail sent to this mailbox arrives after its migration\r\n\
             (campaign {campaign}). It is deleted once found; if you see it, you may delete it.\r\n",
            from = one_line(self.from.trim()),
            to = one_line(self.to.trim()),
            subject = self.subject,
            id = self.message_id,
            campaign = one_line(&self.campaign),
        )
        .into_bytes()
    }
}

/// Keeps a header value on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A random (version 4) UUID in its usual text form.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_the_v4_shape() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn header_values_stay_on_one_line() {
        let m = ProbeMessage::new("a\r\nBcc: x@y", "p@x.example", "t@x.example");
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(!text.contains("\r\nBcc:"));
        assert_eq!(
            crate::headers::message_id(text.as_bytes()).as_deref(),
            Some(m.message_id.as_str())
        );
    }
}
