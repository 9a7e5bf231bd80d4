//! Operational subcommands that are not services.

pub mod gedcom;
