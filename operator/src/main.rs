//! `dzinza-operator`: runs the controller, or prints the CRD or the RBAC it needs.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use kube::CustomResourceExt;

use dzinza_operator::DzinzaPlatform;
use dzinza_operator::kinds::rbac_needs;
use dzinza_operator::run::{Settings, run};

#[derive(Parser)]
#[command(
    name = "dzinza-operator",
    version,
    about = "Kubernetes operator for DzinzaPlatform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller.
    Run {
        /// Address of /metrics, /healthz and /readyz.
        #[arg(long, env = "DZINZA_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
        listen: SocketAddr,
        /// Only watch this namespace (default: all namespaces).
        #[arg(long, env = "DZINZA_OPERATOR_WATCH_NAMESPACE")]
        watch_namespace: Option<String>,
        /// Reconciles running at once.
        #[arg(long, env = "DZINZA_OPERATOR_CONCURRENCY", default_value_t = 4)]
        concurrency: u16,
        /// Namespace of the leader-election Lease; leader election is off without it.
        #[arg(long, env = "DZINZA_OPERATOR_LEADER_ELECTION_NAMESPACE")]
        leader_election_namespace: Option<String>,
        /// Name of the leader-election Lease.
        #[arg(
            long,
            env = "DZINZA_OPERATOR_LEASE_NAME",
            default_value = "dzinza-operator"
        )]
        lease_name: String,
        /// This replica's identity (the pod name).
        #[arg(long, env = "POD_NAME", default_value = "dzinza-operator")]
        identity: String,
        /// Log format: json or pretty.
        #[arg(long, env = "DZINZA_OPERATOR_LOG_FORMAT", default_value = "json")]
        log_format: String,
    },
    /// Print the DzinzaPlatform CRD as YAML.
    Crd,
    /// Print the (group, resource, verb) triples the operator calls, one per line.
    RbacNeeds,
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DZINZA_OPERATOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "pretty" {
        builder.init();
    } else {
        // Spans carry the platform's name, so every line says which object it is about.
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd => {
            print!("{}", serde_yaml::to_string(&DzinzaPlatform::crd())?);
        }
        Command::RbacNeeds => {
            for n in rbac_needs() {
                println!(
                    "{} {} {}",
                    if n.group.is_empty() { "core" } else { n.group },
                    n.resource,
                    n.verb
                );
            }
        }
        Command::Run {
            listen,
            watch_namespace,
            concurrency,
            leader_election_namespace,
            lease_name,
            identity,
            log_format,
        } => {
            init_tracing(&log_format);
            run(Settings {
                listen,
                namespace: watch_namespace,
                concurrency,
                leader_election_namespace,
                lease_name,
                identity,
            })
            .await?;
        }
    }
    Ok(())
}
