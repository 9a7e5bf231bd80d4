//! Diagnostic job types, registered only with `DZINZA_WORKER_DIAGNOSTIC_JOBS=true`: the crash
//! test and the benchmark drive real worker processes with them. Not for production.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::registry::{JobContext, JobError, Registry};

/// Sleeps in steps, reporting progress, and records its side effect once per job.
pub const SLEEP: &str = "diag_sleep";
/// Does nothing (throughput benchmarks).
pub const NOOP: &str = "diag_noop";

#[derive(Debug, Deserialize)]
struct SleepPayload {
    steps: u32,
    step_ms: u64,
    /// Directory for the idempotency marker and the effect log.
    marker_dir: PathBuf,
    /// Do the side effect before sleeping instead of after (so a crash can land after it).
    #[serde(default)]
    effect_first: bool,
}

/// Registers the diagnostic types.
pub fn register(registry: &mut Registry) {
    registry.register(NOOP, |_ctx: JobContext| async { Ok(Value::Null) });
    registry.register(SLEEP, sleep);
}

async fn sleep(ctx: JobContext) -> Result<Value, JobError> {
    let p: SleepPayload = ctx.payload_as()?;
    if p.effect_first {
        effect_once(ctx.id(), &p.marker_dir)?;
    }
    for step in 1..=p.steps {
        tokio::select! {
            () = ctx.cancellation().cancelled() => return Err(JobError::Cancelled),
            () = tokio::time::sleep(Duration::from_millis(p.step_ms)) => {}
        }
        ctx.progress(
            f64::from(step) / f64::from(p.steps.max(1)),
            format!("step {step} of {}", p.steps),
        )
        .await?;
    }
    let applied = if p.effect_first {
        false
    } else {
        effect_once(ctx.id(), &p.marker_dir)?
    };
    Ok(json!({ "pid": std::process::id(), "attempt": ctx.attempt(), "applied_effect": applied }))
}

/// Appends one line to `effects.log` unless this job's marker already exists: the marker makes
/// the effect idempotent across retries and crashed workers.
fn effect_once(id: &str, dir: &std::path::Path) -> Result<bool, JobError> {
    let marker = dir.join(format!("{id}.done"));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(JobError::retry(format!("marker: {e}"))),
    }
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("effects.log"))
        .map_err(|e| JobError::retry(format!("effects log: {e}")))?;
    // One write per line: `writeln!` writes each piece separately, and a worker's concurrent
    // jobs appending at once would interleave them.
    let line = format!("{id} {}\n", std::process::id());
    log.write_all(line.as_bytes())
        .map_err(|e| JobError::retry(format!("effects log: {e}")))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]

    use super::*;

    #[test]
    fn concurrent_effects_each_append_one_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = (0..64).map(|i| format!("job-{i:03}")).collect();
        // All threads write at once, as a worker's concurrent jobs can.
        let start = std::sync::Barrier::new(ids.len());
        std::thread::scope(|s| {
            for id in &ids {
                let (dir, start) = (dir.path(), &start);
                s.spawn(move || {
                    start.wait();
                    assert!(effect_once(id, dir).unwrap());
                });
            }
        });
        // A second round finds every marker and appends nothing.
        for id in &ids {
            assert!(!effect_once(id, dir.path()).unwrap());
        }
        let log = std::fs::read_to_string(dir.path().join("effects.log")).unwrap();
        let pid = std::process::id().to_string();
        let mut seen: Vec<&str> = log
            .lines()
            .map(|line| {
                let (id, p) = line.split_once(' ').unwrap();
                assert_eq!(p, pid, "torn line {line:?} in:\n{log}");
                id
            })
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, ids);
    }
}
