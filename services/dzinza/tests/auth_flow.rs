//! End to end through the gateway on the real `dzinza serve` (embedded): register, verify the
//! email from the written `.eml`, log in, MFA, refresh-token rotation and theft detection,
//! password change, and the bootstrap admin from `dzinza admin create-user`.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

struct Server {
    child: Child,
    base: String,
    client: dzinza_kit::http_client::HttpClient,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = self.client.request(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(data_dir: &Path) -> Server {
    start_with(data_dir, &[]).await
}

async fn start_with(data_dir: &Path, env: &[(&str, &Path)]) -> Server {
    let port = free_port();
    // The flow makes more credential calls than the default per-address burst allows; the
    // gateway's own tests cover rate limiting.
    let gateway_config = data_dir.join("gateway.yaml");
    std::fs::write(
        &gateway_config,
        "rate_limits:\n  anonymous: {per_minute: 6000, burst: 1000}\n  \
         authenticated: {per_minute: 6000, burst: 1000}\n  \
         credentials: {per_minute: 6000, burst: 1000}\n",
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dzinza"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .env("DZINZA_GATEWAY_CONFIG", &gateway_config)
        .env("DZINZA_LOG_FORMAT", "json")
        .env("DZINZA_LOG_LEVEL", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        client: dzinza_kit::http_client::build(Duration::from_secs(2)),
    };
    for _ in 0..600 {
        let req = Request::get(format!("{}/readyz", server.base))
            .body(Body::empty())
            .unwrap();
        if let Ok(resp) = server.client.request(req).await
            && resp.status() == StatusCode::OK
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("dzinza serve did not become ready");
}

/// The `token=` value of the link in the newest `.eml` sent to `to`.
async fn mailed_token(data_dir: &Path, to: &str, seen: usize) -> String {
    for _ in 0..200 {
        let mut mails: Vec<String> = std::fs::read_dir(data_dir.join("mail"))
            .map(|d| {
                d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        mails.retain(|m| m.contains(&format!("To: {to}\r\n")));
        mails.sort_by_key(|m| m.find("Message-ID").map(|i| m[i..].to_owned()));
        if mails.len() > seen {
            let text = mails.iter().find_map(|m| {
                let at = m.find("token=")?;
                Some(m[at + 6..].split_whitespace().next()?.to_owned())
            });
            if let Some(t) = text {
                return t;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail for {to}");
}

/// The `token=` value of the link in the message delivered to `to` in the SMTP test server's
/// Maildir.
async fn delivered_token(maildir: &Path, to: &str) -> String {
    for _ in 0..200 {
        let found = std::fs::read_dir(maildir.join("new"))
            .map(|d| {
                d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .find(|m| m.contains(to))
            })
            .unwrap_or_default();
        if let Some(m) = found {
            assert!(
                m.contains("Subject: Confirm your email address for Dzinza"),
                "{m}"
            );
            let at = m.find("token=").unwrap_or_else(|| panic!("no link in {m}"));
            return m[at + 6..].split_whitespace().next().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail for {to} in {}", maildir.display());
}

#[tokio::test]
async fn verification_mail_goes_through_smtp_and_its_link_works() {
    let Some(url) = dzinza_kit::testing::backend_url("smtp", "DZINZA_TEST_SMTP_URL") else {
        return;
    };
    let maildir = std::env::var("DZINZA_TEST_SMTP_MAILDIR")
        .expect("DZINZA_TEST_SMTP_MAILDIR names the SMTP test server's Maildir");
    let data = tempfile::tempdir().unwrap();
    // Through the `_FILE` twin, as a cluster secret would pass it.
    let url_file = data.path().join("smtp-url");
    std::fs::write(&url_file, format!("{url}\n")).unwrap();
    let s = start_with(data.path(), &[("DZINZA_SMTP_URL_FILE", &url_file)]).await;

    let email = format!("smtp-{}@example.org", uuid::Uuid::new_v4().simple());
    let (status, _) = s
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "username": "smtp-ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = delivered_token(Path::new(&maildir), &email).await;
    let (status, _) = s
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the link is single use");
    let (status, login) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let (_, me) = s
        .call(
            Method::GET,
            "/api/v1/users/me",
            Some(login["access_token"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(me["email_verified"], true);
    // With a relay configured nothing is written as .eml.
    assert!(!data.path().join("mail").exists());
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[tokio::test]
async fn the_whole_auth_flow_through_the_gateway() {
    let data = tempfile::tempdir().unwrap();
    // Bootstrap an administrator before the platform starts.
    let pw_file = data.path().join("admin-password");
    std::fs::write(&pw_file, "an admin passphrase here\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dzinza"))
        .args([
            "admin",
            "create-user",
            "--email",
            "root@example.org",
            "--role",
            "ADMIN",
            "--password-file",
        ])
        .arg(&pw_file)
        .arg("--data-dir")
        .arg(data.path())
        .env("DZINZA_LOG_LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created ADMIN root@example.org"));

    let s = start(data.path()).await;

    // JWKS through the gateway.
    let (status, jwks) = s
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    let (status, _) = s
        .call(
            Method::GET,
            "/api/v1/auth/.well-known/jwks.json",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Register, then verify with the link from the written .eml file.
    let (status, _) = s
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "ann@example.org", "username": "ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = mailed_token(data.path(), "ann@example.org", 0).await;
    let (status, _) = s
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Log in and read the profile.
    let (status, login) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ann@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let access = login["access_token"].as_str().unwrap().to_owned();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let (status, me) = s
        .call(Method::GET, "/api/v1/users/me", Some(&access), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (me["username"].as_str(), me["email_verified"].as_bool()),
        (Some("ann"), Some(true))
    );

    // A USER is refused admin routes by the gateway.
    let (status, _) = s
        .call(Method::GET, "/api/v1/users", Some(&access), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Turn on MFA.
    let (status, setup) = s
        .post("/api/v1/mfa/enable-mfa-request", Some(&access), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let t0 = now();
    let code = dzinza_auth::mfa::code_at(&secret, t0).unwrap();
    let (status, codes) = s
        .post(
            "/api/v1/mfa/verify-mfa-enable",
            Some(&access),
            json!({"code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    let backup: Vec<String> = codes["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();

    // Log out; logging in now needs a TOTP code.
    let (status, _) = s
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, challenge) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"username": "ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(challenge["mfa_required"], true);
    let mfa_token = challenge["mfa_token"].as_str().unwrap().to_owned();
    // The enabling code is spent; the next step's code is accepted (one step of drift).
    let (status, _) = s
        .post(
            "/api/v1/auth/login/mfa",
            None,
            json!({"mfa_token": mfa_token, "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let next = dzinza_auth::mfa::code_at(&secret, t0 + 30).unwrap();
    let (status, session) = s
        .post(
            "/api/v1/auth/login/mfa",
            None,
            json!({"mfa_token": mfa_token, "code": next}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let r1 = session["refresh_token"].as_str().unwrap().to_owned();

    // Refresh rotates; re-using the old token revokes the family.
    let (status, rotated) = s
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r1}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let r2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = s
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": r2}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the family of a reused token is revoked"
    );

    // Two more sessions (backup codes as second factor); a password change ends the other one.
    let mut sessions = Vec::new();
    for code in &backup[..2] {
        let (_, c) = s
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "ann@example.org", "password": PASSWORD}),
            )
            .await;
        let (status, sess) = s
            .post(
                "/api/v1/auth/login/mfa",
                None,
                json!({"mfa_token": c["mfa_token"], "code": code}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        sessions.push(sess);
    }
    let (status, changed) = s
        .post(
            "/api/v1/auth/change-password",
            sessions[0]["access_token"].as_str(),
            json!({"current_password": PASSWORD, "new_password": "an entirely new passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (status, _) = s
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": sessions[1]["refresh_token"]}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "other sessions are revoked"
    );
    let (status, _) = s
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": sessions[0]["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the changing session survives");

    // The bootstrap admin can use the admin routes and sees the audit trail.
    let (status, admin) = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "root@example.org", "password": "an admin passphrase here"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{admin}");
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    let (status, users) = s
        .call(Method::GET, "/api/v1/users?email=ann", Some(&admin), None)
        .await;
    assert_eq!((status, users["total"].as_u64()), (StatusCode::OK, Some(1)));
    let (status, audit) = s
        .call(
            Method::GET,
            "/api/v1/audit-logs?action=refresh_token_reuse",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((status, audit["total"].as_u64()), (StatusCode::OK, Some(1)));

    // A token signed by another key is refused by the gateway.
    let pem = dzinza_auth::keys::generate_pem().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = jwks["keys"][0]["kid"].as_str().map(str::to_owned);
    let n = u64::try_from(now()).unwrap();
    let forged = jsonwebtoken::encode(
        &header,
        &json!({"sub": me["id"], "roles": ["ADMIN"], "iss": "dzinza", "aud": "dzinza", "iat": n, "exp": n + 600}),
        &jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let (status, _) = s
        .call(Method::GET, "/api/v1/users", Some(&forged), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
