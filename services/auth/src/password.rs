//! Passwords: the policy (NIST SP 800-63B: length, a blocklist of common passwords, no reuse of
//! the account's own identifiers) and Argon2id hashing on a blocking thread.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// Shortest password accepted, in characters.
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted, in characters (bounds the hashing work an attacker can cause).
pub const MAX_LENGTH: usize = 256;

/// The 10,000 most common passwords (lower case), from the `zxcvbn` frequency lists (MIT).
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// Number of entries in the embedded common-password list.
pub fn common_list_len() -> usize {
    COMMON.len()
}

/// Checks a new password against the policy; `Err` holds a message for the person choosing it.
pub fn check_policy(password: &str, email: &str, username: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters long"));
    }
    if len > MAX_LENGTH {
        return Err(format!("must be at most {MAX_LENGTH} characters long"));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return Err("is one of the most commonly used passwords; choose another".into());
    }
    if lower == email.to_lowercase() || lower == username.to_lowercase() {
        return Err("must not be your email address or username".into());
    }
    Ok(())
}

/// Hashing failures (never a wrong password: that is `Ok(Verified::No)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Argon2 rejected its input or parameters.
    #[error("argon2: {0}")]
    Argon2(String),
    /// The blocking task died.
    #[error("hashing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// What checking a password found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or no account).
    No,
    /// Right password; `rehash` when the stored hash uses other parameters than today's.
    Yes {
        /// Whether to store a fresh hash.
        rehash: bool,
    },
}

/// Argon2id hasher with fixed parameters.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A hash of a random password, verified against when an account does not exist so that
    /// unknown and known accounts cost the same time.
    dummy: Arc<str>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .finish()
    }
}

/// OWASP's recommended Argon2id parameters: 19 MiB, 2 iterations, 1 lane.
pub fn owasp_params() -> Params {
    // These constants are within argon2's limits, so construction cannot fail.
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

impl Passwords {
    /// A hasher using `params`.
    pub fn new(params: Params) -> Result<Self, PasswordError> {
        let random: [u8; 24] = rand::random();
        let dummy = hash_with(&params, &base64_of(&random))?;
        Ok(Self {
            params,
            dummy: dummy.into(),
        })
    }

    /// Hashes a password (on a blocking thread).
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || hash_with(&params, password.expose_secret())).await?
    }

    /// Verifies a password against a stored hash, or against a dummy hash when `stored` is None
    /// (no such account), so both paths take the same time.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verified, PasswordError> {
        let params = self.params.clone();
        let dummy = self.dummy.clone();
        tokio::task::spawn_blocking(move || {
            let (hash, real) = match &stored {
                Some(h) => (h.as_str(), true),
                None => (&*dummy, false),
            };
            let parsed =
                PasswordHash::new(hash).map_err(|e| PasswordError::Argon2(e.to_string()))?;
            let stored_params =
                Params::try_from(&parsed).map_err(|e| PasswordError::Argon2(e.to_string()))?;
            let algorithm = Algorithm::try_from(parsed.algorithm)
                .map_err(|e| PasswordError::Argon2(e.to_string()))?;
            let ok = Argon2::new(algorithm, Version::V0x13, stored_params.clone())
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok();
            if !(ok && real) {
                return Ok(Verified::No);
            }
            let rehash = algorithm != Algorithm::Argon2id
                || stored_params.m_cost() != params.m_cost()
                || stored_params.t_cost() != params.t_cost()
                || stored_params.p_cost() != params.p_cost();
            Ok(Verified::Yes { rehash })
        })
        .await?
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Argon2(e.to_string()))
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn policy_rejects_short_common_and_own_identifiers() {
        assert_eq!(common_list_len(), 10_000);
        assert!(check_policy("short", "a@b.io", "ann").is_err());
        assert!(check_policy("1qaz2wsx3edc", "a@b.io", "ann").is_err());
        assert!(check_policy("QAZWSXEDCRFV", "a@b.io", "ann").is_err());
        assert!(check_policy("ann.long.name", "a@b.io", "Ann.Long.Name").is_err());
        assert!(check_policy("ann@example.org", "ANN@example.org", "ann").is_err());
        assert!(check_policy(&"x".repeat(300), "a@b.io", "ann").is_err());
        assert!(check_policy("correct horse battery", "a@b.io", "ann").is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_and_flag_old_parameters() {
        let light = Params::new(1024, 1, 1, None).unwrap();
        let old = Passwords::new(light).unwrap();
        let hash = old.hash(secret("correct horse battery")).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(
            old.verify(secret("correct horse battery"), Some(hash.clone()))
                .await
                .unwrap(),
            Verified::Yes { rehash: false }
        );
        assert_eq!(
            old.verify(secret("wrong horse battery"), Some(hash.clone()))
                .await
                .unwrap(),
            Verified::No
        );
        let new = Passwords::new(Params::new(2048, 1, 1, None).unwrap()).unwrap();
        assert_eq!(
            new.verify(secret("correct horse battery"), Some(hash))
                .await
                .unwrap(),
            Verified::Yes { rehash: true }
        );
        assert_eq!(
            new.verify(secret("anything"), None).await.unwrap(),
            Verified::No
        );
    }

    #[test]
    fn owasp_defaults() {
        let p = owasp_params();
        assert_eq!((p.m_cost(), p.t_cost(), p.p_cost()), (19456, 2, 1));
    }
}
