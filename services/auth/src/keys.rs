//! Ed25519 signing keys: the current signer plus every key still published in the JWKS, so keys
//! rotate without logging anyone out (publish the new key, switch signing, retire the old key
//! once the longest-lived token signed with it has expired).

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dzinza_kit::identity::{AccessClaims, TokenValidator};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::{Digest, Sha256};

/// Name of the signing key file in the embedded key directory.
pub const SIGNING_KEY_FILE: &str = "signing.pem";

/// Key loading and signing failures (never containing key material).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A PEM document is not an Ed25519 PKCS#8 private key or SPKI public key.
    #[error("{0} is not an Ed25519 PKCS#8 PEM key")]
    BadPem(String),
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The published key set could not be built.
    #[error("key set: {0}")]
    Jwks(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// The signing key and the published key set.
pub struct KeyRing {
    kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("kid", &self.kid)
            .field("published", &self.jwks.keys.len())
            .finish()
    }
}

impl KeyRing {
    /// A ring signing with `signing_pem` (PKCS#8) and also publishing `extra_pems` (private or
    /// public keys of earlier or upcoming signers).
    pub fn from_pems(signing_pem: &str, extra_pems: &[(String, String)]) -> Result<Self, KeyError> {
        let signing = SigningKey::from_pkcs8_pem(signing_pem)
            .map_err(|_| KeyError::BadPem("the signing key".into()))?;
        let der = signing
            .to_pkcs8_der()
            .map_err(|_| KeyError::BadPem("the signing key".into()))?;
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let (kid, jwk) = public_jwk(&signing.verifying_key())?;
        let mut keys = vec![jwk];
        for (name, pem) in extra_pems {
            let verifying = match SigningKey::from_pkcs8_pem(pem) {
                Ok(k) => k.verifying_key(),
                Err(_) => VerifyingKey::from_public_key_pem(pem)
                    .map_err(|_| KeyError::BadPem(name.clone()))?,
            };
            let (extra_kid, jwk) = public_jwk(&verifying)?;
            if extra_kid != kid
                && !keys
                    .iter()
                    .any(|k| k.common.key_id.as_deref() == Some(&extra_kid))
            {
                keys.push(jwk);
            }
        }
        Ok(Self {
            kid,
            encoding,
            jwks: JwkSet { keys },
        })
    }

    /// Embedded mode: signs with `<dir>/signing.pem`, generating it (mode 0600) on first start,
    /// and publishes every other `*.pem` in `dir` too.
    pub fn load_or_generate(dir: &Path) -> Result<Self, KeyError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| KeyError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let signing_path = dir.join(SIGNING_KEY_FILE);
        if !signing_path.exists() {
            let pem = generate_pem()?;
            write_private(&signing_path, pem.as_bytes()).map_err(io(&signing_path))?;
            tracing::info!(path = %signing_path.display(), "generated a new token signing key");
        }
        let signing = std::fs::read_to_string(&signing_path).map_err(io(&signing_path))?;
        let mut extra = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.extension().is_some_and(|e| e == "pem") && path != signing_path {
                let pem = std::fs::read_to_string(&path).map_err(io(&path))?;
                extra.push((path.display().to_string(), pem));
            }
        }
        Self::from_pems(&signing, &extra)
    }

    /// The key id of the current signer.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The published public keys.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Signs access-token claims with the current key.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// A validator over this ring's own keys (auth checks its tokens without a network hop).
    pub fn validator(
        &self,
        issuer: &str,
        audience: &str,
        leeway: Duration,
    ) -> Result<TokenValidator, KeyError> {
        TokenValidator::from_jwks(&self.jwks, issuer, audience, leeway)
            .map_err(|e| KeyError::Jwks(e.to_string()))
    }
}

/// A new Ed25519 key as PKCS#8 PEM.
pub fn generate_pem() -> Result<String, KeyError> {
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    key.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|_| KeyError::BadPem("a generated key".into()))
}

/// The JWK of a public key, with its RFC 7638 thumbprint as `kid`.
fn public_jwk(key: &VerifyingKey) -> Result<(String, Jwk), KeyError> {
    let x = URL_SAFE_NO_PAD.encode(key.to_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    let value = serde_json::json!({
        "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA",
    });
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| KeyError::Jwks(e.to_string()))?;
    Ok((kid, jwk))
}

/// Writes a new file readable by the owner only (fails if it exists).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: u64) -> AccessClaims {
        AccessClaims {
            sub: "u1".into(),
            email: Some("a@b.io".into()),
            roles: vec!["USER".into()],
            iss: "dzinza".into(),
            aud: "dzinza".into(),
            iat: now,
            exp: now + 900,
            nbf: None,
            jti: Some("j1".into()),
        }
    }

    fn now() -> u64 {
        jiff::Timestamp::now().as_second().try_into().unwrap()
    }

    #[tokio::test]
    async fn signs_tokens_the_kit_validator_accepts_and_refuses_foreign_keys() {
        let ring = KeyRing::from_pems(&generate_pem().unwrap(), &[]).unwrap();
        let token = ring.sign(&claims(now())).unwrap();
        let v = ring.validator("dzinza", "dzinza", Duration::ZERO).unwrap();
        let id = v.validate(&token).await.unwrap();
        assert_eq!(id.user_id, "u1");

        let other = KeyRing::from_pems(&generate_pem().unwrap(), &[]).unwrap();
        let forged = other.sign(&claims(now())).unwrap();
        assert!(v.validate(&forged).await.is_err());
    }

    #[tokio::test]
    async fn rotation_keeps_old_tokens_valid() {
        let old_pem = generate_pem().unwrap();
        let old = KeyRing::from_pems(&old_pem, &[]).unwrap();
        let old_token = old.sign(&claims(now())).unwrap();
        let new = KeyRing::from_pems(&generate_pem().unwrap(), &[("old".into(), old_pem)]).unwrap();
        assert_eq!(new.jwks().keys.len(), 2);
        let v = new.validator("dzinza", "dzinza", Duration::ZERO).unwrap();
        assert!(v.validate(&old_token).await.is_ok());
        assert!(v.validate(&new.sign(&claims(now())).unwrap()).await.is_ok());
    }

    #[test]
    fn embedded_key_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = KeyRing::load_or_generate(dir.path()).unwrap();
        let b = KeyRing::load_or_generate(dir.path()).unwrap();
        assert_eq!(a.kid(), b.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(KeyRing::from_pems("not a key", &[]).is_err());
    }
}
