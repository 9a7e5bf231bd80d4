//! Operational subcommands that are not services.

pub mod admin;
pub mod gedcom;
