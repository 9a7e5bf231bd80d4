//! Apply: server-side apply of rendered objects under one field manager, skipping objects that
//! are already as desired, and deletion of orphans (children with our labels no longer desired).
//!
//! Every API call goes through [`Applier`], which checks it against the RBAC table in
//! `kinds` (in debug builds), so tests fail when a call is added without granting it.

use std::collections::BTreeSet;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tracing::{debug, info};

use crate::Result;
use crate::kinds::{self, ChildKind};
use crate::render::{APPLIED_HASH, FIELD_MANAGER, Rendered, Stages, children_selector};

/// Writes and reads of one platform's children.
pub struct Applier {
    client: Client,
    namespace: String,
    platform: String,
    owner_uid: String,
    /// Objects written (applied or deleted) so far; a reconcile with nothing to do writes 0.
    pub writes: usize,
    /// Names of objects applied, for Events.
    pub applied: Vec<String>,
    /// Names of objects deleted, for Events.
    pub deleted: Vec<String>,
}

/// Asserts (in debug builds and tests) that a call is covered by the RBAC table.
pub fn audit(kind_group: &str, resource: &str, verb: &str) {
    debug_assert!(
        kinds::is_needed(kind_group, resource, verb),
        "API call {verb} {kind_group}/{resource} is not in kinds::rbac_needs()"
    );
}

fn audit_kind(kind: ChildKind, verb: &str) {
    let (group, _, _, plural) = kind.gvkp();
    audit(group, plural, verb);
}

/// Whether `desired` (a manifest we render) is contained in `live` (what the server returned):
/// every field we set has the same value; fields the server added are ignored.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d
            .iter()
            .all(|(k, dv)| dv.is_null() || l.get(k).is_some_and(|lv| is_subset(dv, lv))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| is_subset(dv, lv))
        }
        _ => desired == live,
    }
}

/// Whether `desired` must be sent: it is missing, the operator changed what it renders (the
/// hash annotation differs, which also catches removed fields), or someone edited a field we own.
pub fn needs_apply(desired: &Rendered, live: Option<&DynamicObject>) -> bool {
    let Some(live) = live else { return true };
    let want = desired.manifest["metadata"]["annotations"][APPLIED_HASH].as_str();
    let have = live.annotations().get(APPLIED_HASH).map(String::as_str);
    if want != have {
        return true;
    }
    match serde_json::to_value(live) {
        Ok(lv) => !is_subset(&desired.manifest, &lv),
        Err(_) => true,
    }
}

/// StatefulSet fields the API server refuses to change. They are taken from the live object
/// (and the hash recomputed) so a changed storage size or class does not fail every reconcile;
/// resizing a volume is a manual PVC edit (see docs/operator.md).
pub fn carry_immutable(desired: &Rendered, live: &DynamicObject) -> Rendered {
    let mut out = desired.clone();
    let mut changed = false;
    for field in ["volumeClaimTemplates", "selector", "serviceName"] {
        if let Some(v) = live.data["spec"].get(field)
            && out.manifest["spec"].get(field) != Some(v)
            && !is_subset(&out.manifest["spec"][field], v)
        {
            tracing::warn!(name = %desired.name, field, "immutable StatefulSet field differs; keeping the live value");
            out.manifest["spec"][field] = v.clone();
            changed = true;
        }
    }
    if changed {
        if let Some(a) = out.manifest["metadata"]["annotations"].as_object_mut() {
            a.remove(APPLIED_HASH);
        }
        let hash = crate::render::hash_value(&out.manifest);
        out.manifest["metadata"]["annotations"][APPLIED_HASH] = hash.into();
    }
    out
}

impl Applier {
    /// An applier for the children of `platform` (uid `owner_uid`) in `namespace`.
    pub fn new(client: Client, namespace: &str, platform: &str, owner_uid: &str) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            platform: platform.into(),
            owner_uid: owner_uid.into(),
            writes: 0,
            applied: Vec::new(),
            deleted: Vec::new(),
        }
    }

    fn api(&self, kind: ChildKind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &kind.api_resource())
    }

    /// Reads one child.
    pub async fn get(&self, kind: ChildKind, name: &str) -> Result<Option<DynamicObject>> {
        audit_kind(kind, "get");
        Ok(self.api(kind).get_opt(name).await?)
    }

    /// Applies each object that needs it and returns the live objects, in order.
    pub async fn apply(&mut self, objs: &[Rendered]) -> Result<Vec<DynamicObject>> {
        let mut live_objs = Vec::with_capacity(objs.len());
        for obj in objs {
            let live = self.get(obj.kind, &obj.name).await?;
            // A Job's pod template is immutable, and a migration Job runs once: never rewrite it.
            if obj.kind == ChildKind::Job
                && let Some(l) = live
            {
                live_objs.push(l);
                continue;
            }
            let carried;
            let obj = match (&live, obj.kind) {
                (Some(l), ChildKind::StatefulSet) => {
                    carried = carry_immutable(obj, l);
                    &carried
                }
                _ => obj,
            };
            if !needs_apply(obj, live.as_ref()) {
                if let Some(l) = live {
                    live_objs.push(l);
                }
                continue;
            }
            audit_kind(obj.kind, "patch");
            let pp = PatchParams::apply(FIELD_MANAGER).force();
            let out = self
                .api(obj.kind)
                .patch(&obj.name, &pp, &Patch::Apply(&obj.manifest))
                .await?;
            debug!(kind = ?obj.kind, name = %obj.name, "applied");
            self.writes += 1;
            self.applied.push(format!("{:?}/{}", obj.kind, obj.name));
            live_objs.push(out);
        }
        Ok(live_objs)
    }

    /// Lists this platform's children of `kind` (by our labels and owner uid).
    pub async fn list_children(&self, kind: ChildKind) -> Result<Vec<DynamicObject>> {
        audit_kind(kind, "list");
        let lp = ListParams::default().labels(&children_selector(&self.platform));
        let list = self.api(kind).list(&lp).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|o| o.owner_references().iter().any(|r| r.uid == self.owner_uid))
            .collect())
    }

    /// Deletes children that carry our labels and owner reference but are no longer desired.
    /// Kinds whose CRD is missing are skipped (nothing of theirs can exist).
    pub async fn prune(&mut self, stages: &Stages, skip: &BTreeSet<ChildKind>) -> Result<()> {
        let wanted: BTreeSet<(ChildKind, &str)> =
            stages.all().map(|r| (r.kind, r.name.as_str())).collect();
        for kind in ChildKind::ALL {
            if !kind.pruned() || skip.contains(&kind) {
                continue;
            }
            for obj in self.list_children(kind).await? {
                let name = obj.name_any();
                if wanted.contains(&(kind, name.as_str()))
                    || obj.metadata.deletion_timestamp.is_some()
                {
                    continue;
                }
                audit_kind(kind, "delete");
                match self
                    .api(kind)
                    .delete(&name, &DeleteParams::background())
                    .await
                {
                    Ok(_) => {}
                    // Already gone: the outcome we wanted.
                    Err(kube::Error::Api(s)) if s.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
                info!(kind = ?kind, name = %name, "deleted orphan");
                self.writes += 1;
                self.deleted.push(format!("{kind:?}/{name}"));
            }
        }
        Ok(())
    }
}
