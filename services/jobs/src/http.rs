//! The jobs HTTP API (`/v1/jobs/...` behind the gateway's `/api/v1/jobs/...`) and the internal
//! queue-depth endpoint. Domain errors become problems here, and only here.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use dzinza_kit::Problem;
use dzinza_kit::identity::{Authenticator, Identity, roles};
use dzinza_kit::problem::FieldError;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::JobsError;
use crate::model::{Job, JobState, Millis, NewJob};
use crate::queue::{JobQueue, QueueDepth, Viewer};
use crate::registry::Registry;

/// Largest page of jobs.
const MAX_PAGE: u32 = 100;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The queue.
    pub queue: JobQueue,
    /// Which job types exist and which of them users may enqueue.
    pub registry: Arc<Registry>,
    /// Token validation for the `Identity` extractor.
    pub auth: Authenticator,
    /// How often an SSE stream looks for changes (updates can come from any worker process).
    pub sse_poll: Duration,
}

impl FromRef<ApiState> for Authenticator {
    fn from_ref(state: &ApiState) -> Self {
        state.auth.clone()
    }
}

/// The jobs routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/jobs", get(list_jobs).post(enqueue_job))
        .route("/v1/jobs/failed", get(list_failed))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/cancel", post(cancel_job))
        .route("/v1/jobs/{id}/retry", post(retry_job))
        .route("/v1/jobs/{id}/events", get(job_events))
        .route("/internal/queue-depth", get(queue_depth))
        .with_state(state)
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct JobView {
    /// Opaque id.
    pub id: String,
    /// Job type, e.g. `gedcom_import`.
    pub job_type: String,
    /// State.
    pub state: JobState,
    /// Input.
    pub payload: Value,
    /// Owning user.
    pub owner_id: Option<String>,
    /// Tree concerned.
    pub tree_id: Option<String>,
    /// Priority (higher first).
    pub priority: i32,
    /// Attempts so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Fraction done, 0 to 1.
    pub progress: f64,
    /// What the job is doing.
    pub progress_message: Option<String>,
    /// Output on success.
    pub result: Option<Value>,
    /// Last error.
    pub error: Option<String>,
    /// Whether cancellation was requested.
    pub cancel_requested: bool,
    /// Not run before (RFC 3339).
    pub run_after: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// First started (RFC 3339).
    pub started_at: Option<String>,
    /// Finished (RFC 3339).
    pub finished_at: Option<String>,
}

fn rfc3339(ms: Millis) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        Self {
            id: j.id,
            job_type: j.job_type,
            state: j.state,
            payload: j.payload,
            owner_id: j.owner_id,
            tree_id: j.tree_id,
            priority: j.priority,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            progress: j.progress,
            progress_message: j.progress_message,
            result: j.result,
            error: j.error,
            cancel_requested: j.cancel_requested,
            run_after: rfc3339(j.run_after),
            created_at: rfc3339(j.created_at),
            updated_at: rfc3339(j.updated_at),
            started_at: j.started_at.map(rfc3339),
            finished_at: j.finished_at.map(rfc3339),
        }
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobPage {
    /// The jobs.
    pub items: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A job a signed-in user asks for; the caller becomes its owner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueRequest {
    /// A registered job type that users may enqueue.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Handler input: a JSON object (default `{}`).
    #[serde(default)]
    pub payload: Option<Value>,
    /// The tree the job concerns, if any (the handler checks the owner's access to it).
    #[serde(default)]
    pub tree_id: Option<String>,
    /// Enqueueing again with the same key returns the existing job (200 instead of 201); the
    /// `Idempotency-Key` header does the same. Keys are per user.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Filters for listing jobs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this job type.
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    /// Only this state.
    pub state: Option<JobState>,
    /// From the page after this cursor.
    pub cursor: Option<String>,
    /// Page size (1 to 100, default 20).
    pub limit: Option<u32>,
}

fn problem(e: JobsError) -> Problem {
    match e {
        JobsError::NotFound => Problem::not_found("No such job."),
        JobsError::WrongState(state) => {
            Problem::conflict(format!("The job is {state}; that is not possible now."))
        }
        other => Problem::internal(&other),
    }
}

fn viewer(id: &Identity) -> Viewer {
    Viewer {
        user_id: id.user_id.clone(),
        admin: id.has_role(roles::ADMIN),
    }
}

fn page(items: Vec<Job>, limit: u32) -> JobPage {
    let next_cursor = if items.len() == limit as usize {
        items.last().map(|j| j.id.clone())
    } else {
        None
    };
    JobPage {
        items: items.into_iter().map(JobView::from).collect(),
        next_cursor,
    }
}

fn limit(q: Option<u32>) -> u32 {
    q.unwrap_or(20).clamp(1, MAX_PAGE)
}

/// Lists the caller's own jobs.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = JobPage), (status = 401, description = "Not signed in")))]
async fn list_jobs(
    State(s): State<ApiState>,
    identity: Identity,
    Query(q): Query<ListQuery>,
) -> Result<Json<JobPage>, Problem> {
    let limit = limit(q.limit);
    let jobs = s
        .queue
        .list_mine(&viewer(&identity), q.job_type, q.state, q.cursor, limit)
        .await
        .map_err(problem)?;
    Ok(Json(page(jobs, limit)))
}

fn invalid(field: &str, message: impl Into<String>) -> Problem {
    Problem::validation(vec![FieldError {
        field: field.to_owned(),
        message: message.into(),
    }])
}

/// The caller's idempotency key, from the header or the body (they must agree if both are given).
fn idempotency_key(
    headers: &HeaderMap,
    body: Option<String>,
) -> Result<Option<String>, Box<Problem>> {
    let header = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| Box::new(invalid("Idempotency-Key", "must be visible ASCII")))?
                .to_owned(),
        ),
    };
    let key = match (header, body) {
        (Some(h), Some(b)) if h != b => {
            return Err(Box::new(invalid(
                "idempotency_key",
                "differs from the Idempotency-Key header",
            )));
        }
        (h, b) => h.or(b),
    };
    match key {
        Some(k) if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY => Err(Box::new(invalid(
            "idempotency_key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
        ))),
        k => Ok(k),
    }
}

/// Enqueues a job of a type users may enqueue, owned by the caller. With an idempotency key
/// already used by the caller, returns that job (200) instead of creating one (201).
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = EnqueueRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Same as the body's `idempotency_key`")),
    responses((status = 201, body = JobView, description = "Enqueued",
            headers(("location" = String, description = "The job's URL"))),
        (status = 200, body = JobView, description = "The job enqueued earlier with this key"),
        (status = 401, description = "Not signed in"),
        (status = 409, description = "The key belongs to a job the caller may not see"),
        (status = 422, description = "Unknown or not user-enqueueable type, payload not an object, bad key")))]
async fn enqueue_job(
    State(s): State<ApiState>,
    identity: Identity,
    headers: HeaderMap,
    body: Result<Json<EnqueueRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let Json(req) = body?;
    if !s.registry.user_enqueueable(&req.job_type) {
        return Err(invalid(
            "type",
            format!("{:?} is not a job type users may enqueue", req.job_type),
        ));
    }
    let payload = match req.payload {
        None => Value::Object(serde_json::Map::new()),
        Some(p @ Value::Object(_)) => p,
        Some(_) => return Err(invalid("payload", "must be a JSON object")),
    };
    let key = idempotency_key(&headers, req.idempotency_key).map_err(|p| *p)?;
    let mut job = NewJob::new(req.job_type, payload).owner(identity.user_id.clone());
    if let Some(tree) = req.tree_id {
        job = job.tree(tree);
    }
    if let Some(key) = key {
        // Keys are unique across the whole table; scoping them by user keeps one user's key
        // from ever returning another user's job.
        job = job.idempotency_key(format!("user:{}:{key}", identity.user_id));
    }
    let enqueued = s.queue.enqueue(job).await.map_err(problem)?;
    if !viewer(&identity).may_see(&enqueued.job) {
        return Err(Problem::conflict("This idempotency key is already in use."));
    }
    let status = if enqueued.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = HeaderValue::from_str(&format!("/api/v1/jobs/{}", enqueued.job.id))
        .map_err(|e| Problem::internal(&e))?;
    Ok((
        status,
        [(header::LOCATION, location)],
        Json(JobView::from(enqueued.job)),
    ))
}

/// Lists failed jobs of every user (admins only): the dead-letter list.
#[utoipa::path(get, path = "/api/v1/jobs/failed", tag = "jobs", params(ListQuery),
    responses((status = 200, body = JobPage), (status = 403, description = "Not an admin")))]
async fn list_failed(
    State(s): State<ApiState>,
    identity: Identity,
    Query(q): Query<ListQuery>,
) -> Result<Json<JobPage>, Problem> {
    require_admin(&identity).map_err(|p| *p)?;
    let limit = limit(q.limit);
    let jobs = s
        .queue
        .list_failed(q.job_type, q.cursor, limit)
        .await
        .map_err(problem)?;
    Ok(Json(page(jobs, limit)))
}

fn require_admin(identity: &Identity) -> Result<(), Box<Problem>> {
    if identity.has_role(roles::ADMIN) {
        Ok(())
    } else {
        Err(Box::new(Problem::forbidden(
            "Only administrators may do this.",
        )))
    }
}

/// One of the caller's jobs.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, description = "No such job of yours")))]
async fn get_job(
    State(s): State<ApiState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<JobView>, Problem> {
    let job = s
        .queue
        .get_for(&id, &viewer(&identity))
        .await
        .map_err(problem)?;
    Ok(Json(job.into()))
}

/// Cancels a queued job, or asks a running one to stop (it ends `cancelled` when its handler
/// notices).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, description = "No such job of yours"),
        (status = 409, description = "The job already ended")))]
async fn cancel_job(
    State(s): State<ApiState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<JobView>, Problem> {
    let job = s
        .queue
        .cancel_for(&id, &viewer(&identity))
        .await
        .map_err(problem)?;
    Ok(Json(job.into()))
}

/// Puts a failed job back in the queue with fresh attempts (admins only).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 403, description = "Not an admin"),
        (status = 404, description = "No such job"), (status = 409, description = "The job is not failed")))]
async fn retry_job(
    State(s): State<ApiState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<JobView>, Problem> {
    require_admin(&identity).map_err(|p| *p)?;
    let job = s.queue.retry(&id).await.map_err(problem)?;
    Ok(Json(job.into()))
}

/// Server-Sent Events with the job's progress: a `progress` event (the job as JSON) on every
/// change, then one `done` event when the job ends, then the stream closes.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, content_type = "text/event-stream", body = JobView,
        description = "`progress` events, then one `done` event"),
        (status = 404, description = "No such job of yours")))]
async fn job_events(
    State(s): State<ApiState>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let viewer = viewer(&identity);
    let first = s.queue.get_for(&id, &viewer).await.map_err(problem)?;
    let stream = progress_stream(s.queue.clone(), first, s.sse_poll);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

struct Follow {
    queue: JobQueue,
    id: String,
    next: Option<Job>,
    last: Option<(JobState, Millis, u64)>,
    done: bool,
    poll: Duration,
}

fn progress_stream(
    queue: JobQueue,
    first: Job,
    poll: Duration,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let start = Follow {
        queue,
        id: first.id.clone(),
        next: Some(first),
        last: None,
        done: false,
        poll,
    };
    futures_util::stream::unfold(start, |mut f| async move {
        if f.done {
            return None;
        }
        loop {
            let job = match f.next.take() {
                Some(job) => job,
                None => {
                    tokio::time::sleep(f.poll).await;
                    // Visibility was checked when the stream opened; ownership never changes.
                    match f.queue.store().get(&f.id).await {
                        Ok(Some(job)) => job,
                        Ok(None) => return None,
                        Err(e) => {
                            tracing::warn!(error = %e, "job events: cannot read the job");
                            continue;
                        }
                    }
                }
            };
            let key = (job.state, job.updated_at, job.progress.to_bits());
            let changed = f.last != Some(key);
            f.last = Some(key);
            if !changed {
                continue;
            }
            let terminal = job.state.is_terminal();
            let name = if terminal { "done" } else { "progress" };
            let view = JobView::from(job);
            let event = Event::default()
                .event(name)
                .json_data(&view)
                .unwrap_or_else(|_| Event::default().event(name));
            f.done = terminal;
            return Some((Ok(event), f));
        }
    })
}

/// Queued, due jobs by type, exact (the operator autoscales workers on it).
#[utoipa::path(get, path = "/internal/queue-depth", tag = "jobs",
    responses((status = 200, body = QueueDepth)))]
async fn queue_depth(State(s): State<ApiState>) -> Result<Json<QueueDepth>, Problem> {
    Ok(Json(s.queue.depth().await.map_err(problem)?))
}

#[derive(OpenApi)]
#[openapi(
    paths(list_jobs, enqueue_job, list_failed, get_job, cancel_job, retry_job, job_events),
    components(schemas(JobView, JobPage, JobState, QueueDepth, EnqueueRequest)),
    tags((name = "jobs", description = "Background jobs: progress, cancellation, dead letters"))
)]
struct ApiDoc;

/// The public API description, with paths as the gateway exposes them.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
