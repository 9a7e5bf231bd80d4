//! The job-store conformance suite: every adapter runs every case below.
//!
//! Time is passed in explicitly, so leases, backoff and schedules are tested without sleeping.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use dzinza_jobs::model::{
    ClaimRequest, Failure, JobFilter, LeaseStatus, Outcome, OutcomeKind, Schedule,
};
use dzinza_jobs::{JobState, JobStore, NewJob};
use serde_json::json;

const T0: i64 = 1_800_000_000_000;
const LEASE: i64 = 30_000;

fn claim_req(worker: &str, types: &[&str], limit: u32, now: i64) -> ClaimRequest {
    ClaimRequest {
        worker_id: worker.to_owned(),
        types: types.iter().map(|s| (*s).to_owned()).collect(),
        limit,
        now,
        lease_ms: LEASE,
    }
}

async fn enqueue_claim_complete(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let e = s
        .enqueue(
            NewJob::new("thumbnail", json!({"file": "f1"}))
                .owner("u1")
                .tree("t1"),
            T0,
        )
        .await
        .unwrap();
    assert!(e.created);
    let job = s.get(&e.job.id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.payload, json!({"file": "f1"}));
    assert_eq!(job.owner_id.as_deref(), Some("u1"));
    assert_eq!(job.tree_id.as_deref(), Some("t1"));
    assert_eq!(job.attempts, 0);

    // A worker without a handler for the type gets nothing.
    assert!(
        s.claim(claim_req("w1", &["other"], 10, T0))
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = s
        .claim(claim_req("w1", &["thumbnail"], 10, T0))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!(c.job.id, job.id);
    assert_eq!(c.job.state, JobState::Running);
    assert_eq!(c.job.attempts, 1);
    assert_eq!(c.job.lease_owner.as_deref(), Some("w1"));
    assert_eq!(c.job.lease_expires_at, Some(T0 + LEASE));
    assert!(
        s.claim(claim_req("w2", &["thumbnail"], 10, T0))
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        s.progress(&job.id, &c.lease_token, 0.5, Some("half".into()), T0 + 1)
            .await
            .unwrap()
    );
    let mid = s.get(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (mid.progress, mid.progress_message.as_deref()),
        (0.5, Some("half"))
    );

    assert!(
        !s.complete(&job.id, "not-the-token", json!(1), T0 + 2)
            .await
            .unwrap()
    );
    assert!(
        s.complete(&job.id, &c.lease_token, json!({"ok": true}), T0 + 2)
            .await
            .unwrap()
    );
    let done = s.get(&job.id).await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.result, Some(json!({"ok": true})));
    assert_eq!(done.progress, 1.0);
    assert_eq!(done.finished_at, Some(T0 + 2));
    assert_eq!(done.lease_owner, None);
    // A second completion (e.g. a stale duplicate) changes nothing.
    assert!(
        !s.complete(&job.id, &c.lease_token, json!(2), T0 + 3)
            .await
            .unwrap()
    );
    assert!(s.get("no-such-id").await.unwrap().is_none());
}

async fn idempotency_key(s: Arc<dyn JobStore>, b: Arc<dyn JobStore>) {
    let first = s
        .enqueue(
            NewJob::new("gedcom_import", json!({"n": 1})).idempotency_key("import:42"),
            T0,
        )
        .await
        .unwrap();
    let again = b
        .enqueue(
            NewJob::new("gedcom_import", json!({"n": 2})).idempotency_key("import:42"),
            T0 + 5,
        )
        .await
        .unwrap();
    assert!(first.created);
    assert!(!again.created);
    assert_eq!(again.job.id, first.job.id);
    assert_eq!(again.job.payload, json!({"n": 1}));
    let other = s
        .enqueue(
            NewJob::new("gedcom_import", json!({})).idempotency_key("import:43"),
            T0,
        )
        .await
        .unwrap();
    assert_ne!(other.job.id, first.job.id);
    // No key: always a new job.
    let x = s.enqueue(NewJob::new("t", json!({})), T0).await.unwrap();
    let y = s.enqueue(NewJob::new("t", json!({})), T0).await.unwrap();
    assert_ne!(x.job.id, y.job.id);
}

async fn priority_and_run_after(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let low = s
        .enqueue(NewJob::new("t", json!("low")), T0)
        .await
        .unwrap()
        .job;
    let high = s
        .enqueue(NewJob::new("t", json!("high")).priority(10), T0)
        .await
        .unwrap()
        .job;
    let later = s
        .enqueue(
            NewJob::new("t", json!("later"))
                .priority(100)
                .run_after(T0 + 60_000),
            T0,
        )
        .await
        .unwrap()
        .job;
    let first = s.claim(claim_req("w", &["t"], 1, T0)).await.unwrap();
    assert_eq!(first[0].job.id, high.id);
    let second = s.claim(claim_req("w", &["t"], 5, T0)).await.unwrap();
    assert_eq!(
        second.iter().map(|c| c.job.id.clone()).collect::<Vec<_>>(),
        vec![low.id]
    );
    let third = s
        .claim(claim_req("w", &["t"], 5, T0 + 60_000))
        .await
        .unwrap();
    assert_eq!(third[0].job.id, later.id);
}

async fn retry_with_backoff_then_failed(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let job = s
        .enqueue(NewJob::new("t", json!({})).max_attempts(2), T0)
        .await
        .unwrap()
        .job;
    let c = s
        .claim(claim_req("w", &["t"], 1, T0))
        .await
        .unwrap()
        .remove(0);
    let state = s
        .fail(
            &job.id,
            &c.lease_token,
            Failure {
                error: "boom 1".into(),
                retry_at: Some(T0 + 2_000),
            },
            T0 + 10,
        )
        .await
        .unwrap();
    assert_eq!(state, Some(JobState::Queued));
    let j = s.get(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.run_after, j.error.as_deref()),
        (JobState::Queued, T0 + 2_000, Some("boom 1"))
    );
    // Not before the backoff has passed.
    assert!(
        s.claim(claim_req("w", &["t"], 1, T0 + 1_999))
            .await
            .unwrap()
            .is_empty()
    );
    let c2 = s
        .claim(claim_req("w", &["t"], 1, T0 + 2_000))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(c2.job.attempts, 2);
    // The old claim's token is stale.
    assert_eq!(
        s.fail(
            &job.id,
            &c.lease_token,
            Failure {
                error: "stale".into(),
                retry_at: None
            },
            T0 + 2_001
        )
        .await
        .unwrap(),
        None
    );
    let state = s
        .fail(
            &job.id,
            &c2.lease_token,
            Failure {
                error: "boom 2".into(),
                retry_at: Some(T0 + 9_000),
            },
            T0 + 2_010,
        )
        .await
        .unwrap();
    assert_eq!(state, Some(JobState::Failed), "out of attempts");
    let j = s.get(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.error.as_deref(), j.finished_at),
        (JobState::Failed, Some("boom 2"), Some(T0 + 2_010))
    );
    assert!(
        s.claim(claim_req("w", &["t"], 1, T0 + 100_000))
            .await
            .unwrap()
            .is_empty()
    );

    let failed = s
        .list(JobFilter {
            state: Some(JobState::Failed),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        failed.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        vec![job.id.clone()]
    );
    // An admin retry puts it back with fresh attempts.
    let retried = s.retry(&job.id, T0 + 200_000).await.unwrap().unwrap();
    assert_eq!(
        (retried.state, retried.attempts, retried.error),
        (JobState::Queued, 0, None)
    );
    assert!(
        s.retry(&job.id, T0 + 200_001).await.unwrap().is_none(),
        "only failed jobs retry"
    );
    let c3 = s
        .claim(claim_req("w", &["t"], 1, T0 + 200_000))
        .await
        .unwrap();
    assert_eq!(c3[0].job.attempts, 1);
}

async fn permanent_failure(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let job = s
        .enqueue(NewJob::new("t", json!({})).max_attempts(5), T0)
        .await
        .unwrap()
        .job;
    let c = s
        .claim(claim_req("w", &["t"], 1, T0))
        .await
        .unwrap()
        .remove(0);
    let state = s
        .fail(
            &job.id,
            &c.lease_token,
            Failure {
                error: "bad payload".into(),
                retry_at: None,
            },
            T0 + 1,
        )
        .await
        .unwrap();
    assert_eq!(state, Some(JobState::Failed));
}

async fn cancellation(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let queued = s.enqueue(NewJob::new("t", json!(1)), T0).await.unwrap().job;
    let j = s.request_cancel(&queued.id, T0 + 1).await.unwrap().unwrap();
    assert_eq!(j.state, JobState::Cancelled);
    assert!(
        s.claim(claim_req("w", &["t"], 5, T0 + 2))
            .await
            .unwrap()
            .is_empty()
    );

    let running = s.enqueue(NewJob::new("t", json!(2)), T0).await.unwrap().job;
    let c = s
        .claim(claim_req("w", &["t"], 5, T0 + 3))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        s.heartbeat(&running.id, &c.lease_token, T0 + 4, LEASE)
            .await
            .unwrap(),
        LeaseStatus::Held {
            cancel_requested: false
        }
    );
    let j = s
        .request_cancel(&running.id, T0 + 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((j.state, j.cancel_requested), (JobState::Running, true));
    assert_eq!(
        s.heartbeat(&running.id, &c.lease_token, T0 + 6, LEASE)
            .await
            .unwrap(),
        LeaseStatus::Held {
            cancel_requested: true
        }
    );
    assert!(
        s.mark_cancelled(&running.id, &c.lease_token, T0 + 7)
            .await
            .unwrap()
    );
    let j = s.get(&running.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.finished_at),
        (JobState::Cancelled, Some(T0 + 7))
    );
    assert!(s.request_cancel("missing", T0).await.unwrap().is_none());

    // A cancel requested while the worker died ends cancelled, not re-queued.
    let orphan = s.enqueue(NewJob::new("t", json!(3)), T0).await.unwrap().job;
    s.claim(claim_req("w", &["t"], 5, T0)).await.unwrap();
    s.request_cancel(&orphan.id, T0 + 1).await.unwrap();
    assert_eq!(s.recover_expired(T0 + LEASE + 1).await.unwrap(), 1);
    assert_eq!(
        s.get(&orphan.id).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
}

async fn lease_expiry(s: Arc<dyn JobStore>, b: Arc<dyn JobStore>) {
    let job = s
        .enqueue(NewJob::new("t", json!({})).max_attempts(3), T0)
        .await
        .unwrap()
        .job;
    let dead = s
        .claim(claim_req("dead", &["t"], 1, T0))
        .await
        .unwrap()
        .remove(0);
    // A heartbeat extends the lease.
    assert_eq!(
        s.heartbeat(&job.id, &dead.lease_token, T0 + 20_000, LEASE)
            .await
            .unwrap(),
        LeaseStatus::Held {
            cancel_requested: false
        }
    );
    assert_eq!(
        b.recover_expired(T0 + LEASE + 1).await.unwrap(),
        0,
        "lease was renewed"
    );
    assert!(
        b.claim(claim_req("alive", &["t"], 1, T0 + LEASE + 1))
            .await
            .unwrap()
            .is_empty()
    );
    // The worker dies; after the lease lapses another worker picks the job up.
    let later = T0 + 20_000 + LEASE + 1;
    assert_eq!(b.recover_expired(later).await.unwrap(), 1);
    let j = b.get(&job.id).await.unwrap().unwrap();
    assert_eq!((j.state, j.lease_owner), (JobState::Queued, None));
    let alive = b
        .claim(claim_req("alive", &["t"], 1, later))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(alive.job.attempts, 2);
    // The dead worker's late writes are fenced off.
    assert_eq!(
        s.heartbeat(&job.id, &dead.lease_token, later, LEASE)
            .await
            .unwrap(),
        LeaseStatus::Lost
    );
    assert!(
        !s.progress(&job.id, &dead.lease_token, 0.9, None, later)
            .await
            .unwrap()
    );
    assert!(
        !s.complete(&job.id, &dead.lease_token, json!("dead"), later)
            .await
            .unwrap()
    );
    assert!(
        b.complete(&job.id, &alive.lease_token, json!("alive"), later + 1)
            .await
            .unwrap()
    );
    assert_eq!(
        s.get(&job.id).await.unwrap().unwrap().result,
        Some(json!("alive"))
    );

    // Out of attempts when the lease lapses: failed, with the reason.
    let once = s
        .enqueue(NewJob::new("t", json!({})).max_attempts(1), T0)
        .await
        .unwrap()
        .job;
    s.claim(claim_req("dead", &["t"], 1, T0)).await.unwrap();
    assert_eq!(s.recover_expired(T0 + LEASE + 1).await.unwrap(), 1);
    let j = s.get(&once.id).await.unwrap().unwrap();
    assert_eq!(j.state, JobState::Failed);
    assert!(j.error.unwrap().contains("lease expired"));
}

async fn release_does_not_count_an_attempt(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let job = s
        .enqueue(NewJob::new("t", json!({})), T0)
        .await
        .unwrap()
        .job;
    let c = s
        .claim(claim_req("w", &["t"], 1, T0))
        .await
        .unwrap()
        .remove(0);
    assert!(s.release(&job.id, &c.lease_token, T0 + 1).await.unwrap());
    let j = s.get(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.attempts, j.lease_owner),
        (JobState::Queued, 0, None)
    );
    assert!(!s.release(&job.id, &c.lease_token, T0 + 2).await.unwrap());
}

async fn concurrent_claims_never_overlap(s: Arc<dyn JobStore>, b: Arc<dyn JobStore>) {
    for i in 0..60 {
        s.enqueue(NewJob::new("t", json!(i)), T0).await.unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = if w % 2 == 0 { s.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store
                    .claim(claim_req(&format!("w{w}"), &["t"], 4, T0))
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|c| c.job.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 60);
    assert_eq!(unique.len(), 60, "a job was claimed twice");
}

async fn cron_fires_once_per_tick_across_workers(s: Arc<dyn JobStore>, b: Arc<dyn JobStore>) {
    let schedule = Schedule {
        name: "cleanup".into(),
        cron: "* * * * *".into(),
        job_type: "storage_cleanup".into(),
        payload: json!({"older_than_days": 7}),
        next_run_at: T0 + 60_000,
    };
    s.upsert_schedule(schedule.clone(), T0).await.unwrap();
    // A second worker starting later with the same expression keeps the pending tick.
    b.upsert_schedule(
        Schedule {
            next_run_at: T0 + 120_000,
            ..schedule.clone()
        },
        T0 + 1,
    )
    .await
    .unwrap();
    assert!(s.due_schedules(T0 + 59_999).await.unwrap().is_empty());
    for tick in 1..=3 {
        let due_at = T0 + 60_000 * tick;
        let due = s.due_schedules(due_at).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].next_run_at, due_at);
        let job = || {
            NewJob::new("storage_cleanup", json!({"older_than_days": 7}))
                .idempotency_key(format!("schedule:cleanup:{due_at}"))
        };
        let (x, y) = tokio::join!(
            s.fire_schedule("cleanup", due_at, due_at + 60_000, job(), due_at),
            b.fire_schedule("cleanup", due_at, due_at + 60_000, job(), due_at),
        );
        let fired = [x.unwrap(), y.unwrap()].into_iter().flatten().count();
        assert_eq!(fired, 1, "tick {tick} fired {fired} times");
        assert!(s.due_schedules(due_at).await.unwrap().is_empty());
    }
    let jobs = s
        .list(JobFilter {
            job_type: Some("storage_cleanup".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 3);
}

async fn queue_depth_is_exact(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    for _ in 0..3 {
        s.enqueue(NewJob::new("a", json!({})), T0).await.unwrap();
    }
    s.enqueue(NewJob::new("b", json!({})), T0).await.unwrap();
    s.enqueue(NewJob::new("b", json!({})).run_after(T0 + 1_000), T0)
        .await
        .unwrap();
    let depth = s.queue_depth(T0).await.unwrap();
    let pairs: Vec<_> = depth
        .iter()
        .map(|c| (c.job_type.as_str(), c.count))
        .collect();
    assert_eq!(pairs, vec![("a", 3), ("b", 1)]);
    s.claim(claim_req("w", &["a"], 2, T0)).await.unwrap();
    let depth = s.queue_depth(T0 + 1_000).await.unwrap();
    let pairs: Vec<_> = depth
        .iter()
        .map(|c| (c.job_type.as_str(), c.count))
        .collect();
    assert_eq!(pairs, vec![("a", 1), ("b", 2)]);
}

async fn list_filters_and_pages(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(
            s.enqueue(
                NewJob::new(if i % 2 == 0 { "x" } else { "y" }, json!(i)).owner("u1"),
                T0,
            )
            .await
            .unwrap()
            .job
            .id,
        );
    }
    s.enqueue(NewJob::new("x", json!("theirs")).owner("u2"), T0)
        .await
        .unwrap();
    let page = |owner: &str, job_type: Option<&str>, before: Option<String>, limit| JobFilter {
        owner_id: Some(owner.into()),
        job_type: job_type.map(Into::into),
        state: None,
        before_id: before,
        limit,
    };
    let all = s.list(page("u1", None, None, 10)).await.unwrap();
    let ids: Vec<_> = all.iter().map(|j| j.id.clone()).collect();
    let mut newest_first = mine.clone();
    newest_first.reverse();
    assert_eq!(ids, newest_first);
    let xs = s.list(page("u1", Some("x"), None, 10)).await.unwrap();
    assert_eq!(xs.len(), 3);
    let first = s.list(page("u1", None, None, 2)).await.unwrap();
    let next = s
        .list(page("u1", None, Some(first[1].id.clone()), 2))
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        newest_first[2..4].to_vec()
    );
    let queued = s
        .list(JobFilter {
            state: Some(JobState::Succeeded),
            ..page("u1", None, None, 10)
        })
        .await
        .unwrap();
    assert!(queued.is_empty());
}

/// Several outcomes in one statement: each is applied by its own rules and fenced by its own
/// lease token; a stale one changes nothing and is reported as lost.
async fn batched_outcomes(s: Arc<dyn JobStore>, b: Arc<dyn JobStore>) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let max = if i == 2 { 1 } else { 3 };
        let e = s
            .enqueue(NewJob::new("t", json!({"i": i})).max_attempts(max), T0)
            .await
            .unwrap();
        ids.push(e.job.id);
    }
    let mine = s.claim(claim_req("w1", &["t"], 5, T0)).await.unwrap();
    assert_eq!(mine.len(), 5);
    let token = mine[0].lease_token.clone();
    // Job 4's lease lapses and another worker claims it: w1's outcome for it must not land.
    b.heartbeat(&ids[0], &token, T0 + 40_000, LEASE)
        .await
        .unwrap();
    b.heartbeat(&ids[1], &token, T0 + 40_000, LEASE)
        .await
        .unwrap();
    b.heartbeat(&ids[2], &token, T0 + 40_000, LEASE)
        .await
        .unwrap();
    b.heartbeat(&ids[3], &token, T0 + 40_000, LEASE)
        .await
        .unwrap();
    assert_eq!(b.recover_expired(T0 + LEASE + 1).await.unwrap(), 1);
    let theirs = b
        .claim(claim_req("w2", &["t"], 5, T0 + LEASE + 1))
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].job.id, ids[4]);

    let now = T0 + LEASE + 2;
    let outcome = |i: usize, kind: OutcomeKind| Outcome {
        id: ids[i].clone(),
        lease_token: token.clone(),
        kind,
    };
    let failure = |retry_at| {
        OutcomeKind::Failed(Failure {
            error: "boom".into(),
            retry_at,
        })
    };
    let states = s
        .record_outcomes(
            vec![
                outcome(4, OutcomeKind::Succeeded(json!("stale"))),
                outcome(0, OutcomeKind::Succeeded(json!({"ok": "yes"}))),
                outcome(1, failure(Some(now + 5_000))),
                outcome(2, failure(Some(now + 5_000))),
                outcome(3, OutcomeKind::Cancelled),
            ],
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        states,
        vec![
            None,
            Some(JobState::Succeeded),
            Some(JobState::Queued),
            Some(JobState::Failed),
            Some(JobState::Cancelled),
        ]
    );
    let get = |i: usize| {
        let s = s.clone();
        let id = ids[i].clone();
        async move { s.get(&id).await.unwrap().unwrap() }
    };
    let ok = get(0).await;
    assert_eq!(
        (
            ok.state,
            ok.result,
            ok.progress,
            ok.finished_at,
            ok.lease_owner
        ),
        (
            JobState::Succeeded,
            Some(json!({"ok": "yes"})),
            1.0,
            Some(now),
            None
        )
    );
    let retried = get(1).await;
    assert_eq!(
        (
            retried.state,
            retried.run_after,
            retried.error.as_deref(),
            retried.finished_at
        ),
        (JobState::Queued, now + 5_000, Some("boom"), None)
    );
    let failed = get(2).await;
    assert_eq!(
        (failed.state, failed.error.as_deref(), failed.finished_at),
        (JobState::Failed, Some("boom"), Some(now))
    );
    assert_eq!(get(3).await.state, JobState::Cancelled);
    // The other worker still owns job 4 and can finish it.
    let other = get(4).await;
    assert_eq!(
        (other.state, other.lease_owner.as_deref(), other.result),
        (JobState::Running, Some("w2"), None)
    );
    assert!(
        b.complete(&ids[4], &theirs[0].lease_token, json!("theirs"), now + 1)
            .await
            .unwrap()
    );
    // A second write of an outcome already recorded matches nothing.
    assert_eq!(
        s.record_outcomes(vec![outcome(0, OutcomeKind::Cancelled)], now + 2)
            .await
            .unwrap(),
        vec![None]
    );
    assert!(s.record_outcomes(Vec::new(), now).await.unwrap().is_empty());
}

async fn heartbeat_many_extends_every_held_lease(s: Arc<dyn JobStore>, b: Arc<dyn JobStore>) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            s.enqueue(NewJob::new("t", json!({})).max_attempts(3), T0)
                .await
                .unwrap()
                .job
                .id,
        );
    }
    let claimed = s.claim(claim_req("w", &["t"], 3, T0)).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let leases: Vec<(String, String)> = claimed
        .iter()
        .map(|c| (c.job.id.clone(), c.lease_token.clone()))
        .collect();
    b.request_cancel(&leases[1].0, T0 + 1).await.unwrap();
    // The third is no longer ours: another worker finished it.
    assert!(
        b.complete(&leases[2].0, &leases[2].1, json!(null), T0 + 2)
            .await
            .unwrap()
    );
    let statuses = s
        .heartbeat_many(leases.clone(), T0 + 20_000, LEASE)
        .await
        .unwrap();
    assert_eq!(
        statuses,
        vec![
            LeaseStatus::Held {
                cancel_requested: false
            },
            LeaseStatus::Held {
                cancel_requested: true
            },
            LeaseStatus::Lost,
        ]
    );
    // The held leases were extended: nothing lapses at the original deadline.
    assert_eq!(b.recover_expired(T0 + LEASE + 1).await.unwrap(), 0);
    for (id, _) in &leases[..2] {
        let j = b.get(id).await.unwrap().unwrap();
        assert_eq!(j.state, JobState::Running);
        assert_eq!(j.lease_expires_at, Some(T0 + 20_000 + LEASE));
    }
    assert_eq!(
        b.get(&leases[2].0).await.unwrap().unwrap().state,
        JobState::Succeeded
    );
    assert!(
        s.heartbeat_many(Vec::new(), T0, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let b = crate::common::sqlite().await;
                    super::$case(b.a.clone(), b.b.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(b) = crate::common::postgres().await else { return };
                    super::$case(b.a.clone(), b.b.clone()).await;
                }
            )*
        }
    };
}

suite!(
    enqueue_claim_complete,
    idempotency_key,
    priority_and_run_after,
    retry_with_backoff_then_failed,
    permanent_failure,
    cancellation,
    lease_expiry,
    release_does_not_count_an_attempt,
    concurrent_claims_never_overlap,
    cron_fires_once_per_tick_across_workers,
    queue_depth_is_exact,
    list_filters_and_pages,
    batched_outcomes,
    heartbeat_many_extends_every_held_lease,
);
