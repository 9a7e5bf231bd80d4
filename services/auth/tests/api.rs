//! Every endpoint's success and failure paths, through the router, on SQLite with a manual clock.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

mod support;

use std::time::Duration;

use dzinza_auth::mfa;
use dzinza_auth::service::AuthConfig;
use http::{Method, StatusCode};
use serde_json::json;
use support::{PASSWORD, TestApp};

#[tokio::test]
async fn register_validates_every_field_with_422_naming_it() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "not-an-email", "username": "a", "password": "short"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "username", "password"]);
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "a@example.org", "username": "ann", "password": "qwerty123456"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["errors"][0]["field"], "password");
    let r = app
        .post("/v1/auth/register", None, json!({"email": "a@example.org", "username": "ann.example.long", "password": "ANN.example.long"}))
        .await;
    assert_eq!(r.body["errors"][0]["field"], "password");
    let r = app
        .post("/v1/auth/register", None, json!({"email": "a@example.org"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body["detail"].as_str().unwrap().contains("username"));
    assert_eq!(app.mails(), 0);
}

#[tokio::test]
async fn registration_does_not_reveal_known_emails() {
    let app = TestApp::new().await;
    let body = |email: &str, username: &str| json!({"email": email, "username": username, "password": PASSWORD});
    let first = app
        .post("/v1/auth/register", None, body("ann@example.org", "ann"))
        .await;
    let again = app
        .post("/v1/auth/register", None, body("ANN@example.org", "ann2"))
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!((first.status, &first.body), (again.status, &again.body));
    // The owner is told instead.
    assert!(app.mail(1).await.subject.contains("tried to register"));
    // Usernames are public handles, so a taken one is reported.
    let taken = app
        .post("/v1/auth/register", None, body("bob@example.org", "ANN"))
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(taken.body["errors"][0]["field"], "username");
}

#[tokio::test]
async fn verification_tokens_are_single_use_and_expire() {
    let app = TestApp::new().await;
    app.post(
        "/v1/auth/register",
        None,
        json!({"email": "ann@example.org", "username": "ann", "password": PASSWORD}),
    )
    .await;
    let token = TestApp::token_in(&app.mail(0).await);
    assert!(
        app.mail(0)
            .await
            .link
            .unwrap()
            .starts_with("http://dzinza.test/verify-email?token=")
    );
    let ok = app
        .post("/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    let again = app
        .post("/v1/auth/verify-email", None, json!({"token": token}))
        .await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_token"))
    );

    app.post(
        "/v1/auth/register",
        None,
        json!({"email": "bob@example.org", "username": "bob", "password": PASSWORD}),
    )
    .await;
    let bob_token = TestApp::token_in(&app.mail(1).await);
    app.clock.advance(24 * 3600);
    let late = app
        .post("/v1/auth/verify-email", None, json!({"token": bob_token}))
        .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    // A fresh link can be requested; unknown and verified addresses get the same answer.
    let known = app
        .post(
            "/v1/auth/request-email-verification",
            None,
            json!({"email": "bob@example.org"}),
        )
        .await;
    let unknown = app
        .post(
            "/v1/auth/request-email-verification",
            None,
            json!({"email": "nobody@example.org"}),
        )
        .await;
    let verified = app
        .post(
            "/v1/auth/request-email-verification",
            None,
            json!({"email": "ann@example.org"}),
        )
        .await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!(
        (&known.status, &known.body),
        (&unknown.status, &unknown.body)
    );
    assert_eq!(
        (&known.status, &known.body),
        (&verified.status, &verified.body)
    );
    let fresh = TestApp::token_in(&app.mail(2).await);
    assert_eq!(
        app.post("/v1/auth/verify-email", None, json!({"token": fresh}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(app.mails(), 3, "no mail for unknown or verified addresses");
    let me = app.login("bob@example.org", PASSWORD).await.0;
    assert_eq!(
        app.get("/v1/users/me", &me).await.body["email_verified"],
        true
    );
}

#[tokio::test]
async fn login_by_email_or_username_and_no_enumeration() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let (access, refresh) = app.login("ANN@example.org", PASSWORD).await;
    assert!(!access.is_empty() && !refresh.is_empty());
    let r = app
        .post(
            "/v1/auth/login",
            None,
            json!({"username": "Ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    let wrong = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "ann@example.org", "password": "wrong password!"}),
        )
        .await;
    let unknown = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "nobody@example.org", "password": "wrong password!"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!((wrong.status, &wrong.body), (unknown.status, &unknown.body));
    let neither = app
        .post("/v1/auth/login", None, json!({"password": PASSWORD}))
        .await;
    assert_eq!(neither.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(neither.body["errors"][0]["field"], "email");
    let me = app.get("/v1/users/me", &access).await;
    assert_eq!(me.body["username"], "ann");
    assert_eq!(
        app.get("/v1/users/me", "garbage").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn lockout_after_five_failures_hides_the_password_and_expires() {
    let app = TestApp::new().await;
    let id = app.user("ann@example.org", "ann").await;
    let attempt = |pw: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/v1/auth/login",
                None,
                json!({"email": "ann@example.org", "password": pw}),
            )
            .await
        }
    };
    for _ in 0..4 {
        assert_eq!(
            attempt("wrong password!").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let fifth = attempt("wrong password!").await;
    assert_eq!(fifth.status, StatusCode::LOCKED);
    assert_eq!(fifth.headers["retry-after"], "900");
    // While locked, right and wrong passwords get the same answer.
    let right = attempt(PASSWORD).await;
    let wrong = attempt("wrong password!").await;
    assert_eq!(right.status, StatusCode::LOCKED);
    assert_eq!(
        (right.status, &right.body["code"]),
        (wrong.status, &wrong.body["code"])
    );
    app.clock.advance(899);
    assert_eq!(attempt(PASSWORD).await.status, StatusCode::LOCKED);
    app.clock.advance(1);
    assert_eq!(attempt(PASSWORD).await.status, StatusCode::OK);
    let actions = app.audit_actions().await;
    assert!(actions.iter().any(|a| a == "account_locked"));
    assert!(actions.iter().filter(|a| *a == "login_failed").count() >= 7);

    // Lock again without a success in between: the lock doubles.
    for _ in 0..5 {
        attempt("wrong password!").await;
    }
    app.clock.advance(900);
    for _ in 0..5 {
        attempt("wrong password!").await;
    }
    let doubled = attempt(PASSWORD).await;
    assert_eq!(doubled.status, StatusCode::LOCKED);
    assert_eq!(doubled.headers["retry-after"], "1800");
    let _ = id;
}

#[tokio::test]
async fn per_address_throttling() {
    let app = TestApp::with_config(AuthConfig {
        ip_max_failures: 3,
        ..AuthConfig::default()
    })
    .await;
    app.user("ann@example.org", "ann").await;
    for n in 0..3 {
        let r = app
            .post(
                "/v1/auth/login",
                None,
                json!({"email": format!("x{n}@example.org"), "password": "nope nope nope"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "ann@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key("retry-after"));
    app.clock.advance(15 * 60);
    app.login("ann@example.org", PASSWORD).await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let (_, r0) = app.login("ann@example.org", PASSWORD).await;
    let (_, other) = app.login("ann@example.org", PASSWORD).await;
    let one = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": r0}))
        .await;
    assert_eq!(one.status, StatusCode::OK);
    let r1 = one.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r0);
    assert!(one.body["access_token"].is_string());
    // Replaying the rotated token is theft: the whole family dies, including r1.
    let replay = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": r0}))
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    let after = app
        .post("/v1/auth/refresh", None, json!({"refresh_token": r1}))
        .await;
    assert_eq!(after.status, StatusCode::BAD_REQUEST);
    // Other sessions are untouched.
    assert_eq!(
        app.post("/v1/auth/refresh", None, json!({"refresh_token": other}))
            .await
            .status,
        StatusCode::OK
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "refresh_token_reuse")
    );
    assert_eq!(
        app.post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": "made-up"})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.post("/v1/auth/refresh", None, json!({})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn refresh_tokens_expire() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let (_, r0) = app.login("ann@example.org", PASSWORD).await;
    app.clock.advance(30 * 24 * 3600);
    assert_eq!(
        app.post("/v1/auth/refresh", None, json!({"refresh_token": r0}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn logout_and_logout_all() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let (_, a) = app.login("ann@example.org", PASSWORD).await;
    let (access_b, b) = app.login("ann@example.org", PASSWORD).await;
    let (_, c) = app.login("ann@example.org", PASSWORD).await;
    let out = app
        .post("/v1/auth/logout", None, json!({"refresh_token": a}))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.post("/v1/auth/refresh", None, json!({"refresh_token": a}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // Logging out twice, or with an unknown token, is harmless.
    assert_eq!(
        app.post("/v1/auth/logout", None, json!({"refresh_token": a}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.post("/v1/auth/refresh", None, json!({"refresh_token": b}))
            .await
            .status,
        StatusCode::OK
    );
    let all = app
        .call(
            Method::POST,
            "/v1/auth/logout-all",
            Some(&access_b),
            None,
            &[],
        )
        .await;
    assert_eq!(all.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.post("/v1/auth/refresh", None, json!({"refresh_token": c}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.call(Method::POST, "/v1/auth/logout-all", None, None, &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let actions = app.audit_actions().await;
    assert!(actions.iter().any(|a| a == "logout") && actions.iter().any(|a| a == "logout_all"));
}

#[tokio::test]
async fn change_password_keeps_this_session_and_revokes_the_others() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let (access, mine) = app.login("ann@example.org", PASSWORD).await;
    let (_, other) = app.login("ann@example.org", PASSWORD).await;
    let wrong = app
        .post(
            "/v1/auth/change-password",
            Some(&access),
            json!({"current_password": "nope", "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.body["errors"][0]["field"], "current_password");
    let weak = app
        .post(
            "/v1/auth/change-password",
            Some(&access),
            json!({"current_password": PASSWORD, "new_password": "password"}),
        )
        .await;
    assert_eq!(weak.body["errors"][0]["field"], "new_password");
    let ok = app
        .post(
            "/v1/auth/change-password",
            Some(&access),
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["sessions_revoked"], 1);
    assert_eq!(
        app.post("/v1/auth/refresh", None, json!({"refresh_token": other}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.post("/v1/auth/refresh", None, json!({"refresh_token": mine}))
            .await
            .status,
        StatusCode::OK
    );
    let old = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "ann@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    app.login("ann@example.org", "a brand new passphrase").await;
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "password_changed")
    );
}

#[tokio::test]
async fn password_reset_is_single_use_expires_and_ends_sessions() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let (_, session) = app.login("ann@example.org", PASSWORD).await;
    let known = app
        .post(
            "/v1/auth/request-password-reset",
            None,
            json!({"email": "ann@example.org"}),
        )
        .await;
    let unknown = app
        .post(
            "/v1/auth/request-password-reset",
            None,
            json!({"email": "nobody@example.org"}),
        )
        .await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    let mail = app.mail(1).await;
    assert!(
        mail.link
            .as_deref()
            .unwrap()
            .starts_with("http://dzinza.test/reset-password?token=")
    );
    let token = TestApp::token_in(&mail);
    // A refused password does not use the link up.
    let weak = app
        .post(
            "/v1/auth/reset-password",
            None,
            json!({"token": token, "new_password": "123qweasdzxc"}),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.body["errors"][0]["field"], "new_password");
    let ok = app
        .post(
            "/v1/auth/reset-password",
            None,
            json!({"token": token, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    let again = app
        .post(
            "/v1/auth/reset-password",
            None,
            json!({"token": token, "new_password": "another new passphrase"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.post("/v1/auth/refresh", None, json!({"refresh_token": session}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    app.login("ann@example.org", "a brand new passphrase").await;

    app.post(
        "/v1/auth/request-password-reset",
        None,
        json!({"email": "ann@example.org"}),
    )
    .await;
    let late = TestApp::token_in(&app.mail(2).await);
    app.clock.advance(3600);
    let expired = app
        .post(
            "/v1/auth/reset-password",
            None,
            json!({"token": late, "new_password": "yet another passphrase"}),
        )
        .await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
    let actions = app.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "password_reset")
            && actions.iter().any(|a| a == "password_reset_requested")
    );
}

async fn enable_mfa(app: &TestApp, access: &str) -> (String, Vec<String>) {
    let setup = app
        .call(
            Method::POST,
            "/v1/mfa/enable-mfa-request",
            Some(access),
            None,
            &[],
        )
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{:?}", setup.body);
    let secret = setup.body["secret"].as_str().unwrap().to_owned();
    assert!(
        setup.body["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(setup.body["qr_code_svg"].as_str().unwrap().contains("<svg"));
    let bad = app
        .post(
            "/v1/mfa/verify-mfa-enable",
            Some(access),
            json!({"code": "000000"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let code = mfa::code_at(&secret, app.clock.now_secs()).unwrap();
    let ok = app
        .post(
            "/v1/mfa/verify-mfa-enable",
            Some(access),
            json!({"code": code}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let codes: Vec<String> = ok.body["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

trait Now {
    fn now_secs(&self) -> i64;
}
impl Now for dzinza_auth::clock::ManualClock {
    fn now_secs(&self) -> i64 {
        use dzinza_auth::clock::Clock as _;
        self.now()
    }
}

async fn challenge(app: &TestApp) -> String {
    let r = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "ann@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["mfa_required"], true);
    assert!(r.body.get("access_token").is_none());
    r.body["mfa_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn mfa_login_refuses_replayed_codes_and_backup_codes_work_once() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let (access, _) = app.login("ann@example.org", PASSWORD).await;
    let (secret, backup) = enable_mfa(&app, &access).await;
    let again = app
        .call(
            Method::POST,
            "/v1/mfa/enable-mfa-request",
            Some(&access),
            None,
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // The code used to turn MFA on cannot be replayed to log in within its window.
    let token = challenge(&app).await;
    let used = mfa::code_at(&secret, app.clock.now_secs()).unwrap();
    let replay = app
        .post(
            "/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": used}),
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    app.clock.advance(30);
    let fresh = mfa::code_at(&secret, app.clock.now_secs()).unwrap();
    let ok = app
        .post(
            "/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": fresh}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert!(ok.body["access_token"].is_string());
    // The challenge token is single use.
    let reuse = app
        .post(
            "/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": fresh}),
        )
        .await;
    assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
    // The same TOTP code with a new challenge is a replay.
    let token = challenge(&app).await;
    let replay = app
        .post(
            "/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": fresh}),
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    // A backup code works once.
    let ok = app
        .post(
            "/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": backup[0].to_uppercase()}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let token = challenge(&app).await;
    let twice = app
        .post(
            "/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": backup[0]}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::UNAUTHORIZED);
    // Challenges expire.
    app.clock.advance(301);
    let code = mfa::code_at(&secret, app.clock.now_secs()).unwrap();
    let late = app
        .post(
            "/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": code}),
        )
        .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.service
            .backup_codes_left(&app.store_user_id("ann@example.org").await)
            .await
            .unwrap(),
        9
    );
}

#[tokio::test]
async fn mfa_disable_needs_password_and_code() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let (access, _) = app.login("ann@example.org", PASSWORD).await;
    let (secret, _) = enable_mfa(&app, &access).await;
    app.clock.advance(30);
    let code = mfa::code_at(&secret, app.clock.now_secs()).unwrap();
    let bad_pw = app
        .post(
            "/v1/mfa/disable",
            Some(&access),
            json!({"password": "wrong password!", "code": code}),
        )
        .await;
    assert_eq!(bad_pw.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_code = app
        .post(
            "/v1/mfa/disable",
            Some(&access),
            json!({"password": PASSWORD, "code": "123456"}),
        )
        .await;
    assert_eq!(bad_code.status, StatusCode::UNAUTHORIZED);
    let ok = app
        .post(
            "/v1/mfa/disable",
            Some(&access),
            json!({"password": PASSWORD, "code": code}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    let r = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "ann@example.org", "password": PASSWORD}),
        )
        .await;
    assert!(r.body["access_token"].is_string());
    let off = app
        .post(
            "/v1/mfa/disable",
            Some(&access),
            json!({"password": PASSWORD, "code": code}),
        )
        .await;
    assert_eq!(off.status, StatusCode::CONFLICT);
    let actions = app.audit_actions().await;
    for a in [
        "mfa_enable_requested",
        "mfa_enabled",
        "mfa_disabled",
        "mfa_disable_failed",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} missing");
    }
}

#[tokio::test]
async fn profile_read_and_update() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    app.user("bob@example.org", "bob").await;
    let (access, _) = app.login("ann@example.org", PASSWORD).await;
    let r = app
        .call(Method::PUT, "/v1/users/me", Some(&access), Some(json!({"display_name": "Ann A.", "first_name": "Ann", "preferences": {"theme": "dark"}})), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (
            r.body["display_name"].as_str(),
            r.body["preferences"]["theme"].as_str()
        ),
        (Some("Ann A."), Some("dark"))
    );
    let taken = app
        .call(
            Method::PUT,
            "/v1/users/me",
            Some(&access),
            Some(json!({"username": "BOB"})),
            &[],
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(taken.body["errors"][0]["field"], "username");
    let bad = app
        .call(
            Method::PUT,
            "/v1/users/me",
            Some(&access),
            Some(json!({"preferences": [1], "username": "x"})),
            &[],
        )
        .await;
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["username", "preferences"]);
    let unknown = app
        .call(
            Method::PUT,
            "/v1/users/me",
            Some(&access),
            Some(json!({"role": "ADMIN"})),
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/v1/users/me", &access).await.body["role"], "USER");
}

#[tokio::test]
async fn admin_endpoints_forbid_users_and_protect_the_last_admin() {
    let app = TestApp::new().await;
    let admin_id = app.user("root@example.org", "root").await;
    let ann_id = app.user("ann@example.org", "ann").await;
    app.make_admin(&admin_id).await;
    let (admin, _) = app.login("root@example.org", PASSWORD).await;
    let (user, _) = app.login("ann@example.org", PASSWORD).await;
    for path in [
        "/v1/users",
        &format!("/v1/users/{admin_id}"),
        "/v1/audit-logs",
    ] {
        assert_eq!(
            app.get(path, &user).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let put = app
        .call(
            Method::PUT,
            &format!("/v1/users/{ann_id}"),
            Some(&user),
            Some(json!({"role": "ADMIN"})),
            &[],
        )
        .await;
    assert_eq!(put.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/v1/users/{admin_id}"),
            Some(&user),
            None,
            &[]
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );

    let list = app.get("/v1/users?per_page=1&page=2", &admin).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        (
            list.body["total"].as_u64(),
            list.body["items"].as_array().unwrap().len()
        ),
        (Some(2), 1)
    );
    assert_eq!(
        app.get("/v1/users?role=ADMIN", &admin).await.body["items"][0]["id"],
        admin_id.as_str()
    );
    assert_eq!(
        app.get("/v1/users?email=ANN", &admin).await.body["total"],
        1
    );
    assert_eq!(
        app.get("/v1/users?per_page=500", &admin).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.get(&format!("/v1/users/{ann_id}"), &admin).await.body["email"],
        "ann@example.org"
    );
    assert_eq!(
        app.get("/v1/users/nope", &admin).await.status,
        StatusCode::NOT_FOUND
    );

    // The only admin can neither demote, disable nor delete themself.
    let demote = app
        .call(
            Method::PUT,
            &format!("/v1/users/{admin_id}"),
            Some(&admin),
            Some(json!({"role": "USER"})),
            &[],
        )
        .await;
    assert_eq!(
        (demote.status, demote.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("last_admin"))
    );
    let disable = app
        .call(
            Method::PUT,
            &format!("/v1/users/{admin_id}"),
            Some(&admin),
            Some(json!({"is_active": false})),
            &[],
        )
        .await;
    assert_eq!(disable.status, StatusCode::CONFLICT);
    let delete = app
        .call(
            Method::DELETE,
            &format!("/v1/users/{admin_id}"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(delete.status, StatusCode::CONFLICT);
    // With a second admin, demotion works.
    let promote = app
        .call(
            Method::PUT,
            &format!("/v1/users/{ann_id}"),
            Some(&admin),
            Some(json!({"role": "ADMIN"})),
            &[],
        )
        .await;
    assert_eq!(promote.status, StatusCode::OK);
    let demote = app
        .call(
            Method::PUT,
            &format!("/v1/users/{admin_id}"),
            Some(&admin),
            Some(json!({"role": "USER"})),
            &[],
        )
        .await;
    assert_eq!(demote.status, StatusCode::OK);
    // The demoted admin's token still says ADMIN, but storage decides.
    assert_eq!(
        app.get("/v1/users", &admin).await.status,
        StatusCode::FORBIDDEN
    );
    let (ann_admin, _) = app.login("ann@example.org", PASSWORD).await;
    let gone = app
        .call(
            Method::DELETE,
            &format!("/v1/users/{admin_id}"),
            Some(&ann_admin),
            None,
            &[],
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/v1/users/{admin_id}"), &ann_admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let audit = app
        .get("/v1/audit-logs?action=role_changed", &ann_admin)
        .await;
    assert_eq!(audit.body["total"], 2);
    assert_eq!(audit.body["items"][0]["detail"]["to"], "USER");
    assert!(
        audit.body["items"][0]["time"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let deleted = app
        .get(
            &format!("/v1/audit-logs?target_id={admin_id}&action=admin_user_deleted"),
            &ann_admin,
        )
        .await;
    assert_eq!(deleted.body["items"][0]["actor_id"], ann_id.as_str());
    assert_eq!(deleted.body["items"][0]["ip"], "203.0.113.7");
    assert_eq!(
        app.get("/v1/audit-logs?since=yesterday", &ann_admin)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn disabled_accounts_cannot_log_in_or_refresh() {
    let app = TestApp::new().await;
    let admin_id = app.user("root@example.org", "root").await;
    let ann_id = app.user("ann@example.org", "ann").await;
    app.make_admin(&admin_id).await;
    let (admin, _) = app.login("root@example.org", PASSWORD).await;
    let (_, ann_refresh) = app.login("ann@example.org", PASSWORD).await;
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/users/{ann_id}"),
            Some(&admin),
            Some(json!({"is_active": false})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.post(
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": ann_refresh})
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let login = app
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "ann@example.org", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cookie_clients_get_httponly_cookies_and_need_csrf() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let r = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "ann@example.org", "password": PASSWORD})),
            &[("x-dzinza-auth-mode", "cookie")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.get("access_token").is_none() && r.body.get("refresh_token").is_none());
    let csrf = r.body["csrf_token"].as_str().unwrap().to_owned();
    let cookies: Vec<String> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cookies.len(), 3);
    for c in &cookies[..2] {
        assert!(
            c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Strict"),
            "{c}"
        );
    }
    let value = |name: &str| {
        cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let jar = format!(
        "{}; {}; {}",
        value("dzinza_access"),
        value("dzinza_refresh"),
        value("dzinza_csrf")
    );
    // Reading works with the cookie alone.
    let me = app
        .call(Method::GET, "/v1/users/me", None, None, &[("cookie", &jar)])
        .await;
    assert_eq!(me.status, StatusCode::OK);
    // Changes authenticated by cookie need the CSRF header.
    let put = app
        .call(
            Method::PUT,
            "/v1/users/me",
            None,
            Some(json!({"display_name": "A"})),
            &[("cookie", &jar)],
        )
        .await;
    assert_eq!(
        (put.status, put.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_failed"))
    );
    let put = app
        .call(
            Method::PUT,
            "/v1/users/me",
            None,
            Some(json!({"display_name": "A"})),
            &[("cookie", &jar), ("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let refresh = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({})),
            &[("cookie", &jar)],
        )
        .await;
    assert_eq!(refresh.status, StatusCode::FORBIDDEN);
    let refresh = app
        .call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({})),
            &[
                ("cookie", &jar),
                ("x-csrf-token", &csrf),
                ("x-dzinza-auth-mode", "cookie"),
            ],
        )
        .await;
    assert_eq!(refresh.status, StatusCode::OK);
    assert_eq!(refresh.headers.get_all("set-cookie").iter().count(), 3);
}

#[tokio::test]
async fn stored_hashes_are_upgraded_when_parameters_change() {
    use dzinza_auth::store::AuthStore as _;
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        dzinza_auth::store::sqlite::SqliteStore::open(&dir.path().join("auth.db"))
            .await
            .unwrap(),
    );
    store.migrate().await.unwrap();
    let old = TestApp::assemble(
        store.clone(),
        AuthConfig::default(),
        argon2::Params::new(1024, 1, 1, None).unwrap(),
        tempfile::tempdir().unwrap(),
    );
    old.user("ann@example.org", "ann").await;
    let before = store
        .user_by_email("ann@example.org")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(before.contains("m=1024,t=1,p=1"));
    let new = TestApp::assemble(
        store.clone(),
        AuthConfig::default(),
        argon2::Params::new(2048, 2, 1, None).unwrap(),
        dir,
    );
    new.login("ann@example.org", PASSWORD).await;
    let after = store
        .user_by_email("ann@example.org")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(after.contains("m=2048,t=2,p=1"), "{after}");
    new.login("ann@example.org", PASSWORD).await;
}

#[tokio::test]
async fn jwks_is_served_at_both_paths_and_the_openapi_names_gateway_paths() {
    let app = TestApp::new().await;
    for path in ["/.well-known/jwks.json", "/v1/auth/.well-known/jwks.json"] {
        let r = app.call(Method::GET, path, None, None, &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["keys"][0]["kty"], "OKP");
        assert_eq!(r.body["keys"][0]["alg"], "EdDSA");
        assert!(
            r.body["keys"][0].get("d").is_none(),
            "private key material must never be published"
        );
    }
    let doc = serde_json::to_value(dzinza_auth::openapi()).unwrap();
    for p in [
        "/api/v1/auth/login",
        "/api/v1/auth/login/mfa",
        "/api/v1/mfa/enable-mfa-request",
        "/api/v1/users/{id}",
        "/api/v1/audit-logs",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from OpenAPI");
    }
}

#[tokio::test]
async fn tokens_pass_the_kit_validator_over_a_real_jwks_fetch_and_foreign_ones_fail() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let (access, _) = app.login("ann@example.org", PASSWORD).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let validator = dzinza_kit::identity::TokenValidator::from_url(
        &format!("http://{addr}/.well-known/jwks.json"),
        "dzinza",
        "dzinza",
        Duration::from_secs(30),
    )
    .unwrap();
    let id = validator.validate(&access).await.unwrap();
    assert_eq!(id.email.as_deref(), Some("ann@example.org"));
    assert_eq!(id.roles, ["USER"]);
    assert!(id.token_id.is_some());

    let foreign =
        dzinza_auth::keys::KeyRing::from_pems(&dzinza_auth::keys::generate_pem().unwrap(), &[])
            .unwrap();
    let now = u64::try_from(jiff::Timestamp::now().as_second()).unwrap();
    let forged = foreign
        .sign(&dzinza_kit::identity::AccessClaims {
            sub: id.user_id.clone(),
            email: id.email.clone(),
            roles: vec!["ADMIN".into()],
            iss: "dzinza".into(),
            aud: "dzinza".into(),
            iat: now,
            exp: now + 600,
            nbf: None,
            jti: None,
        })
        .unwrap();
    assert!(validator.validate(&forged).await.is_err());
    assert_eq!(
        app.get("/v1/users/me", &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn unknown_accounts_lock_exactly_like_known_ones() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let attempt = |login: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/v1/auth/login",
                None,
                json!({"email": login, "password": "wrong password!"}),
            )
            .await
        }
    };
    // Compares what a client sees for a known and an unknown identifier, attempt by attempt.
    async fn same(known: support::Reply, unknown: support::Reply) -> StatusCode {
        assert_eq!(known.status, unknown.status);
        assert_eq!(known.body, unknown.body);
        assert_eq!(
            known.headers.get("retry-after"),
            unknown.headers.get("retry-after")
        );
        known.status
    }
    for login in ["nobody@example.org", "nobody"] {
        let known = if login.contains('@') {
            "ann@example.org"
        } else {
            "ann"
        };
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(same(attempt(known).await, attempt(login).await).await);
        }
        assert_eq!(
            statuses,
            [
                [StatusCode::UNAUTHORIZED; 4].as_slice(),
                &[StatusCode::LOCKED; 2]
            ]
            .concat(),
            "{login}"
        );
        // Case and surrounding space do not give an unknown identifier fresh attempts.
        let upper = app
            .post(
                "/v1/auth/login",
                None,
                json!({"email": format!(" {} ", login.to_uppercase()), "password": "x"}),
            )
            .await;
        assert_eq!(upper.status, StatusCode::LOCKED);
        // Both locks end together; a second lock without a success in between doubles.
        app.clock.advance(900);
        assert_eq!(
            same(attempt(known).await, attempt(login).await).await,
            StatusCode::UNAUTHORIZED
        );
        for _ in 0..3 {
            same(attempt(known).await, attempt(login).await).await;
        }
        let fifth_known = attempt(known).await;
        let fifth_unknown = attempt(login).await;
        assert_eq!(fifth_unknown.headers["retry-after"], "1800");
        assert_eq!(same(fifth_known, fifth_unknown).await, StatusCode::LOCKED);
        app.clock.advance(1800);
        assert!(!app.login(known, PASSWORD).await.0.is_empty());
    }
    let (entries, _) = {
        use dzinza_auth::store::AuthStore as _;
        app.store
            .list_audit(
                &dzinza_auth::model::AuditFilter {
                    action: Some("account_locked".into()),
                    ..Default::default()
                },
                dzinza_auth::model::Page {
                    limit: 100,
                    offset: 0,
                },
            )
            .await
            .unwrap()
    };
    assert!(entries.iter().any(|e| e.detail["unknown_account"] == true));
}

#[tokio::test]
async fn totp_secrets_are_encrypted_at_rest() {
    use dzinza_auth::store::AuthStore as _;
    let app = TestApp::new().await;
    let id = app.user("ann@example.org", "ann").await;
    let (access, _) = app.login("ann@example.org", PASSWORD).await;
    let (secret, _) = enable_mfa(&app, &access).await;
    let stored = app
        .store
        .user_by_id(&id)
        .await
        .unwrap()
        .unwrap()
        .mfa_secret
        .unwrap();
    assert_ne!(stored, secret);
    assert!(!stored.contains(&secret));
    assert!(stored.starts_with("v1."), "{stored}");
    // And it still works: the service decrypts it to check codes.
    app.clock.advance(30);
    let token = challenge(&app).await;
    let code = mfa::code_at(&secret, app.clock.now_secs()).unwrap();
    let r = app
        .post(
            "/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn a_different_key_fails_with_a_problem_not_a_panic() {
    let app = TestApp::new().await;
    app.user("ann@example.org", "ann").await;
    let (access, _) = app.login("ann@example.org", PASSWORD).await;
    let (secret, codes) = enable_mfa(&app, &access).await;
    // Same database, another key (a misconfigured replica or a lost key file).
    let other = TestApp::assemble(
        app.store.clone(),
        AuthConfig::default(),
        argon2::Params::new(1024, 1, 1, None).unwrap(),
        tempfile::tempdir().unwrap(),
    );
    other.clock.advance(30);
    let token = challenge(&other).await;
    let code = mfa::code_at(&secret, other.clock.now_secs()).unwrap();
    for code in [code.as_str(), codes[0].as_str()] {
        let r = other
            .post(
                "/v1/auth/login/mfa",
                None,
                json!({"mfa_token": token, "code": code}),
            )
            .await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.body["code"], "mfa_unavailable", "{:?}", r.body);
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
    }
    // The original key still opens it.
    let token = challenge(&app).await;
    let code = mfa::code_at(&secret, app.clock.now_secs() + 30).unwrap();
    app.clock.advance(30);
    let r = app
        .post(
            "/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn plaintext_totp_secrets_from_before_are_sealed_at_start() {
    use dzinza_auth::store::AuthStore as _;
    let app = TestApp::new().await;
    let id = app.user("ann@example.org", "ann").await;
    // A row as the earlier schema wrote it: the base32 secret in clear.
    let secret = mfa::new_secret();
    let mut user = app.store.user_by_id(&id).await.unwrap().unwrap();
    user.mfa_enabled = true;
    user.mfa_secret = Some(secret.clone());
    app.store.update_user(&user).await.unwrap();
    assert_eq!(app.service.seal_plaintext_mfa_secrets().await.unwrap(), 1);
    assert_eq!(app.service.seal_plaintext_mfa_secrets().await.unwrap(), 0);
    let stored = app
        .store
        .user_by_id(&id)
        .await
        .unwrap()
        .unwrap()
        .mfa_secret
        .unwrap();
    assert!(stored.starts_with("v1.") && !stored.contains(&secret));
    let token = challenge(&app).await;
    let code = mfa::code_at(&secret, app.clock.now_secs()).unwrap();
    let r = app
        .post(
            "/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "code": code}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// Fails every delivery, counting attempts.
#[derive(Debug, Default)]
struct BrokenRelay(std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl dzinza_auth::mail::Mailer for BrokenRelay {
    async fn send(&self, _: dzinza_auth::mail::Mail) -> Result<(), dzinza_auth::mail::MailError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(dzinza_auth::mail::MailError::Smtp {
            message: "421 try again later".into(),
            transient: true,
        })
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_then_logged_and_audited_without_changing_the_answer() {
    let relay = std::sync::Arc::new(BrokenRelay::default());
    let app = TestApp::with_mailer(
        AuthConfig {
            mail_retry_delays: vec![Duration::from_millis(1), Duration::from_millis(1)],
            ..AuthConfig::default()
        },
        relay.clone(),
    )
    .await;
    let r = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "ann@example.org", "username": "ann", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let known = app
        .post(
            "/v1/auth/request-password-reset",
            None,
            json!({"email": "ann@example.org"}),
        )
        .await;
    let unknown = app
        .post(
            "/v1/auth/request-password-reset",
            None,
            json!({"email": "nobody@example.org"}),
        )
        .await;
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    assert_eq!(known.status, StatusCode::ACCEPTED);
    let mut failed = Vec::new();
    for _ in 0..400 {
        failed = app
            .audit_actions()
            .await
            .into_iter()
            .filter(|a| a == "mail_delivery_failed")
            .collect();
        if failed.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(failed.len(), 2, "verification and reset mail each audited");
    // One first try and two retries each.
    assert_eq!(relay.0.load(std::sync::atomic::Ordering::SeqCst), 6);
}
