//! A real SMTP server that keeps every message it receives, for tests to read.
//!
//! It is `smtp_sink.py` (next to this file) on Debian's python3-aiosmtpd: each message lands in a
//! private directory as `<n>.eml`, written atomically, with the envelope recorded as `Return-Path:`
//! and `Delivered-To:` headers. [`SmtpSink::wait_for_message`] polls that directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mail_parser::MessageParser;
use tempfile::TempDir;

use crate::net::free_port;
use crate::process::Process;

/// Debian's interpreter: python3-aiosmtpd is installed for it, not for any other python3 on PATH.
const PYTHON: &str = "/usr/bin/python3";

/// A received message.
#[derive(Clone, Debug)]
pub struct Mail {
    /// Envelope recipients (RCPT TO), in order.
    pub to: Vec<String>,
    /// Envelope sender (MAIL FROM); empty for a null sender.
    pub from: String,
    /// Decoded `Subject:`, empty if absent.
    pub subject: String,
    /// The decoded text/plain body (quoted-printable and base64 undone); converted from the HTML
    /// part when the message has no text part.
    pub body: String,
    /// The decoded text/html body, if any.
    pub html: Option<String>,
    /// The message as stored, envelope headers included.
    pub raw: Vec<u8>,
    /// Where the sink stored it.
    pub path: PathBuf,
}

impl Mail {
    /// Parses a message stored by the sink.
    pub fn parse(raw: Vec<u8>, path: PathBuf) -> Result<Mail> {
        let message = MessageParser::default()
            .parse(&raw)
            .with_context(|| format!("cannot parse {}", path.display()))?;
        let mut to = Vec::new();
        let mut from = String::new();
        for (name, value) in message.headers_raw() {
            let value = value.trim();
            if name.eq_ignore_ascii_case("Delivered-To") {
                to.push(value.to_owned());
            } else if name.eq_ignore_ascii_case("Return-Path") && from.is_empty() {
                from = value
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned();
            }
        }
        let subject = message.subject().unwrap_or_default().to_owned();
        let body = message
            .body_text(0)
            .map(|body| body.into_owned())
            .unwrap_or_default();
        let html = message.body_html(0).map(|html| html.into_owned());
        drop(message);
        Ok(Mail {
            to,
            from,
            subject,
            body,
            html,
            raw,
            path,
        })
    }

    /// Whether `address` is among the envelope recipients (ASCII case-insensitive).
    pub fn is_to(&self, address: &str) -> bool {
        self.to.iter().any(|to| to.eq_ignore_ascii_case(address))
    }

    /// The first `http://` or `https://` link of the text body that contains `needle`.
    pub fn first_link_containing(&self, needle: &str) -> Option<String> {
        links(&self.body).find(|link| link.contains(needle))
    }
}

/// All http(s) links in `text`, in order. A link ends at whitespace, quotes or angle brackets;
/// trailing sentence punctuation is not part of it.
pub fn links(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut rest = text;
    std::iter::from_fn(move || loop {
        let start = match (rest.find("http://"), rest.find("https://")) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(candidate.len());
        let link = candidate[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        rest = &candidate[end..];
        if link.len() > "https://".len() {
            return Some(link.to_owned());
        }
    })
}

/// A running SMTP sink on 127.0.0.1.
#[derive(Debug)]
pub struct SmtpSink {
    port: u16,
    dir: TempDir,
    process: Process,
}

impl SmtpSink {
    /// Starts the sink on a free port of 127.0.0.1 and waits until it accepts connections.
    pub async fn start() -> Result<SmtpSink> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/smtp_sink.py");
        let dir = tempfile::Builder::new()
            .prefix("ruche-smtp-sink-")
            .tempdir()
            .context("create the sink's mail directory")?;
        let port = free_port()?;
        let mut command = Process::command(PYTHON, [script.as_os_str()]);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--dir"])
            .arg(dir.path());
        let process = Process::spawn("smtp-sink", command).with_context(|| {
            format!("start {PYTHON} (install Debian's python3-aiosmtpd; tests/run.sh does)")
        })?;
        process
            .wait_for_line(
                |line| line.contains("smtp sink listening"),
                Duration::from_secs(20),
            )
            .await?;
        Ok(SmtpSink { port, dir, process })
    }

    /// The sink's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The directory messages are stored in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The sink's process (for its log).
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Result<Vec<Mail>> {
        let mut numbered = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).context("read the sink directory")? {
            let path = entry?.path();
            let n = path
                .file_name()
                .and_then(|name| name.to_str())
                .and_then(|name| name.strip_suffix(".eml"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(n) = n {
                numbered.push((n, path));
            }
        }
        numbered.sort();
        numbered
            .into_iter()
            .map(|(_, path)| {
                let raw =
                    std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
                Mail::parse(raw, path)
            })
            .collect()
    }

    /// Waits until a message matching `predicate` has arrived (messages received earlier count
    /// too) and returns the first such message.
    pub async fn wait_for_message(
        &self,
        predicate: impl Fn(&Mail) -> bool,
        timeout: Duration,
    ) -> Result<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages()?;
            if let Some(mail) = messages.iter().find(|mail| predicate(mail)) {
                return Ok(mail.clone());
            }
            if Instant::now() >= deadline {
                let seen = messages
                    .iter()
                    .map(|mail| format!("    to {:?}: {:?}", mail.to, mail.subject))
                    .collect::<Vec<_>>();
                bail!(
                    "no matching message within {timeout:?}; received {}:\n{}",
                    seen.len(),
                    seen.join("\n")
                );
            }
            if let Some(status) = self.process.exit_status()? {
                bail!(
                    "the SMTP sink exited ({status}); output:\n{}",
                    self.process.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
