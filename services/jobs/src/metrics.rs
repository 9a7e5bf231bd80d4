//! Prometheus metrics of the queue and the worker, registered in the kit registry.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use dzinza_kit::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::model::TypeCount;

/// The `type` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    /// Job type.
    pub r#type: String,
}

fn label(job_type: &str) -> TypeLabel {
    TypeLabel {
        r#type: job_type.to_owned(),
    }
}

/// Job metrics. Queue depth is global (every worker reports the same number: aggregate with
/// `max`); running, durations, failures and retries are this worker's own (aggregate with `sum`).
#[derive(Clone, Debug)]
pub struct JobMetrics {
    depth: Family<TypeLabel, Gauge>,
    running: Family<TypeLabel, Gauge>,
    duration: Family<TypeLabel, Histogram, fn() -> Histogram>,
    failed: Family<TypeLabel, Counter>,
    retried: Family<TypeLabel, Counter>,
    succeeded: Family<TypeLabel, Counter>,
    seen_types: Arc<Mutex<BTreeSet<String>>>,
}

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0,
    ])
}

impl JobMetrics {
    /// Metrics not exported anywhere (tests, tools).
    pub fn unregistered() -> Self {
        Self {
            depth: Family::default(),
            running: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            failed: Family::default(),
            retried: Family::default(),
            succeeded: Family::default(),
            seen_types: Arc::default(),
        }
    }

    /// Creates the job metrics and registers them in `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::unregistered();
        metrics.register(
            "jobs_queue_depth",
            "Queued jobs that are due, by type (global; the same on every worker)",
            m.depth.clone(),
        );
        metrics.register(
            "jobs_running",
            "Jobs this worker is running, by type",
            m.running.clone(),
        );
        metrics.register(
            "jobs_duration_seconds",
            "Handler run time per attempt, by type",
            m.duration.clone(),
        );
        metrics.register(
            "jobs_failed",
            "Jobs that ended failed (out of attempts or a permanent error), by type",
            m.failed.clone(),
        );
        metrics.register(
            "jobs_retried",
            "Failed attempts scheduled for a retry, by type",
            m.retried.clone(),
        );
        metrics.register(
            "jobs_succeeded",
            "Jobs that ended succeeded, by type",
            m.succeeded.clone(),
        );
        m
    }

    /// Starts every series of `types` at zero, so dashboards and autoscalers see registered job
    /// types before their first job.
    pub fn init_types(&self, types: &[String]) {
        let mut seen = self.seen_types.lock().unwrap_or_else(|e| e.into_inner());
        for t in types {
            let l = label(t);
            drop(self.depth.get_or_create(&l));
            drop(self.running.get_or_create(&l));
            drop(self.failed.get_or_create(&l));
            drop(self.retried.get_or_create(&l));
            drop(self.succeeded.get_or_create(&l));
            seen.insert(t.clone());
        }
    }

    /// Publishes a fresh queue depth; types that emptied drop to zero.
    pub fn set_depth(&self, counts: &[TypeCount]) {
        let mut seen = self.seen_types.lock().unwrap_or_else(|e| e.into_inner());
        for t in seen.iter() {
            if !counts.iter().any(|c| &c.job_type == t) {
                self.depth.get_or_create(&label(t)).set(0);
            }
        }
        for c in counts {
            self.depth.get_or_create(&label(&c.job_type)).set(c.count);
            seen.insert(c.job_type.clone());
        }
    }

    pub(crate) fn started(&self, job_type: &str) {
        self.running.get_or_create(&label(job_type)).inc();
    }

    pub(crate) fn stopped(&self, job_type: &str, seconds: f64) {
        self.running.get_or_create(&label(job_type)).dec();
        self.duration
            .get_or_create(&label(job_type))
            .observe(seconds);
    }

    pub(crate) fn failed(&self, job_type: &str) {
        self.failed.get_or_create(&label(job_type)).inc();
    }

    pub(crate) fn retried(&self, job_type: &str) {
        self.retried.get_or_create(&label(job_type)).inc();
    }

    pub(crate) fn succeeded(&self, job_type: &str) {
        self.succeeded.get_or_create(&label(job_type)).inc();
    }
}
