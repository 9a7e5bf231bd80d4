//! The storage port's conformance suite: every check runs against SQLite and PostgreSQL
//! (PostgreSQL when `DZINZA_TEST_POSTGRES_URL` is set; each test gets a fresh database).

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

use dzinza_auth::model::{
    AuditEntry, AuditFilter, IdentifierFailures, OneTimeToken, Page, RefreshToken, Role, TokenKind,
    User, UserFilter,
};
use dzinza_auth::store::postgres::PostgresStore;
use dzinza_auth::store::sqlite::SqliteStore;
use dzinza_auth::store::{AuthStore, StoreError};

async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("auth.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, dir)
}

async fn postgres() -> Option<PostgresStore> {
    let base = dzinza_kit::testing::backend_url("postgres", "DZINZA_TEST_POSTGRES_URL")?;
    let name = format!("dzinza_auth_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let store = PostgresStore::connect(&format!("{prefix}/{name}"), 4)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    // Running the migrations again is a no-op.
    store.migrate().await.unwrap();
    Some(store)
}

fn user(n: u32, email: &str, username: &str) -> User {
    User {
        id: format!("user-{n:04}"),
        email: email.into(),
        username: username.into(),
        first_name: Some("Ann".into()),
        last_name: None,
        display_name: None,
        role: Role::User,
        is_active: true,
        email_verified: false,
        preferences: serde_json::json!({"theme": "dark"}),
        password_hash: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA".into(),
        mfa_enabled: false,
        mfa_secret: None,
        failed_logins: 0,
        lockout_count: 0,
        locked_until: None,
        created_at: 1_000 + i64::from(n),
        updated_at: 1_000 + i64::from(n),
        last_login_at: None,
    }
}

fn refresh(id: &str, user: &str, family: &str) -> RefreshToken {
    RefreshToken {
        id: id.into(),
        user_id: user.into(),
        family_id: family.into(),
        token_hash: format!("hash-{id}"),
        created_at: 100,
        expires_at: 10_000,
        rotated_at: None,
        revoked_at: None,
    }
}

async fn users_are_unique_case_insensitively(s: &dyn AuthStore) {
    s.ping().await.unwrap();
    let ann = user(1, "Ann@Example.org", "Ann");
    s.insert_user(&ann).await.unwrap();
    assert_eq!(s.user_by_id(&ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(
        s.user_by_email("ann@EXAMPLE.org").await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(s.user_by_username("aNN").await.unwrap(), Some(ann.clone()));
    assert_eq!(s.user_by_email("bob@example.org").await.unwrap(), None);
    assert_eq!(s.user_by_id("nope").await.unwrap(), None);
    let dup_email = user(2, "ANN@example.ORG", "other");
    assert!(matches!(
        s.insert_user(&dup_email).await,
        Err(StoreError::Conflict("email"))
    ));
    let dup_name = user(3, "x@example.org", "ANN");
    assert!(matches!(
        s.insert_user(&dup_name).await,
        Err(StoreError::Conflict("username"))
    ));
}

async fn updates_write_fields_and_keep_uniqueness(s: &dyn AuthStore) {
    let mut ann = user(1, "ann@example.org", "ann");
    let bob = user(2, "bob@example.org", "bob");
    s.insert_user(&ann).await.unwrap();
    s.insert_user(&bob).await.unwrap();
    ann.role = Role::Admin;
    ann.email_verified = true;
    ann.mfa_enabled = true;
    ann.mfa_secret = Some("SECRET".into());
    ann.display_name = Some("Ann A.".into());
    ann.preferences = serde_json::json!({"lang": "sn", "n": [1, 2]});
    ann.password_hash = "new".into();
    ann.updated_at = 5_000;
    s.update_user(&ann).await.unwrap();
    assert_eq!(s.user_by_id(&ann.id).await.unwrap(), Some(ann.clone()));
    let mut clash = bob.clone();
    clash.username = "ANN".into();
    assert!(matches!(
        s.update_user(&clash).await,
        Err(StoreError::Conflict("username"))
    ));
    let ghost = user(9, "ghost@example.org", "ghost");
    assert!(matches!(
        s.update_user(&ghost).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.delete_user(&bob.id).await.unwrap());
    assert!(!s.delete_user(&bob.id).await.unwrap());
    assert_eq!(s.user_by_id(&bob.id).await.unwrap(), None);
}

async fn lists_users_with_filters_and_pages(s: &dyn AuthStore) {
    for n in 0..7 {
        let mut u = user(n, &format!("person{n}@example.org"), &format!("person{n}"));
        u.role = if n % 3 == 0 { Role::Admin } else { Role::User };
        u.is_active = n != 6;
        s.insert_user(&u).await.unwrap();
    }
    s.insert_user(&user(50, "odd%_name@example.org", "odd"))
        .await
        .unwrap();
    let all = UserFilter::default();
    let (page, total) = s
        .list_users(
            &all,
            Page {
                limit: 3,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 8);
    assert_eq!(
        page.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["user-0000", "user-0001", "user-0002"]
    );
    let (page, _) = s
        .list_users(
            &all,
            Page {
                limit: 3,
                offset: 6,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let admins = UserFilter {
        role: Some(Role::Admin),
        ..UserFilter::default()
    };
    let (page, total) = s
        .list_users(
            &admins,
            Page {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 3);
    assert!(page.iter().all(|u| u.role == Role::Admin));
    let inactive = UserFilter {
        is_active: Some(false),
        ..UserFilter::default()
    };
    assert_eq!(
        s.list_users(
            &inactive,
            Page {
                limit: 10,
                offset: 0
            }
        )
        .await
        .unwrap()
        .1,
        1
    );
    let by_email = UserFilter {
        email: Some("PERSON3@".into()),
        ..UserFilter::default()
    };
    let (page, total) = s
        .list_users(
            &by_email,
            Page {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!((total, page[0].id.as_str()), (1, "user-0003"));
    // LIKE wildcards in the filter are literal characters.
    let literal = UserFilter {
        email: Some("%_".into()),
        ..UserFilter::default()
    };
    let (page, total) = s
        .list_users(
            &literal,
            Page {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!((total, page[0].id.as_str()), (1, "user-0050"));
    // Admins 0 and 3 are active; 6 is inactive.
    assert_eq!(s.count_active_admins().await.unwrap(), 2);
}

async fn counts_failures_locks_and_resets(s: &dyn AuthStore) {
    let ann = user(1, "ann@example.org", "ann");
    s.insert_user(&ann).await.unwrap();
    assert_eq!(s.record_failed_login(&ann.id).await.unwrap(), 1);
    assert_eq!(s.record_failed_login(&ann.id).await.unwrap(), 2);
    assert!(matches!(
        s.record_failed_login("nope").await,
        Err(StoreError::NotFound)
    ));
    s.lock_user(&ann.id, 9_000).await.unwrap();
    let locked = s.user_by_id(&ann.id).await.unwrap().unwrap();
    assert_eq!(
        (
            locked.failed_logins,
            locked.lockout_count,
            locked.locked_until
        ),
        (0, 1, Some(9_000))
    );
    s.record_failed_login(&ann.id).await.unwrap();
    s.lock_user(&ann.id, 12_000).await.unwrap();
    assert_eq!(
        s.user_by_id(&ann.id).await.unwrap().unwrap().lockout_count,
        2
    );
    s.record_successful_login(&ann.id, 20_000).await.unwrap();
    let ok = s.user_by_id(&ann.id).await.unwrap().unwrap();
    assert_eq!(
        (
            ok.failed_logins,
            ok.lockout_count,
            ok.locked_until,
            ok.last_login_at
        ),
        (0, 0, None, Some(20_000))
    );
}

async fn totp_steps_are_claimed_once_and_in_order(s: &dyn AuthStore) {
    let ann = user(1, "ann@example.org", "ann");
    s.insert_user(&ann).await.unwrap();
    assert!(s.claim_totp_step(&ann.id, 100).await.unwrap());
    assert!(!s.claim_totp_step(&ann.id, 100).await.unwrap());
    assert!(!s.claim_totp_step(&ann.id, 99).await.unwrap());
    assert!(s.claim_totp_step(&ann.id, 101).await.unwrap());
}

async fn backup_codes_are_single_use(s: &dyn AuthStore) {
    let ann = user(1, "ann@example.org", "ann");
    let bob = user(2, "bob@example.org", "bob");
    s.insert_user(&ann).await.unwrap();
    s.insert_user(&bob).await.unwrap();
    let hashes: Vec<String> = (0..10).map(|i| format!("code-{i}")).collect();
    s.replace_backup_codes(&ann.id, &hashes).await.unwrap();
    assert_eq!(s.remaining_backup_codes(&ann.id).await.unwrap(), 10);
    assert!(s.use_backup_code(&ann.id, "code-3", 50).await.unwrap());
    assert!(!s.use_backup_code(&ann.id, "code-3", 51).await.unwrap());
    assert!(!s.use_backup_code(&bob.id, "code-4", 51).await.unwrap());
    assert!(!s.use_backup_code(&ann.id, "unknown", 51).await.unwrap());
    assert_eq!(s.remaining_backup_codes(&ann.id).await.unwrap(), 9);
    s.replace_backup_codes(&ann.id, &["fresh".to_owned()])
        .await
        .unwrap();
    assert_eq!(s.remaining_backup_codes(&ann.id).await.unwrap(), 1);
    assert!(!s.use_backup_code(&ann.id, "code-4", 52).await.unwrap());
    s.replace_backup_codes(&ann.id, &[]).await.unwrap();
    assert_eq!(s.remaining_backup_codes(&ann.id).await.unwrap(), 0);
}

async fn refresh_tokens_rotate_once_and_revoke_by_family(s: &dyn AuthStore) {
    let ann = user(1, "ann@example.org", "ann");
    s.insert_user(&ann).await.unwrap();
    let a1 = refresh("a1", &ann.id, "fam-a");
    let a2 = refresh("a2", &ann.id, "fam-a");
    let b1 = refresh("b1", &ann.id, "fam-b");
    let c1 = refresh("c1", &ann.id, "fam-c");
    for t in [&a1, &a2, &b1, &c1] {
        s.insert_refresh_token(t).await.unwrap();
    }
    assert_eq!(
        s.refresh_token_by_hash("hash-a1").await.unwrap(),
        Some(a1.clone())
    );
    assert_eq!(s.refresh_token_by_hash("nope").await.unwrap(), None);
    assert!(s.mark_refresh_rotated("a1", 200).await.unwrap());
    assert!(!s.mark_refresh_rotated("a1", 201).await.unwrap());
    assert_eq!(
        s.refresh_token_by_hash("hash-a1")
            .await
            .unwrap()
            .unwrap()
            .rotated_at,
        Some(200)
    );
    assert_eq!(s.revoke_family("fam-a", 300).await.unwrap(), 2);
    assert_eq!(s.revoke_family("fam-a", 301).await.unwrap(), 0);
    assert!(!s.mark_refresh_rotated("a2", 302).await.unwrap());
    assert_eq!(
        s.revoke_user_sessions(&ann.id, Some("fam-b"), 400)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.refresh_token_by_hash("hash-b1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    assert_eq!(
        s.refresh_token_by_hash("hash-c1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(400)
    );
    assert_eq!(s.revoke_user_sessions(&ann.id, None, 500).await.unwrap(), 1);
    // Deleting the user deletes their tokens.
    s.delete_user(&ann.id).await.unwrap();
    assert_eq!(s.refresh_token_by_hash("hash-b1").await.unwrap(), None);
}

async fn one_time_tokens_are_single_use_and_expire(s: &dyn AuthStore) {
    let ann = user(1, "ann@example.org", "ann");
    s.insert_user(&ann).await.unwrap();
    let token = |hash: &str, kind| OneTimeToken {
        token_hash: hash.into(),
        kind,
        user_id: ann.id.clone(),
        created_at: 100,
        expires_at: 200,
    };
    s.insert_one_time_token(&token("v1", TokenKind::VerifyEmail))
        .await
        .unwrap();
    s.insert_one_time_token(&token("r1", TokenKind::ResetPassword))
        .await
        .unwrap();
    s.insert_one_time_token(&token("r2", TokenKind::ResetPassword))
        .await
        .unwrap();
    assert_eq!(
        s.peek_one_time_token("v1", TokenKind::VerifyEmail, 150)
            .await
            .unwrap(),
        Some(ann.id.clone())
    );
    assert_eq!(
        s.peek_one_time_token("v1", TokenKind::ResetPassword, 150)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.consume_one_time_token("v1", TokenKind::ResetPassword, 150)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.consume_one_time_token("v1", TokenKind::VerifyEmail, 150)
            .await
            .unwrap(),
        Some(ann.id.clone())
    );
    assert_eq!(
        s.consume_one_time_token("v1", TokenKind::VerifyEmail, 151)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.peek_one_time_token("v1", TokenKind::VerifyEmail, 151)
            .await
            .unwrap(),
        None
    );
    // Expiry is exclusive: at `expires_at` the token is already dead.
    assert_eq!(
        s.consume_one_time_token("r1", TokenKind::ResetPassword, 200)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.consume_user_tokens(&ann.id, TokenKind::ResetPassword, 199)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.consume_one_time_token("r2", TokenKind::ResetPassword, 199)
            .await
            .unwrap(),
        None
    );
}

async fn audit_lists_newest_first_with_filters(s: &dyn AuthStore) {
    for i in 0..6_i64 {
        let entry = AuditEntry {
            id: format!("a{i}"),
            at: 1_000 + i,
            action: if i % 2 == 0 {
                "login_failed"
            } else {
                "login_succeeded"
            }
            .into(),
            outcome: if i % 2 == 0 { "failure" } else { "success" }.into(),
            actor_id: (i % 2 == 1).then(|| "u1".to_owned()),
            target_id: Some(if i < 3 { "u1" } else { "u2" }.to_owned()),
            ip: Some("10.0.0.1".into()),
            user_agent: Some("test".into()),
            detail: serde_json::json!({"i": i}),
        };
        s.append_audit(&entry).await.unwrap();
    }
    let all = AuditFilter::default();
    let (page, total) = s
        .list_audit(
            &all,
            Page {
                limit: 4,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 6);
    assert_eq!(
        page.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["a5", "a4", "a3", "a2"]
    );
    assert_eq!(page[0].detail, serde_json::json!({"i": 5}));
    let (page, _) = s
        .list_audit(
            &all,
            Page {
                limit: 4,
                offset: 4,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let failed = AuditFilter {
        action: Some("login_failed".into()),
        ..AuditFilter::default()
    };
    assert_eq!(
        s.list_audit(
            &failed,
            Page {
                limit: 10,
                offset: 0
            }
        )
        .await
        .unwrap()
        .1,
        3
    );
    let by_actor = AuditFilter {
        actor_id: Some("u1".into()),
        ..AuditFilter::default()
    };
    assert_eq!(
        s.list_audit(
            &by_actor,
            Page {
                limit: 10,
                offset: 0
            }
        )
        .await
        .unwrap()
        .1,
        3
    );
    let window = AuditFilter {
        target_id: Some("u2".into()),
        since: Some(1_003),
        until: Some(1_005),
        ..AuditFilter::default()
    };
    let (page, total) = s
        .list_audit(
            &window,
            Page {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        page.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["a4", "a3"]
    );
}

async fn last_admin_is_kept_under_concurrent_changes(s: &dyn AuthStore) {
    for round in 0..10_u32 {
        let mut a = user(
            round * 2,
            &format!("a{round}@example.org"),
            &format!("a{round}"),
        );
        let mut b = user(
            round * 2 + 1,
            &format!("b{round}@example.org"),
            &format!("b{round}"),
        );
        a.role = Role::Admin;
        b.role = Role::Admin;
        s.insert_user(&a).await.unwrap();
        s.insert_user(&b).await.unwrap();
        // Two administrators step down at the same moment (one demoted, one disabled): both
        // checks alone would see another admin, so only an atomic check keeps one.
        let mut a2 = a.clone();
        a2.role = Role::User;
        let mut b2 = b.clone();
        b2.is_active = false;
        let (ra, rb) = tokio::join!(
            s.update_user_keeping_admin(&a2),
            s.update_user_keeping_admin(&b2)
        );
        let refused = [&ra, &rb]
            .iter()
            .filter(|r| matches!(r, Err(StoreError::LastAdmin)))
            .count();
        assert!(
            ra.is_ok() != rb.is_ok() && refused == 1,
            "round {round}: {ra:?} {rb:?}"
        );
        assert_eq!(s.count_active_admins().await.unwrap(), 1, "round {round}");
        // The same race between a delete and a demotion.
        let survivor = if ra.is_ok() { b.clone() } else { a.clone() };
        let mut c = user(
            100 + round,
            &format!("c{round}@example.org"),
            &format!("c{round}"),
        );
        c.role = Role::Admin;
        s.insert_user(&c).await.unwrap();
        let mut survivor2 = survivor.clone();
        survivor2.role = Role::Moderator;
        let (rd, ru) = tokio::join!(
            s.delete_user_keeping_admin(&c.id),
            s.update_user_keeping_admin(&survivor2)
        );
        assert!(
            rd.is_ok() != ru.is_ok(),
            "round {round}: delete {rd:?}, demote {ru:?}"
        );
        assert!(matches!(rd, Ok(true) | Err(StoreError::LastAdmin)));
        assert!(matches!(ru, Ok(()) | Err(StoreError::LastAdmin)));
        assert_eq!(s.count_active_admins().await.unwrap(), 1, "round {round}");
        // The last one can be neither deleted nor demoted; nothing was written.
        let (last, _) = s
            .list_users(
                &UserFilter {
                    role: Some(Role::Admin),
                    is_active: Some(true),
                    ..UserFilter::default()
                },
                Page {
                    limit: 10,
                    offset: 0,
                },
            )
            .await
            .unwrap();
        let last = last[0].clone();
        assert!(matches!(
            s.delete_user_keeping_admin(&last.id).await,
            Err(StoreError::LastAdmin)
        ));
        let mut demoted = last.clone();
        demoted.role = Role::User;
        demoted.display_name = Some("changed".into());
        assert!(matches!(
            s.update_user_keeping_admin(&demoted).await,
            Err(StoreError::LastAdmin)
        ));
        let unchanged = s.user_by_id(&last.id).await.unwrap().unwrap();
        assert_eq!(
            (unchanged.role, unchanged.display_name),
            (Role::Admin, last.display_name.clone())
        );
        // Changes that keep the admin go through.
        let mut renamed = last.clone();
        renamed.display_name = Some("still admin".into());
        s.update_user_keeping_admin(&renamed).await.unwrap();
        // Clear the round: demote is fine once another admin exists, then delete everyone.
        for id in [&a.id, &b.id, &c.id] {
            s.delete_user(id).await.unwrap();
        }
        assert_eq!(s.count_active_admins().await.unwrap(), 0);
    }
    // Unknown users and taken usernames are reported as by update_user.
    assert!(!s.delete_user_keeping_admin("nope").await.unwrap());
    assert!(matches!(
        s.update_user_keeping_admin(&user(900, "x@example.org", "x"))
            .await,
        Err(StoreError::NotFound)
    ));
    let x = user(901, "x@example.org", "x");
    let y = user(902, "y@example.org", "y");
    s.insert_user(&x).await.unwrap();
    s.insert_user(&y).await.unwrap();
    let mut y2 = y.clone();
    y2.username = "X".into();
    assert!(matches!(
        s.update_user_keeping_admin(&y2).await,
        Err(StoreError::Conflict("username"))
    ));
}

async fn unknown_identifiers_count_lock_and_are_purged(s: &dyn AuthStore) {
    assert_eq!(s.identifier_failures("k").await.unwrap(), None);
    assert_eq!(s.record_identifier_failure("k", 100).await.unwrap(), 1);
    assert_eq!(s.record_identifier_failure("k", 101).await.unwrap(), 2);
    s.lock_identifier("k", 9_000).await.unwrap();
    assert_eq!(
        s.identifier_failures("k").await.unwrap(),
        Some(IdentifierFailures {
            failures: 0,
            lockout_count: 1,
            locked_until: Some(9_000),
        })
    );
    assert_eq!(s.record_identifier_failure("k", 102).await.unwrap(), 1);
    s.lock_identifier("k", 12_000).await.unwrap();
    assert_eq!(
        s.identifier_failures("k")
            .await
            .unwrap()
            .unwrap()
            .lockout_count,
        2
    );
    assert_eq!(s.record_identifier_failure("old", 10).await.unwrap(), 1);
    assert_eq!(s.record_identifier_failure("fresh", 500).await.unwrap(), 1);
    // Idle since before 200 and not locked past it: only "old" goes.
    assert_eq!(s.purge_identifier_failures(200).await.unwrap(), 1);
    assert_eq!(s.identifier_failures("old").await.unwrap(), None);
    assert!(s.identifier_failures("k").await.unwrap().is_some());
    assert!(s.identifier_failures("fresh").await.unwrap().is_some());
}

async fn plaintext_mfa_secrets_are_found_and_swapped_once(s: &dyn AuthStore) {
    let mut ann = user(1, "ann@example.org", "ann");
    ann.mfa_secret = Some("JBSWY3DPEHPK3PXP".into());
    let mut bob = user(2, "bob@example.org", "bob");
    bob.mfa_secret = Some("v1.0a1b2c3d.c2VhbGVk".into());
    let cid = user(3, "cid@example.org", "cid");
    for u in [&ann, &bob, &cid] {
        s.insert_user(u).await.unwrap();
    }
    assert_eq!(
        s.unsealed_mfa_secrets().await.unwrap(),
        vec![(ann.id.clone(), "JBSWY3DPEHPK3PXP".to_owned())]
    );
    assert!(
        !s.swap_mfa_secret(&ann.id, "SOMETHING ELSE", "v1.x.y")
            .await
            .unwrap()
    );
    assert!(
        s.swap_mfa_secret(&ann.id, "JBSWY3DPEHPK3PXP", "v1.x.y")
            .await
            .unwrap()
    );
    assert!(
        !s.swap_mfa_secret(&ann.id, "JBSWY3DPEHPK3PXP", "v1.x.z")
            .await
            .unwrap()
    );
    assert!(s.unsealed_mfa_secrets().await.unwrap().is_empty());
    assert_eq!(
        s.user_by_id(&ann.id).await.unwrap().unwrap().mfa_secret,
        Some("v1.x.y".into())
    );
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod sqlite_adapter {
            $(
                #[tokio::test]
                async fn $check() {
                    let (store, _dir) = super::sqlite().await;
                    super::$check(&store).await;
                }
            )*
        }
        mod postgres_adapter {
            $(
                #[tokio::test]
                async fn $check() {
                    let Some(store) = super::postgres().await else { return };
                    super::$check(&store).await;
                }
            )*
        }
    };
}

conformance!(
    users_are_unique_case_insensitively,
    updates_write_fields_and_keep_uniqueness,
    lists_users_with_filters_and_pages,
    counts_failures_locks_and_resets,
    totp_steps_are_claimed_once_and_in_order,
    backup_codes_are_single_use,
    refresh_tokens_rotate_once_and_revoke_by_family,
    one_time_tokens_are_single_use_and_expire,
    audit_lists_newest_first_with_filters,
    last_admin_is_kept_under_concurrent_changes,
    unknown_identifiers_count_lock_and_are_purged,
    plaintext_mfa_secrets_are_found_and_swapped_once,
);
