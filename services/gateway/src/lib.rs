//! The Dzinza API gateway.
