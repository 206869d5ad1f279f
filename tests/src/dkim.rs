//! DKIM verification of a received message against the TXT record the control plane's API says
//! to publish, with Debian's python3-dkim (`dkim_verify.py` next to this file).
//!
//! No DNS is involved: the script answers the one lookup DKIM makes
//! (`<selector>._domainkey.<domain>`) with the given value and nothing else, so a signature only
//! verifies if it names that domain and selector and was made with the matching private key.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// Debian's interpreter: python3-dkim is installed for it, not for any other python3 on PATH.
const PYTHON: &str = "/usr/bin/python3";
/// How long one verification may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What the verifier found.
#[derive(Clone, Debug)]
pub struct Verification {
    /// The signature verified with the given key, and names `domain` and `selector`.
    pub verified: bool,
    /// `d=` and `s=` of the message's first DKIM-Signature (None if it has none).
    pub d: Option<String>,
    pub s: Option<String>,
    /// The verifier's whole report (JSON), for failure messages.
    pub report: String,
}

/// Verifies `message` (as received, CRLF line ends) against `txt` (e.g. `v=DKIM1; k=rsa; p=…`)
/// published at `<selector>._domainkey.<domain>`.
pub async fn verify(
    message: &[u8],
    domain: &str,
    selector: &str,
    txt: &str,
) -> Result<Verification> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dkim_verify.py");
    let mut command = tokio::process::Command::new(PYTHON);
    command
        .arg(&script)
        .args([domain, selector, txt])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().with_context(|| {
        format!("start {PYTHON} (install Debian's python3-dkim; tests/run.sh does)")
    })?;
    let mut stdin = child.stdin.take().context("no stdin for dkim_verify.py")?;
    let input = message.to_vec();
    // Write while the child runs, so a large message cannot dead-lock on a full pipe.
    let writer = tokio::spawn(async move {
        let written = stdin.write_all(&input).await;
        drop(stdin);
        written
    });
    let output = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("dkim_verify.py did not finish within {TIMEOUT:?}"))?
        .context("run dkim_verify.py")?;
    writer
        .await
        .context("write the message to dkim_verify.py")?
        .context("write the message to dkim_verify.py")?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let report: Value = serde_json::from_str(&stdout).with_context(|| {
        format!(
            "dkim_verify.py printed no JSON ({}): {stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let text = |key: &str| report[key].as_str().map(str::to_owned);
    Ok(Verification {
        verified: output.status.success() && report["verified"] == true,
        d: text("d"),
        s: text("s"),
        report: stdout,
    })
}
