//! The real router, driven with signed tokens: an authorization matrix over every endpoint and
//! the six kinds of caller, masking, validation, paging, history with revert, merge and undo.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use dzinza_genealogy::service::{Clock, Genealogy};
use dzinza_genealogy::store::DocumentStore;
use dzinza_genealogy::store::sqlite::SqliteStore;
use dzinza_genealogy::{ApiState, router};
use dzinza_kit::identity::{Authenticator, TokenValidator};
use dzinza_kit::testing::TestIssuer;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// 2026-01-01 (fixed, so "born less than 110 years ago" does not drift).
const NOW: i64 = 1_767_225_600_000;

struct App {
    router: Router,
    issuer: TestIssuer,
}

impl App {
    async fn new() -> App {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let issuer = TestIssuer::new("k1");
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(issuer.jwks()).unwrap();
        let validator =
            TokenValidator::from_jwks(&jwks, "dzinza", "dzinza", Duration::ZERO).unwrap();
        let clock: Clock = Arc::new(|| NOW);
        let state = ApiState {
            service: Genealogy::new(Arc::new(store), clock),
            auth: Authenticator(Arc::new(validator)),
        };
        App {
            router: router(state),
            issuer,
        }
    }

    fn token(&self, user: &str) -> Option<String> {
        match user {
            "anonymous" => None,
            // The outsider is a platform administrator: that must not open anything.
            "other" => Some(self.issuer.token(user, &["USER", "ADMIN"])),
            u => Some(self.issuer.token(u, &["USER"])),
        }
    }

    async fn call(
        &self,
        user: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = self.token(user) {
            req = req.header("authorization", format!("Bearer {t}"));
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
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ok(&self, user: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(user, method.clone(), path, body).await;
        assert!(
            status.is_success(),
            "{method} {path} as {user}: {status} {v}"
        );
        v
    }
}

/// Ids of the standard fixture.
#[derive(Clone, Default)]
struct Fx {
    tree: String,
    tree2: String,
    p: String,
    c: String,
    q: String,
    q2: String,
    p2: String,
    rel: String,
    event: String,
    source: String,
    source2: String,
    citation: String,
    citation2: String,
    repo: String,
    note: String,
    history: String,
    merge: String,
}

/// A public tree with an admin, an editor and a viewer; a deceased person P with birth and
/// death, a living child C, persons Q and Q2 (suggested duplicates), records of every kind; and
/// a private tree of the owner's with person P2.
async fn fixture(app: &App) -> Fx {
    let post = |path: String, body: Value| async move {
        app.ok("owner", Method::POST, &path, Some(body)).await
    };
    let mut fx = Fx::default();
    let t = post(
        "/v1/family-trees".into(),
        json!({"name": "Moyo family", "privacy": "public"}),
    )
    .await;
    fx.tree = t["id"].as_str().unwrap().to_owned();
    for (user, role) in [
        ("admin", "admin"),
        ("editor", "editor"),
        ("viewer", "viewer"),
    ] {
        post(
            format!("/v1/family-trees/{}/collaborators", fx.tree),
            json!({"user_id": user, "role": role}),
        )
        .await;
    }
    let person = |given: &str| json!({"names": [{"given": given, "surname": "Moyo"}]});
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    fx.p = id(post(format!("/v1/trees/{}/persons", fx.tree), person("Parent")).await);
    fx.c = id(post(format!("/v1/trees/{}/persons", fx.tree), person("Child")).await);
    fx.q = id(post(format!("/v1/trees/{}/persons", fx.tree), person("Quinn")).await);
    fx.q2 = id(post(format!("/v1/trees/{}/persons", fx.tree), person("Quin")).await);
    fx.rel = id(post(
        "/v1/relationships".into(),
        json!({"tree_id": fx.tree, "type": "parent_child", "parent": fx.p, "child": fx.c}),
    )
    .await);
    fx.event = id(post("/v1/events".into(), json!({"tree_id": fx.tree, "type": "birth", "date": "1 JAN 1900", "place": {"name": "Harare, Zimbabwe"}, "participants": [{"person_id": fx.p}]})).await);
    post("/v1/events".into(), json!({"tree_id": fx.tree, "type": "death", "date": "1980", "participants": [{"person_id": fx.p}]})).await;
    post("/v1/events".into(), json!({"tree_id": fx.tree, "type": "birth", "date": "ABT 1990", "place": {"name": "Bulawayo"}, "participants": [{"person_id": fx.c}]})).await;
    fx.repo = id(post(
        format!("/v1/trees/{}/repositories", fx.tree),
        json!({"name": "National Archives"}),
    )
    .await);
    fx.source = id(post(
        format!("/v1/trees/{}/sources", fx.tree),
        json!({"title": "Parish register", "repository_id": fx.repo}),
    )
    .await);
    fx.source2 = id(post(
        format!("/v1/trees/{}/sources", fx.tree),
        json!({"title": "Unused"}),
    )
    .await);
    fx.citation = id(post(
        format!("/v1/trees/{}/citations", fx.tree),
        json!({"source_id": fx.source, "page": "p. 12", "confidence": 3}),
    )
    .await);
    fx.citation2 = id(post(
        format!("/v1/trees/{}/citations", fx.tree),
        json!({"source_id": fx.source}),
    )
    .await);
    app.ok(
        "owner",
        Method::PATCH,
        &format!("/v1/persons/{}", fx.p),
        Some(json!({"citation_ids": [fx.citation]})),
    )
    .await;
    fx.note = id(post(
        format!("/v1/trees/{}/notes", fx.tree),
        json!({"text": "Family bible"}),
    )
    .await);
    app.ok(
        "owner",
        Method::PATCH,
        &format!("/v1/persons/{}", fx.q),
        Some(json!({"tags": ["duplicate?"]})),
    )
    .await;
    let h = app
        .ok(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}/history", fx.q),
            None,
        )
        .await;
    fx.history = h["items"][0]["id"].as_str().unwrap().to_owned();
    fx.merge = id(post("/v1/merge-suggestions".into(), json!({"tree_id": fx.tree, "person_a": fx.q, "person_b": fx.q2, "score": 0.9, "reasons": ["same name"]})).await);
    let t2 = post("/v1/family-trees".into(), json!({"name": "Private"})).await;
    fx.tree2 = id(t2);
    fx.p2 = id(post(format!("/v1/trees/{}/persons", fx.tree2), person("Hidden")).await);
    fx
}

const USERS: [&str; 6] = ["owner", "admin", "editor", "viewer", "other", "anonymous"];

struct Row {
    method: Method,
    path: String,
    body: Option<Value>,
    expect: [u16; 6],
}

fn row(method: Method, path: String, body: Option<Value>, expect: [u16; 6]) -> Row {
    Row {
        method,
        path,
        body,
        expect,
    }
}

fn matrix(f: &Fx) -> Vec<Row> {
    use Method as M;
    let all_read = [200, 200, 200, 200, 200, 401];
    let members_read = [200, 200, 200, 200, 404, 401];
    let edit = |ok: u16| [ok, ok, ok, 403, 403, 401];
    let manage = |ok: u16| [ok, ok, 403, 403, 403, 401];
    let t = &f.tree;
    let mut rows = vec![
        row(M::GET, "/v1/family-trees".into(), None, all_read),
        row(
            M::POST,
            "/v1/family-trees".into(),
            Some(json!({"name": "Mine"})),
            [201, 201, 201, 201, 201, 401],
        ),
        row(M::GET, format!("/v1/family-trees/{t}"), None, all_read),
        row(
            M::PATCH,
            format!("/v1/family-trees/{t}"),
            Some(json!({"description": "x"})),
            manage(200),
        ),
        row(
            M::DELETE,
            format!("/v1/family-trees/{t}"),
            None,
            [204, 403, 403, 403, 403, 401],
        ),
        row(
            M::POST,
            format!("/v1/family-trees/{t}/collaborators"),
            Some(json!({"email": "new@example.org", "role": "viewer"})),
            manage(200),
        ),
        row(
            M::PATCH,
            format!("/v1/family-trees/{t}/collaborators/viewer"),
            Some(json!({"role": "editor"})),
            manage(200),
        ),
        row(
            M::DELETE,
            format!("/v1/family-trees/{t}/collaborators/viewer"),
            None,
            manage(204),
        ),
        row(M::GET, format!("/v1/trees/{t}/persons"), None, all_read),
        row(
            M::POST,
            format!("/v1/trees/{t}/persons"),
            Some(json!({"names": [{"given": "New"}]})),
            edit(201),
        ),
        row(
            M::GET,
            format!("/v1/persons/search?name=par&tree_id={t}"),
            None,
            all_read,
        ),
        row(M::GET, format!("/v1/persons/{}", f.p), None, all_read),
        row(
            M::PATCH,
            format!("/v1/persons/{}", f.p),
            Some(json!({"tags": ["x"]})),
            edit(200),
        ),
        row(M::DELETE, format!("/v1/persons/{}", f.q), None, edit(204)),
        row(
            M::PUT,
            format!("/v1/persons/{}/trees/{}", f.p, f.tree2),
            None,
            [200, 404, 404, 403, 403, 401],
        ),
        row(
            M::DELETE,
            format!("/v1/persons/{}/trees/{t}", f.p),
            None,
            [409, 409, 409, 403, 403, 401],
        ),
        row(
            M::GET,
            format!("/v1/persons/{}/family", f.p),
            None,
            all_read,
        ),
        row(
            M::GET,
            format!("/v1/persons/{}/ancestors?generations=3", f.c),
            None,
            all_read,
        ),
        row(
            M::GET,
            format!("/v1/persons/{}/descendants?generations=3", f.p),
            None,
            all_read,
        ),
        row(
            M::GET,
            format!("/v1/persons/{}/relationship-to/{}", f.c, f.p),
            None,
            all_read,
        ),
        row(
            M::GET,
            format!("/v1/persons/{}/events", f.p),
            None,
            all_read,
        ),
        row(
            M::GET,
            format!("/v1/persons/{}/relationships", f.p),
            None,
            all_read,
        ),
        row(
            M::GET,
            format!("/v1/persons/{}/history", f.p),
            None,
            members_read,
        ),
        row(
            M::POST,
            "/v1/relationships".into(),
            Some(
                json!({"tree_id": t, "type": "partnership", "a": f.p, "b": f.q, "kind": "married"}),
            ),
            edit(201),
        ),
        row(
            M::GET,
            format!("/v1/relationships/{}", f.rel),
            None,
            all_read,
        ),
        row(
            M::PATCH,
            format!("/v1/relationships/{}", f.rel),
            Some(json!({"parent_kind": "adopted"})),
            edit(200),
        ),
        row(
            M::DELETE,
            format!("/v1/relationships/{}", f.rel),
            None,
            edit(204),
        ),
        row(
            M::POST,
            "/v1/events".into(),
            Some(
                json!({"tree_id": t, "type": "occupation", "description": "farmer", "participants": [{"person_id": f.q}]}),
            ),
            edit(201),
        ),
        row(M::GET, format!("/v1/events/{}", f.event), None, all_read),
        row(
            M::PUT,
            format!("/v1/events/{}", f.event),
            Some(
                json!({"type": "birth", "date": "2 JAN 1900", "participants": [{"person_id": f.p}]}),
            ),
            edit(200),
        ),
        row(
            M::DELETE,
            format!("/v1/events/{}", f.event),
            None,
            edit(204),
        ),
        row(
            M::GET,
            format!("/v1/person-history/{}", f.history),
            None,
            members_read,
        ),
        row(
            M::POST,
            format!("/v1/person-history/{}/revert", f.history),
            None,
            [200, 200, 200, 403, 404, 401],
        ),
        row(
            M::POST,
            "/v1/merge-suggestions".into(),
            Some(json!({"tree_id": t, "person_a": f.p, "person_b": f.q})),
            edit(201),
        ),
        row(
            M::GET,
            format!("/v1/trees/{t}/merge-suggestions"),
            None,
            members_read,
        ),
        row(
            M::GET,
            format!("/v1/merge-suggestions/{}", f.merge),
            None,
            members_read,
        ),
        row(
            M::POST,
            format!("/v1/merge-suggestions/{}/accept", f.merge),
            Some(json!({})),
            [200, 200, 200, 403, 404, 401],
        ),
        row(
            M::POST,
            format!("/v1/merge-suggestions/{}/reject", f.merge),
            None,
            [200, 200, 200, 403, 404, 401],
        ),
        row(
            M::POST,
            format!("/v1/merge-suggestions/{}/undo", f.merge),
            None,
            [409, 409, 409, 403, 404, 401],
        ),
        row(M::GET, "/v1/notifications".into(), None, all_read),
        row(M::POST, "/v1/notifications/read-all".into(), None, all_read),
        // The owner's private tree: nobody else learns it exists.
        row(
            M::GET,
            format!("/v1/family-trees/{}", f.tree2),
            None,
            [200, 404, 404, 404, 404, 401],
        ),
        row(
            M::GET,
            format!("/v1/trees/{}/persons", f.tree2),
            None,
            [200, 404, 404, 404, 404, 401],
        ),
        row(
            M::POST,
            format!("/v1/trees/{}/persons", f.tree2),
            Some(json!({"names": [{"given": "X"}]})),
            [201, 404, 404, 404, 404, 401],
        ),
        row(
            M::GET,
            format!("/v1/persons/{}", f.p2),
            None,
            [200, 404, 404, 404, 404, 401],
        ),
        row(
            M::PATCH,
            format!("/v1/persons/{}", f.p2),
            Some(json!({"tags": ["x"]})),
            [200, 404, 404, 404, 404, 401],
        ),
        row(
            M::GET,
            format!("/v1/persons/{}/family", f.p2),
            None,
            [200, 404, 404, 404, 404, 401],
        ),
    ];
    for (kind, list, item, body, unused) in [
        (
            "sources",
            format!("/v1/trees/{t}/sources"),
            format!("/v1/sources/{}", f.source),
            json!({"title": "Census 1911"}),
            format!("/v1/sources/{}", f.source2),
        ),
        (
            "citations",
            format!("/v1/trees/{t}/citations"),
            format!("/v1/citations/{}", f.citation),
            json!({"source_id": f.source, "page": "p. 3"}),
            format!("/v1/citations/{}", f.citation2),
        ),
        (
            "repositories",
            format!("/v1/trees/{t}/repositories"),
            format!("/v1/trees/{t}/repositories/{}", f.repo),
            json!({"name": "Library"}),
            String::new(),
        ),
        (
            "notes",
            format!("/v1/trees/{t}/notes"),
            format!("/v1/trees/{t}/notes/{}", f.note),
            json!({"text": "hello"}),
            format!("/v1/trees/{t}/notes/{}", f.note),
        ),
    ] {
        rows.push(row(M::GET, list.clone(), None, all_read));
        rows.push(row(M::POST, list, Some(body.clone()), edit(201)));
        rows.push(row(M::GET, item.clone(), None, all_read));
        rows.push(row(M::PUT, item.clone(), Some(body), edit(200)));
        if kind == "repositories" {
            // Still held by a source.
            rows.push(row(M::DELETE, item, None, [409, 409, 409, 403, 403, 401]));
        } else {
            rows.push(row(M::DELETE, unused, None, edit(204)));
        }
    }
    rows
}

#[tokio::test]
async fn authorization_matrix_every_endpoint_by_every_caller() {
    // Each cell runs on a fresh fixture so that writes in one cell cannot change another.
    let template = {
        let app = App::new().await;
        let fx = fixture(&app).await;
        matrix(&fx).len()
    };
    let mut failures = Vec::new();
    let mut cells = 0;
    for i in 0..template {
        for (u, user) in USERS.iter().enumerate() {
            let app = App::new().await;
            let fx = fixture(&app).await;
            let r = &matrix(&fx)[i];
            let (status, body) = app
                .call(user, r.method.clone(), &r.path, r.body.clone())
                .await;
            cells += 1;
            if status.as_u16() != r.expect[u] {
                failures.push(format!(
                    "{} {} as {user}: want {}, got {status} {body}",
                    r.method, r.path, r.expect[u]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(template >= 60, "matrix covers {template} endpoints");
}

#[tokio::test]
async fn living_people_are_masked_for_outsiders_of_a_public_tree() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let c_path = format!("/v1/persons/{}", fx.c);
    let viewer = app.ok("viewer", Method::GET, &c_path, None).await;
    assert_eq!(viewer["names"][0]["given"], "Child");
    assert_eq!(viewer["living"], true);
    assert_eq!(viewer["birth"]["date"]["original"], "ABT 1990");
    let other = app.ok("other", Method::GET, &c_path, None).await;
    assert_eq!(other["masked"], true);
    assert_eq!(other["names"][0]["given"], "Living");
    assert!(other["birth"].is_null() && other["death"].is_null());
    assert!(!other.to_string().contains("1990") && !other.to_string().contains("Bulawayo"));
    let events = app
        .ok("other", Method::GET, &format!("{c_path}/events"), None)
        .await;
    assert_eq!(events, json!([]));
    // The deceased parent is shown in full.
    let p = app
        .ok("other", Method::GET, &format!("/v1/persons/{}", fx.p), None)
        .await;
    assert_eq!(p["names"][0]["given"], "Parent");
    assert_eq!(p["living"], false);
    assert_eq!(p["birth"]["place"]["town"], "Harare");
    // Lists mask the same way.
    let list = app
        .ok(
            "other",
            Method::GET,
            &format!("/v1/trees/{}/persons", fx.tree),
            None,
        )
        .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["names"][0]["given"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Living") && !names.contains(&"Child"),
        "{names:?}"
    );
    // The tree can turn masking off.
    app.ok(
        "owner",
        Method::PATCH,
        &format!("/v1/family-trees/{}", fx.tree),
        Some(json!({"settings": {"mask_living": false}})),
    )
    .await;
    let unmasked = app.ok("other", Method::GET, &c_path, None).await;
    assert_eq!(unmasked["names"][0]["given"], "Child");
    // A private person stays hidden from outsiders, listed or not.
    app.ok(
        "owner",
        Method::PATCH,
        &c_path,
        Some(json!({"privacy": "private"})),
    )
    .await;
    let (status, _) = app.call("other", Method::GET, &c_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let list = app
        .ok(
            "other",
            Method::GET,
            &format!("/v1/trees/{}/persons", fx.tree),
            None,
        )
        .await;
    assert_eq!(
        list["total"], 3,
        "private people are not even counted: {list}"
    );
    let viewer_list = app
        .ok(
            "viewer",
            Method::GET,
            &format!("/v1/trees/{}/persons", fx.tree),
            None,
        )
        .await;
    assert_eq!(viewer_list["total"], 4);
    // Nor by a name search: short prefixes go through the `tree_name` keys, longer ones
    // through the name tokens; both narrow outsiders to the tree's non-private people.
    for (prefix, outsider_total, viewer_total) in [("chi", 0, 1), ("child", 0, 1), ("moyo", 3, 4)] {
        let url = format!("/v1/persons/search?name={prefix}&tree_id={}", fx.tree);
        let outsider = app.ok("other", Method::GET, &url, None).await;
        assert_eq!(outsider["total"], outsider_total, "{prefix}: {outsider}");
        let viewer = app.ok("viewer", Method::GET, &url, None).await;
        assert_eq!(viewer["total"], viewer_total, "{prefix}: {viewer}");
        let listed = app
            .ok(
                "other",
                Method::GET,
                &format!("/v1/trees/{}/persons?name={prefix}", fx.tree),
                None,
            )
            .await;
        assert_eq!(listed["total"], outsider_total, "{prefix}: {listed}");
    }
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let cases = [
        ("/v1/family-trees".to_owned(), json!({"name": "  "}), "name"),
        (
            format!("/v1/trees/{}/persons", fx.tree),
            json!({"names": []}),
            "names",
        ),
        (
            format!("/v1/trees/{}/persons", fx.tree),
            json!({"names": [{"given": "", "surname": ""}]}),
            "names.0.given",
        ),
        (
            "/v1/events".to_owned(),
            json!({"tree_id": fx.tree, "type": "birth", "date": "31 FEB 1900", "participants": [{"person_id": fx.p}]}),
            "date",
        ),
        (
            "/v1/events".to_owned(),
            json!({"tree_id": fx.tree, "type": "birth", "participants": [{"person_id": "nobody"}]}),
            "participants.0.person_id",
        ),
        (
            "/v1/events".to_owned(),
            json!({"tree_id": fx.tree, "type": "birth", "place": {"name": "X", "latitude": 91.0}, "participants": [{"person_id": fx.p}]}),
            "place.latitude",
        ),
        (
            "/v1/relationships".to_owned(),
            json!({"tree_id": fx.tree, "type": "parent_child", "parent": fx.p, "child": fx.p}),
            "child",
        ),
        (
            "/v1/relationships".to_owned(),
            json!({"tree_id": fx.tree, "type": "parent_child", "parent": fx.c, "child": fx.p}),
            "parent",
        ),
        (
            format!("/v1/trees/{}/citations", fx.tree),
            json!({"source_id": fx.source, "confidence": 7}),
            "confidence",
        ),
        (
            format!("/v1/trees/{}/citations", fx.tree),
            json!({"source_id": "nope"}),
            "source_id",
        ),
        (
            format!("/v1/family-trees/{}/collaborators", fx.tree),
            json!({"email": "not-an-email", "role": "viewer"}),
            "email",
        ),
    ];
    for (path, body, field) in cases {
        let (status, v) = app
            .call("owner", Method::POST, &path, Some(body.clone()))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {v}"
        );
        assert_eq!(v["code"], "validation_failed");
        assert_eq!(v["errors"][0]["field"], field, "{path} {body}: {v}");
    }
    let (status, v) = app
        .call(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}/ancestors?generations=99", fx.p),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["errors"][0]["field"], "generations");
    let (status, _) = app
        .call("owner", Method::GET, "/v1/family-trees?limit=abc", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn listings_page_filter_and_sort_with_totals() {
    let app = App::new().await;
    let t = app
        .ok(
            "owner",
            Method::POST,
            "/v1/family-trees",
            Some(json!({"name": "Big"})),
        )
        .await;
    let tree = t["id"].as_str().unwrap();
    for (given, surname, sex) in [
        ("Ann", "Banda", "female"),
        ("Bob", "Chirwa", "male"),
        ("Cat", "Banda", "female"),
        ("Dan", "Dube", "male"),
        ("Eve", "Abara", "female"),
    ] {
        app.ok("owner", Method::POST, &format!("/v1/trees/{tree}/persons"), Some(json!({"names": [{"given": given, "surname": surname}], "sex": sex, "tags": [surname]}))).await;
    }
    let get = |q: String| {
        let app = &app;
        async move {
            app.ok(
                "owner",
                Method::GET,
                &format!("/v1/trees/{tree}/persons?{q}"),
                None,
            )
            .await
        }
    };
    let given = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["names"][0]["given"].as_str().unwrap().to_owned())
            .collect()
    };
    let page = get("limit=2&offset=1".into()).await;
    assert_eq!(
        given(&page),
        ["Ann", "Cat"],
        "by surname then given: Abara, Banda, Banda, ..."
    );
    assert_eq!(page["total"], 5);
    assert_eq!(
        given(&get("sort=name_desc&limit=2".into()).await),
        ["Dan", "Bob"]
    );
    let f = get("sex=female".into()).await;
    assert_eq!(given(&f), ["Eve", "Ann", "Cat"]);
    assert_eq!(f["total"], 3);
    assert_eq!(given(&get("surname=banda".into()).await), ["Ann", "Cat"]);
    assert_eq!(
        given(&get("name=d".into()).await),
        ["Dan"],
        "prefix of given name or surname"
    );
    assert_eq!(get("tag=chirwa&sex=male".into()).await["total"], 1);
    let search = app
        .ok("owner", Method::GET, "/v1/persons/search?name=ban", None)
        .await;
    assert_eq!(search["total"], 2);
    let (status, _) = app
        .call("owner", Method::GET, "/v1/persons/search?name=", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn history_records_changes_and_revert_restores_them() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let path = format!("/v1/persons/{}", fx.p);
    app.ok(
        "editor",
        Method::PATCH,
        &path,
        Some(json!({"names": [{"given": "Renamed", "surname": "Moyo"}]})),
    )
    .await;
    let h = app
        .ok("owner", Method::GET, &format!("{path}/history"), None)
        .await;
    let latest = &h["items"][0];
    assert_eq!(latest["action"], "person_updated");
    assert_eq!(latest["actor_id"], "editor");
    assert_eq!(
        latest["changes"][0]["before"]["names"][0]["given"],
        "Parent"
    );
    assert_eq!(
        latest["changes"][0]["after"]["names"][0]["given"],
        "Renamed"
    );
    let id = latest["id"].as_str().unwrap();
    let revert = app
        .ok(
            "editor",
            Method::POST,
            &format!("/v1/person-history/{id}/revert"),
            None,
        )
        .await;
    assert_eq!(revert["action"], "reverted");
    assert_eq!(revert["reverts"], id);
    assert_eq!(
        app.ok("viewer", Method::GET, &path, None).await["names"][0]["given"],
        "Parent"
    );
    let (status, _) = app
        .call(
            "editor",
            Method::POST,
            &format!("/v1/person-history/{id}/revert"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "already reverted");
    // An older change cannot be reverted over a later one.
    app.ok("owner", Method::PATCH, &path, Some(json!({"tags": ["a"]})))
        .await;
    let first = app
        .ok("owner", Method::GET, &format!("{path}/history"), None)
        .await;
    let tag_change = first["items"][0]["id"].as_str().unwrap().to_owned();
    app.ok("owner", Method::PATCH, &path, Some(json!({"tags": ["b"]})))
        .await;
    let (status, v) = app
        .call(
            "owner",
            Method::POST,
            &format!("/v1/person-history/{tag_change}/revert"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    // Deleting a person is revertable: the person and their relationship come back.
    app.ok(
        "owner",
        Method::DELETE,
        &format!("/v1/persons/{}", fx.c),
        None,
    )
    .await;
    assert_eq!(
        app.call("owner", Method::GET, &format!("/v1/persons/{}", fx.c), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let h = app
        .ok(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}/history", fx.c),
            None,
        )
        .await;
    assert_eq!(h["items"][0]["action"], "person_deleted");
    let del = h["items"][0]["id"].as_str().unwrap();
    app.ok(
        "owner",
        Method::POST,
        &format!("/v1/person-history/{del}/revert"),
        None,
    )
    .await;
    let fam = app
        .ok(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}/family", fx.c),
            None,
        )
        .await;
    assert_eq!(fam["parents"][0]["person"]["id"], fx.p.as_str());
    assert_eq!(
        app.ok(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}/events", fx.c),
            None
        )
        .await
        .as_array()
        .unwrap()
        .len(),
        1
    );
}

#[tokio::test]
async fn merge_moves_everything_to_the_survivor_and_undo_restores_both() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    // Give Q2 a birth and a parent, so there is something to move.
    app.ok("owner", Method::POST, "/v1/events", Some(json!({"tree_id": fx.tree, "type": "birth", "date": "1950", "participants": [{"person_id": fx.q2}]}))).await;
    app.ok(
        "owner",
        Method::POST,
        "/v1/relationships",
        Some(json!({"tree_id": fx.tree, "type": "parent_child", "parent": fx.p, "child": fx.q2})),
    )
    .await;
    app.ok(
        "owner",
        Method::PATCH,
        &format!("/v1/persons/{}", fx.q2),
        Some(json!({"external_ids": [{"system": "gedcom_xref", "value": "@I7@"}]})),
    )
    .await;
    let out = app
        .ok(
            "editor",
            Method::POST,
            &format!("/v1/merge-suggestions/{}/accept", fx.merge),
            Some(json!({})),
        )
        .await;
    assert_eq!(out["survivor_id"], fx.q.as_str());
    assert_eq!(out["suggestion"]["status"], "accepted");
    let q = app
        .ok("owner", Method::GET, &format!("/v1/persons/{}", fx.q), None)
        .await;
    let names: Vec<&str> = q["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["given"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Quinn", "Quin"]);
    assert_eq!(q["external_ids"][0]["value"], "@I7@");
    assert_eq!(q["birth"]["date"]["original"], "1950");
    let fam = app
        .ok(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}/family", fx.q),
            None,
        )
        .await;
    assert_eq!(fam["parents"][0]["person"]["id"], fx.p.as_str());
    assert_eq!(
        app.call(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}", fx.q2),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let h = app
        .ok(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}/history", fx.q),
            None,
        )
        .await;
    assert_eq!(h["items"][0]["action"], "merged");
    assert!(
        h["total"].as_u64().unwrap() >= 4,
        "Q2's history now belongs to Q: {h}"
    );
    let (status, _) = app
        .call(
            "editor",
            Method::POST,
            &format!("/v1/merge-suggestions/{}/accept", fx.merge),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let undone = app
        .ok(
            "editor",
            Method::POST,
            &format!("/v1/merge-suggestions/{}/undo", fx.merge),
            None,
        )
        .await;
    assert_eq!(undone["status"], "pending");
    let q2 = app
        .ok(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}", fx.q2),
            None,
        )
        .await;
    assert_eq!(q2["names"][0]["given"], "Quin");
    assert_eq!(q2["birth"]["date"]["original"], "1950");
    let q = app
        .ok("owner", Method::GET, &format!("/v1/persons/{}", fx.q), None)
        .await;
    assert_eq!(q["names"].as_array().unwrap().len(), 1);
    assert!(q["birth"].is_null());
    let fam = app
        .ok(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}/family", fx.q2),
            None,
        )
        .await;
    assert_eq!(fam["parents"][0]["person"]["id"], fx.p.as_str());
    let h = app
        .ok(
            "owner",
            Method::GET,
            &format!("/v1/persons/{}/history", fx.q2),
            None,
        )
        .await;
    assert!(
        h["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "person_created")
    );
    // Rejecting is final.
    let r = app
        .ok(
            "owner",
            Method::POST,
            &format!("/v1/merge-suggestions/{}/reject", fx.merge),
            None,
        )
        .await;
    assert_eq!(r["status"], "rejected");
}

#[tokio::test]
async fn views_family_pedigree_relationship_and_notifications() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    // A grandchild and a sibling of C.
    let gc = app
        .ok(
            "owner",
            Method::POST,
            &format!("/v1/trees/{}/persons", fx.tree),
            Some(json!({"names": [{"given": "Grand", "surname": "Moyo"}], "sex": "female"})),
        )
        .await;
    let gc = gc["id"].as_str().unwrap();
    app.ok(
        "owner",
        Method::POST,
        "/v1/relationships",
        Some(json!({"tree_id": fx.tree, "type": "parent_child", "parent": fx.c, "child": gc})),
    )
    .await;
    let sib = app
        .ok(
            "owner",
            Method::POST,
            &format!("/v1/trees/{}/persons", fx.tree),
            Some(json!({"names": [{"given": "Sib"}], "sex": "male"})),
        )
        .await;
    let sib = sib["id"].as_str().unwrap();
    app.ok(
        "owner",
        Method::POST,
        "/v1/relationships",
        Some(json!({"tree_id": fx.tree, "type": "parent_child", "parent": fx.p, "child": sib})),
    )
    .await;
    let fam = app
        .ok(
            "viewer",
            Method::GET,
            &format!("/v1/persons/{}/family", fx.c),
            None,
        )
        .await;
    assert_eq!(fam["parents"].as_array().unwrap().len(), 1);
    assert_eq!(fam["children"][0]["person"]["id"], gc);
    assert_eq!(fam["siblings"][0]["person"]["id"], sib);
    assert_eq!(fam["siblings"][0]["half"], false);
    let anc = app
        .ok(
            "viewer",
            Method::GET,
            &format!("/v1/persons/{gc}/ancestors?generations=5"),
            None,
        )
        .await;
    let gens: Vec<(u64, &str)> = anc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["generation"].as_u64().unwrap(),
                n["person"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(gens, [(1, fx.c.as_str()), (2, fx.p.as_str())]);
    let one = app
        .ok(
            "viewer",
            Method::GET,
            &format!("/v1/persons/{gc}/ancestors?generations=1"),
            None,
        )
        .await;
    assert_eq!(one["nodes"].as_array().unwrap().len(), 1);
    let desc = app
        .ok(
            "viewer",
            Method::GET,
            &format!("/v1/persons/{}/descendants?generations=2", fx.p),
            None,
        )
        .await;
    assert_eq!(desc["nodes"].as_array().unwrap().len(), 3);
    let rel = app
        .ok(
            "viewer",
            Method::GET,
            &format!("/v1/persons/{gc}/relationship-to/{sib}"),
            None,
        )
        .await;
    assert_eq!(rel["description"], "uncle", "{rel}");
    let rel = app
        .ok(
            "viewer",
            Method::GET,
            &format!("/v1/persons/{sib}/relationship-to/{gc}"),
            None,
        )
        .await;
    assert_eq!(rel["description"], "niece");
    assert_eq!(rel["path"].as_array().unwrap().len(), 4);
    let rel = app
        .ok(
            "viewer",
            Method::GET,
            &format!("/v1/persons/{gc}/relationship-to/{}", fx.p),
            None,
        )
        .await;
    assert_eq!(rel["description"], "grandparent");
    // The outsider sees the path, with the living people on it masked.
    let rel = app
        .ok(
            "other",
            Method::GET,
            &format!("/v1/persons/{sib}/relationship-to/{}", fx.p),
            None,
        )
        .await;
    assert_eq!(rel["description"], "parent");
    assert_eq!(rel["path"][0]["name"], "Living");
    assert_eq!(
        app.ok(
            "viewer",
            Method::GET,
            &format!("/v1/persons/{}/relationship-to/{}", fx.p, fx.q),
            None
        )
        .await["description"],
        "no relation"
    );
    // Collaborators were told about the people added; the actor was not.
    let n = app
        .ok("viewer", Method::GET, "/v1/notifications?unread=true", None)
        .await;
    assert!(n["total"].as_u64().unwrap() >= 6, "{n}");
    assert!(
        n["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["kind"] == "person_added")
    );
    assert!(
        n["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["kind"] == "merge_suggested")
    );
    assert!(
        n["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["kind"] == "tree_shared")
    );
    assert_eq!(
        app.ok("owner", Method::GET, "/v1/notifications", None)
            .await["total"],
        0
    );
    let first = n["items"][0]["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            "admin",
            Method::POST,
            &format!("/v1/notifications/{first}/read"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "not the admin's notification"
    );
    app.ok(
        "viewer",
        Method::POST,
        &format!("/v1/notifications/{first}/read"),
        None,
    )
    .await;
    let after = app
        .ok("viewer", Method::GET, "/v1/notifications?unread=true", None)
        .await;
    assert_eq!(
        after["total"].as_u64().unwrap(),
        n["total"].as_u64().unwrap() - 1
    );
    let marked = app
        .ok("viewer", Method::POST, "/v1/notifications/read-all", None)
        .await;
    assert_eq!(marked["marked"], after["total"]);
    assert_eq!(
        app.ok("viewer", Method::GET, "/v1/notifications?unread=true", None)
            .await["total"],
        0
    );
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let doc = dzinza_genealogy::openapi();
    let json = serde_json::to_value(&doc).unwrap();
    let paths = json["paths"].as_object().unwrap();
    for p in [
        "/api/v1/family-trees",
        "/api/v1/trees/{tree_id}/persons",
        "/api/v1/persons/{id}/relationship-to/{other}",
        "/api/v1/merge-suggestions/{id}/accept",
        "/api/v1/person-history/{id}/revert",
        "/api/v1/trees/{tree_id}/notes/{id}",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    let operations: usize = paths
        .values()
        .map(|item| {
            ["get", "post", "put", "patch", "delete"]
                .iter()
                .filter(|m| item.get(**m).is_some())
                .count()
        })
        .sum();
    assert_eq!(operations, 62, "every route of the router is documented");
}
