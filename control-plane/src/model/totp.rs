//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s, as every authenticator app expects)
//! and one-time recovery codes.

use rand::Rng;
use totp_rs::{Algorithm, Secret, TOTP};

pub const STEP_SECONDS: u64 = 30;

/// A new random 160-bit secret.
pub fn generate_secret() -> Vec<u8> {
    let mut bytes = vec![0u8; 20];
    rand::rngs::OsRng.fill(bytes.as_mut_slice());
    bytes
}

fn totp(secret: &[u8], account: &str, issuer: &str) -> Option<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECONDS,
        secret.to_vec(),
        Some(issuer.to_owned()),
        account.to_owned(),
    )
    .ok()
}

/// The base32 secret members type into their app when they cannot scan.
pub fn secret_base32(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

/// The `otpauth://` URI an authenticator app imports.
pub fn otpauth_uri(secret: &[u8], account: &str, issuer: &str) -> Option<String> {
    totp(secret, account, issuer).map(|t| t.get_url())
}

/// Checks `code` at `unix_time`, allowing one step of clock skew either way. Returns the time
/// step that matched, which the caller stores so the same code cannot be used twice.
pub fn verify(secret: &[u8], code: &str, unix_time: u64, last_step: Option<i64>) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, "x", "x")?;
    let current = unix_time / STEP_SECONDS;
    for step in [current.saturating_sub(1), current, current + 1] {
        let step_i = i64::try_from(step).ok()?;
        if last_step.is_some_and(|last| step_i <= last) {
            continue;
        }
        let expected = t.generate(step * STEP_SECONDS);
        if crate::model::secret::constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            return Some(step_i);
        }
    }
    None
}

/// Ten recovery codes of the form `xxxxx-xxxxx` (lowercase letters and digits, no look-alikes).
pub fn generate_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..10)
        .map(|_| {
            let mut s = String::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    s.push('-');
                }
                s.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
            }
            s
        })
        .collect()
}

/// Recovery codes are compared in a normalized form, so "ABCDE FGHIJ" works too.
pub fn normalize_recovery_code(input: &str) -> String {
    let compact: String = input
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if compact.len() == 10 {
        format!("{}-{}", &compact[..5], &compact[5..])
    } else {
        compact
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_verify_once_and_with_skew() {
        let secret = generate_secret();
        let t = totp(&secret, "a", "b").unwrap();
        let now = 1_800_000_000u64;
        let code = t.generate(now);
        let step = verify(&secret, &code, now, None).unwrap();
        assert_eq!(step as u64, now / STEP_SECONDS);
        // Replay of the same step is refused.
        assert_eq!(verify(&secret, &code, now, Some(step)), None);
        // One step of skew is accepted.
        assert!(verify(&secret, &code, now + STEP_SECONDS, None).is_some());
        assert!(verify(&secret, &code, now + 5 * STEP_SECONDS, None).is_none());
        assert!(verify(&secret, "12345", now, None).is_none());
        assert!(verify(&secret, "abcdef", now, None).is_none());
    }

    #[test]
    fn secret_and_uri() {
        let secret = generate_secret();
        assert_eq!(secret_base32(&secret).len(), 32);
        let uri = otpauth_uri(&secret, "alice@example.org", "Ruche").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    }

    #[test]
    fn recovery_codes() {
        let codes = generate_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes
            .iter()
            .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
        assert_eq!(normalize_recovery_code(" ABCDE fghjk "), "abcde-fghjk");
        assert_eq!(normalize_recovery_code(&codes[0]), codes[0]);
    }
}
