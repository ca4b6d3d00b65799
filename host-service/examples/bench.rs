//! Benchmark: how fast does a burst of queued events reach the file, host-service vs
//! `mosquitto_sub -t TOPIC > file` (the ceiling), and at what peak RSS.
//!
//! Run with `make bench-host`, or `cargo run --release -p host-service --example bench
//! [-- --messages N --runs R]` (set HOST_SERVICE_BIN to use an already built binary).
//!
//! Method: a mosquitto on a free port keeps a persistent session for the subscriber;
//! the subscriber connects once to create it and stops; the same burst of N tutorial
//! events is published into the session while it is offline; then the subscriber starts
//! and the clock runs from its start until the file holds N rows. The same burst is
//! drained by each subscriber, R times, and the median is reported; peak RSS is VmHWM
//! from /proc. host-service runs with its defaults (console lines go to /dev/null).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{require, Mosquitto, TempDir};

struct Args {
    messages: usize,
    runs: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        messages: 100_000,
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--messages" => args.messages = num("--messages"),
            "--runs" => args.runs = num("--runs").max(1),
            "-h" | "--help" => {
                println!("usage: bench [--messages N] [--runs R]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

/// The release binary: `HOST_SERVICE_BIN` (what `make bench-host` passes), or built
/// next to this example. The nested cargo must not see the variables `cargo run` set for
/// this example (CARGO_PKG_NAME, ...): they change the build's fingerprint and would
/// rebuild host-service on every run.
fn build_host_service() -> PathBuf {
    if let Some(bin) = std::env::var_os("HOST_SERVICE_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "HOST_SERVICE_BIN={} not found",
            bin.display()
        );
        return bin;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let mut cmd = Command::new(cargo);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_PACKAGE",
        ]
        .iter()
        .any(|p| key.starts_with(p))
        {
            cmd.env_remove(&*key);
        }
    }
    let st = cmd
        .args([
            "build",
            "--release",
            "--bin",
            "host-service",
            "--manifest-path",
        ])
        .arg(&manifest)
        .status()
        .expect("run cargo build");
    assert!(st.success(), "cargo build failed");
    let exe = std::env::current_exe().unwrap();
    // target/release/examples/bench -> target/release/host-service
    let bin = exe.parent().unwrap().parent().unwrap().join("host-service");
    assert!(bin.is_file(), "{} not found", bin.display());
    bin
}

/// Counts complete lines appended to a file, incrementally.
struct LineCounter {
    path: PathBuf,
    offset: u64,
    lines: usize,
    buf: Vec<u8>,
}

impl LineCounter {
    fn new(path: &Path) -> Self {
        LineCounter {
            path: path.to_owned(),
            offset: 0,
            lines: 0,
            buf: vec![0; 1 << 20],
        }
    }
    fn poll(&mut self) -> usize {
        if let Ok(mut f) = std::fs::File::open(&self.path) {
            let _ = f.seek(SeekFrom::Start(self.offset));
            while let Ok(n) = f.read(&mut self.buf) {
                if n == 0 {
                    break;
                }
                self.offset += n as u64;
                self.lines += self.buf[..n].iter().filter(|b| **b == b'\n').count();
            }
        }
        self.lines
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used so far, in seconds: less sensitive than
/// wall time to other work on the machine.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime
    // the 13th of those.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Sub {
    MosquittoSub,
    HostService,
}

impl Sub {
    fn name(self) -> &'static str {
        match self {
            Sub::MosquittoSub => "mosquitto_sub > file",
            Sub::HostService => "host-service",
        }
    }
}

struct Env {
    dir: TempDir,
    broker: Mosquitto,
    host_service: PathBuf,
}

fn spawn(env: &Env, sub: Sub, qos: u8, id: &str, out: &Path) -> Child {
    match sub {
        Sub::MosquittoSub => {
            let file = std::fs::File::create(out).unwrap();
            common::mosquitto_client("mosquitto_sub", env.broker.port)
                .args(["-c", "-i", id])
                .args(["-q", &qos.to_string(), "-t", "sensor-data"])
                .stdout(file)
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        }
        Sub::HostService => Command::new(&env.host_service)
            .args([
                "--broker",
                &format!("mqtt://127.0.0.1:{}", env.broker.port),
                "--client-id",
                id,
            ])
            .args([
                "--qos",
                &qos.to_string(),
                // Any free port: the bench doesn't look at the page.
                "--status-addr",
                "127.0.0.1:0",
            ])
            .arg("sensor-data")
            .arg(out)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    }
}

fn stop(mut child: Child) {
    common::signal(child.id(), "TERM");
    let _ = child.wait();
}

/// One measurement: (seconds, CPU seconds, peak RSS KiB).
fn run_once(
    env: &Env,
    sub: Sub,
    qos: u8,
    n: usize,
    burst: &[String],
    run: usize,
) -> (f64, f64, u64) {
    let id = format!(
        "bench-{}-q{qos}-{run}",
        if sub == Sub::HostService { "hs" } else { "sub" }
    );
    let out = env.dir.path(&format!("{id}.out"));
    // Create the session, then leave.
    let mut child = spawn(env, sub, qos, &id, &out);
    std::thread::sleep(Duration::from_millis(400));
    if let Some(st) = child.try_wait().unwrap() {
        panic!("{} exited at start: {st}", sub.name());
    }
    stop(child);
    let _ = std::fs::remove_file(&out);
    for ext in [".rejects", ".acklog", ".subscriptions"] {
        let mut p = out.clone().into_os_string();
        p.push(ext);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    common::publish_many(env.broker.port, "sensor-data", qos, burst);
    let header = usize::from(sub == Sub::HostService);
    let mut counter = LineCounter::new(&out);
    let start = Instant::now();
    let mut child = spawn(env, sub, qos, &id, &out);
    let deadline = start + Duration::from_secs(120);
    let mut peak = 0;
    while counter.poll() < n + header {
        peak = peak.max(peak_rss_kib(child.id()));
        if let Some(st) = child.try_wait().unwrap() {
            panic!(
                "{} exited ({st}) with {} of {n} rows",
                sub.name(),
                counter.lines
            );
        }
        assert!(
            Instant::now() < deadline,
            "{}: only {} of {n} rows after 120 s",
            sub.name(),
            counter.lines
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let secs = start.elapsed().as_secs_f64();
    peak = peak.max(peak_rss_kib(child.id()));
    let cpu = cpu_seconds(child.id());
    stop(child);
    // Delete the session (a clean-session connect with the same id), so later bursts
    // aren't also queued for this offline subscriber.
    let st = common::mosquitto_client("mosquitto_sub", env.broker.port)
        .args(["-i", &id, "-t", "bench/none", "-E"])
        .status()
        .unwrap();
    assert!(st.success(), "could not clear the session {id}");
    (secs, cpu, peak)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args = parse_args();
    let host_service = build_host_service();
    let dir = TempDir::new("bench");
    let port = common::free_port();
    // Queue everything for offline sessions, QoS 0 included, without limits.
    let broker = Mosquitto::start_with(
        &dir.0,
        port,
        false,
        "max_queued_messages 10000000\nqueue_qos0_messages true\n",
    );
    let env = Env {
        dir,
        broker,
        host_service,
    };
    let burst: Vec<String> = (0..args.messages)
        .map(|i| {
            format!(
                "[\"lux-{}\", {}, {}.{:04}]",
                i % 4,
                i,
                100 + i % 900,
                i % 10_000
            )
        })
        .collect();

    let mut table = Vec::new();
    // BENCH_ONLY=hs limits the run to host-service (for profiling).
    let only_hs = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "hs");
    for qos in [0u8, 1] {
        let mut ceiling = f64::NAN;
        for sub in [Sub::MosquittoSub, Sub::HostService] {
            if only_hs && sub == Sub::MosquittoSub {
                continue;
            }
            let mut times = Vec::new();
            let mut cpus = Vec::new();
            let mut peak = 0;
            for run in 0..args.runs {
                let (t, cpu, rss) = run_once(&env, sub, qos, args.messages, &burst, run);
                eprintln!(
                    "  {} qos {qos} run {run}: {t:.3} s, {cpu:.2} CPU s, peak RSS {:.1} MB",
                    sub.name(),
                    rss as f64 / 1024.0
                );
                times.push(t);
                cpus.push(cpu);
                peak = peak.max(rss);
            }
            let t = median(times);
            let cpu = median(cpus);
            let rate = args.messages as f64 / t;
            if sub == Sub::MosquittoSub {
                ceiling = rate;
            }
            table.push(format!(
                "| {} | {qos} | {} | {t:.3} | {rate:.0} | {:.0}% | {cpu:.2} | {:.1} |",
                sub.name(),
                args.messages,
                100.0 * rate / ceiling,
                peak as f64 / 1024.0
            ));
        }
    }
    println!(
        "\n{} messages queued in mosquitto {}, drained by each subscriber from its start \
         until the file holds every row; median of {} runs; CPU = the subscriber's user + \
         system time; peak RSS = VmHWM.\n",
        args.messages,
        mosquitto_version(),
        args.runs
    );
    println!(
        "| subscriber | QoS | messages | seconds | messages/s | of ceiling | CPU s | peak RSS (MB) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in table {
        println!("{row}");
    }
}

fn mosquitto_version() -> String {
    let out = Command::new(require("mosquitto"))
        .arg("-h")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("mosquitto version ")
        .to_owned()
}
