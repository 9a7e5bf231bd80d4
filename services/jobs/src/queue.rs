//! The queue as other code uses it: enqueue, look up, cancel, retry, depth; with the visibility
//! rules (users see their own jobs, admins see all).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::error::JobsError;
use crate::model::{Enqueued, Job, JobFilter, JobState, NewJob, now_ms};
use crate::store::JobStore;

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The caller's user id.
    pub user_id: String,
    /// Admins see and retry every job.
    pub admin: bool,
}

impl Viewer {
    /// Whether the viewer may see `job`.
    pub fn may_see(&self, job: &Job) -> bool {
        self.admin || job.owner_id.as_deref() == Some(self.user_id.as_str())
    }
}

/// Exact count of queued, due jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueDepth {
    /// All types together.
    pub total: i64,
    /// Per job type.
    pub by_type: BTreeMap<String, i64>,
}

/// The job queue on some store; cheap to clone.
#[derive(Clone)]
pub struct JobQueue {
    store: Arc<dyn JobStore>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobQueue")
    }
}

impl JobQueue {
    /// A queue on `store`.
    pub fn new(store: Arc<dyn JobStore>) -> Self {
        Self {
            store,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The storage port.
    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.store
    }

    /// Woken whenever this process enqueues, so an in-process worker claims without polling.
    pub(crate) fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }

    /// Enqueues a job (or returns the existing one for its idempotency key).
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, JobsError> {
        let enqueued = self.store.enqueue(job, now_ms()).await?;
        if enqueued.created {
            self.wake.notify_waiters();
        }
        Ok(enqueued)
    }

    /// A job the viewer may see.
    pub async fn get_for(&self, id: &str, viewer: &Viewer) -> Result<Job, JobsError> {
        match self.store.get(id).await? {
            Some(job) if viewer.may_see(&job) => Ok(job),
            _ => Err(JobsError::NotFound),
        }
    }

    /// The viewer's own jobs, newest first.
    pub async fn list_mine(
        &self,
        viewer: &Viewer,
        job_type: Option<String>,
        state: Option<JobState>,
        before_id: Option<String>,
        limit: u32,
    ) -> Result<Vec<Job>, JobsError> {
        Ok(self
            .store
            .list(JobFilter {
                owner_id: Some(viewer.user_id.clone()),
                job_type,
                state,
                before_id,
                limit,
            })
            .await?)
    }

    /// Every failed job (the dead-letter list), newest first.
    pub async fn list_failed(
        &self,
        job_type: Option<String>,
        before_id: Option<String>,
        limit: u32,
    ) -> Result<Vec<Job>, JobsError> {
        Ok(self
            .store
            .list(JobFilter {
                owner_id: None,
                job_type,
                state: Some(JobState::Failed),
                before_id,
                limit,
            })
            .await?)
    }

    /// Cancels a queued job, or asks a running one to stop.
    pub async fn cancel_for(&self, id: &str, viewer: &Viewer) -> Result<Job, JobsError> {
        let job = self.get_for(id, viewer).await?;
        if job.state.is_terminal() {
            return Err(JobsError::WrongState(job.state.as_str()));
        }
        self.store
            .request_cancel(id, now_ms())
            .await?
            .ok_or(JobsError::NotFound)
    }

    /// Puts a failed job back in the queue with fresh attempts.
    pub async fn retry(&self, id: &str) -> Result<Job, JobsError> {
        if let Some(job) = self.store.retry(id, now_ms()).await? {
            self.wake.notify_waiters();
            return Ok(job);
        }
        match self.store.get(id).await? {
            Some(job) => Err(JobsError::WrongState(job.state.as_str())),
            None => Err(JobsError::NotFound),
        }
    }

    /// Queued, due jobs by type.
    pub async fn depth(&self) -> Result<QueueDepth, JobsError> {
        let counts = self.store.queue_depth(now_ms()).await?;
        let mut depth = QueueDepth::default();
        for c in counts {
            depth.total += c.count;
            depth.by_type.insert(c.job_type, c.count);
        }
        Ok(depth)
    }
}
