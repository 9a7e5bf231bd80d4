//! Login throughput (dominated by Argon2id with the OWASP parameters) and access-token
//! validation throughput. Run: `cargo bench -p dzinza-auth`.

#![allow(
    clippy::unwrap_used,
    reason = "benchmark setup: a failure should panic"
)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dzinza_auth::clock::SystemClock;
use dzinza_auth::keys::{KeyRing, generate_pem};
use dzinza_auth::mail::FileMailer;
use dzinza_auth::model::Role;
use dzinza_auth::password::{Passwords, owasp_params};
use dzinza_auth::service::{AuthConfig, AuthService, LoginOutcome, RequestMeta};
use dzinza_auth::store::sqlite::SqliteStore;
use secrecy::SecretString;

const PASSWORD: &str = "correct horse battery staple";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (service, validator, keys) = rt.block_on(async {
        let store = SqliteStore::open(&dir.path().join("auth.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let keys = Arc::new(KeyRing::from_pems(&generate_pem().unwrap(), &[]).unwrap());
        let validator = keys
            .validator("dzinza", "dzinza", Duration::from_secs(30))
            .unwrap();
        let service = AuthService::new(
            Arc::new(store),
            Arc::new(SystemClock),
            keys.clone(),
            Passwords::new(owasp_params()).unwrap(),
            Arc::new(FileMailer::new(
                dir.path().join("mail"),
                "bench".into(),
                false,
            )),
            Arc::new(
                dzinza_auth::sealing::Sealer::from_encoded(&dzinza_auth::sealing::generate_key())
                    .unwrap(),
            ),
            AuthConfig {
                ip_max_failures: u32::MAX,
                ..AuthConfig::default()
            },
        );
        service
            .create_user(
                "bench@example.org",
                "bench",
                SecretString::from(PASSWORD.to_owned()),
                Role::User,
            )
            .await
            .unwrap();
        (service, validator, keys)
    });
    let meta = RequestMeta::default();
    let login = || {
        rt.block_on(service.login(
            "bench@example.org",
            SecretString::from(PASSWORD.to_owned()),
            &meta,
        ))
        .unwrap()
    };
    let LoginOutcome::Session(session) = login() else {
        panic!("no MFA expected");
    };

    let mut group = c.benchmark_group("auth");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("login_argon2id_owasp_sqlite", |b| b.iter(login));
    group.sample_size(100);
    group.measurement_time(Duration::from_secs(5));
    // A validator that has not seen the token yet: the full Ed25519 signature and claims check.
    group.bench_function("validate_access_token_eddsa_first_use", |b| {
        b.iter_batched(
            || {
                keys.validator("dzinza", "dzinza", Duration::from_secs(30))
                    .unwrap()
            },
            |fresh| rt.block_on(fresh.validate(&session.access_token)).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    // The same token again: answered from the validator's verified-token cache.
    group.bench_function("validate_access_token_eddsa_seen_before", |b| {
        b.iter(|| {
            rt.block_on(validator.validate(&session.access_token))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
