//! Path parsing (`/api/v{N}/{prefix}/rest`) and rule lookup by longest whole-segment prefix.

use std::collections::BTreeMap;

use http::Method;

use crate::config::RouteRule;

/// A parsed API path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath<'a> {
    /// The version segment, e.g. `v1`.
    pub version: &'a str,
    /// The resource prefix, e.g. `family-trees`.
    pub prefix: &'a str,
    /// The path without `/api` and the version, e.g. `/family-trees/7/persons`.
    pub service_path: &'a str,
}

/// Why a path is not an API path we can route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path lacks a `v{N}` segment after `/api`.
    #[error("API paths look like /api/v1/<resource>/...")]
    NoVersion,
}

/// Splits `/api/v2/auth/login` into version `v2`, prefix `auth`, service path `/auth/login`.
pub fn parse(path: &str) -> Result<ApiPath<'_>, PathError> {
    let rest = path.strip_prefix("/api/").ok_or(PathError::NoVersion)?;
    let (version, service_path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => return Err(PathError::NoVersion),
    };
    let digits = version.strip_prefix('v').ok_or(PathError::NoVersion)?;
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PathError::NoVersion);
    }
    let prefix = service_path[1..].split('/').next().unwrap_or("");
    if prefix.is_empty() {
        return Err(PathError::NoVersion);
    }
    Ok(ApiPath {
        version,
        prefix,
        service_path,
    })
}

/// Rules indexed for lookup.
#[derive(Debug, Clone, Default)]
pub struct RuleTable {
    rules: Vec<RouteRule>,
}

/// The rule applied to requests no rule matches: signed-in users, default limits.
pub static DEFAULT_RULE: std::sync::LazyLock<RouteRule> =
    std::sync::LazyLock::new(RouteRule::default);

impl RuleTable {
    /// Builds the table; more specific rules are tried first.
    pub fn new(mut rules: Vec<RouteRule>) -> Self {
        // Longest path first; among equals, rules restricted to methods first.
        rules.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then(b.methods.len().min(1).cmp(&a.methods.len().min(1)))
        });
        Self { rules }
    }

    /// The most specific rule for `method` and `service_path`.
    pub fn lookup(&self, method: &Method, service_path: &str) -> &RouteRule {
        self.rules
            .iter()
            .find(|r| {
                segment_prefix(&r.path, service_path)
                    && (r.methods.is_empty()
                        || r.methods
                            .iter()
                            .any(|m| m.eq_ignore_ascii_case(method.as_str())))
            })
            .unwrap_or(&DEFAULT_RULE)
    }
}

/// Whether `prefix` is a whole-segment prefix of `path` (`/users` matches `/users/me`, not `/usersx`).
fn segment_prefix(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Resolves a prefix to its service name.
pub fn service_for<'a>(prefixes: &'a BTreeMap<String, String>, prefix: &str) -> Option<&'a str> {
    prefixes.get(prefix).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_version() {
        for v in ["v1", "v2", "v10"] {
            let path = format!("/api/{v}/auth/login");
            let p = parse(&path).unwrap();
            assert_eq!(p.version, v);
            assert_eq!(p.prefix, "auth");
            assert_eq!(p.service_path, "/auth/login");
        }
        let p = parse("/api/v1/trees").unwrap();
        assert_eq!((p.prefix, p.service_path), ("trees", "/trees"));
    }

    #[test]
    fn refuses_paths_without_version_or_prefix() {
        for bad in [
            "/api/auth/login",
            "/api/v1",
            "/api/v1/",
            "/api/vx/auth",
            "/api/v/auth",
            "/other",
        ] {
            assert_eq!(parse(bad), Err(PathError::NoVersion), "{bad}");
        }
    }

    #[test]
    fn most_specific_rule_wins_by_whole_segments() {
        let admin = RouteRule {
            path: "/users".into(),
            roles: vec!["ADMIN".into()],
            ..RouteRule::default()
        };
        let me = RouteRule {
            path: "/users/me".into(),
            ..RouteRule::default()
        };
        let post_only = RouteRule {
            path: "/users/me".into(),
            methods: vec!["POST".into()],
            public: true,
            ..RouteRule::default()
        };
        let t = RuleTable::new(vec![admin.clone(), me.clone(), post_only.clone()]);
        assert_eq!(t.lookup(&Method::GET, "/users/42"), &admin);
        assert_eq!(t.lookup(&Method::GET, "/users/me"), &me);
        assert_eq!(t.lookup(&Method::POST, "/users/me"), &post_only);
        assert_eq!(t.lookup(&Method::GET, "/usersx"), &*DEFAULT_RULE);
        assert_eq!(t.lookup(&Method::GET, "/users/me/avatar"), &me);
    }
}
