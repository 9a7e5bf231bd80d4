//! Outgoing mail. Without an SMTP relay each message is written as an `.eml` file under
//! `<data_dir>/mail/`, so a newcomer can follow verification and reset links locally.

use std::path::PathBuf;

use async_trait::async_trait;

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
}

/// Sends mail.
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Delivers one message.
    async fn send(&self, mail: Mail) -> Result<(), MailError>;
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
