//! Encryption at rest for TOTP secrets (ChaCha20-Poly1305 from `ring`, already in the tree
//! through rustls). A database dump alone does not give away anyone's second factor.
//!
//! Stored form: `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`, with the user id as
//! associated data so a sealed secret cannot be moved to another account's row. The key id (the
//! first 4 bytes of the key's SHA-256, hex) lets a wrong key be told apart from damaged data.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The key file kept next to the signing key in embedded mode. Not `.pem`, so it is never
/// mistaken for a key to publish.
pub const KEY_FILE: &str = "mfa-secrets.key";
const VERSION: &str = "v1";

/// Failures sealing or opening secrets, or loading the key.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The configured key is not 32 bytes of base64.
    #[error("the MFA encryption key must be 32 random bytes, base64-encoded")]
    BadKey,
    /// The value was sealed under a different key.
    #[error(
        "a stored MFA secret was encrypted with another key (key id {found}, configured {configured}); restore the original DZINZA_MFA_ENCRYPTION_KEY"
    )]
    WrongKey {
        /// Key id in the stored value.
        found: String,
        /// Key id of the configured key.
        configured: String,
    },
    /// The value does not decrypt or is not in the sealed format.
    #[error("a stored MFA secret is damaged or not encrypted")]
    Corrupt,
    /// Encryption failed.
    #[error("cannot encrypt the MFA secret")]
    Seal,
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Seals and opens TOTP secrets with one key.
pub struct Sealer {
    key: LessSafeKey,
    kid: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A new random key, base64-encoded (the format of the setting and the key file).
pub fn generate_key() -> SecretString {
    let bytes: [u8; 32] = rand::random();
    SecretString::from(STANDARD.encode(bytes))
}

impl Sealer {
    /// A sealer over 32 raw key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, bytes).map_err(|_| SealError::BadKey)?;
        let kid = crate::mfa::hex(&Sha256::digest(bytes)[..4]);
        Ok(Self {
            key: LessSafeKey::new(unbound),
            kid,
        })
    }

    /// A sealer over a base64 (standard or URL-safe) key, surrounding whitespace ignored.
    pub fn from_encoded(encoded: &SecretString) -> Result<Self, SealError> {
        let text = encoded.expose_secret().trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| SealError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey);
        }
        Self::from_bytes(&bytes)
    }

    /// The key in `dir/KEY_FILE`, generated (mode 0600) on first use.
    pub fn load_or_generate(dir: &Path) -> Result<Self, SealError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| SealError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(KEY_FILE);
        if !path.exists() {
            let key = generate_key();
            crate::keys::write_private(&path, key.expose_secret().as_bytes()).map_err(io(&path))?;
            tracing::info!(path = %path.display(), "generated a new MFA secret encryption key");
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        Self::from_encoded(&SecretString::from(text))
    }

    /// This key's id, as written into sealed values.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Whether a stored value is in the sealed format (as opposed to a legacy plaintext
    /// base32 secret, which never contains a `.`).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with("v1.")
    }

    /// Encrypts `secret` for the account `user_id`.
    pub fn seal(&self, user_id: &str, secret: &str) -> Result<String, SealError> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut buf = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(user_id.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{VERSION}.{}.{}",
            self.kid,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// Decrypts a value sealed for `user_id`.
    pub fn open(&self, user_id: &str, stored: &str) -> Result<String, SealError> {
        let mut parts = stored.splitn(3, '.');
        let (Some(VERSION), Some(kid), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Corrupt);
        };
        if kid != self.kid {
            return Err(SealError::WrongKey {
                found: kid.to_owned(),
                configured: self.kid.clone(),
            });
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SealError::Corrupt)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Corrupt);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Corrupt)?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(user_id.as_bytes()), &mut sealed)
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

    use super::*;

    fn sealer() -> Sealer {
        Sealer::from_encoded(&generate_key()).unwrap()
    }

    #[test]
    fn round_trips_and_hides_the_secret() {
        let s = sealer();
        let stored = s.seal("user-1", "JBSWY3DPEHPK3PXP").unwrap();
        assert!(!stored.contains("JBSWY3DPEHPK3PXP"));
        assert!(Sealer::is_sealed(&stored));
        assert_eq!(s.open("user-1", &stored).unwrap(), "JBSWY3DPEHPK3PXP");
        // Fresh nonce each time.
        assert_ne!(stored, s.seal("user-1", "JBSWY3DPEHPK3PXP").unwrap());
    }

    #[test]
    fn refuses_other_keys_accounts_and_tampering() {
        let s = sealer();
        let stored = s.seal("user-1", "JBSWY3DPEHPK3PXP").unwrap();
        assert!(matches!(
            sealer().open("user-1", &stored),
            Err(SealError::WrongKey { .. })
        ));
        assert!(matches!(s.open("user-2", &stored), Err(SealError::Corrupt)));
        let mut tampered = stored.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(matches!(
            s.open("user-1", &String::from_utf8(tampered).unwrap()),
            Err(SealError::Corrupt)
        ));
        assert!(matches!(
            s.open("user-1", "JBSWY3DPEHPK3PXP"),
            Err(SealError::Corrupt)
        ));
        assert!(!Sealer::is_sealed("JBSWY3DPEHPK3PXP"));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(matches!(
            Sealer::from_encoded(&SecretString::from("c2hvcnQ=")),
            Err(SealError::BadKey)
        ));
        assert!(matches!(
            Sealer::from_encoded(&SecretString::from("not base64!")),
            Err(SealError::BadKey)
        ));
        let key = generate_key();
        let padded = SecretString::from(format!("  {}\n", key.expose_secret()));
        assert_eq!(
            Sealer::from_encoded(&key).unwrap().kid(),
            Sealer::from_encoded(&padded).unwrap().kid()
        );
    }

    #[test]
    fn embedded_key_is_generated_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = Sealer::load_or_generate(dir.path()).unwrap();
        let b = Sealer::load_or_generate(dir.path()).unwrap();
        assert_eq!(a.kid(), b.kid());
        let stored = a.seal("u", "SECRET").unwrap();
        assert_eq!(b.open("u", &stored).unwrap(), "SECRET");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
