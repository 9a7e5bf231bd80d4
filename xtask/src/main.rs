//! Project automation: `cargo xtask test | bench gateway`.
//!
//! `test` is the README's test command: it starts the backend servers it can find on this
//! machine on loopback (PostgreSQL, aiosmtpd, SecantusDB standing in for MongoDB), points the
//! conformance suites at them, runs the whole workspace test suite and stops the servers again.

mod backends;
mod bench;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["test", rest @ ..] => test(rest),
        ["bench", "gateway", rest @ ..] => bench::gateway(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test [-- <cargo test args>]  start backend servers, run the whole test suite\n  \
                 bench gateway [--duration 10s] [--connections 64] [--no-build]\n                 \
                 [--dzinza PATH] [--gateway-threads N] [--nginx-shared-upstream]\n                 \
                 [--rounds N]\n                               \
                 direct vs gateway vs nginx, requests/s and latency (needs wrk, nginx);\n                               \
                 with --rounds, every path N times, alternated, and the medians"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn test(extra: &[&str]) -> anyhow::Result<ExitCode> {
    let servers = backends::start_available()?;
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["test", "--workspace"]);
    let extra: Vec<&str> = extra.iter().copied().filter(|a| *a != "--").collect();
    if !extra.is_empty() {
        cmd.arg("--").args(extra);
    }
    for (k, v) in servers.env() {
        cmd.env(k, v);
    }
    // insta finds snapshots from the workspace root compiled into each test binary; a binary
    // reused from a target directory that another checkout built would look in that checkout.
    if std::env::var_os("INSTA_WORKSPACE_ROOT").is_none() {
        let xtask_dir: std::path::PathBuf = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into);
        if let Some(root) = xtask_dir.parent() {
            cmd.env("INSTA_WORKSPACE_ROOT", root);
        }
    }
    let status = cmd.status()?;
    drop(servers);
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
