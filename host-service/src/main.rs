//! `host-service TOPIC FILE`: see the crate docs and README.md.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use host_service::cli::{Args, Config};

fn main() -> ExitCode {
    if let Some(addr) = spaced_embedded_broker_addr(std::env::args()) {
        // `--embedded-broker` takes its optional address with `=` so that
        // `host-service --embedded-broker TOPIC FILE` works; say so instead of clap's
        // "unexpected argument".
        say(&format!(
            "host-service: error: write the broker address as --embedded-broker={addr} (with '=')"
        ));
        return ExitCode::from(2);
    }
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
        // A closed stderr must not stop the service: tracing-subscriber would report the
        // failed write with eprint!, which panics (and aborts) on a closed stderr.
        .log_internal_errors(false)
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("host-service: error: {}", error_text(&e)));
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

/// Writes a line to stderr, ignoring a closed stderr (`eprintln!` would panic).
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The error and its causes, each said once (our error types already quote their source).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !text.contains(&c) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&c);
        }
    }
    text
}

/// `--embedded-broker ADDR` (a space, where `=` is needed): the address the user meant.
fn spaced_embedded_broker_addr(args: impl Iterator<Item = String>) -> Option<String> {
    let args: Vec<String> = args.collect();
    args.windows(2)
        .find(|w| w[0] == "--embedded-broker" && w[1].parse::<std::net::SocketAddr>().is_ok())
        .map(|w| w[1].clone())
}

#[cfg(test)]
mod tests {
    use super::spaced_embedded_broker_addr;

    fn args(a: &[&str]) -> impl Iterator<Item = String> {
        a.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(io).context("cannot open x.csv: No such file or directory");
        assert_eq!(
            super::error_text(&e),
            "cannot open x.csv: No such file or directory"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::error_text(&e), "outer: inner");
    }

    #[test]
    fn spaced_embedded_broker_address_is_recognised() {
        let got = spaced_embedded_broker_addr(args(&[
            "hs",
            "t",
            "f.csv",
            "--embedded-broker",
            "0.0.0.0:1883",
        ]));
        assert_eq!(got.as_deref(), Some("0.0.0.0:1883"));
        assert_eq!(
            spaced_embedded_broker_addr(args(&["hs", "--embedded-broker", "sensor-data", "f.csv"])),
            None
        );
        assert_eq!(
            spaced_embedded_broker_addr(args(&["hs", "t", "f.csv", "--embedded-broker=0.0.0.0:1"])),
            None
        );
    }
}
