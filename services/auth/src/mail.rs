//! Outgoing mail. With an SMTP relay configured ([`SmtpMailer`], `DZINZA_SMTP_URL`) mail goes
//! through it; otherwise each message is written as an `.eml` file under `<data_dir>/mail/`, so
//! a newcomer can follow verification and reset links locally.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

/// One message.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The action link in the body, if any (logged in embedded mode).
    pub link: Option<String>,
}

/// Mail delivery failures.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Writing the message failed.
    #[error("cannot write mail: {0}")]
    Io(#[from] std::io::Error),
    /// The message could not be built (e.g. an address lettre does not accept).
    #[error("cannot build mail: {0}")]
    Build(String),
    /// The relay refused or could not be reached. `transient` failures are worth retrying.
    #[error("SMTP delivery failed: {message}")]
    Smtp {
        /// What the relay or connection said (never the relay URL or its credentials).
        message: String,
        /// Whether retrying later may succeed (4xx replies, connection and timeout errors).
        transient: bool,
    },
}

impl MailError {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            MailError::Io(_) => true,
            MailError::Build(_) => false,
            MailError::Smtp { transient, .. } => *transient,
        }
    }
}

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Delivers one message.
    async fn send(&self, mail: Mail) -> Result<(), MailError>;
}

/// Delivers through an SMTP relay.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    // The transport holds the relay's credentials; they stay out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Why an SMTP setting is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    /// The relay URL does not parse (the URL itself is not repeated: it may hold a password).
    #[error(
        "DZINZA_SMTP_URL is not a usable relay URL (smtp://[user:pass@]host[:port][?tls=required|opportunistic] or smtps://...): {0}"
    )]
    Url(String),
    /// The sender is not an address.
    #[error("DZINZA_MAIL_FROM is not a mailbox (\"Name <addr@example.org>\" or an address): {0}")]
    From(String),
}

impl SmtpMailer {
    /// A mailer for the relay at `url` (lettre's connection URL: `smtp://` plain, `?tls=required`
    /// for STARTTLS, `smtps://` for implicit TLS; `user:password@` for AUTH), sending as `from`.
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Self, SmtpConfigError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e: lettre::address::AddressError| SmtpConfigError::From(e.to_string()))?;
        // lettre's URL errors only describe the problem, not the URL.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| SmtpConfigError::Url(e.to_string()))?
            .timeout(Some(timeout))
            .build();
        Ok(Self { transport, from })
    }

    fn message(&self, mail: &Mail) -> Result<Message, MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Build(e.to_string()))?;
        let body = mail.body.replace("\r\n", "\n");
        // Plain 7bit keeps the `token=` links intact in the delivered text: lettre's own choice
        // for lines over 76 characters is quoted-printable, which breaks and escapes them. 7bit
        // allows lines up to 998 octets (RFC 5322 2.1.1); other bodies get lettre's choice.
        let seven_bit = body
            .bytes()
            .all(|b| b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b))
            && body.lines().all(|l| l.len() <= 998);
        let body = if seven_bit {
            Body::dangerous_pre_encoded(
                body.replace('\n', "\r\n").into_bytes(),
                ContentTransferEncoding::SevenBit,
            )
        } else {
            Body::new(body)
        };
        // A Message-ID in the sender's domain (lettre would otherwise leave it out or name
        // `localhost`); relays and spam filters expect one.
        let message_id = format!("<{}@{}>", uuid::Uuid::now_v7(), self.from.email.domain());
        Message::builder()
            .message_id(Some(message_id))
            .from(self.from.clone())
            .to(to)
            .subject(header_value(&mail.subject))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Build(e.to_string()))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let message = self.message(&mail)?;
        match self.transport.send(message).await {
            Ok(_) => {
                tracing::info!(subject = %mail.subject, "mail handed to the SMTP relay");
                Ok(())
            }
            Err(e) => Err(MailError::Smtp {
                transient: !e.is_permanent(),
                message: e.to_string(),
            }),
        }
    }
}

/// Writes each message as an RFC 5322 `.eml` file.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    from: String,
    log_links: bool,
}

impl FileMailer {
    /// Writes into `dir` (created on first use); `log_links` logs each action link (embedded
    /// mode only: links carry single-use secrets).
    pub fn new(dir: PathBuf, from: String, log_links: bool) -> Self {
        Self {
            dir,
            from,
            log_links,
        }
    }
}

/// Removes line breaks so a value cannot inject headers.
fn header_value(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// Renders a message as RFC 5322 text with CRLF line ends.
pub fn render_eml(from: &str, mail: &Mail, message_id: &str) -> String {
    let date = jiff::Timestamp::now().strftime("%a, %d %b %Y %H:%M:%S +0000");
    let body = mail.body.replace("\r\n", "\n").replace('\n', "\r\n");
    format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {date}\r\nMessage-ID: <{message_id}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        header_value(from),
        header_value(&mail.to),
        header_value(&mail.subject),
    )
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let path = self.dir.join(format!("{id}.eml"));
        let text = render_eml(&self.from, &mail, &format!("{id}@dzinza"));
        tokio::fs::write(&path, text).await?;
        if self.log_links {
            tracing::info!(
                path = %path.display(),
                link = mail.link.as_deref().unwrap_or(""),
                subject = %mail.subject,
                "mail written (no SMTP relay in embedded mode); open the link to continue"
            );
        } else {
            tracing::info!(path = %path.display(), "mail written");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_settings_are_checked_without_echoing_them() {
        let err = SmtpMailer::new(
            "ftp://user:hunter2@relay.example.org",
            "Dzinza <no-reply@dzinza.local>",
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(matches!(err, SmtpConfigError::Url(_)));
        assert!(!err.to_string().contains("hunter2"));
        let err = SmtpMailer::new(
            "smtp://relay.example.org:2525",
            "not an address",
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(matches!(err, SmtpConfigError::From(_)));
        let ok = SmtpMailer::new(
            "smtp://user:hunter2@relay.example.org:2525",
            "Dzinza <no-reply@dzinza.local>",
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(!format!("{ok:?}").contains("hunter2"));
    }

    #[test]
    fn smtp_message_keeps_links_intact() {
        let m = SmtpMailer::new(
            "smtp://127.0.0.1:2525",
            "Dzinza <no-reply@dzinza.local>",
            Duration::from_secs(5),
        )
        .unwrap();
        let token = "x".repeat(43);
        let link =
            format!("https://genealogy.example.org/some/long/path/verify-email?token={token}");
        let msg = m
            .message(&Mail {
                to: "ann@example.org".into(),
                subject: "Verify".into(),
                body: format!("Open this link:\n\n{link}\n"),
                link: Some(link.clone()),
            })
            .unwrap();
        let text = String::from_utf8(msg.formatted()).unwrap();
        assert!(text.contains(&link), "{text}");
        assert!(text.contains("Content-Transfer-Encoding: 7bit"), "{text}");
        assert!(text.contains("Open this link:\r\n\r\n"), "{text}");
        let id_line = text
            .lines()
            .find(|l| l.starts_with("Message-ID: <"))
            .unwrap_or_else(|| panic!("no Message-ID in {text}"));
        assert!(id_line.ends_with("@dzinza.local>"), "{id_line}");
        assert!(
            m.message(&Mail {
                to: "not an address".into(),
                subject: "x".into(),
                body: "x".into(),
                link: None,
            })
            .is_err()
        );
    }

    #[tokio::test]
    async fn writes_eml_without_header_injection() {
        let dir = tempfile::tempdir().unwrap();
        let m = FileMailer::new(
            dir.path().join("mail"),
            "Dzinza <no-reply@dzinza.local>".into(),
            false,
        );
        m.send(Mail {
            to: "ann@example.org\r\nBcc: evil@example.org".into(),
            subject: "Verify".into(),
            body: "Open http://x/verify-email?token=abc\n".into(),
            link: None,
        })
        .await
        .unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(text.contains("To: ann@example.orgBcc: evil@example.org\r\n"));
        assert!(!text.contains("\r\nBcc:"));
        assert!(text.contains("token=abc"));
    }
}
