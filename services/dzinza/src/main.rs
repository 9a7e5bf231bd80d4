//! `dzinza`: every Dzinza service and operational command in one binary.
//!
//! `dzinza serve` runs the whole platform in one process on embedded backends (target `all`);
//! `dzinza serve --target gateway` (or another target) runs one service, as the operator deploys it.

mod commands;
mod serve;
mod units;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Frees from another thread do not contend on an arena lock as glibc's do (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Dzinza: a genealogy platform. Families build trees together, import and export GEDCOM,
/// merge duplicates, attach photos and search.
#[derive(Debug, Parser)]
#[command(name = "dzinza", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run services: all of them in one process (the default), or one target.
    Serve(Box<serve::ServeArgs>),
    /// Apply database migrations, indexes and search mappings, then exit.
    Migrate(serve::MigrateArgs),
    /// Read, check and convert GEDCOM files.
    #[command(subcommand)]
    Gedcom(commands::gedcom::GedcomCommand),
    /// Administer accounts (e.g. create the first administrator).
    #[command(subcommand)]
    Admin(commands::admin::AdminCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => run_async(serve::serve(*args)),
        Command::Migrate(args) => run_async(serve::migrate(args)),
        Command::Gedcom(cmd) => commands::gedcom::run(cmd),
        Command::Admin(cmd) => commands::admin::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_async<F>(future: F) -> anyhow::Result<ExitCode>
where
    F: Future<Output = anyhow::Result<ExitCode>>,
{
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

    use super::*;
    use clap::CommandFactory as _;

    /// Every service's settings are flattened into `serve`: two arguments with one id (clap takes
    /// it from the field name) make clap panic when the command is built.
    #[test]
    fn the_command_line_has_no_clashing_arguments() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_help_lists_the_store_settings_of_every_service() {
        let err = Cli::try_parse_from(["dzinza", "serve", "--help"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        let help = err.to_string();
        for flag in [
            "--genealogy-mongodb-url",
            "--genealogy-mongodb-url-file",
            "--auth-database-url",
            "--jobs-database-url",
        ] {
            assert!(help.contains(flag), "{flag} missing from:\n{help}");
        }
    }

    #[test]
    fn the_genealogy_store_url_parses_beside_the_other_stores() {
        let cli = Cli::try_parse_from([
            "dzinza",
            "serve",
            "--target",
            "genealogy",
            "--genealogy-mongodb-url",
            "mongodb://db:27017/family",
            "--auth-database-url",
            "sqlite::memory:",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("serve parses as serve")
        };
        assert!(args.genealogy.genealogy_mongodb_url.is_some());
        assert!(args.auth.database_url.is_some());
        assert_eq!(args.target, units::Target::Genealogy);
    }
}
