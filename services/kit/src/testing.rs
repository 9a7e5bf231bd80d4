//! Test support shared by every crate: where the real backend servers for conformance tests are.
//!
//! A test that needs a server asks [`backend_url`]. Without the variable the test is skipped
//! with a message, so `cargo test` works on a machine with only Rust; CI sets
//! `DZINZA_REQUIRE_BACKENDS` (e.g. `postgres,mongodb`) so a missing server fails instead of skipping.

/// The URL in `var` (e.g. `DZINZA_TEST_POSTGRES_URL`), or `None` with a note on stderr.
///
/// # Panics
/// When `DZINZA_REQUIRE_BACKENDS` names `backend` (or is `all`) and `var` is unset, so CI can never
/// pass by skipping.
pub fn backend_url(backend: &str, var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let required = std::env::var("DZINZA_REQUIRE_BACKENDS").unwrap_or_default();
            let required = required
                .split(',')
                .map(str::trim)
                .any(|b| b == backend || b == "all");
            assert!(
                !required,
                "{var} is not set but DZINZA_REQUIRE_BACKENDS requires {backend}"
            );
            eprintln!("skipped: {var} is not set (run `cargo xtask test` to start {backend})");
            None
        }
    }
}

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A throwaway Ed25519 token issuer for tests: mints access tokens and serves its JWKS.
pub struct TestIssuer {
    /// The key id in tokens and in the JWKS.
    pub kid: String,
    encoding: EncodingKey,
    public: [u8; 32],
}

impl TestIssuer {
    /// A fresh random key with id `kid`.
    pub fn new(kid: &str) -> Self {
        let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let der = signing.to_pkcs8_der().map(|d| d.as_bytes().to_vec());
        let encoding = EncodingKey::from_ed_der(&der.unwrap_or_default());
        Self {
            kid: kid.to_owned(),
            encoding,
            public: signing.verifying_key().to_bytes(),
        }
    }

    /// The JWK of the public key.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
            "kid": self.kid, "x": URL_SAFE_NO_PAD.encode(self.public),
        })
    }

    /// A JWKS document holding this key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk()] })
    }

    /// Standard valid claims for `sub` with `roles`, expiring in 15 minutes.
    pub fn claims(&self, sub: &str, roles: &[&str]) -> Value {
        let now = now();
        json!({
            "sub": sub, "email": format!("{sub}@example.org"), "roles": roles,
            "iss": "dzinza", "aud": "dzinza", "iat": now, "exp": now + 900,
            "jti": uuid::Uuid::new_v4().to_string(),
        })
    }

    /// Signs arbitrary `claims` with this key and kid.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap_or_default()
    }

    /// A valid access token for `sub` with `roles`.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        self.sign(&self.claims(sub, roles))
    }

    /// Serves `GET /jwks.json` on a loopback port until the runtime stops; returns the URL.
    pub async fn serve_jwks(&self) -> std::io::Result<String> {
        let jwks = self.jwks();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(format!("http://{addr}/jwks.json"))
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::TokenValidator;
    use std::time::Duration;

    #[tokio::test]
    async fn issued_tokens_validate_over_http_jwks_and_foreign_keys_do_not() {
        let issuer = TestIssuer::new("k1");
        let url = issuer.serve_jwks().await.unwrap();
        let v = TokenValidator::from_url(&url, "dzinza", "dzinza", Duration::ZERO).unwrap();
        let id = v.validate(&issuer.token("u1", &["ADMIN"])).await.unwrap();
        assert_eq!(id.user_id, "u1");
        assert!(id.has_role("ADMIN"));

        // Same kid, different key: the signature must not verify.
        let impostor = TestIssuer::new("k1");
        assert!(v.validate(&impostor.token("u1", &["ADMIN"])).await.is_err());
    }
}
