//! Test harness: the auth router over SQLite in a temp dir, a manual clock, light Argon2
//! parameters and a mailbox that records every message.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use dzinza_auth::clock::ManualClock;
use dzinza_auth::http::AppState;
use dzinza_auth::keys::{KeyRing, generate_pem};
use dzinza_auth::mail::{Mail, MailError, Mailer};
use dzinza_auth::password::Passwords;
use dzinza_auth::sealing::{Sealer, generate_key};
use dzinza_auth::service::{AuthConfig, AuthService};
use dzinza_auth::store::sqlite::SqliteStore;
use dzinza_kit::identity::Authenticator;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery staple";

/// Records mail instead of sending it.
#[derive(Debug, Default)]
pub struct Outbox(pub Mutex<Vec<Mail>>);

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        self.0.lock().unwrap().push(mail);
        Ok(())
    }
}

pub struct TestApp {
    pub router: Router,
    pub clock: ManualClock,
    pub outbox: Arc<Outbox>,
    pub service: Arc<AuthService>,
    pub store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(AuthConfig::default()).await
    }

    pub async fn with_config(config: AuthConfig) -> Self {
        Self::with_params(config, argon2::Params::new(1024, 1, 1, None).unwrap()).await
    }

    pub async fn with_params(config: AuthConfig, params: argon2::Params) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("auth.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Self::assemble(Arc::new(store), config, params, dir)
    }

    /// The app over a fresh database with `mailer` instead of the recording outbox.
    pub async fn with_mailer(config: AuthConfig, mailer: Arc<dyn Mailer>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("auth.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Self::assemble_with(
            Arc::new(store),
            config,
            argon2::Params::new(1024, 1, 1, None).unwrap(),
            dir,
            Some(mailer),
        )
    }

    pub fn assemble(
        store: Arc<SqliteStore>,
        config: AuthConfig,
        params: argon2::Params,
        dir: tempfile::TempDir,
    ) -> Self {
        Self::assemble_with(store, config, params, dir, None)
    }

    pub fn assemble_with(
        store: Arc<SqliteStore>,
        config: AuthConfig,
        params: argon2::Params,
        dir: tempfile::TempDir,
        mailer: Option<Arc<dyn Mailer>>,
    ) -> Self {
        // Access tokens are checked by jsonwebtoken against the real time, so the manual clock
        // starts at the real time and only ever moves forward.
        let clock = ManualClock::new(jiff::Timestamp::now().as_second());
        let keys = Arc::new(KeyRing::from_pems(&generate_pem().unwrap(), &[]).unwrap());
        let validator = keys
            .validator("dzinza", "dzinza", Duration::from_secs(30))
            .unwrap();
        let outbox = Arc::new(Outbox::default());
        let sealer = Arc::new(Sealer::from_encoded(&generate_key()).unwrap());
        let config = AuthConfig {
            public_url: "http://dzinza.test".into(),
            ..config
        };
        let service = Arc::new(AuthService::new(
            store.clone(),
            Arc::new(clock.clone()),
            keys,
            Passwords::new(params).unwrap(),
            mailer.unwrap_or_else(|| outbox.clone()),
            sealer,
            config,
        ));
        let router = dzinza_auth::router(AppState {
            service: service.clone(),
            authenticator: Authenticator(Arc::new(validator)),
        });
        Self {
            router,
            clock,
            outbox,
            service,
            store,
            _dir: dir,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("x-forwarded-for", "203.0.113.7");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body), &[]).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None, &[]).await
    }

    /// Waits for the `n`th mail (mail is sent in the background) and returns it.
    pub async fn mail(&self, n: usize) -> Mail {
        for _ in 0..400 {
            if let Some(m) = self.outbox.0.lock().unwrap().get(n).cloned() {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("mail #{n} never arrived");
    }

    pub fn mails(&self) -> usize {
        self.outbox.0.lock().unwrap().len()
    }

    /// The `token=` value of a link in a mail.
    pub fn token_in(mail: &Mail) -> String {
        let link = mail.link.clone().expect("mail has a link");
        link.split("token=").nth(1).unwrap().to_owned()
    }

    /// Registers and verifies a user; returns their id.
    pub async fn user(&self, email: &str, username: &str) -> String {
        let before = self.mails();
        let r = self
            .post(
                "/v1/auth/register",
                None,
                json!({"email": email, "username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        let mail = self.mail(before).await;
        let r = self
            .post(
                "/v1/auth/verify-email",
                None,
                json!({"token": Self::token_in(&mail)}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        self.store_user_id(email).await
    }

    pub async fn store_user_id(&self, email: &str) -> String {
        use dzinza_auth::store::AuthStore as _;
        self.store.user_by_email(email).await.unwrap().unwrap().id
    }

    /// Logs in (no MFA) and returns (access, refresh).
    pub async fn login(&self, login: &str, password: &str) -> (String, String) {
        let r = self
            .post(
                "/v1/auth/login",
                None,
                json!({"email": login, "password": password}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        (
            r.body["access_token"].as_str().unwrap().to_owned(),
            r.body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Makes an existing user an administrator directly in storage.
    pub async fn make_admin(&self, id: &str) {
        use dzinza_auth::store::AuthStore as _;
        let mut u = self.store.user_by_id(id).await.unwrap().unwrap();
        u.role = dzinza_auth::model::Role::Admin;
        self.store.update_user(&u).await.unwrap();
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        use dzinza_auth::store::AuthStore as _;
        let (entries, _) = self
            .store
            .list_audit(
                &dzinza_auth::model::AuditFilter::default(),
                dzinza_auth::model::Page {
                    limit: 1000,
                    offset: 0,
                },
            )
            .await
            .unwrap();
        entries.into_iter().map(|e| e.action).collect()
    }
}
