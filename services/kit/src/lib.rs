//! Shared service plumbing: config, telemetry, health, metrics, errors, identity.
