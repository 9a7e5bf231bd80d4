//! The HTTP edge: routes, request and response bodies, cookies and CSRF, and the one mapping of
//! domain errors to problem responses.
//!
//! Routes are served as `/v1/...` (the gateway strips `/api`); the OpenAPI document names them
//! as clients see them, `/api/v1/...`.

// Helpers here return the kit's `Problem` because the handlers they serve answer with it; boxing
// it would only move the allocation, not avoid it.
#![allow(clippy::result_large_err)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{
    ConnectInfo, FromRef, FromRequest, FromRequestParts, Path, Query, Request, State,
};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dzinza_kit::Problem;
use dzinza_kit::identity::{ACCESS_TOKEN_COOKIE, Authenticator, Identity, cookie};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::AuthError;
use crate::model::{AuditEntry, AuditFilter, Page, Role, User, UserFilter};
use crate::service::{AdminPatch, AuthService, LoginOutcome, ProfilePatch, RequestMeta, Session};

/// Cookie holding the refresh token of browser clients.
pub const REFRESH_TOKEN_COOKIE: &str = "dzinza_refresh";
/// Cookie holding the CSRF token (readable by the web app, echoed in [`CSRF_HEADER`]).
pub const CSRF_COOKIE: &str = "dzinza_csrf";
/// Header that must echo the CSRF cookie on cookie-authenticated state changes.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Header by which a browser asks for cookies instead of tokens in the body (`cookie`).
pub const AUTH_MODE_HEADER: &str = "x-dzinza-auth-mode";

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The domain service.
    pub service: Arc<AuthService>,
    /// Validates access tokens against auth's own keys.
    pub authenticator: Authenticator,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.authenticator.clone()
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Validation(errors) => Problem::validation(errors),
            AuthError::InvalidCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            )
            .with_detail("The email, username or password is not right."),
            AuthError::Locked { retry_after } => Problem::new(
                StatusCode::LOCKED,
                "account_locked",
                "Account temporarily locked",
            )
            .with_detail(format!(
                "Too many failed sign-ins. Try again in {} minutes, or reset your password.",
                (retry_after + 59) / 60
            ))
            .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1))),
            AuthError::Throttled { retry_after } => {
                Problem::too_many_requests(u64::try_from(retry_after.max(1)).unwrap_or(1))
            }
            AuthError::InvalidToken => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "Invalid or expired token",
            )
            .with_detail("The token is unknown, already used or expired."),
            AuthError::InvalidCode => {
                Problem::new(StatusCode::UNAUTHORIZED, "invalid_code", "Invalid code")
                    .with_detail("The code is wrong, expired or was already used.")
            }
            AuthError::Conflict(m) => Problem::conflict(m),
            AuthError::NotFound => Problem::not_found("There is no such user."),
            AuthError::Forbidden(m) => Problem::forbidden(m),
            AuthError::LastAdmin => Problem::new(
                StatusCode::CONFLICT,
                "last_admin",
                "The last administrator must stay",
            )
            .with_detail("This change would leave no active administrator."),
            AuthError::AccountUnavailable => {
                Problem::unauthorized("The account no longer exists or is disabled.")
            }
            AuthError::Store(e) => Problem::internal(&e),
            AuthError::Password(e) => Problem::internal(&e),
            AuthError::Keys(e) => Problem::internal(&e),
            AuthError::Mfa(e) => Problem::internal(&e),
            AuthError::Sealing(e) => {
                // Logged with its cause (e.g. a different key id) for operators; the client
                // learns only that the second factor cannot be checked right now.
                tracing::error!(error = %e, "MFA secret unusable");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "mfa_unavailable",
                    "Two-factor check unavailable",
                )
                .with_detail("The second factor cannot be checked right now; it has been logged.")
            }
        }
    }
}

/// JSON body whose rejections become problem responses.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json: Result<Json<T>, JsonRejection> = Json::from_request(req, state).await;
        Ok(ApiJson(json?.0))
    }
}

/// The client's address and user agent.
#[derive(Debug)]
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The gateway appends the client address it determined as the last X-Forwarded-For
        // entry; auth is only reachable through it in the cluster.
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|s| s.trim().parse::<IpAddr>().ok());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        Ok(Meta(RequestMeta {
            ip: forwarded.or(peer),
            user_agent,
        }))
    }
}

fn csrf_ok(headers: &HeaderMap) -> bool {
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match (sent, cookie(headers, CSRF_COOKIE)) {
        (Some(a), Some(b)) => {
            a.len() == b.len()
                && a.bytes()
                    .zip(b.bytes())
                    .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                    == 0
        }
        _ => false,
    }
}

fn csrf_refused() -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "csrf_failed", "CSRF check failed").with_detail(format!(
        "Cookie-authenticated changes must send the {CSRF_COOKIE} cookie's value in {CSRF_HEADER}."
    ))
}

/// Double-submit CSRF check for requests authenticated by the access-token cookie (directly,
/// or through the gateway, which copies the cookie into `Authorization`).
fn require_csrf_if_cookie_auth(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(from_cookie) = cookie(headers, ACCESS_TOKEN_COOKIE) else {
        return Ok(());
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim());
    let via_cookie = bearer.is_none_or(|b| b == from_cookie);
    if via_cookie && !csrf_ok(headers) {
        return Err(csrf_refused());
    }
    Ok(())
}

fn wants_cookies(headers: &HeaderMap) -> bool {
    headers
        .get(AUTH_MODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cookie"))
}

fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    http_only: bool,
) -> Option<HeaderValue> {
    let http_only = if http_only { "; HttpOnly" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; Secure; SameSite=Strict{http_only}"
    ))
    .ok()
}

fn random_csrf() -> String {
    use base64::Engine as _;
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

// ----- bodies

/// `POST /auth/register` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Email address (unique, case-insensitive).
    pub email: String,
    /// Username (3–32 letters, digits, `.`, `_`, `-`; unique).
    pub username: String,
    /// Password: at least 12 characters, not a common password, not the email or username.
    pub password: String,
}

/// Answer to requests whose outcome is mailed (never says whether the email is known).
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedResponse {
    /// `accepted`.
    pub status: String,
    /// What happens next.
    pub message: String,
}

fn accepted(message: &str) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(AcceptedResponse {
            status: "accepted".into(),
            message: message.into(),
        }),
    )
        .into_response()
}

/// `POST /auth/login` body: `email` or `username`, and `password`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Email address (or give `username`).
    pub email: Option<String>,
    /// Username (or give `email`).
    pub username: Option<String>,
    /// Password.
    pub password: String,
}

/// A session, shaped like an OAuth 2.0 token response. Cookie-mode clients get the tokens as
/// `HttpOnly` cookies instead, and a `csrf_token` to echo in `X-CSRF-Token`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Signed JWT access token (absent in cookie mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// `Bearer`.
    pub token_type: String,
    /// Access-token lifetime in seconds.
    pub expires_in: i64,
    /// Opaque refresh token (absent in cookie mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// CSRF token (cookie mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// A login that needs a second factor.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaChallengeResponse {
    /// Always true.
    pub mfa_required: bool,
    /// Send it with a code to `/auth/login/mfa` within five minutes.
    pub mfa_token: String,
}

/// `POST /auth/login/mfa` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaLoginRequest {
    /// The challenge token from the login answer.
    pub mfa_token: String,
    /// A current TOTP code or an unused backup code.
    pub code: String,
}

/// `POST /auth/refresh` and `/auth/logout` body (cookie clients may send `{}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token; taken from the `dzinza_refresh` cookie when absent.
    pub refresh_token: Option<String>,
}

/// A body with one email address.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailRequest {
    /// Email address.
    pub email: String,
}

/// A body with one token from a mailed link.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The `token` parameter of the link.
    pub token: String,
}

/// `POST /auth/reset-password` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The `token` parameter of the reset link.
    pub token: String,
    /// The new password.
    pub new_password: String,
}

/// `POST /auth/change-password` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

/// Answer to a password change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePasswordResponse {
    /// Other sessions that were ended.
    pub sessions_revoked: u64,
}

/// MFA setup: scan the QR code (or type the secret), then confirm with a code.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaSetupResponse {
    /// Base32 secret.
    pub secret: String,
    /// `otpauth://` URI.
    pub otpauth_url: String,
    /// The URI as an SVG QR code.
    pub qr_code_svg: String,
}

/// A body with one TOTP code.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    /// Six-digit TOTP code.
    pub code: String,
}

/// Backup codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupCodesResponse {
    /// Ten single-use codes.
    pub backup_codes: Vec<String>,
}

/// `POST /mfa/disable` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaDisableRequest {
    /// The current password.
    pub password: String,
    /// A current TOTP code or an unused backup code.
    pub code: String,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// Opaque id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Username.
    pub username: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Name shown to others.
    pub display_name: Option<String>,
    /// Role.
    pub role: Role,
    /// Whether the account may sign in.
    pub is_active: bool,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// Whether MFA is on.
    pub mfa_enabled: bool,
    /// Client preferences.
    #[schema(value_type = Object)]
    pub preferences: serde_json::Value,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// Last successful login (RFC 3339).
    pub last_login_at: Option<String>,
}

fn rfc3339(t: i64) -> String {
    jiff::Timestamp::from_second(t).map_or_else(|_| t.to_string(), |t| t.to_string())
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            username: u.username,
            first_name: u.first_name,
            last_name: u.last_name,
            display_name: u.display_name,
            role: u.role,
            is_active: u.is_active,
            email_verified: u.email_verified,
            mfa_enabled: u.mfa_enabled,
            preferences: u.preferences,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
            last_login_at: u.last_login_at.map(rfc3339),
        }
    }
}

/// `PUT /users/me` body: fields to change (empty strings clear names).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// New username.
    pub username: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Preferences object (replaces the stored one).
    #[schema(value_type = Option<Object>)]
    pub preferences: Option<serde_json::Value>,
}

impl From<UpdateMeRequest> for ProfilePatch {
    fn from(r: UpdateMeRequest) -> Self {
        Self {
            username: r.username,
            first_name: r.first_name,
            last_name: r.last_name,
            display_name: r.display_name,
            preferences: r.preferences,
        }
    }
}

/// `PUT /users/{id}` body (administrators).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUpdateRequest {
    /// New username.
    pub username: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Preferences object.
    #[schema(value_type = Option<Object>)]
    pub preferences: Option<serde_json::Value>,
    /// Role.
    pub role: Option<Role>,
    /// Enable or disable the account (disabling ends its sessions).
    pub is_active: Option<bool>,
    /// Whether the email counts as verified.
    pub email_verified: Option<bool>,
}

/// Page query parameters and user filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Rows per page (1–100, default 20).
    pub per_page: Option<u32>,
    /// Email contains this (case-insensitive).
    pub email: Option<String>,
    /// Role.
    pub role: Option<Role>,
    /// Active flag.
    pub is_active: Option<bool>,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// Users on this page.
    pub items: Vec<UserResponse>,
    /// Matching users in all.
    pub total: u64,
    /// This page.
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
}

/// Audit log query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page number, from 1.
    pub page: Option<u32>,
    /// Rows per page (1–100, default 20).
    pub per_page: Option<u32>,
    /// Exact action, e.g. `login_failed`.
    pub action: Option<String>,
    /// Actor user id.
    pub actor_id: Option<String>,
    /// Target user id.
    pub target_id: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<String>,
    /// Before (RFC 3339).
    pub until: Option<String>,
}

/// One audit entry as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryResponse {
    /// Entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// When (RFC 3339).
    pub time: String,
}

/// A page of audit entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Entries on this page.
    pub items: Vec<AuditEntryResponse>,
    /// Matching entries in all.
    pub total: u64,
    /// This page.
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
}

fn page_of(page: Option<u32>, per_page: Option<u32>) -> Result<(Page, u32, u32), Problem> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(20);
    let mut errors = Vec::new();
    if page == 0 {
        errors.push(dzinza_kit::problem::FieldError {
            field: "page".into(),
            message: "must be 1 or more".into(),
        });
    }
    if !(1..=100).contains(&per_page) {
        errors.push(dzinza_kit::problem::FieldError {
            field: "per_page".into(),
            message: "must be between 1 and 100".into(),
        });
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    Ok((
        Page {
            limit: per_page,
            offset: u64::from(page - 1) * u64::from(per_page),
        },
        page,
        per_page,
    ))
}

fn parse_time(field: &str, value: Option<&str>) -> Result<Option<i64>, Problem> {
    value
        .map(|v| {
            v.parse::<jiff::Timestamp>()
                .map(|t| t.as_second())
                .map_err(|_| {
                    Problem::validation(vec![dzinza_kit::problem::FieldError {
                        field: field.into(),
                        message: "must be an RFC 3339 time such as 2026-01-31T12:00:00Z".into(),
                    }])
                })
        })
        .transpose()
}

fn secret(s: String) -> SecretString {
    SecretString::from(s)
}

fn session_response(session: Session, headers: &HeaderMap) -> Response {
    if !wants_cookies(headers) {
        return Json(TokenResponse {
            access_token: Some(session.access_token),
            token_type: "Bearer".into(),
            expires_in: session.expires_in,
            refresh_token: Some(session.refresh_token),
            csrf_token: None,
        })
        .into_response();
    }
    let csrf = random_csrf();
    let mut response = Json(TokenResponse {
        access_token: None,
        token_type: "Bearer".into(),
        expires_in: session.expires_in,
        refresh_token: None,
        csrf_token: Some(csrf.clone()),
    })
    .into_response();
    let cookies = [
        set_cookie(
            ACCESS_TOKEN_COOKIE,
            &session.access_token,
            "/",
            session.expires_in,
            true,
        ),
        set_cookie(
            REFRESH_TOKEN_COOKIE,
            &session.refresh_token,
            "/api/",
            session.refresh_expires_in,
            true,
        ),
        set_cookie(CSRF_COOKIE, &csrf, "/", session.refresh_expires_in, false),
    ];
    for c in cookies.into_iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

fn clear_cookies(mut response: Response) -> Response {
    for (name, path, http_only) in [
        (ACCESS_TOKEN_COOKIE, "/", true),
        (REFRESH_TOKEN_COOKIE, "/api/", true),
        (CSRF_COOKIE, "/", false),
    ] {
        if let Some(c) = set_cookie(name, "", path, 0, http_only) {
            response.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    response
}

/// The refresh token from the body, or from the cookie (then CSRF-checked).
fn refresh_token_of(body: RefreshRequest, headers: &HeaderMap) -> Result<String, Problem> {
    if let Some(t) = body.refresh_token.filter(|t| !t.is_empty()) {
        return Ok(t);
    }
    let Some(t) = cookie(headers, REFRESH_TOKEN_COOKIE) else {
        return Err(Problem::validation(vec![dzinza_kit::problem::FieldError {
            field: "refresh_token".into(),
            message: "is required (in the body or the dzinza_refresh cookie)".into(),
        }]));
    };
    if !csrf_ok(headers) {
        return Err(csrf_refused());
    }
    Ok(t.to_owned())
}

// ----- handlers

/// Publishes the public keys that verify access tokens.
#[utoipa::path(get, path = "/api/v1/auth/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JSON Web Key Set (RFC 7517)")))]
pub async fn jwks(State(s): State<AppState>) -> Response {
    let mut response = Json(s.service.keys().jwks().clone()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// Creates an account and mails a verification link.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 202, description = "Check your mail (same answer for a known email)", body = AcceptedResponse),
        (status = 422, description = "Invalid field", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn register(
    State(s): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<Response, Problem> {
    s.service
        .register(&body.email, &body.username, secret(body.password), &meta)
        .await?;
    Ok(accepted(
        "If the address can be used, a verification link is on its way to it.",
    ))
}

/// Signs in with email or username and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    params(("X-Dzinza-Auth-Mode" = Option<String>, Header, description = "`cookie` for HttpOnly cookies instead of tokens in the body")),
    responses(
        (status = 200, description = "Signed in, or a second factor is needed", body = TokenResponse),
        (status = 401, description = "Invalid credentials", body = dzinza_kit::problem::ProblemBody),
        (status = 423, description = "Account temporarily locked", body = dzinza_kit::problem::ProblemBody),
        (status = 429, description = "Too many attempts from this address", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn login(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, Problem> {
    let Some(identifier) = body
        .email
        .or(body.username)
        .filter(|i| !i.trim().is_empty())
    else {
        return Err(Problem::validation(vec![dzinza_kit::problem::FieldError {
            field: "email".into(),
            message: "give an email or a username".into(),
        }]));
    };
    match s
        .service
        .login(&identifier, secret(body.password), &meta)
        .await?
    {
        LoginOutcome::Session(session) => Ok(session_response(session, &headers)),
        LoginOutcome::MfaRequired { mfa_token } => Ok(Json(MfaChallengeResponse {
            mfa_required: true,
            mfa_token,
        })
        .into_response()),
    }
}

/// Completes a login with a TOTP or backup code.
#[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "auth", request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Challenge token invalid or expired", body = dzinza_kit::problem::ProblemBody),
        (status = 401, description = "Wrong or reused code", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn login_mfa(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    ApiJson(body): ApiJson<MfaLoginRequest>,
) -> Result<Response, Problem> {
    let session = s
        .service
        .complete_mfa_login(&body.mfa_token, &body.code, &meta)
        .await?;
    Ok(session_response(session, &headers))
}

/// Exchanges a refresh token for a new session (the old token is used up).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 400, description = "Invalid, expired or reused token (reuse ends the session)", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn refresh(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Response, Problem> {
    let token = refresh_token_of(body, &headers)?;
    let session = s.service.refresh(&token, &meta).await?;
    Ok(session_response(session, &headers))
}

/// Ends the session of a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "Signed out")))]
pub async fn logout(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Response, Problem> {
    let token = refresh_token_of(body, &headers)?;
    s.service.logout(&token, &meta).await?;
    Ok(clear_cookies(StatusCode::NO_CONTENT.into_response()))
}

/// Ends every session of the caller.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Every session ended")))]
pub async fn logout_all(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    who: Identity,
) -> Result<Response, Problem> {
    require_csrf_if_cookie_auth(&headers)?;
    s.service.logout_all(&who, &meta).await?;
    Ok(clear_cookies(StatusCode::NO_CONTENT.into_response()))
}

/// Mails a new verification link (same answer whether or not the email is known).
#[utoipa::path(post, path = "/api/v1/auth/request-email-verification", tag = "auth", request_body = EmailRequest,
    responses((status = 202, description = "Accepted", body = AcceptedResponse)))]
pub async fn request_email_verification(
    State(s): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<EmailRequest>,
) -> Result<Response, Problem> {
    s.service
        .request_email_verification(&body.email, &meta)
        .await?;
    Ok(accepted(
        "If an unverified account uses this address, a new link is on its way.",
    ))
}

/// Redeems an email verification link's token.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 204, description = "Email verified"),
        (status = 400, description = "Unknown, used or expired token", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn verify_email(
    State(s): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<StatusCode, Problem> {
    s.service.verify_email(&body.token, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a password reset link (same answer whether or not the email is known).
#[utoipa::path(post, path = "/api/v1/auth/request-password-reset", tag = "auth", request_body = EmailRequest,
    responses((status = 202, description = "Accepted", body = AcceptedResponse)))]
pub async fn request_password_reset(
    State(s): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<EmailRequest>,
) -> Result<Response, Problem> {
    s.service.request_password_reset(&body.email, &meta).await?;
    Ok(accepted(
        "If an account uses this address, a reset link is on its way.",
    ))
}

/// Sets a new password with a reset link's token; every session ends.
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "auth", request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "Unknown, used or expired token", body = dzinza_kit::problem::ProblemBody),
        (status = 422, description = "Password refused by the policy", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn reset_password(
    State(s): State<AppState>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> Result<StatusCode, Problem> {
    s.service
        .reset_password(&body.token, secret(body.new_password), &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password; every other session ends.
#[utoipa::path(post, path = "/api/v1/auth/change-password", tag = "auth", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Password changed", body = ChangePasswordResponse),
        (status = 422, description = "Wrong current password or refused new one", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn change_password(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    who: Identity,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<Json<ChangePasswordResponse>, Problem> {
    require_csrf_if_cookie_auth(&headers)?;
    let sessions_revoked = s
        .service
        .change_password(
            &who,
            secret(body.current_password),
            secret(body.new_password),
            &meta,
        )
        .await?;
    Ok(Json(ChangePasswordResponse { sessions_revoked }))
}

/// Starts turning on MFA: a secret, its `otpauth://` URI and a QR code.
#[utoipa::path(post, path = "/api/v1/mfa/enable-mfa-request", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "Scan, then confirm with a code", body = MfaSetupResponse),
        (status = 409, description = "MFA already on", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn mfa_enable_request(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    who: Identity,
) -> Result<Json<MfaSetupResponse>, Problem> {
    require_csrf_if_cookie_auth(&headers)?;
    let setup = s.service.mfa_enable_request(&who, &meta).await?;
    Ok(Json(MfaSetupResponse {
        secret: setup.secret,
        otpauth_url: setup.otpauth_url,
        qr_code_svg: setup.qr_svg,
    }))
}

/// Confirms MFA with a first code; answers the backup codes (shown once).
#[utoipa::path(post, path = "/api/v1/mfa/verify-mfa-enable", tag = "mfa", request_body = CodeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "MFA on", body = BackupCodesResponse),
        (status = 401, description = "Wrong code", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn mfa_verify_enable(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    who: Identity,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<Json<BackupCodesResponse>, Problem> {
    require_csrf_if_cookie_auth(&headers)?;
    let backup_codes = s.service.mfa_verify_enable(&who, &body.code, &meta).await?;
    Ok(Json(BackupCodesResponse { backup_codes }))
}

/// Turns MFA off (password and a code needed).
#[utoipa::path(post, path = "/api/v1/mfa/disable", tag = "mfa", request_body = MfaDisableRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "MFA off"),
        (status = 401, description = "Wrong code", body = dzinza_kit::problem::ProblemBody),
        (status = 422, description = "Wrong password", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn mfa_disable(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    who: Identity,
    ApiJson(body): ApiJson<MfaDisableRequest>,
) -> Result<StatusCode, Problem> {
    require_csrf_if_cookie_auth(&headers)?;
    s.service
        .mfa_disable(&who, secret(body.password), &body.code, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "Profile", body = UserResponse)))]
pub async fn get_me(
    State(s): State<AppState>,
    who: Identity,
) -> Result<Json<UserResponse>, Problem> {
    Ok(Json(s.service.me(&who).await?.into()))
}

/// Changes the caller's profile.
#[utoipa::path(put, path = "/api/v1/users/me", tag = "users", request_body = UpdateMeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Profile", body = UserResponse),
        (status = 422, description = "Invalid field", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn put_me(
    State(s): State<AppState>,
    headers: HeaderMap,
    who: Identity,
    ApiJson(body): ApiJson<UpdateMeRequest>,
) -> Result<Json<UserResponse>, Problem> {
    require_csrf_if_cookie_auth(&headers)?;
    Ok(Json(s.service.update_me(&who, body.into()).await?.into()))
}

/// Lists users (administrators).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 403, description = "Not an administrator", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn list_users(
    State(s): State<AppState>,
    who: Identity,
    Query(q): Query<UserListQuery>,
) -> Result<Json<UserPage>, Problem> {
    let (page, page_no, per_page) = page_of(q.page, q.per_page)?;
    let filter = UserFilter {
        email: q.email.filter(|e| !e.is_empty()),
        role: q.role,
        is_active: q.is_active,
    };
    let (users, total) = s.service.list_users(&who, &filter, page).await?;
    Ok(Json(UserPage {
        items: users.into_iter().map(Into::into).collect(),
        total,
        page: page_no,
        per_page,
    }))
}

/// One user (administrators).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path, description = "User id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 403, description = "Not an administrator", body = dzinza_kit::problem::ProblemBody),
        (status = 404, description = "No such user", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn get_user(
    State(s): State<AppState>,
    who: Identity,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, Problem> {
    Ok(Json(s.service.get_user(&who, &id).await?.into()))
}

/// Changes a user (administrators); the last administrator cannot be demoted or disabled.
#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "users", request_body = AdminUpdateRequest,
    params(("id" = String, Path, description = "User id")), security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 403, description = "Not an administrator", body = dzinza_kit::problem::ProblemBody),
        (status = 409, description = "Would leave no administrator", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn put_user(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    who: Identity,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AdminUpdateRequest>,
) -> Result<Json<UserResponse>, Problem> {
    require_csrf_if_cookie_auth(&headers)?;
    let patch = AdminPatch {
        profile: ProfilePatch {
            username: body.username,
            first_name: body.first_name,
            last_name: body.last_name,
            display_name: body.display_name,
            preferences: body.preferences,
        },
        role: body.role,
        is_active: body.is_active,
        email_verified: body.email_verified,
    };
    Ok(Json(
        s.service.update_user(&who, &id, patch, &meta).await?.into(),
    ))
}

/// Deletes a user (administrators); the last administrator cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an administrator", body = dzinza_kit::problem::ProblemBody),
        (status = 409, description = "Would leave no administrator", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn delete_user(
    State(s): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    who: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    require_csrf_if_cookie_auth(&headers)?;
    s.service.delete_user(&who, &id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit log, newest first (administrators).
#[utoipa::path(get, path = "/api/v1/audit-logs", tag = "audit", params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 403, description = "Not an administrator", body = dzinza_kit::problem::ProblemBody),
    ))]
pub async fn audit_logs(
    State(s): State<AppState>,
    who: Identity,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, Problem> {
    let (page, page_no, per_page) = page_of(q.page, q.per_page)?;
    let filter = AuditFilter {
        action: q.action.filter(|a| !a.is_empty()),
        actor_id: q.actor_id.filter(|a| !a.is_empty()),
        target_id: q.target_id.filter(|a| !a.is_empty()),
        since: parse_time("since", q.since.as_deref())?,
        until: parse_time("until", q.until.as_deref())?,
    };
    let (entries, total) = s.service.audit_log(&who, &filter, page).await?;
    Ok(Json(AuditPage {
        items: entries
            .into_iter()
            .map(|entry| AuditEntryResponse {
                time: rfc3339(entry.at),
                entry,
            })
            .collect(),
        total,
        page: page_no,
        per_page,
    }))
}

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/auth/.well-known/jwks.json", get(jwks))
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/login/mfa", post(login_mfa))
        .route("/v1/auth/refresh", post(refresh))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/logout-all", post(logout_all))
        .route(
            "/v1/auth/request-email-verification",
            post(request_email_verification),
        )
        .route("/v1/auth/verify-email", post(verify_email))
        .route(
            "/v1/auth/request-password-reset",
            post(request_password_reset),
        )
        .route("/v1/auth/reset-password", post(reset_password))
        .route("/v1/auth/change-password", post(change_password))
        .route("/v1/mfa/enable-mfa-request", post(mfa_enable_request))
        .route("/v1/mfa/verify-mfa-enable", post(mfa_verify_enable))
        .route("/v1/mfa/disable", post(mfa_disable))
        .route("/v1/users/me", get(get_me).put(put_me))
        .route("/v1/users", get(list_users))
        .route(
            "/v1/users/{id}",
            get(get_user).put(put_user).delete(delete_user),
        )
        .route("/v1/audit-logs", get(audit_logs))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        jwks, register, login, login_mfa, refresh, logout, logout_all,
        request_email_verification, verify_email, request_password_reset, reset_password,
        change_password, mfa_enable_request, mfa_verify_enable, mfa_disable, get_me, put_me,
        list_users, get_user, put_user, delete_user, audit_logs
    ),
    components(schemas(
        RegisterRequest, AcceptedResponse, LoginRequest, TokenResponse, MfaChallengeResponse,
        MfaLoginRequest, RefreshRequest, EmailRequest, TokenRequest, ResetPasswordRequest,
        ChangePasswordRequest, ChangePasswordResponse, MfaSetupResponse, CodeRequest,
        BackupCodesResponse, MfaDisableRequest, UserResponse, UpdateMeRequest,
        AdminUpdateRequest, UserPage, AuditEntryResponse, AuditPage, AuditEntry, Role,
        dzinza_kit::problem::ProblemBody, dzinza_kit::problem::FieldError
    )),
    tags(
        (name = "auth", description = "Registration, sessions, email flows"),
        (name = "mfa", description = "TOTP multi-factor authentication"),
        (name = "users", description = "Profiles and user administration"),
        (name = "audit", description = "Security audit log"),
    )
)]
struct ApiDoc;

/// The service's OpenAPI document, with paths as the gateway exposes them.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
