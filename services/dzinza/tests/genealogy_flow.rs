//! End to end through the gateway on the real `dzinza serve` (embedded): a tree with three
//! generations, events and sources; a viewer invited by email with read-only access; living
//! masking for an outsider of a public tree; revert from history; merge and undo. The same flow
//! runs on the embedded SQLite store and, when `DZINZA_TEST_MONGODB_URL` is set, on MongoDB.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

mod support;

use std::path::Path;
use std::process::Command;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::Dzinza;

const PASSWORD: &str = "correct horse battery staple";

/// The flow's shorthand on top of [`Dzinza::call`].
trait Flow {
    /// A call that must succeed; returns its JSON body.
    async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value;
    /// Logs `email` in and returns the access token.
    async fn login(&self, email: &str) -> String;
}

impl Flow for Dzinza {
    async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method.clone(), path, token, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }

    async fn login(&self, email: &str) -> String {
        let v = self
            .ok(
                Method::POST,
                "/api/v1/auth/login",
                "",
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        v["access_token"].as_str().unwrap().to_owned()
    }
}

fn create_user(data_dir: &Path, email: &str) {
    let pw = data_dir.join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dzinza"))
        .args(["admin", "create-user", "--email", email, "--password-file"])
        .arg(&pw)
        .arg("--data-dir")
        .arg(data_dir)
        .env("DZINZA_LOG_LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_family_tree_through_the_gateway() {
    flow(tempfile::tempdir().unwrap(), Vec::new()).await;
}

#[tokio::test]
async fn a_family_tree_through_the_gateway_on_mongodb() {
    let Some(base) = dzinza_kit::testing::backend_url("mongodb", "DZINZA_TEST_MONGODB_URL") else {
        return;
    };
    // A database of this test's own, named in the URL as an operator would.
    let name = format!("dzinza_flow_{}", uuid::Uuid::new_v4().simple());
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{name}"));
    flow(
        tempfile::tempdir().unwrap(),
        vec![("DZINZA_GENEALOGY_MONGODB_URL", url.to_string())],
    )
    .await;
    let db = mongodb::Client::with_uri_str(&base)
        .await
        .unwrap()
        .database(&name);
    let persons = db
        .collection::<mongodb::bson::Document>("persons")
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap();
    assert!(
        persons >= 4,
        "the flow's persons are in MongoDB ({persons})"
    );
    db.drop().await.unwrap();
}

/// The whole flow on a server started with `env` in `data`.
async fn flow(data: tempfile::TempDir, env: Vec<(&str, String)>) {
    for email in [
        "owner@example.org",
        "viewer@example.org",
        "outsider@example.org",
    ] {
        create_user(data.path(), email);
    }
    // Raised limits: the flow makes more calls than the default buckets allow.
    let gateway_config = data.path().join("gateway.yaml");
    std::fs::write(
        &gateway_config,
        "rate_limits:\n  anonymous: {per_minute: 6000, burst: 1000}\n  \
         authenticated: {per_minute: 6000, burst: 1000}\n  \
         credentials: {per_minute: 6000, burst: 1000}\n",
    )
    .unwrap();
    let config = gateway_config.display().to_string();
    let on_mongodb = env
        .iter()
        .any(|(k, _)| *k == "DZINZA_GENEALOGY_MONGODB_URL");
    let mut env = env;
    env.push(("DZINZA_GATEWAY_CONFIG", config));
    let s = Dzinza::start_in(data, &[], &env).await;
    let (status, ready) = s.call(Method::GET, "/readyz", "", None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(
        s.data_dir.path().join("genealogy.db").exists(),
        !on_mongodb,
        "the embedded store is used only without a MongoDB URL"
    );
    let owner = s.login("owner@example.org").await;
    let viewer = s.login("viewer@example.org").await;
    let outsider = s.login("outsider@example.org").await;

    let (status, _) = s.call(Method::GET, "/api/v1/family-trees", "", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A public tree with three generations, events and a source.
    let tree = s
        .ok(
            Method::POST,
            "/api/v1/family-trees",
            &owner,
            Some(json!({"name": "Ncube family", "privacy": "public"})),
        )
        .await;
    let t = id(&tree);
    assert_eq!(tree["access"], "owner");
    let person = |given: &str, sex: &str| json!({"names": [{"given": given, "surname": "Ncube"}], "sex": sex});
    let add = |body: Value| {
        let (s, owner, t) = (&s, owner.clone(), t.clone());
        async move {
            id(&s
                .ok(
                    Method::POST,
                    &format!("/api/v1/trees/{t}/persons"),
                    &owner,
                    Some(body),
                )
                .await)
        }
    };
    let grandpa = add(person("Sipho", "male")).await;
    let grandma = add(person("Thandi", "female")).await;
    let father = add(person("Themba", "male")).await;
    let child = add(person("Lindiwe", "female")).await;
    let rel = |body: Value| {
        let (s, owner, t) = (&s, owner.clone(), t.clone());
        async move {
            let mut body = body;
            body["tree_id"] = json!(t);
            s.ok(Method::POST, "/api/v1/relationships", &owner, Some(body))
                .await
        }
    };
    rel(json!({"type": "partnership", "a": grandpa, "b": grandma, "kind": "married"})).await;
    rel(json!({"type": "parent_child", "parent": grandpa, "child": father})).await;
    rel(json!({"type": "parent_child", "parent": grandma, "child": father})).await;
    rel(json!({"type": "parent_child", "parent": father, "child": child})).await;
    let source = s
        .ok(
            Method::POST,
            &format!("/api/v1/trees/{t}/sources"),
            &owner,
            Some(json!({"title": "Bulawayo births register"})),
        )
        .await;
    let citation = s
        .ok(
            Method::POST,
            &format!("/api/v1/trees/{t}/citations"),
            &owner,
            Some(json!({"source_id": id(&source), "page": "folio 7", "confidence": 3})),
        )
        .await;
    let event = |who: &str, ty: &str, date: &str, place: &str| {
        let (s, owner, t, c) = (&s, owner.clone(), t.clone(), id(&citation));
        let body = json!({"tree_id": t, "type": ty, "date": date, "place": {"name": place}, "participants": [{"person_id": who}], "citation_ids": [c]});
        async move {
            s.ok(Method::POST, "/api/v1/events", &owner, Some(body))
                .await
        }
    };
    event(
        &grandpa,
        "birth",
        "ABT 1890",
        "Bulawayo, Matabeleland, Zimbabwe",
    )
    .await;
    event(&grandpa, "death", "12 MAR 1961", "Bulawayo, Zimbabwe").await;
    event(&grandma, "birth", "BET 1892 AND 1894", "Gwanda, Zimbabwe").await;
    event(&grandma, "burial", "1970", "Gwanda, Zimbabwe").await;
    event(
        &father,
        "birth",
        "@#DJULIAN@ 1 JAN 1920",
        "Bulawayo, Zimbabwe",
    )
    .await;
    event(&father, "death", "2001", "Harare, Zimbabwe").await;
    event(&child, "birth", "3 APR 1995", "Harare, Zimbabwe").await;

    let anc = s
        .ok(
            Method::GET,
            &format!("/api/v1/persons/{child}/ancestors?generations=3"),
            &owner,
            None,
        )
        .await;
    assert_eq!(anc["nodes"].as_array().unwrap().len(), 3);
    // Dates and places reach the pedigree as stored, whichever store kept them.
    let father_node = anc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["person"]["id"] == father.as_str())
        .unwrap();
    let death = &father_node["person"]["death"];
    assert_eq!(death["date"]["original"], "2001");
    assert_eq!(death["date"]["value"]["date"]["year"], 2001);
    assert_eq!(death["place"]["name"], "Harare, Zimbabwe");
    let kin = s
        .ok(
            Method::GET,
            &format!("/api/v1/persons/{child}/relationship-to/{grandma}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(kin["description"], "grandmother");
    let events = s
        .ok(
            Method::GET,
            &format!("/api/v1/persons/{grandpa}/events"),
            &owner,
            None,
        )
        .await;
    assert_eq!(events[0]["type"], "birth", "date order");
    assert_eq!(events[0]["citation_ids"][0], id(&citation).as_str());

    // Invite the viewer by email: read-only.
    s.ok(
        Method::POST,
        &format!("/api/v1/family-trees/{t}/collaborators"),
        &owner,
        Some(json!({"email": "viewer@example.org", "role": "viewer"})),
    )
    .await;
    let mine = s
        .ok(Method::GET, "/api/v1/family-trees", &viewer, None)
        .await;
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["items"][0]["access"], "viewer");
    let list = s
        .ok(
            Method::GET,
            &format!("/api/v1/trees/{t}/persons"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(list["total"], 4);
    let seen = s
        .ok(
            Method::GET,
            &format!("/api/v1/persons/{child}"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(seen["names"][0]["given"], "Lindiwe");
    assert_eq!(seen["living"], true);
    let (status, _) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/persons/{child}"),
            &viewer,
            Some(json!({"tags": ["x"]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/v1/trees/{t}/persons"),
            &viewer,
            Some(person("X", "male")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An outsider reads the public tree with the living child masked.
    let masked = s
        .ok(
            Method::GET,
            &format!("/api/v1/persons/{child}"),
            &outsider,
            None,
        )
        .await;
    assert_eq!(masked["names"][0]["given"], "Living");
    assert!(masked["birth"].is_null());
    assert!(!masked.to_string().contains("1995"));
    let dead = s
        .ok(
            Method::GET,
            &format!("/api/v1/persons/{grandpa}"),
            &outsider,
            None,
        )
        .await;
    assert_eq!(dead["names"][0]["given"], "Sipho");
    assert_eq!(dead["death"]["date"]["original"], "12 MAR 1961");
    let (status, _) = s
        .call(
            Method::GET,
            &format!("/api/v1/persons/{child}/history"),
            &outsider,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revert a change from history.
    s.ok(
        Method::PATCH,
        &format!("/api/v1/persons/{grandpa}"),
        &owner,
        Some(json!({"names": [{"given": "Sipho Typo", "surname": "Ncube"}]})),
    )
    .await;
    let history = s
        .ok(
            Method::GET,
            &format!("/api/v1/persons/{grandpa}/history"),
            &owner,
            None,
        )
        .await;
    let change = &history["items"][0];
    assert_eq!(change["action"], "person_updated");
    s.ok(
        Method::POST,
        &format!("/api/v1/person-history/{}/revert", id(change)),
        &owner,
        None,
    )
    .await;
    let back = s
        .ok(
            Method::GET,
            &format!("/api/v1/persons/{grandpa}"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(back["names"][0]["given"], "Sipho");

    // Merge a duplicate, then undo it.
    let dup = add(person("Sipho", "male")).await;
    event(&dup, "occupation", "1930", "Bulawayo").await;
    let suggestion = s
        .ok(Method::POST, "/api/v1/merge-suggestions", &owner, Some(json!({"tree_id": t, "person_a": grandpa, "person_b": dup, "reasons": ["same name"]})))
        .await;
    let sid = id(&suggestion);
    let notes = s
        .ok(
            Method::GET,
            "/api/v1/notifications?unread=true",
            &viewer,
            None,
        )
        .await;
    assert!(
        notes["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "merge_suggested"),
        "{notes}"
    );
    let merged = s
        .ok(
            Method::POST,
            &format!("/api/v1/merge-suggestions/{sid}/accept"),
            &owner,
            Some(json!({})),
        )
        .await;
    assert_eq!(merged["survivor_id"], grandpa.as_str());
    let (status, _) = s
        .call(Method::GET, &format!("/api/v1/persons/{dup}"), &owner, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let events = s
        .ok(
            Method::GET,
            &format!("/api/v1/persons/{grandpa}/events"),
            &owner,
            None,
        )
        .await;
    assert_eq!(
        events.as_array().unwrap().len(),
        3,
        "the duplicate's occupation moved over"
    );
    let undone = s
        .ok(
            Method::POST,
            &format!("/api/v1/merge-suggestions/{sid}/undo"),
            &owner,
            None,
        )
        .await;
    assert_eq!(undone["status"], "pending");
    let restored = s
        .ok(Method::GET, &format!("/api/v1/persons/{dup}"), &owner, None)
        .await;
    assert_eq!(restored["names"][0]["given"], "Sipho");
    let events = s
        .ok(
            Method::GET,
            &format!("/api/v1/persons/{grandpa}/events"),
            &owner,
            None,
        )
        .await;
    assert_eq!(events.as_array().unwrap().len(), 2);

    // The OpenAPI document through the gateway includes the genealogy paths.
    let (status, doc) = s.call(Method::GET, "/api/openapi.json", "", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/family-trees"].is_object());
}
