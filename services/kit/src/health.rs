//! Liveness (`/healthz`) and readiness (`/readyz`) with registered dependency checks.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

type CheckFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

struct Check {
    name: String,
    critical: bool,
    run: CheckFn,
}

/// The readiness checks of one process, plus its draining flag.
#[derive(Clone)]
pub struct Health {
    checks: Arc<std::sync::RwLock<Vec<Check>>>,
    draining: Arc<AtomicBool>,
    timeout: Duration,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("draining", &self.draining.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new(Duration::from_secs(2))
    }
}

/// One check's outcome in the `/readyz` body.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CheckReport {
    /// `ok` or `failing`.
    pub status: &'static str,
    /// Whether a failure makes the process not ready.
    pub critical: bool,
    /// What the check saw (error text for failures).
    pub detail: String,
}

/// The `/readyz` body.
#[derive(Debug, Serialize)]
pub struct ReadinessReport {
    /// `ready`, `not_ready` or `draining`.
    pub status: &'static str,
    /// Names of critical checks that failed.
    pub not_ready: Vec<String>,
    /// Every check by name.
    pub checks: BTreeMap<String, CheckReport>,
}

impl Health {
    /// Health with a per-check timeout.
    pub fn new(timeout: Duration) -> Self {
        Self {
            checks: Arc::default(),
            draining: Arc::default(),
            timeout,
        }
    }

    /// Registers a check; a failing `critical` check makes `/readyz` answer 503, a non-critical
    /// one is only reported.
    pub fn register<F, Fut>(&self, name: impl Into<String>, critical: bool, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, String>> + Send + 'static,
    {
        let run: CheckFn = Arc::new(move || Box::pin(check()));
        let mut checks = self.checks.write().unwrap_or_else(|e| e.into_inner());
        checks.push(Check {
            name: name.into(),
            critical,
            run,
        });
    }

    /// Marks the process as shutting down: readiness fails so load balancers stop routing here.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Runs every check concurrently, each bounded by the timeout.
    pub async fn report(&self) -> ReadinessReport {
        let checks: Vec<(String, bool, CheckFn)> = {
            let checks = self.checks.read().unwrap_or_else(|e| e.into_inner());
            checks
                .iter()
                .map(|c| (c.name.clone(), c.critical, c.run.clone()))
                .collect()
        };
        let timeout = self.timeout;
        let results = futures_util::future::join_all(checks.into_iter().map(
            |(name, critical, run)| async move {
                let outcome = match tokio::time::timeout(timeout, run()).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {timeout:?}")),
                };
                (name, critical, outcome)
            },
        ))
        .await;

        let mut report = ReadinessReport {
            status: "ready",
            not_ready: Vec::new(),
            checks: BTreeMap::new(),
        };
        for (name, critical, outcome) in results {
            let (status, detail) = match outcome {
                Ok(d) => ("ok", d),
                Err(e) => {
                    if critical {
                        report.not_ready.push(name.clone());
                    }
                    ("failing", e)
                }
            };
            report.checks.insert(
                name,
                CheckReport {
                    status,
                    critical,
                    detail,
                },
            );
        }
        if !report.not_ready.is_empty() {
            report.status = "not_ready";
        }
        if self.draining.load(Ordering::Relaxed) {
            report.status = "draining";
        }
        report
    }
}

/// `GET /healthz`: the process is alive and serving.
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when every critical check passes, otherwise 503 naming what is not ready.
pub async fn readyz(State(health): State<Health>) -> Response {
    let report = health.report().await;
    let status = if report.status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_when_all_critical_checks_pass() {
        let h = Health::default();
        h.register("db", true, || async { Ok("1 ms".to_owned()) });
        h.register("upstream", false, || async { Err("refused".to_owned()) });
        let r = h.report().await;
        assert_eq!(r.status, "ready");
        assert_eq!(r.checks["upstream"].status, "failing");
    }

    #[tokio::test]
    async fn names_failing_and_timed_out_checks() {
        let h = Health::new(Duration::from_millis(50));
        h.register("db", true, || async {
            Err("connection refused".to_owned())
        });
        h.register("slow", true, || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(String::new())
        });
        let r = h.report().await;
        assert_eq!(r.status, "not_ready");
        assert_eq!(r.not_ready, vec!["db".to_owned(), "slow".to_owned()]);
        assert!(r.checks["slow"].detail.contains("no answer"));
    }

    #[tokio::test]
    async fn draining_fails_readiness() {
        let h = Health::default();
        h.start_draining();
        let resp = readyz(State(h)).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
