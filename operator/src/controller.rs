//! The controller: one reconcile per DzinzaPlatform, as a pipeline
//!
//! 1. dereference — read generated Secrets, referenced Secrets, optional CRDs (`dereference`)
//! 2. validate    — pure checks CEL cannot do (`dereference::validate`)
//! 3. build       — pure: every desired object (`render::build`)
//! 4. apply       — in order: identity and config, services, backends; wait for backends;
//!    the migration Job, and wait for it; workloads; ingress and monitoring; then delete
//!    orphans (`apply`)
//! 5. status      — phase and conditions from the children's state (`status`)
//!
//! With `reconciliationPaused` steps 4's writes are skipped but status is still computed.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DynamicObject, PartialObjectMeta, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, error, info, info_span, warn};

use crate::apply::{Applier, audit};
use crate::dereference::{dereference, user_secret_keys, validate};
use crate::kinds::ChildKind;
use crate::metrics::Metrics;
use crate::render::{self, FIELD_MANAGER, MANAGED_BY, Rendered, backends, secrets, workloads};
use crate::status::{self, Facts, MigrationState, Observed};
use crate::types::{DeletionPolicy, DzinzaPlatform, DzinzaPlatformStatus};
use crate::{Error, Result};

/// Finalizer present while deletion has work to do (`deletionPolicy: Retain`).
pub const FINALIZER: &str = "dzinza.io/retain-data";

/// Shared state of the reconciler.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Event recorder (`None` in tests that do not look at Events).
    pub recorder: Option<Recorder>,
    /// Operator metrics.
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per object, for the retry backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context; `instance` names this operator replica in Events.
    pub fn new(
        client: Client,
        instance: Option<String>,
        metrics: Arc<Metrics>,
        events: bool,
    ) -> Self {
        let recorder = events.then(|| {
            Recorder::new(
                client.clone(),
                Reporter {
                    controller: "dzinza-operator".into(),
                    instance,
                },
            )
        });
        Self {
            client,
            recorder,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }

    async fn event(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let Some(rec) = &self.recorder else { return };
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        // Events are best effort: a full event quota must not fail the reconcile.
        if let Err(e) = rec.publish(&ev, reference).await {
            warn!(error = %e, reason, "could not record event");
        }
    }

    fn backoff(&self, key: &str, failed: bool) -> Duration {
        let Ok(mut map) = self.failures.lock() else {
            return Duration::from_secs(30);
        };
        if !failed {
            map.remove(key);
            return Duration::ZERO;
        }
        let n = map.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        // 5s, 10s, 20s ... capped at 5 minutes.
        Duration::from_secs((5u64 << (*n - 1).min(6)).min(300))
    }
}

/// What one reconcile did, for tests and logs.
#[derive(Debug)]
pub struct Outcome {
    /// When to look again.
    pub action: Action,
    /// Objects written (applied or deleted); 0 when nothing changed.
    pub writes: usize,
    /// Whether status was written.
    pub status_written: bool,
}

fn object_ref(p: &DzinzaPlatform) -> ObjectReference {
    p.object_ref(&())
}

/// Reconciles one platform: the whole pipeline, then status. Errors are recorded in status
/// and as an Event before they are returned.
pub async fn reconcile_platform(p: &DzinzaPlatform, ctx: &Context) -> Result<Outcome> {
    if p.meta().deletion_timestamp.is_some() {
        finalize(p, ctx).await?;
        return Ok(Outcome {
            action: Action::await_change(),
            writes: 0,
            status_written: false,
        });
    }
    let paused = p.spec.cluster_operation.reconciliation_paused;
    let mut writes = 0;
    if !paused {
        writes += sync_finalizer(p, ctx).await?;
    }
    let mut obs = Observed::default();
    let result = pipeline(p, ctx, paused, &mut obs).await;
    let reference = object_ref(p);
    let action = match &result {
        Ok((action, w)) => {
            writes += w;
            action.clone()
        }
        Err(e) => {
            obs.error = Some((error_reason(e).into(), e.to_string()));
            ctx.event(
                &reference,
                EventType::Warning,
                error_reason(e),
                e.to_string(),
            )
            .await;
            Action::await_change()
        }
    };
    let status_written = write_status(p, ctx, &obs).await?;
    match result {
        Ok(_) => Ok(Outcome {
            action,
            writes,
            status_written,
        }),
        Err(e) => Err(e),
    }
}

fn error_reason(e: &Error) -> &'static str {
    match e {
        Error::MissingSecret { .. } => "SecretMissing",
        Error::MissingCrd(_) => "CrdMissing",
        Error::InvalidSpec(_) => "InvalidSpec",
        Error::MigrationFailed(_) => "MigrationFailed",
        _ => "ReconcileFailed",
    }
}

const REQUEUE_WAITING: Duration = Duration::from_secs(10);
const REQUEUE_STEADY: Duration = Duration::from_secs(300);

async fn pipeline(
    p: &DzinzaPlatform,
    ctx: &Context,
    paused: bool,
    obs: &mut Observed,
) -> Result<(Action, usize)> {
    let inputs = dereference(&ctx.client, p).await?;
    validate(p)?;
    let rctx = render::Ctx::new(p)?;
    let stages = render::build(p, &inputs)?.into_stages()?;
    let reference = object_ref(p);
    let uid = p.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let mut ap = Applier::new(ctx.client.clone(), &rctx.namespace, &rctx.name, &uid);

    if p.spec.observability.service_monitor && !inputs.crds.service_monitor {
        ctx.event(
            &reference,
            EventType::Warning,
            "CrdMissing",
            "observability.serviceMonitor is on but the ServiceMonitor CRD is not installed".into(),
        )
        .await;
    }

    if paused {
        observe_only(&ap, &stages, obs).await?;
        return Ok((Action::requeue(REQUEUE_STEADY), 0));
    }

    ap.apply(&stages.identity_and_config).await?;
    ap.apply(&stages.services).await?;
    let live = ap.apply(&stages.backends).await?;
    observe_backends(&stages.backends, &live, obs);
    let stopped = p.spec.cluster_operation.stopped;

    if !stopped && !obs.backends_ready() {
        observe_workloads_readonly(&ap, &stages, obs).await?;
        announce(ctx, &reference, &ap).await;
        return Ok((Action::requeue(REQUEUE_WAITING), ap.writes));
    }
    // Built only when not stopped and not yet done for this image.
    if !stages.migration.is_empty() {
        let live = ap.apply(&stages.migration).await?;
        let state = live
            .first()
            .map_or(MigrationState::Running, status::job_state);
        obs.migration = Some(state.clone());
        match state {
            MigrationState::Succeeded => {
                ctx.event(
                    &reference,
                    EventType::Normal,
                    "MigrationSucceeded",
                    format!("migrations for {} applied", rctx.image()),
                )
                .await;
            }
            MigrationState::Failed(job) => {
                announce(ctx, &reference, &ap).await;
                return Err(Error::MigrationFailed(job));
            }
            MigrationState::Running | MigrationState::Waiting => {
                // The previous version keeps serving while the new one migrates.
                observe_workloads_readonly(&ap, &stages, obs).await?;
                announce(ctx, &reference, &ap).await;
                return Ok((Action::requeue(REQUEUE_WAITING), ap.writes));
            }
        }
    }

    let live = ap.apply(&stages.workloads).await?;
    observe_workloads(&stages.workloads, &live, obs);
    ap.apply(&stages.exposure).await?;

    let mut skip = BTreeSet::new();
    if !inputs.crds.cnpg {
        skip.insert(ChildKind::CnpgCluster);
    }
    if !inputs.crds.eck {
        skip.insert(ChildKind::EckElasticsearch);
    }
    if !inputs.crds.service_monitor {
        skip.insert(ChildKind::ServiceMonitor);
    }
    ap.prune(&stages, &skip).await?;
    announce(ctx, &reference, &ap).await;

    let ready = !stopped && obs.workloads_ready(&p.spec.version);
    let wait = if ready || stopped {
        REQUEUE_STEADY
    } else {
        REQUEUE_WAITING
    };
    Ok((Action::requeue(wait), ap.writes))
}

/// One Event per reconcile that changed something, listing what.
async fn announce(ctx: &Context, reference: &ObjectReference, ap: &Applier) {
    if !ap.applied.is_empty() {
        ctx.event(
            reference,
            EventType::Normal,
            "Applied",
            format!("applied {}", ap.applied.join(", ")),
        )
        .await;
    }
    if !ap.deleted.is_empty() {
        ctx.event(
            reference,
            EventType::Normal,
            "Deleted",
            format!("deleted {}", ap.deleted.join(", ")),
        )
        .await;
    }
}

fn component(obj: &DynamicObject) -> String {
    obj.labels()
        .get("app.kubernetes.io/component")
        .cloned()
        .unwrap_or_else(|| obj.name_any())
}

fn observe_backends(rendered: &[Rendered], live: &[DynamicObject], obs: &mut Observed) {
    for (r, l) in rendered.iter().zip(live) {
        let counts = match r.kind {
            ChildKind::StatefulSet => status::replica_counts(l),
            ChildKind::CnpgCluster => status::cnpg_counts(l),
            ChildKind::EckElasticsearch => status::eck_counts(l),
            _ => continue,
        };
        let name = match r.kind {
            ChildKind::CnpgCluster => "postgres".to_string(),
            ChildKind::EckElasticsearch => "elasticsearch".to_string(),
            _ => component(l),
        };
        obs.backends.insert(name, counts);
    }
}

fn observe_workloads(rendered: &[Rendered], live: &[DynamicObject], obs: &mut Observed) {
    for (r, l) in rendered.iter().zip(live) {
        if r.kind != ChildKind::Deployment {
            continue;
        }
        let (ready, desired) = status::replica_counts(l);
        let name = component(l);
        if name == workloads::Target::Worker.name() {
            obs.worker_replicas = l.data["status"]["replicas"]
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(0);
        }
        obs.workloads.insert(
            name,
            crate::types::ComponentStatus {
                ready_replicas: ready,
                desired_replicas: desired,
                version: status::template_version(l),
            },
        );
    }
}

/// Reads the workloads' current state without applying them (while waiting for backends or
/// a migration), so status keeps showing what serves users meanwhile.
async fn observe_workloads_readonly(
    ap: &Applier,
    stages: &render::Stages,
    obs: &mut Observed,
) -> Result<()> {
    let mut rendered = Vec::new();
    let mut live = Vec::new();
    for r in stages
        .workloads
        .iter()
        .filter(|r| r.kind == ChildKind::Deployment)
    {
        if let Some(l) = ap.get(r.kind, &r.name).await? {
            rendered.push(r.clone());
            live.push(l);
        }
    }
    observe_workloads(&rendered, &live, obs);
    Ok(())
}

/// With reconciliation paused: read every desired object's live state, write nothing.
async fn observe_only(ap: &Applier, stages: &render::Stages, obs: &mut Observed) -> Result<()> {
    let read = |objs: &[Rendered]| {
        let objs = objs.to_vec();
        async move {
            let mut pairs = Vec::new();
            for r in objs {
                if let Some(l) = ap.get(r.kind, &r.name).await? {
                    pairs.push((r, l));
                }
            }
            Ok::<_, Error>(pairs)
        }
    };
    let backs = read(&stages.backends).await?;
    let (r, l): (Vec<_>, Vec<_>) = backs.into_iter().unzip();
    observe_backends(&r, &l, obs);
    let jobs = read(&stages.migration).await?;
    if let Some((_, l)) = jobs.first() {
        obs.migration = Some(status::job_state(l));
    }
    let wls = read(&stages.workloads).await?;
    let (r, l): (Vec<_>, Vec<_>) = wls.into_iter().unzip();
    observe_workloads(&r, &l, obs);
    Ok(())
}

/// Writes status if it changed; returns whether it wrote.
async fn write_status(p: &DzinzaPlatform, ctx: &Context, obs: &Observed) -> Result<bool> {
    let rctx = render::Ctx::new(p)?;
    let selector = rctx
        .selector(workloads::Target::Worker.name())
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let facts = Facts {
        generation: p.meta().generation,
        version: &p.spec.version,
        image: rctx.image(),
        stopped: p.spec.cluster_operation.stopped,
        paused: p.spec.cluster_operation.reconciliation_paused,
        public_url: rctx.public_url(),
        worker_selector: selector,
    };
    let now = Time(jiff::Timestamp::now());
    let new = status::compute(p.status.as_ref(), &facts, obs, &now);
    if p.status.as_ref() == Some(&new) {
        return Ok(false);
    }
    if p.status.as_ref().map(|s| s.phase) != Some(new.phase) {
        info!(phase = new.phase.as_str(), "phase changed");
        let reference = object_ref(p);
        let type_ = if matches!(new.phase, crate::types::Phase::Degraded) {
            EventType::Warning
        } else {
            EventType::Normal
        };
        ctx.event(
            &reference,
            type_,
            new.phase.as_str(),
            format!("phase is now {}", new.phase.as_str()),
        )
        .await;
    }
    patch_status(&ctx.client, p, &new).await?;
    Ok(true)
}

/// Server-side applies `status` to the platform's status subresource.
pub async fn patch_status(
    client: &Client,
    p: &DzinzaPlatform,
    status: &DzinzaPlatformStatus,
) -> Result<()> {
    audit(crate::types::GROUP, "dzinzaplatforms/status", "patch");
    let ns = p
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<DzinzaPlatform> = Api::namespaced(client.clone(), &ns);
    let body = json!({
        "apiVersion": DzinzaPlatform::api_version(&()),
        "kind": DzinzaPlatform::kind(&()),
        "status": status,
    });
    api.patch_status(
        &p.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

async fn set_finalizers(
    client: &Client,
    p: &DzinzaPlatform,
    finalizers: Vec<String>,
) -> Result<()> {
    audit(crate::types::GROUP, "dzinzaplatforms", "patch");
    let ns = p
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<DzinzaPlatform> = Api::namespaced(client.clone(), &ns);
    // The resourceVersion makes this a compare-and-swap: we never drop someone else's finalizer.
    let patch = json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": p.resource_version(),
        }
    });
    api.patch(
        &p.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Adds the finalizer when deletion must keep data, removes it otherwise. Returns writes.
async fn sync_finalizer(p: &DzinzaPlatform, ctx: &Context) -> Result<usize> {
    let has = p.finalizers().iter().any(|f| f == FINALIZER);
    let wants = p.spec.deletion_policy == DeletionPolicy::Retain;
    if has == wants {
        return Ok(0);
    }
    let mut list: Vec<String> = p
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if wants {
        list.push(FINALIZER.into());
    }
    set_finalizers(&ctx.client, p, list).await?;
    Ok(1)
}

/// Deletion with `Retain`: detach the data-bearing children (generated Secrets, delegated
/// databases) from the platform so garbage collection keeps them, then let it go. Managed
/// StatefulSets' volumes are kept by their PVC retention policy.
async fn finalize(p: &DzinzaPlatform, ctx: &Context) -> Result<()> {
    if !p.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let rctx = render::Ctx::new(p)?;
    let uid = p.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let ap = Applier::new(ctx.client.clone(), &rctx.namespace, &rctx.name, &uid);
    let keep = [
        (ChildKind::Secret, secrets::credentials_name(&rctx)),
        (ChildKind::Secret, secrets::connections_name(&rctx)),
        (ChildKind::CnpgCluster, backends::cnpg_name(&rctx)),
        (ChildKind::EckElasticsearch, backends::eck_name(&rctx)),
    ];
    for (kind, name) in keep {
        if kind.required_crd().is_some() && !kind_in_use(p, kind) {
            continue;
        }
        if ap.get(kind, &name).await?.is_none() {
            continue;
        }
        crate::apply::audit(kind.gvkp().0, kind.gvkp().3, "patch");
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), &rctx.namespace, &kind.api_resource());
        let patch = json!({ "metadata": { "ownerReferences": null } });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        info!(kind = ?kind, name = %name, "kept on deletion (deletionPolicy Retain)");
    }
    ctx.event(
        &object_ref(p),
        EventType::Normal,
        "DataRetained",
        "deletionPolicy Retain: volumes and generated secrets are kept".into(),
    )
    .await;
    let list = p
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    set_finalizers(&ctx.client, p, list).await
}

fn kind_in_use(p: &DzinzaPlatform, kind: ChildKind) -> bool {
    match kind {
        ChildKind::CnpgCluster => p.spec.postgres.cloudnative_pg.is_some(),
        ChildKind::EckElasticsearch => p.spec.elasticsearch.eck.is_some(),
        _ => true,
    }
}

/// Whether `p` reads the Secret `name` (so a change to it must trigger a reconcile).
pub fn references_secret(p: &DzinzaPlatform, name: &str) -> bool {
    user_secret_keys(p).iter().any(|(s, _)| s == name)
        || render::Ctx::new(p).is_ok_and(|c| {
            backends::eck_user_secret(&c) == name
                || workloads::referenced_secrets(&c).iter().any(|s| s == name)
        })
}

async fn reconcile(
    guard: Arc<DeserializeGuard<DzinzaPlatform>>,
    ctx: Arc<Context>,
) -> Result<Action> {
    let p = match &guard.0 {
        Ok(p) => p,
        Err(invalid) => {
            // A resource that does not parse cannot be fixed by retrying: say so and wait.
            let reference = ObjectReference {
                api_version: Some(DzinzaPlatform::api_version(&()).into()),
                kind: Some(DzinzaPlatform::kind(&()).into()),
                name: invalid.metadata.name.clone(),
                namespace: invalid.metadata.namespace.clone(),
                uid: invalid.metadata.uid.clone(),
                ..ObjectReference::default()
            };
            ctx.event(
                &reference,
                EventType::Warning,
                "InvalidResource",
                invalid.error.clone(),
            )
            .await;
            return Ok(Action::await_change());
        }
    };
    let span = info_span!("reconcile", platform = %p.name_any(), namespace = p.namespace().unwrap_or_default());
    async {
        let _timer = ctx.metrics.reconcile_started();
        let key = format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any());
        match reconcile_platform(p, &ctx).await {
            Ok(out) => {
                ctx.backoff(&key, false);
                if out.writes > 0 {
                    info!(writes = out.writes, "reconciled");
                }
                Ok(out.action)
            }
            Err(e) => {
                ctx.metrics.failed(&e);
                Err(e)
            }
        }
    }
    .instrument(span)
    .await
}

fn error_policy(
    guard: Arc<DeserializeGuard<DzinzaPlatform>>,
    e: &Error,
    ctx: Arc<Context>,
) -> Action {
    let Ok(p) = &guard.0 else {
        return Action::await_change();
    };
    if e.waits_for_change() {
        warn!(platform = %p.name_any(), error = %e, "invalid spec; waiting for a change");
        return Action::await_change();
    }
    let key = format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any());
    let wait = ctx.backoff(&key, true);
    error!(platform = %p.name_any(), error = %e, retry_in = ?wait, "reconcile failed");
    Action::requeue(wait)
}

/// Options of the controller loop.
pub struct RunOptions {
    /// Watch only this namespace (None: all namespaces).
    pub namespace: Option<String>,
    /// Reconciles running at once.
    pub concurrency: u16,
}

/// Runs the controller until `shutdown` resolves.
pub async fn run_controller(
    ctx: Arc<Context>,
    opts: &RunOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let ns = opts.namespace.as_deref();
    let ours =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"));
    let controller = Controller::new(
        api::<DeserializeGuard<DzinzaPlatform>>(&client, ns),
        watcher::Config::default().any_semantic(),
    )
    .with_config(ControllerConfig::default().concurrency(opts.concurrency));
    let store = controller.store();
    // Referenced Secrets are watched by metadata only: a change (e.g. a rotated external URL)
    // triggers a reconcile of every platform that reads it.
    let secret_meta: Api<PartialObjectMeta<Secret>> = match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    controller
        .owns(api::<ServiceAccount>(&client, ns), ours.clone())
        .owns(api::<ConfigMap>(&client, ns), ours.clone())
        .owns(api::<Secret>(&client, ns), ours.clone())
        .owns(api::<NetworkPolicy>(&client, ns), ours.clone())
        .owns(api::<Service>(&client, ns), ours.clone())
        .owns(api::<StatefulSet>(&client, ns), ours.clone())
        .owns(api::<Job>(&client, ns), ours.clone())
        .owns(api::<Deployment>(&client, ns), ours.clone())
        .owns(api::<PodDisruptionBudget>(&client, ns), ours.clone())
        .owns(api::<HorizontalPodAutoscaler>(&client, ns), ours.clone())
        .owns(api::<Ingress>(&client, ns), ours)
        .watches(secret_meta, watcher::Config::default(), move |secret| {
            let name = secret.name_any();
            let ns = secret.namespace();
            store
                .state()
                .into_iter()
                .filter_map(|g| g.0.as_ref().ok().cloned())
                .filter(|p| p.namespace() == ns && references_secret(p, &name))
                .map(|p| {
                    ObjectRef::<DeserializeGuard<DzinzaPlatform>>::new(&p.name_any())
                        .within(&p.namespace().unwrap_or_default())
                })
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "controller event");
            }
        })
        .await;
}
