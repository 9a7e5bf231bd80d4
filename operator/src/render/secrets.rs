//! Secrets the operator generates once and then preserves, and the connection URLs it derives
//! for the backends it runs itself.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use rand::Rng;
use rand::distr::Alphanumeric;

use super::{Ctx, GeneratedCredentials, Inputs, backends};
use crate::{Error, Result};

/// Key of the internal service token in the credentials Secret.
pub const INTERNAL_TOKEN: &str = "internal-token";
/// Key of the Ed25519 JWT signing key (PEM PKCS#8).
pub const JWT_SIGNING_KEY: &str = "jwt-signing-key.pem";
/// Key of the key auth encrypts TOTP secrets with (32 random bytes, base64).
pub const MFA_ENCRYPTION_KEY: &str = "mfa-encryption-key";
/// Key of the managed PostgreSQL password.
pub const POSTGRES_PASSWORD: &str = "postgres-password";
/// Key of the managed MinIO access key.
pub const S3_ACCESS_KEY_ID: &str = "s3-access-key-id";
/// Key of the managed MinIO secret key.
pub const S3_SECRET_ACCESS_KEY: &str = "s3-secret-access-key";
/// Key of the PostgreSQL URL in the connections Secret.
pub const POSTGRES_URL: &str = "postgres-url";
/// Key of the MongoDB URL in the connections Secret.
pub const MONGODB_URL: &str = "mongodb-url";
/// Key of the Elasticsearch URL in the connections Secret.
pub const ELASTICSEARCH_URL: &str = "elasticsearch-url";

/// Name of the generated credentials Secret.
pub fn credentials_name(ctx: &Ctx) -> String {
    ctx.child("credentials")
}

/// Name of the derived connections Secret.
pub fn connections_name(ctx: &Ctx) -> String {
    ctx.child("connections")
}

fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn generate_signing_key() -> Result<String> {
    let seed: [u8; 32] = rand::rng().random();
    let key = SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| Error::Generate(e.to_string()))?;
    Ok(pem.to_string())
}

fn generate_mfa_key() -> String {
    use base64::Engine as _;
    let key: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::STANDARD.encode(key)
}

impl GeneratedCredentials {
    /// Reads the values already stored in `existing` and generates any that are missing, so a
    /// key is created once and never rotated behind the SRE's back.
    pub fn from_existing_or_generate(existing: Option<&Secret>) -> Result<Self> {
        let read = |key: &str| -> Option<String> {
            existing
                .and_then(|s| s.data.as_ref())
                .and_then(|d| d.get(key))
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
                .filter(|v| !v.is_empty())
        };
        Ok(Self {
            internal_token: read(INTERNAL_TOKEN).unwrap_or_else(|| random_token(48)),
            jwt_signing_key_pem: match read(JWT_SIGNING_KEY) {
                Some(k) => k,
                None => generate_signing_key()?,
            },
            // Losing this key makes every enrolled second factor unusable: generated once, kept.
            mfa_encryption_key: read(MFA_ENCRYPTION_KEY).unwrap_or_else(generate_mfa_key),
            postgres_password: read(POSTGRES_PASSWORD).unwrap_or_else(|| random_token(32)),
            s3_access_key_id: read(S3_ACCESS_KEY_ID).unwrap_or_else(|| random_token(20)),
            s3_secret_access_key: read(S3_SECRET_ACCESS_KEY).unwrap_or_else(|| random_token(40)),
        })
    }
}

fn bytes(m: BTreeMap<&str, String>) -> BTreeMap<String, ByteString> {
    m.into_iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.into_bytes())))
        .collect()
}

/// The credentials Secret and, when the operator runs or delegates a backend, the connections
/// Secret with the URLs the services use.
pub fn secrets(ctx: &Ctx, inputs: &Inputs) -> Vec<Secret> {
    let c = &inputs.credentials;
    let creds = BTreeMap::from([
        (INTERNAL_TOKEN, c.internal_token.clone()),
        (JWT_SIGNING_KEY, c.jwt_signing_key_pem.clone()),
        (MFA_ENCRYPTION_KEY, c.mfa_encryption_key.clone()),
        (POSTGRES_PASSWORD, c.postgres_password.clone()),
        (S3_ACCESS_KEY_ID, c.s3_access_key_id.clone()),
        (S3_SECRET_ACCESS_KEY, c.s3_secret_access_key.clone()),
    ]);
    let mut out = vec![Secret {
        metadata: ctx.meta(credentials_name(ctx), "credentials"),
        type_: Some("Opaque".into()),
        data: Some(bytes(creds)),
        ..Secret::default()
    }];
    let urls = backends::derived_urls(ctx, inputs);
    if !urls.is_empty() {
        out.push(Secret {
            metadata: ctx.meta(connections_name(ctx), "credentials"),
            type_: Some("Opaque".into()),
            data: Some(bytes(urls)),
            ..Secret::default()
        });
    }
    out
}
