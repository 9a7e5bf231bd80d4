//! Dereference and validate: read what build needs from the cluster, then check the spec in
//! ways CEL cannot (referenced Secrets exist, no downgrade below the running version).

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::{Client, ResourceExt};

use crate::apply::audit;
use crate::kinds::ChildKind;
use crate::render::{CrdPresence, Ctx, GeneratedCredentials, Inputs, backends, secrets};
use crate::types::DzinzaPlatform;
use crate::{Error, Result};

async fn crd_exists(client: &Client, kind: ChildKind) -> Result<bool> {
    let Some(name) = kind.required_crd() else {
        return Ok(true);
    };
    audit("apiextensions.k8s.io", "customresourcedefinitions", "get");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    Ok(api.get_opt(name).await?.is_some())
}

async fn get_secret(client: &Client, ns: &str, name: &str) -> Result<Option<Secret>> {
    audit("", "secrets", "get");
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    Ok(api.get_opt(name).await?)
}

/// Secret keys the SRE must provide (external backends, SMTP), as (secret, key).
pub fn user_secret_keys(p: &DzinzaPlatform) -> Vec<(String, String)> {
    let s = &p.spec;
    let mut out = Vec::new();
    if let Some(e) = &s.postgres.external {
        out.push((e.secret_name.clone(), e.url_key.clone()));
    }
    if let Some(e) = &s.mongodb.external {
        out.push((e.secret_name.clone(), e.url_key.clone()));
    }
    if let Some(e) = &s.elasticsearch.external {
        out.push((e.secret_name.clone(), e.url_key.clone()));
    }
    if let Some(e) = &s.object_storage.external {
        out.push((e.secret_name.clone(), "accessKeyId".into()));
        out.push((e.secret_name.clone(), "secretAccessKey".into()));
    }
    if let Some(r) = &s.auth.smtp_secret_ref {
        out.push((r.name.clone(), r.key.clone()));
    }
    out
}

/// Reads the generated credentials (generating missing ones), optional CRDs, the ECK
/// password, and checks that every Secret key the SRE referenced exists.
pub async fn dereference(client: &Client, p: &DzinzaPlatform) -> Result<Inputs> {
    let ctx = Ctx::new(p)?;
    let ns = ctx.namespace.as_str();
    let existing = get_secret(client, ns, &secrets::credentials_name(&ctx)).await?;
    let credentials = GeneratedCredentials::from_existing_or_generate(existing.as_ref())?;

    for (name, key) in user_secret_keys(p) {
        let secret = get_secret(client, ns, &name).await?;
        let has_key = secret
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .is_some_and(|d| d.get(&key).is_some_and(|v| !v.0.is_empty()));
        if !has_key {
            return Err(Error::MissingSecret { name, key });
        }
    }

    let crds = CrdPresence {
        cnpg: p.spec.postgres.cloudnative_pg.is_some()
            && crd_exists(client, ChildKind::CnpgCluster).await?,
        eck: p.spec.elasticsearch.eck.is_some()
            && crd_exists(client, ChildKind::EckElasticsearch).await?,
        service_monitor: p.spec.observability.service_monitor
            && crd_exists(client, ChildKind::ServiceMonitor).await?,
    };

    let eck_elastic_password = if p.spec.elasticsearch.eck.is_some() {
        get_secret(client, ns, &backends::eck_user_secret(&ctx))
            .await?
            .and_then(|s| s.data)
            .and_then(|d| d.get("elastic").cloned())
            .and_then(|b| String::from_utf8(b.0).ok())
    } else {
        None
    };

    let migration_done =
        p.status.as_ref().and_then(|s| s.migrated_image.as_deref()) == Some(ctx.image().as_str());

    Ok(Inputs {
        credentials,
        eck_elastic_password,
        crds,
        migration_done,
    })
}

/// Longest DzinzaPlatform name whose children's names all fit.
pub const MAX_NAME: usize = 38;

fn parse_semver(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim_start_matches('v').split(['-', '+']).next()?;
    let mut it = core.split('.').map(|n| n.parse::<u64>().ok());
    let out = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(out)
}

/// Checks the spec against the running platform. CEL already refuses lowering spec.version on
/// update; this also refuses a version below what status says runs (e.g. a re-created resource).
pub fn validate(p: &DzinzaPlatform) -> Result<()> {
    if let Some(running) = p.status.as_ref().and_then(|s| s.version.as_deref())
        && let (Some(want), Some(have)) = (parse_semver(&p.spec.version), parse_semver(running))
        && want < have
    {
        return Err(Error::InvalidSpec(format!(
            "spec.version {} is older than the running {running}; migrations only move forward",
            p.spec.version
        )));
    }
    for (field, ttl) in [
        ("auth.accessTokenTtl", &p.spec.auth.access_token_ttl),
        ("auth.refreshTokenTtl", &p.spec.auth.refresh_token_ttl),
    ] {
        if !is_duration(ttl) {
            return Err(Error::InvalidSpec(format!(
                "{field} {ttl:?} is not a duration like 15m or 720h"
            )));
        }
    }
    let name = p.name_any();
    // Children are named `<name>-<suffix>`; the longest StatefulSet (`-elasticsearch`) must
    // stay within 52 characters, the cap its pods' controller-revision-hash label imposes.
    if name.len() > MAX_NAME {
        return Err(Error::InvalidSpec(format!(
            "metadata.name {name:?} is longer than {MAX_NAME} characters; child names would not fit"
        )));
    }
    Ok(())
}

fn is_duration(s: &str) -> bool {
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert!(is_duration("15m"));
        assert!(is_duration("1h30m"));
        assert!(is_duration("720h"));
        assert!(!is_duration(""));
        assert!(!is_duration("15"));
        assert!(!is_duration("m"));
        assert!(!is_duration("15 minutes"));
    }

    #[test]
    fn semver_parse() {
        assert_eq!(parse_semver("1.4.2"), Some((1, 4, 2)));
        assert_eq!(parse_semver("v1.4.2-rc.1"), Some((1, 4, 2)));
        assert_eq!(parse_semver("latest"), None);
        assert_eq!(parse_semver("1.4"), None);
    }
}
