//! `host-service TOPIC FILE`: see the crate docs and README.md.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use host_service::cli::{Args, Config};

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                // rumqttd logs every ordinary client disconnect at ERROR; the service reports
                // what matters about its embedded broker itself (bind failures, state on the
                // status page). `RUST_LOG=rumqttd=info` shows the broker's own log.
                .unwrap_or_else(|_| EnvFilter::new("host_service=info,rumqttd=off,warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("host-service: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let config = Config::from_args(args)?;
    // Two workers: the MQTT loop and the writer run in parallel (parse/format on one
    // core while the other reads the socket).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(host_service::run(config))?;
    Ok(())
}
