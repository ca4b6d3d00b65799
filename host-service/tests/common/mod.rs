//! Test harness: a real mosquitto on a free loopback port with a generated config, the
//! real `host-service` binary, mosquitto_pub as the publisher (the tutorial's way), and
//! a tiny HTTP client for the status page.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("hs-it-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("HS_KEEP_TEMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Finds a program on PATH or in the sbin dirs, or fails with a clear message.
pub fn require(program: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{program}` is not installed, and this test needs a real one: \
         install it (Debian: apt-get install mosquitto mosquitto-clients)"
    );
}

/// Polls `f` until it returns Some, or panics after `timeout` with `what`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// The config line of a test broker unless told otherwise: room for the large bursts.
const QUEUE: &str = "max_queued_messages 100000\n";

/// A mosquitto broker started by the test.
pub struct Mosquitto {
    pub port: u16,
    conf: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts mosquitto on a free port; with `persistence`, its database lives in `dir`.
    /// The port is picked before mosquitto binds it: if another process took it
    /// meanwhile, mosquitto exits and another port is tried.
    pub fn start(dir: &Path, persistence: bool) -> Mosquitto {
        let mut tries = 0;
        loop {
            let mut m = Self::configured(dir, free_port(), persistence, QUEUE);
            tries += 1;
            if m.try_restart() || tries == 5 {
                assert!(m.child.is_some(), "mosquitto did not start: {}", m.log());
                return m;
            }
        }
    }

    pub fn start_on(dir: &Path, port: u16, persistence: bool) -> Mosquitto {
        Self::start_with(dir, port, persistence, QUEUE)
    }

    /// Starts on `port` with `extra` lines appended to the generated config.
    pub fn start_with(dir: &Path, port: u16, persistence: bool, extra: &str) -> Mosquitto {
        let mut m = Self::configured(dir, port, persistence, extra);
        m.restart();
        m
    }

    /// Writes the config for `port`; the process is not started yet.
    fn configured(dir: &Path, port: u16, persistence: bool, extra: &str) -> Mosquitto {
        let conf = dir.join(format!("mosquitto-{port}.conf"));
        let anonymous = if extra.contains("allow_anonymous") {
            ""
        } else {
            "allow_anonymous true\n"
        };
        let mut text =
            format!("listener {port} 127.0.0.1\n{anonymous}max_inflight_messages 20\n{extra}");
        if persistence {
            // mosquitto started as root drops to the `mosquitto` user: let it write here.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
            text.push_str(&format!(
                "persistence true\npersistence_location {}/\npersistence_file mosquitto-{port}.db\n\
                 autosave_interval 1\n",
                dir.display()
            ));
        }
        std::fs::write(&conf, text).unwrap();
        Mosquitto {
            port,
            conf,
            log: dir.join(format!("mosquitto-{port}.log")),
            child: None,
        }
    }

    /// (Re)starts the process with the same config and port.
    pub fn restart(&mut self) {
        assert!(
            self.try_restart(),
            "mosquitto exited at start (port {} taken?): {}",
            self.port,
            self.log()
        );
    }

    /// Starts the process; false if it exited instead of listening.
    fn try_restart(&mut self) -> bool {
        assert!(self.child.is_none(), "mosquitto is already running");
        let bin = require("mosquitto");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let port = self.port;
        let child = self.child.as_mut().unwrap();
        let listening = wait_for(Duration::from_secs(10), "mosquitto to listen", || {
            // Exited: the port was taken (by someone else, who would answer port_open).
            if child.try_wait().unwrap().is_some() {
                return Some(false);
            }
            port_open(port).then_some(true)
        });
        if !listening {
            self.child = None;
        }
        listening
    }

    /// Stops it cleanly (SIGTERM: mosquitto saves its database).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends a signal by name with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig} {pid} failed");
}

/// `program` (mosquitto_pub or mosquitto_sub) pointed at the broker on 127.0.0.1:`port`.
pub fn mosquitto_client(program: &str, port: u16) -> Command {
    let mut c = Command::new(require(program));
    c.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    c
}

/// A unique client id per publisher, so the broker's log tells them apart.
fn pub_id() -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "pub-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// Waits for `child` to exit within `limit`; kills it and returns None if it doesn't.
fn wait_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for a program (a publisher, a browser) to succeed, killing it after a minute so
/// one that hangs (a broker that never acks) fails the test instead of hanging it.
pub fn wait_success(mut child: Child, what: &str) {
    match wait_within(&mut child, Duration::from_secs(60)) {
        Some(st) => assert!(st.success(), "{what} failed: {st}"),
        None => panic!("{what} did not finish in 60 s"),
    }
}

/// Starts mosquitto_pub for one topic and QoS, reading its message(s) from stdin as `mode`
/// says (`-l` one per line, `-s` one message, `-n` an empty message).
fn spawn_pub(port: u16, topic: &str, qos: u8, mode: &str) -> Child {
    mosquitto_client("mosquitto_pub", port)
        .args(["-i", &pub_id()])
        .args(["-t", topic, "-q", &qos.to_string(), mode])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Publishes each payload as one message with mosquitto_pub (`-l`: one per line).
pub fn publish_lines(port: u16, topic: &str, qos: u8, lines: &[String]) {
    let mut child = spawn_pub(port, topic, qos, "-l");
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in lines {
            assert!(!l.contains('\n'));
            stdin.write_all(l.as_bytes()).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
    }
    wait_success(child, "mosquitto_pub -l");
}

/// Publishes one payload (any bytes) with mosquitto_pub -s (message from stdin).
pub fn publish_bytes(port: u16, topic: &str, qos: u8, payload: &[u8]) {
    // -s refuses an empty stdin; -n sends a zero-length message.
    let mode = if payload.is_empty() { "-n" } else { "-s" };
    let mut child = spawn_pub(port, topic, qos, mode);
    child.stdin.take().unwrap().write_all(payload).unwrap();
    wait_success(child, "mosquitto_pub");
}

/// Publishes the burst with a rumqttc client and waits until the broker has it all
/// (every PUBACK at QoS 1, PUBCOMP at QoS 2; a clean DISCONNECT after the last write
/// at QoS 0).
/// mosquitto_pub -l is not used: at QoS 1 it lost two thirds of a 100k burst here.
pub fn publish_many(port: u16, topic: &str, qos: u8, burst: &[String]) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut opts = MqttOptions::new(pub_id(), "127.0.0.1", port);
        // At QoS 2 stay within the test broker's max_inflight_messages (20): mosquitto
        // 2.0.11 completed (PUBCOMP) but dropped QoS 2 messages beyond it.
        opts.set_inflight(if qos == 2 { 20 } else { 100 })
            .set_clean_session(true);
        let (client, mut eventloop) = AsyncClient::new(opts, 1000);
        let q = match qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        };
        let payloads: Vec<Vec<u8>> = burst.iter().map(|l| l.as_bytes().to_vec()).collect();
        let n = payloads.len();
        let topic = topic.to_owned();
        let sender = tokio::spawn(async move {
            let topic = topic;
            for p in payloads {
                client.publish(topic.as_str(), q, false, p).await.unwrap();
            }
            client
        });
        let (mut acked, mut sent) = (0usize, 0usize);
        let mut client = None;
        let mut sender = Some(sender);
        loop {
            if let Some(s) = sender.as_mut().filter(|s| s.is_finished()) {
                client = Some(s.await.unwrap());
                sender = None;
            }
            let done = if qos == 0 { sent == n } else { acked == n };
            if done {
                if let Some(c) = client.take() {
                    c.disconnect().await.unwrap();
                }
            }
            match eventloop.poll().await.expect("publisher connection") {
                Event::Incoming(Packet::PubAck(_)) | Event::Incoming(Packet::PubComp(_)) => {
                    acked += 1
                }
                Event::Outgoing(Outgoing::Publish(_)) => sent += 1,
                Event::Outgoing(Outgoing::Disconnect) => break,
                _ => {}
            }
        }
    });
}

/// Publishes further events (QoS 1, value `next`, `next + 1`, ...; one message each)
/// until every one of `csvs` holds a row of one of them, and returns the value after the
/// last one published. A broker delivers a session's messages in order, so every earlier
/// message, and any redelivery of it, has been written by then: the files can be
/// counted for lost and duplicated rows (a fixed sleep could end before a late
/// duplicate). With a share group each instance needs its own last event, hence the loop.
pub fn settle(port: u16, topic: &str, csvs: &[&Path], next: usize) -> usize {
    let rows = |c: &&Path| csv_rows(c).len();
    let mut total: usize = csvs.iter().map(rows).sum();
    let mut value = next;
    loop {
        publish_lines(
            port,
            topic,
            1,
            &[format!(r#"["settle", {value}, {value}]"#)],
        );
        value += 1;
        total += 1;
        wait_for(Duration::from_secs(30), "the last event's row", || {
            (csvs.iter().map(rows).sum::<usize>() >= total).then_some(())
        });
        let settled = csvs
            .iter()
            .all(|c| csv_rows(c).iter().any(|r| r.contains(",settle,")));
        if settled {
            return value;
        }
        assert!(value - next < 100, "no instance got the last events");
    }
}

/// GET over plain HTTP/1.1; returns (status code, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_host(port, path, "127.0.0.1")
}

/// GET with a given `Host` header.
pub fn http_get_host(port: u16, path: &str, host: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    // Undo chunked encoding if the server used it.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        body.to_owned()
    };
    Some((code, body))
}

/// The /status JSON.
pub fn status(port: u16) -> serde_json::Value {
    let (code, body) = http_get(port, "/status").expect("GET /status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The binary under test (cargo sets the variable for integration tests; the bench
/// example passes it in HOST_SERVICE_BIN).
pub fn host_service_bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_host-service") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(
            std::env::var_os("HOST_SERVICE_BIN").expect("HOST_SERVICE_BIN is not set"),
        ),
    }
}

/// A running host-service.
pub struct Service {
    pub child: Child,
    pub status_port: u16,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Service {
    /// Starts `host-service ARGS --status-addr 127.0.0.1:0` with output in `dir`, reads
    /// the port the OS gave the status page from its log (no port picked in advance that
    /// another process could take meanwhile) and waits until the page answers.
    pub fn start<S: AsRef<std::ffi::OsStr>>(dir: &Path, name: &str, args: &[S]) -> Service {
        Self::start_env(dir, name, args, &[])
    }

    /// [`Service::start`] with these environment variables set as well.
    pub fn start_env<S: AsRef<std::ffi::OsStr>>(
        dir: &Path,
        name: &str,
        args: &[S],
        env: &[(&str, &str)],
    ) -> Service {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stdout)
            .unwrap();
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr)
            .unwrap();
        let child = Command::new(host_service_bin())
            .args(args)
            .args(["--status-addr", "127.0.0.1:0"])
            .env(
                "RUST_LOG",
                std::env::var("HS_TEST_LOG").unwrap_or_else(|_| "host_service=debug,warn".into()),
            )
            .envs(env.iter().copied())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start host-service");
        let mut svc = Service {
            child,
            status_port: 0,
            stdout,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        let at = "status page on http://127.0.0.1:";
        loop {
            if svc.status_port == 0 {
                let log = svc.stderr_text();
                svc.status_port = log
                    .find(at)
                    .and_then(|i| log[i + at.len()..].split('/').next()?.parse().ok())
                    .unwrap_or(0);
            }
            if svc.status_port != 0 && http_get(svc.status_port, "/healthz").is_some() {
                break;
            }
            if let Ok(Some(st)) = svc.child.try_wait() {
                panic!("host-service exited early ({st}): {}", svc.stderr_text());
            }
            assert!(
                Instant::now() < deadline,
                "host-service did not answer: {}",
                svc.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        svc
    }

    /// Starts `host-service --embedded-broker=127.0.0.1:0 ARGS` (see [`Service::start`]) and
    /// waits until it has subscribed; returns it with its broker's port.
    pub fn embedded(dir: &Path, name: &str, args: &[&str]) -> (Service, u16) {
        let mut all = vec!["--embedded-broker=127.0.0.1:0"];
        all.extend_from_slice(args);
        let svc = Service::start(dir, name, &all);
        let port = svc.broker_port();
        svc.wait_subscribed();
        (svc, port)
    }

    /// The port of the embedded broker's front end, from the log (for a service started
    /// with `--embedded-broker=127.0.0.1:0`: the OS picks a free port, nothing can take
    /// it between picking and binding).
    pub fn broker_port(&self) -> u16 {
        let at = "embedded MQTT broker listening addr=";
        let log = self.stderr_text();
        let i = log
            .find(at)
            .expect("the embedded broker's address in the log")
            + at.len();
        let addr: std::net::SocketAddr =
            log[i..].split_whitespace().next().unwrap().parse().unwrap();
        addr.port()
    }

    /// Waits until /status says connected and subscribed.
    pub fn wait_subscribed(&self) {
        let port = self.status_port;
        wait_for(Duration::from_secs(20), "host-service to subscribe", || {
            let s = status(port);
            (s["broker"]["state"] == "connected" && s["broker"]["subscribed"] == true).then_some(())
        });
    }

    pub fn status(&self) -> serde_json::Value {
        status(self.status_port)
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(mut self) -> i32 {
        signal(self.child.id(), "TERM");
        let st = self.child.wait().unwrap();
        st.code().unwrap_or(-1)
    }

    /// SIGINT (Ctrl-C) and wait; returns the exit code.
    pub fn interrupt(mut self) -> i32 {
        signal(self.child.id(), "INT");
        let st = self.child.wait().unwrap();
        st.code().unwrap_or(-1)
    }

    /// SIGKILL and wait.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CSV's data rows (header checked and removed), split on "\r\n".
pub fn csv_rows(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    if text.is_empty() {
        return Vec::new();
    }
    let body = text
        .strip_prefix("timestamp,datetime,sensor_id,value\r\n")
        .unwrap_or_else(|| panic!("CSV does not start with the header: {text:?}"));
    body.split_terminator("\r\n").map(str::to_owned).collect()
}

/// The records of the rejects file at `path` (none while it does not exist).
pub fn rejects(path: &Path) -> Vec<host_service::sink::RejectRecord> {
    host_service::sink::read_rejects(&std::fs::read(path).unwrap_or_default())
}

/// The value column of every row (for rows with plain sensor ids).
pub fn csv_values(path: &Path) -> Vec<String> {
    csv_rows(path)
        .iter()
        .map(|r| r.rsplit(',').next().unwrap().to_owned())
        .collect()
}

/// Runs python3 with `script`, feeding `input` on stdin; returns stdout.
pub fn python(script: &str, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 is needed to check the output against CPython");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        stdin.write_all(&input).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success(), "python3 failed");
    out.stdout
}

/// Peak resident memory (VmHWM) of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib / 1024.0
}

/// Leaves a persistent session with no subscription for `client_id` on the broker
/// (connect with clean session off, then disconnect).
pub fn create_empty_session(port: u16, client_id: &str) {
    use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, Outgoing};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
        opts.set_clean_session(false);
        let (client, mut eventloop) = AsyncClient::new(opts, 10);
        loop {
            match eventloop.poll().await.expect("connect") {
                Event::Incoming(Incoming::ConnAck(_)) => client.disconnect().await.unwrap(),
                Event::Outgoing(Outgoing::Disconnect) => break,
                _ => {}
            }
        }
    });
}

/// Runs a host-service command that must exit by itself (refusing to start), with its
/// output captured; kills it and fails the test if it is still running after 20 s.
pub fn run_to_exit(cmd: &mut Command) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = wait_within(&mut child, Duration::from_secs(20)).unwrap_or_else(|| {
        panic!("{cmd:?} was still running after 20 s; it should have refused to start")
    });
    std::process::Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}
