//! Passwords: the policy for new ones, and argon2id hashing.
//!
//! Hashing is CPU-bound (tens of milliseconds and 19 MiB each, by design): async callers run it
//! through [`gate`], on the blocking pool, so the server keeps answering other requests and no
//! flood (of logins, setup or reset attempts) can run more hashes at once than there are cores.
//! Callers beyond that wait in a bounded queue (64 per permit); beyond the queue they are refused
//! at once ([`GateError::Busy`], a 503): queueing without bound would only turn a flood into
//! memory and latency.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::rngs::OsRng;
use web::Reason;

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 1024;

/// A password that passed the policy. Not `Debug`, so it never reaches a log.
pub struct NewPassword(String);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PasswordError {
    TooShort,
    TooLong,
    Mismatch,
}

impl NewPassword {
    /// Length is the rule (NIST SP 800-63B): no composition rules, any character allowed.
    pub fn parse(password: &str, confirmation: &str) -> Result<Self, PasswordError> {
        let len = password.chars().count();
        if len < MIN_LEN {
            return Err(PasswordError::TooShort);
        }
        if len > MAX_LEN {
            return Err(PasswordError::TooLong);
        }
        if password != confirmation {
            return Err(PasswordError::Mismatch);
        }
        Ok(Self(password.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// argon2id with the crate's defaults (OWASP's minimum: 19 MiB, 2 passes), PHC string form.
    pub fn hash(&self) -> Result<String, argon2::password_hash::Error> {
        hash(&self.0)
    }
}

pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// False for a wrong password and for a malformed stored hash alike.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a random password, verified against when an account does not exist so that
/// a login for an unknown address costs as much time as one for a known address.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(crate::model::secret::Token::generate().expose()).unwrap_or_default())
}

/// Bounds the argon2id work of the whole process: `permits` hashes or verifications run at
/// once, at most `max_waiting` more wait for a permit, the rest are refused.
pub struct Gate {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    size: usize,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
    running: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// The gate is full: too many password operations are running and waiting.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("too many password checks at once; try again in a moment")]
    Busy,
    #[error("password hashing task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// Waiters allowed per permit before callers are refused. Waiting costs a task, not the 19 MiB
/// of a running hash, so the queue can be long; its bound caps latency (64 waits of ~50 ms
/// each in a release build is ~3 s) and turns a real flood into quick 503s.
pub const QUEUE_PER_PERMIT: usize = 64;

impl Gate {
    pub fn new(permits: usize, max_waiting: usize) -> Self {
        let permits = permits.max(1);
        Gate {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(permits)),
            size: permits,
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_waiting,
            running: std::sync::Arc::default(),
            peak: std::sync::Arc::default(),
        }
    }

    pub fn permits(&self) -> usize {
        self.size
    }

    /// The most operations that ever ran at once through this gate.
    pub fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit is held by the
    /// blocking task itself, so a caller that goes away (a closed connection) does not free it
    /// before the work is done.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, GateError> {
        use std::sync::atomic::Ordering::SeqCst;
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let queued = self
                    .waiting
                    .fetch_update(SeqCst, SeqCst, |w| (w < self.max_waiting).then_some(w + 1));
                if queued.is_err() {
                    return Err(GateError::Busy);
                }
                let p = self.permits.clone().acquire_owned().await;
                self.waiting.fetch_sub(1, SeqCst);
                p.map_err(|_| GateError::Busy)?
            }
        };
        let running = self.running.clone();
        let peak = self.peak.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, SeqCst) + 1;
            peak.fetch_max(now, SeqCst);
            let out = work();
            running.fetch_sub(1, SeqCst);
            drop(permit);
            out
        })
        .await?)
    }
}

/// The process's gate: one permit per core, `QUEUE_PER_PERMIT` waiters per permit.
pub fn gate() -> &'static Gate {
    static GATE: std::sync::OnceLock<Gate> = std::sync::OnceLock::new();
    GATE.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Gate::new(cores, cores * QUEUE_PER_PERMIT)
    })
}

/// Hashes a new password through the gate.
pub async fn hash_gated(
    password: NewPassword,
) -> Result<Result<String, argon2::password_hash::Error>, GateError> {
    gate().run(move || password.hash()).await
}

/// Verifies a password through the gate.
pub async fn verify_gated(given: String, stored: String) -> Result<bool, GateError> {
    gate().run(move || verify(&given, &stored)).await
}

impl From<PasswordError> for Reason {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::TooShort => Reason::PasswordTooShort { min: MIN_LEN },
            PasswordError::TooLong => Reason::PasswordTooLong { max: MAX_LEN },
            PasswordError::Mismatch => Reason::PasswordMismatch,
        }
    }
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Reason::from(*self).fmt(f)
    }
}

impl std::error::Error for PasswordError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// With every permit and queue place taken, the next caller is refused at once, and the
    /// peak never passes the permits.
    #[tokio::test]
    async fn the_gate_refuses_beyond_its_queue() {
        let gate = std::sync::Arc::new(Gate::new(1, 1));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let first = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(move || hold.recv().is_ok()).await })
        };
        while gate.running.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let second = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|| 2).await })
        };
        while gate.waiting.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(gate.run(|| 3).await, Err(GateError::Busy)));
        release.send(()).unwrap();
        assert!(first.await.unwrap().unwrap());
        assert_eq!(second.await.unwrap().unwrap(), 2);
        assert_eq!(gate.peak(), 1);
    }

    #[test]
    fn policy() {
        assert_eq!(
            NewPassword::parse("short", "short").err(),
            Some(PasswordError::TooShort)
        );
        assert_eq!(
            NewPassword::parse("long enough pw", "long enough pX").err(),
            Some(PasswordError::Mismatch)
        );
        let long = "x".repeat(MAX_LEN + 1);
        assert_eq!(
            NewPassword::parse(&long, &long).err(),
            Some(PasswordError::TooLong)
        );
        assert!(NewPassword::parse("correct horse battery", "correct horse battery").is_ok());
    }

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("x", "not a hash"));
        assert!(dummy_hash().starts_with("$argon2id$"));
    }
}
