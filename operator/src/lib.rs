//! Kubernetes operator for the DzinzaPlatform resource.
