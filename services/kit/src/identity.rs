//! Access-token validation: bearer JWTs checked against the auth service's JWKS.
//!
//! Only asymmetric algorithms are accepted (EdDSA, RS256): `none` and HMAC tokens are refused
//! before any key is looked at, so a public key can never be abused as an HMAC secret.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, RwLock};

use crate::config::IdentityArgs;
use crate::http_client::{self, HttpClient};
use crate::problem::Problem;

mod verified;
use verified::VerifiedTokens;

/// Cookie that carries the access token for browser clients.
pub const ACCESS_TOKEN_COOKIE: &str = "dzinza_access";

/// Roles a user can hold.
pub mod roles {
    /// Administrator: manages users and the platform.
    pub const ADMIN: &str = "ADMIN";
    /// Moderator.
    pub const MODERATOR: &str = "MODERATOR";
    /// Ordinary user.
    pub const USER: &str = "USER";
}

/// The caller, as established by a validated access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Opaque user id (the token's `sub`).
    pub user_id: String,
    /// The user's email address.
    pub email: Option<String>,
    /// Roles such as `ADMIN`.
    pub roles: Vec<String>,
    /// The token's `jti`, for revocation and audit.
    pub token_id: Option<String>,
}

impl Identity {
    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// An identity from a verified token, with the `X-User-*` header values a proxy forwards for it,
/// built once per token rather than once per request.
#[derive(Debug)]
pub struct VerifiedIdentity {
    /// The caller.
    pub identity: Identity,
    /// The `X-User-Id` value; `None` when the user id is not a valid header value.
    pub user_id_header: Option<http::HeaderValue>,
    /// The `X-User-Email` value; `None` without an email or when it is not a valid header value.
    pub email_header: Option<http::HeaderValue>,
    /// The `X-User-Roles` value (roles joined by commas); `None` when not a valid header value.
    pub roles_header: Option<http::HeaderValue>,
}

impl VerifiedIdentity {
    /// `identity` with its header values.
    pub fn new(identity: Identity) -> Self {
        Self {
            user_id_header: http::HeaderValue::from_str(&identity.user_id).ok(),
            email_header: identity
                .email
                .as_deref()
                .and_then(|e| http::HeaderValue::from_str(e).ok()),
            roles_header: http::HeaderValue::try_from(identity.roles.join(",")).ok(),
            identity,
        }
    }
}

/// Claims Dzinza access tokens carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at (seconds since the epoch).
    #[serde(default)]
    pub iat: u64,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not before (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No bearer token in the request.
    #[error("no bearer token")]
    Missing,
    /// The token is not a well-formed JWT.
    #[error("malformed token")]
    Malformed,
    /// The token's algorithm is not one we accept.
    #[error("token algorithm {0} is not accepted")]
    AlgorithmRefused(String),
    /// The token names no key id, or one the JWKS does not have.
    #[error("unknown signing key")]
    UnknownKey,
    /// Signature, expiry, not-before, issuer or audience check failed.
    #[error("token rejected: {0}")]
    Invalid(String),
    /// The JWKS could not be fetched, so no token can be checked right now.
    #[error("identity keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl From<TokenError> for Problem {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::KeysUnavailable(_) => {
                tracing::warn!(error = %e, "cannot validate tokens");
                Problem::unavailable("Sign-in cannot be checked right now; try again shortly.")
            }
            TokenError::Missing => Problem::unauthorized("Sign in to use this endpoint."),
            other => Problem::unauthorized(format!("The access token was refused: {other}.")),
        }
    }
}

struct KeyEntry {
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Where keys come from.
enum KeySource {
    Url {
        client: Box<HttpClient>,
        url: http::Uri,
    },
    Static,
}

struct KeyCache {
    keys: HashMap<String, Arc<KeyEntry>>,
    fetched_at: Option<Instant>,
}

/// Validates access tokens against a JWKS that is fetched, cached and refreshed on unknown `kid`.
pub struct TokenValidator {
    source: KeySource,
    cache: RwLock<KeyCache>,
    refresh_lock: Mutex<()>,
    issuer: String,
    audience: String,
    leeway: Duration,
    /// Keys older than this are refetched on next use.
    max_age: Duration,
    /// Refetches triggered by unknown `kid`s happen at most this often (tokens with random
    /// `kid`s must not turn the gateway into a JWKS flooder).
    min_refresh_interval: Duration,
    /// Tokens already verified, so each costs one signature check rather than one per request.
    verified: VerifiedTokens,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Errors building a validator or loading a JWKS.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The URL is not a valid http URL.
    #[error("invalid JWKS URL {0}")]
    BadUrl(String),
    /// The document could not be parsed.
    #[error("invalid JWKS document: {0}")]
    BadDocument(String),
}

impl TokenValidator {
    /// A validator fetching keys from `jwks_url`.
    pub fn from_url(
        jwks_url: &str,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        leeway: Duration,
    ) -> Result<Self, JwksError> {
        let url: http::Uri = jwks_url
            .parse()
            .map_err(|_| JwksError::BadUrl(jwks_url.to_owned()))?;
        if url.scheme_str() != Some("http") || url.host().is_none() {
            return Err(JwksError::BadUrl(jwks_url.to_owned()));
        }
        Ok(Self::new(
            KeySource::Url {
                client: Box::new(http_client::build(Duration::from_secs(2))),
                url,
            },
            HashMap::new(),
            issuer.into(),
            audience.into(),
            leeway,
        ))
    }

    /// A validator from settings; `None` when no JWKS URL is configured.
    pub fn from_args(args: &IdentityArgs) -> Result<Option<Self>, JwksError> {
        args.jwks_url
            .as_deref()
            .map(|url| {
                Self::from_url(
                    url,
                    args.jwt_issuer.clone(),
                    args.jwt_audience.clone(),
                    args.jwt_leeway,
                )
            })
            .transpose()
    }

    /// A validator over a fixed JWKS document (used where the keys are local, e.g. by auth itself).
    pub fn from_jwks(
        jwks: &JwkSet,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        leeway: Duration,
    ) -> Result<Self, JwksError> {
        Ok(Self::new(
            KeySource::Static,
            parse_jwks(jwks)?,
            issuer.into(),
            audience.into(),
            leeway,
        ))
    }

    fn new(
        source: KeySource,
        keys: HashMap<String, Arc<KeyEntry>>,
        issuer: String,
        audience: String,
        leeway: Duration,
    ) -> Self {
        let fetched_at = matches!(source, KeySource::Static).then(Instant::now);
        Self {
            source,
            cache: RwLock::new(KeyCache { keys, fetched_at }),
            refresh_lock: Mutex::new(()),
            issuer,
            audience,
            leeway,
            max_age: Duration::from_secs(300),
            min_refresh_interval: Duration::from_secs(10),
            verified: VerifiedTokens::new(verified::CAPACITY),
        }
    }

    /// Sets how often an unknown `kid` may trigger a refetch (tests use zero).
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// Validates a compact JWT and returns the caller's identity.
    pub async fn validate(&self, token: &str) -> Result<Identity, TokenError> {
        self.validate_shared(token)
            .await
            .map(|verified| verified.identity.clone())
    }

    /// [`TokenValidator::validate`], answering with the verified-token cache's own entry: a token
    /// seen before costs no copy of the identity and no header value.
    pub async fn validate_shared(&self, token: &str) -> Result<Arc<VerifiedIdentity>, TokenError> {
        let now = unix_now();
        let leeway = self.leeway.as_secs();
        if let Some(identity) = self.verified.get(token, now, leeway) {
            // A stale key set is refreshed first: it forgets tokens of keys no longer published,
            // so only after a refresh must the cache be asked again.
            if !self.refresh_if_stale(false).await? {
                return Ok(identity);
            }
            if let Some(identity) = self.verified.get(token, now, leeway) {
                return Ok(identity);
            }
        }
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if !matches!(header.alg, Algorithm::EdDSA | Algorithm::RS256) {
            return Err(TokenError::AlgorithmRefused(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let entry = self.key(&kid).await?;
        if entry.algorithm != header.alg {
            return Err(TokenError::AlgorithmRefused(format!("{:?}", header.alg)));
        }
        let mut validation = Validation::new(entry.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<AccessClaims>(token, &entry.key, &validation)
            .map_err(|e| TokenError::Invalid(describe(&e)))?;
        let c = data.claims;
        let verified = Arc::new(VerifiedIdentity::new(Identity {
            user_id: c.sub,
            email: c.email,
            roles: c.roles,
            token_id: c.jti,
        }));
        self.verified.insert(token, &kid, c.exp, &verified, now);
        Ok(verified)
    }

    /// Whether keys are loaded (or loadable now): used as a readiness check.
    pub async fn check_keys(&self) -> Result<String, String> {
        self.refresh_if_stale(false)
            .await
            .map_err(|e| e.to_string())?;
        let n = self.cache.read().await.keys.len();
        Ok(format!("{n} signing keys"))
    }

    async fn key(&self, kid: &str) -> Result<Arc<KeyEntry>, TokenError> {
        self.refresh_if_stale(false).await?;
        if let Some(k) = self.cache.read().await.keys.get(kid) {
            return Ok(k.clone());
        }
        // Unknown kid: the keys may have rotated since we fetched them.
        self.refresh_if_stale(true).await?;
        self.cache
            .read()
            .await
            .keys
            .get(kid)
            .cloned()
            .ok_or(TokenError::UnknownKey)
    }

    /// Fetches the key set if it is stale; `Ok(true)` when the keys were replaced.
    async fn refresh_if_stale(&self, unknown_kid: bool) -> Result<bool, TokenError> {
        let KeySource::Url { client, url } = &self.source else {
            return Ok(false);
        };
        let needs = |fetched_at: Option<Instant>| match fetched_at {
            None => true,
            Some(t) if unknown_kid => t.elapsed() >= self.min_refresh_interval,
            Some(t) => t.elapsed() >= self.max_age,
        };
        if !needs(self.cache.read().await.fetched_at) {
            return Ok(false);
        }
        let _guard = self.refresh_lock.lock().await;
        // Another task may have refreshed while we waited for the lock (and may have dropped
        // cached tokens): report a refresh.
        if !needs(self.cache.read().await.fetched_at) {
            return Ok(true);
        }
        // Boxed: the fetch is rare and its future large; inline, every token check's future
        // would carry (and move) its size.
        match Box::pin(fetch_jwks(client, url)).await {
            Ok(keys) => {
                let mut cache = self.cache.write().await;
                self.verified.retain_keys(|kid| keys.contains_key(kid));
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
                Ok(true)
            }
            Err(e) => {
                let cache = self.cache.read().await;
                if cache.keys.is_empty() {
                    Err(TokenError::KeysUnavailable(e))
                } else {
                    // Keep serving with the keys we have; a transient outage must not log everyone out.
                    tracing::warn!(error = %e, "JWKS refresh failed; keeping cached keys");
                    Ok(false)
                }
            }
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "expired".into(),
        K::ImmatureSignature => "not yet valid".into(),
        K::InvalidIssuer => "wrong issuer".into(),
        K::InvalidAudience => "wrong audience".into(),
        K::InvalidSignature => "bad signature".into(),
        K::MissingRequiredClaim(c) => format!("missing claim {c}"),
        _ => "invalid".into(),
    }
}

async fn fetch_jwks(
    client: &HttpClient,
    url: &http::Uri,
) -> Result<HashMap<String, Arc<KeyEntry>>, String> {
    let mut req = Request::get(url.clone())
        .header(header::ACCEPT, "application/json")
        .body(axum::body::Body::empty())
        .map_err(|e| e.to_string())?;
    crate::telemetry::inject_context(req.headers_mut());
    let resp = tokio::time::timeout(Duration::from_secs(5), client.request(req))
        .await
        .map_err(|_| format!("GET {url} timed out"))?
        .map_err(|e| format!("GET {url}: {e}"))?;
    if resp.status() != StatusCode::OK {
        return Err(format!("GET {url}: status {}", resp.status()));
    }
    let body = http_body_util::Limited::new(resp.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?
        .to_bytes();
    let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("bad JWKS: {e}"))?;
    parse_jwks(&set).map_err(|e| e.to_string())
}

fn parse_jwks(set: &JwkSet) -> Result<HashMap<String, Arc<KeyEntry>>, JwksError> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            // Symmetric and EC keys are not used by Dzinza; skipping them keeps HMAC out entirely.
            _ => continue,
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| JwksError::BadDocument(e.to_string()))?;
        keys.insert(kid, Arc::new(KeyEntry { algorithm, key }));
    }
    Ok(keys)
}

/// Extracts the bearer token from `Authorization`, falling back to the access-token cookie.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        // What `to_str` accepts (a header value holds no control characters but tab), checked
        // a word at a time rather than byte by byte: a token is hundreds of bytes.
        let value = value.as_bytes();
        let value = std::str::from_utf8(value)
            .ok()
            .filter(|_| value.is_ascii())?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    cookie(headers, ACCESS_TOKEN_COOKIE)
}

/// The non-empty value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// Extractor state: the validator for this service.
#[derive(Clone, Debug)]
pub struct Authenticator(pub Arc<TokenValidator>);

impl<S> FromRequestParts<S> for Identity
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(identity) = parts.extensions.get::<Identity>() {
            return Ok(identity.clone());
        }
        let Authenticator(validator) = Authenticator::from_ref(state);
        let token = bearer_token(&parts.headers).ok_or(TokenError::Missing)?;
        let identity = validator.validate(token).await?;
        parts.extensions.insert(identity.clone());
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    #[test]
    fn bearer_from_header_or_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::COOKIE, "a=b; dzinza_access=tok1".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("tok1"));
        h.insert(header::AUTHORIZATION, "Bearer tok2".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("tok2"));
        h.insert(header::AUTHORIZATION, "Basic dXNlcjpwYXNz".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "bearer  tok3 ".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("tok3"));
        h.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        // Not visible ASCII: refused as `to_str` refuses it, with no fallback to the cookie.
        let latin = http::HeaderValue::from_bytes(b"Bearer t\xe9k").unwrap();
        assert!(latin.to_str().is_err());
        h.insert(header::AUTHORIZATION, latin);
        assert_eq!(bearer_token(&h), None);
        let utf8 = http::HeaderValue::from_bytes("Bearer t\u{e9}k".as_bytes()).unwrap();
        assert!(utf8.to_str().is_err());
        h.insert(header::AUTHORIZATION, utf8);
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer\ttok4".parse().unwrap());
        assert_eq!(bearer_token(&h), None, "the scheme ends at a space");
    }

    #[tokio::test]
    async fn refuses_none_and_hmac_before_key_lookup() {
        let v =
            TokenValidator::from_jwks(&JwkSet { keys: vec![] }, "dzinza", "dzinza", Duration::ZERO)
                .unwrap();
        // {"alg":"none","typ":"JWT"}.{"sub":"x"}.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.";
        assert!(v.validate(none).await.is_err());
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({"sub":"x","exp":9999999999u64,"iss":"dzinza","aud":"dzinza"}),
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert!(matches!(
            v.validate(&hs).await,
            Err(TokenError::AlgorithmRefused(_))
        ));
    }

    /// Serves whatever JWKS `doc` holds at the moment of each request.
    async fn serve_changing_jwks(doc: Arc<std::sync::Mutex<serde_json::Value>>) -> String {
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.lock().map(|d| d.clone()).unwrap_or_default()) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/jwks.json")
    }

    #[tokio::test]
    async fn a_verified_token_is_refused_once_it_expires() {
        let issuer = crate::testing::TestIssuer::new("k1");
        let url = issuer.serve_jwks().await.unwrap();
        let v = TokenValidator::from_url(&url, "dzinza", "dzinza", Duration::ZERO).unwrap();
        let mut claims = issuer.claims("u1", &[]);
        claims["exp"] = (crate::testing::now() + 1).into();
        let token = issuer.sign(&claims);
        assert!(v.validate(&token).await.is_ok());
        assert!(v.validate(&token).await.is_ok(), "answered from the cache");
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let err = v.validate(&token).await.unwrap_err();
        assert!(
            matches!(err, TokenError::Invalid(ref why) if why == "expired"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn an_altered_copy_of_a_verified_token_is_still_checked() {
        let issuer = crate::testing::TestIssuer::new("k1");
        let url = issuer.serve_jwks().await.unwrap();
        let v = TokenValidator::from_url(&url, "dzinza", "dzinza", Duration::ZERO).unwrap();
        let token = issuer.token("u1", &["USER"]);
        assert!(v.validate(&token).await.is_ok());
        // Same header and signature, claims changed to ADMIN: must fail the signature check.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims = issuer.claims("u1", &["ADMIN"]);
        claims["exp"] = (crate::testing::now() + 900).into();
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&claims).unwrap(),
        );
        let forged = parts.join(".");
        assert!(matches!(
            v.validate(&forged).await,
            Err(TokenError::Invalid(ref why)) if why == "bad signature"
        ));
    }

    #[tokio::test]
    async fn verified_tokens_of_a_withdrawn_key_are_refused() {
        let old = crate::testing::TestIssuer::new("k1");
        let new = crate::testing::TestIssuer::new("k2");
        let doc = Arc::new(std::sync::Mutex::new(old.jwks()));
        let url = serve_changing_jwks(doc.clone()).await;
        let v = TokenValidator::from_url(&url, "dzinza", "dzinza", Duration::ZERO)
            .unwrap()
            .with_min_refresh_interval(Duration::ZERO);
        let old_token = old.token("u1", &[]);
        assert!(v.validate(&old_token).await.is_ok());

        // Rotation completes: only k2 is published. A k2 token makes the validator refetch.
        *doc.lock().unwrap() = new.jwks();
        assert!(v.validate(&new.token("u2", &[])).await.is_ok());
        assert!(matches!(
            v.validate(&old_token).await,
            Err(TokenError::UnknownKey)
        ));
    }

    #[test]
    fn verified_identity_headers_are_those_built_per_request_before() {
        let v = VerifiedIdentity::new(Identity {
            user_id: "u-1".into(),
            email: Some("a@example.org".into()),
            roles: vec!["USER".into(), "ADMIN".into()],
            token_id: None,
        });
        assert_eq!(v.user_id_header.as_ref().unwrap(), "u-1");
        assert_eq!(v.email_header.as_ref().unwrap(), "a@example.org");
        assert_eq!(v.roles_header.as_ref().unwrap(), "USER,ADMIN");

        let v = VerifiedIdentity::new(Identity {
            user_id: "bad\nid".into(),
            email: None,
            roles: vec![],
            token_id: None,
        });
        assert!(v.user_id_header.is_none(), "not a valid header value");
        assert!(v.email_header.is_none());
        assert_eq!(
            v.roles_header.as_ref().unwrap(),
            "",
            "no roles: an empty value"
        );

        let v = VerifiedIdentity::new(Identity {
            user_id: "u".into(),
            email: Some("bad\r@example.org".into()),
            roles: vec!["A\u{7f}".into()],
            token_id: None,
        });
        assert!(v.email_header.is_none());
        assert!(v.roles_header.is_none());
    }

    #[tokio::test]
    async fn validate_shared_answers_a_seen_token_with_the_same_entry() {
        let issuer = crate::testing::TestIssuer::new("k1");
        let url = issuer.serve_jwks().await.unwrap();
        let v = TokenValidator::from_url(&url, "dzinza", "dzinza", Duration::ZERO).unwrap();
        let token = issuer.token("u1", &["USER"]);
        let first = v.validate_shared(&token).await.unwrap();
        let second = v.validate_shared(&token).await.unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first.identity, v.validate(&token).await.unwrap());
        assert_eq!(first.user_id_header.as_ref().unwrap(), "u1");
    }

    #[test]
    fn jwks_url_must_be_http() {
        assert!(TokenValidator::from_url("ftp://x/jwks", "i", "a", Duration::ZERO).is_err());
        assert!(
            TokenValidator::from_url(
                "http://auth:8080/.well-known/jwks.json",
                "i",
                "a",
                Duration::ZERO
            )
            .is_ok()
        );
    }
}
