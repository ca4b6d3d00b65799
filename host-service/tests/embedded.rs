//! The same paths with the in-process broker (`--embedded-broker`): no mosquitto
//! server involved; mosquitto_pub is only the publishing client.

mod common;

use std::time::Duration;

use common::{csv_rows, csv_values, publish_bytes, publish_lines, wait_for, Service, TempDir};

const T: Duration = Duration::from_secs(30);

#[test]
fn embedded_broker_writes_rows_and_rejects() {
    let dir = TempDir::new("embedded");
    let csv = dir.path("test.csv");
    let (svc, port) = Service::embedded(
        &dir.0,
        "svc",
        &["--client-id", "emb", "sensor-data", csv.to_str().unwrap()],
    );
    assert!(svc.status()["broker"]["url"]
        .as_str()
        .unwrap()
        .contains("(embedded)"));
    let events: Vec<String> = (0..200)
        .map(|i| format!(r#"["lux-1", {i}, {i}.5]"#))
        .collect();
    publish_lines(port, "sensor-data", 1, &events[..100]);
    publish_bytes(port, "sensor-data", 1, b"hi, there");
    publish_bytes(port, "sensor-data", 0, b"[\"lux-1\", 1, NaN]");
    publish_lines(port, "sensor-data", 0, &events[100..]);
    wait_for(T, "200 rows", || {
        (csv_rows(&csv).len() >= 200).then_some(())
    });
    let want: Vec<String> = (0..200).map(|i| format!("{i}.5")).collect();
    assert_eq!(csv_values(&csv), want);
    let s = wait_for(T, "rejects counted", || {
        let s = svc.status();
        (s["rejects"] == 2).then_some(s)
    });
    assert_eq!(s["rejects_by_kind"]["not-json"], 1);
    assert_eq!(s["rejects_by_kind"]["non-finite"], 1);
    assert_eq!(s["rows_written"], 200);
    assert_eq!(s["messages_received"], 202);
    let recs = common::rejects(&dir.path("test.csv.rejects"));
    assert_eq!(
        recs.iter()
            .map(|r| r.payload.as_slice())
            .collect::<Vec<_>>(),
        [&b"hi, there"[..], b"[\"lux-1\", 1, NaN]"]
    );
    // The console lines are the tutorial's.
    let out = svc.stdout_text();
    assert!(
        out.starts_with("SensorEvent(sensor_id='lux-1', ts="),
        "{out}"
    );
    assert!(out.lines().next().unwrap().ends_with(", val=0.5)"), "{out}");
    assert_eq!(svc.terminate(), 0);
}

/// A device's PUBLISH over the embedded broker's 1 MiB packet limit is not lost: rumqttd
/// would drop the device's connection and the message with it (mosquitto_pub: "The
/// connection was lost"); the front end passes its first 1 KiB on, and the service keeps
/// it as `too-large` with its full size. The next event is written as usual.
#[test]
fn oversized_publish_to_the_embedded_broker_is_kept_as_too_large() {
    let dir = TempDir::new("embedded-big");
    let csv = dir.path("test.csv");
    let (svc, port) = Service::embedded(
        &dir.0,
        "svc",
        &["--quiet", "sensor-data", csv.to_str().unwrap()],
    );
    let big: Vec<u8> = (0..2_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    publish_bytes(port, "sensor-data", 1, &big);
    publish_lines(port, "sensor-data", 1, &[r#"["lux-1", 1, 2.5]"#.to_owned()]);
    wait_for(T, "the row after it", || {
        (csv_rows(&csv).len() == 1).then_some(())
    });
    assert_eq!(csv_values(&csv), ["2.5"]);
    let recs = common::rejects(&dir.path("test.csv.rejects"));
    assert_eq!(recs.len(), 1);
    assert_eq!(
        (
            recs[0].kind.as_str(),
            recs[0].size,
            recs[0].payload.as_slice()
        ),
        ("too-large", 2_000_000, &big[..1024])
    );
    assert_eq!(svc.status()["rejects_by_kind"]["too-large"], 1);
    assert_eq!(svc.terminate(), 0);
}

/// The in-process broker keeps a persistent session while the process lives: a second
/// instance (its client) that restarts gets what was published meanwhile; two
/// instances in a share group split the stream.
#[test]
fn embedded_broker_sessions_and_share_groups() {
    let dir = TempDir::new("embedded-share");
    let a_csv = dir.path("a.csv");
    let b_csv = dir.path("b.csv");
    let (a, port) = Service::embedded(
        &dir.0,
        "a",
        &[
            "--client-id",
            "emb-a",
            "--share-group",
            "g",
            "--quiet",
            "s/data",
            a_csv.to_str().unwrap(),
        ],
    );
    let b_args = [
        "--broker",
        &format!("mqtt://127.0.0.1:{port}"),
        "--client-id",
        "emb-b",
        "--share-group",
        "g",
        "--quiet",
        "s/data",
        b_csv.to_str().unwrap(),
    ];
    let b = Service::start(&dir.0, "b", &b_args);
    b.wait_subscribed();
    let events: Vec<String> = (0..400).map(|i| format!(r#"["s", {i}, {i}]"#)).collect();
    publish_lines(port, "s/data", 1, &events);
    wait_for(T, "400 rows across both files", || {
        (csv_rows(&a_csv).len() + csv_rows(&b_csv).len() >= 400).then_some(())
    });
    let n = common::settle(port, "s/data", &[&a_csv, &b_csv], 400);
    let (va, vb) = (csv_values(&a_csv), csv_values(&b_csv));
    assert!(
        !va.is_empty() && !vb.is_empty(),
        "split {} / {}",
        va.len(),
        vb.len()
    );
    let mut all: Vec<u64> = va.iter().chain(&vb).map(|v| v.parse().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..n as u64).collect::<Vec<u64>>(),
        "lost or duplicated"
    );
    assert_eq!(b.terminate(), 0);

    // A persistent session in the embedded broker outlives its client's restart.
    let c_csv = dir.path("c.csv");
    let c_args = [
        "--broker",
        &format!("mqtt://127.0.0.1:{port}"),
        "--client-id",
        "emb-c",
        "--quiet",
        "c/data",
        c_csv.to_str().unwrap(),
    ];
    let c = Service::start(&dir.0, "c1", &c_args);
    c.wait_subscribed();
    publish_lines(port, "c/data", 1, &events[..50]);
    wait_for(T, "50 rows", || {
        (csv_rows(&c_csv).len() >= 50).then_some(())
    });
    c.kill();
    publish_lines(port, "c/data", 1, &events[50..100]);
    let c = Service::start(&dir.0, "c2", &c_args);
    wait_for(T, "100 rows after the restart", || {
        (csv_rows(&c_csv).len() >= 100).then_some(())
    });
    let n = common::settle(port, "c/data", &[&c_csv], 100);
    let got: Vec<u64> = csv_values(&c_csv)
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(got, (0..n as u64).collect::<Vec<u64>>());
    assert_eq!(c.terminate(), 0);
    assert_eq!(a.terminate(), 0);
}

/// The tutorial's own commands, with no client id (mosquitto's tools then send an empty
/// one, which rumqttd alone refuses): the embedded broker assigns one.
#[test]
fn tutorial_commands_without_client_id_work() {
    let dir = TempDir::new("embedded-noid");
    let csv = dir.path("test.csv");
    let (svc, port) = Service::embedded(&dir.0, "svc", &["sensor-data", csv.to_str().unwrap()]);
    let sub = common::mosquitto_client("mosquitto_sub", port)
        .args(["-t", "sensor-data", "-C", "1", "-W", "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // mosquitto_sub has subscribed once a retained-free publish reaches it; retry the
    // publish until the subscriber got one (it may not be subscribed yet at first).
    let payload = r#"["lux-1", 624, 284.1312]"#;
    let mut sub = Some(sub);
    let out = wait_for(T, "mosquitto_sub to receive an event", || {
        let st = common::mosquitto_client("mosquitto_pub", port)
            .args(["-t", "sensor-data", "-m", payload])
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "mosquitto_pub without -i failed: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
        let s = sub.as_mut().unwrap();
        s.try_wait()
            .unwrap()
            .map(|_| sub.take().unwrap().wait_with_output().unwrap())
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), payload);
    wait_for(T, "the rows", || (!csv_rows(&csv).is_empty()).then_some(()));
    assert!(csv_values(&csv).iter().all(|v| v == "284.1312"));
    assert_eq!(svc.terminate(), 0);
}

/// On the network the embedded broker needs credentials (or an explicit
/// --allow-anonymous, which warns); a refused client gets a CONNACK saying why and the
/// service logs it.
#[test]
fn embedded_broker_on_the_network_needs_credentials_and_logs_refusals() {
    let dir = TempDir::new("embedded-lan");
    let port = common::free_port();
    let csv = dir.path("test.csv");
    let lan = format!("--embedded-broker=0.0.0.0:{port}");
    let out = common::run_to_exit(
        std::process::Command::new(common::host_service_bin()).args([
            &lan,
            "t",
            csv.to_str().unwrap(),
        ]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--username") && err.contains("--allow-anonymous"),
        "{err}"
    );

    let svc = Service::start(
        &dir.0,
        "auth",
        &[
            &lan,
            "--username",
            "sensor",
            "--password",
            "s3cret",
            "t",
            csv.to_str().unwrap(),
        ],
    );
    svc.wait_subscribed();
    let bad = common::mosquitto_client("mosquitto_pub", port)
        .args([
            "-i", "intruder", "-u", "sensor", "-P", "guess", "-t", "t", "-m", "x",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let bad_err = String::from_utf8_lossy(&bad.stderr).to_lowercase();
    assert!(
        bad_err.contains("bad user name or password"),
        "the client should be told why: {bad_err}"
    );
    let anon = common::mosquitto_client("mosquitto_pub", port)
        .args(["-t", "t", "-m", "x"])
        .output()
        .unwrap();
    assert!(!anon.status.success());
    let good = common::mosquitto_client("mosquitto_pub", port)
        .args(["-u", "sensor", "-P", "s3cret", "-q", "1", "-t", "t"])
        .args(["-m", r#"["lux-1", 1, 42.5]"#])
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    wait_for(T, "the row", || (csv_values(&csv).len() == 1).then_some(()));
    let log = svc.stderr_text();
    assert!(
        log.contains("refused a client (bad user name or password)")
            && log.contains("client_id=\"intruder\"")
            && log.contains("peer=127.0.0.1:"),
        "{log}"
    );
    assert!(
        log.contains("refused a client without credentials"),
        "{log}"
    );
    assert!(!log.contains("s3cret") && !log.contains("guess"), "{log}");
    assert_eq!(svc.terminate(), 0);

    let port2 = common::free_port();
    let svc = Service::start(
        &dir.0,
        "anon",
        &[
            &format!("--embedded-broker=0.0.0.0:{port2}"),
            "--allow-anonymous",
            "t",
            dir.path("anon.csv").to_str().unwrap(),
        ],
    );
    svc.wait_subscribed();
    assert!(
        svc.stderr_text()
            .contains("accepts anonymous clients from the network"),
        "{}",
        svc.stderr_text()
    );
    assert_eq!(svc.terminate(), 0);
}

/// `host-service ... 2>&1 >/dev/null | head -c 1`: stdout and stderr closed early. The
/// service keeps writing rows (it used to abort on its next log line).
#[test]
fn closed_stderr_and_stdout_do_not_stop_the_service() {
    let dir = TempDir::new("embedded-closed");
    let port = common::free_port();
    let status_port = common::free_port();
    let csv = dir.path("test.csv");
    let mut child = std::process::Command::new(common::host_service_bin())
        .args([
            &format!("--embedded-broker=127.0.0.1:{port}"),
            "--status-addr",
            &format!("127.0.0.1:{status_port}"),
            "sensor-data",
            csv.to_str().unwrap(),
        ])
        .env("RUST_LOG", "host_service=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    wait_for(T, "the status page", || {
        assert!(child.try_wait().unwrap().is_none(), "host-service died");
        common::http_get(status_port, "/healthz").filter(|(c, _)| *c == 200)
    });
    // A reject (logged at warn), rows (console lines on the closed stdout), more logs.
    publish_bytes(port, "sensor-data", 1, b"hi, there");
    let events: Vec<String> = (0..50).map(|i| format!(r#"["lux-1", {i}, {i}]"#)).collect();
    publish_lines(port, "sensor-data", 1, &events);
    wait_for(T, "50 rows", || (csv_rows(&csv).len() >= 50).then_some(()));
    assert!(child.try_wait().unwrap().is_none(), "host-service died");
    common::signal(child.id(), "TERM");
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0), "{st}");
}

/// Topics with spaces, newlines, escape sequences and rejects-file syntax in them: the
/// rejects file reads back every topic exactly, and no log line can be forged.
#[test]
fn hostile_topics_cannot_forge_records_or_log_lines() {
    let dir = TempDir::new("embedded-topics");
    let csv = dir.path("test.csv");
    let (svc, port) = Service::embedded(&dir.0, "svc", &["--quiet", "h/#", csv.to_str().unwrap()]);
    let topics = [
        "h/a b",
        "h/x\n2026-01-01T00:00:00.000000Z  INFO host_service: forged line",
        "h/bytes=3 size=3 topic=\"h\" y",
        "h/\u{1b}[31mred\u{1b}[0m\r\u{2028}",
        "h/\"quoted\\\" \u{7f}",
    ];
    for (i, t) in topics.iter().enumerate() {
        common::publish_many(port, t, 1, &[format!("not json {i}\nsecond line")]);
    }
    let recs = wait_for(T, "5 rejects", || {
        let recs = common::rejects(&dir.path("test.csv.rejects"));
        (recs.len() >= topics.len()).then_some(recs)
    });
    let got: Vec<&str> = recs.iter().map(|r| r.topic.as_str()).collect();
    assert_eq!(got, topics);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.payload, format!("not json {i}\nsecond line").as_bytes());
        assert_eq!(r.kind, "not-json");
    }
    let log = svc.stderr_text();
    assert!(
        log.contains("h/x\\n2026"),
        "the topic is in the log, escaped: {log}"
    );
    for line in log.lines() {
        assert!(!line.starts_with("2026-01-01"), "forged log line: {line:?}");
        assert!(
            !line.contains('\u{1b}') && !line.contains('\r'),
            "raw control character: {line:?}"
        );
        assert!(!line.contains('\u{2028}'), "raw line separator: {line:?}");
    }
    assert_eq!(svc.terminate(), 0);
}

/// 2,000 idle connections to the status port (with the usual limit of 1,024 open files)
/// don't stop a device publishing through the embedded broker, and the page answers
/// again once they are gone.
#[test]
fn idle_status_connections_do_not_starve_the_broker() {
    let dir = TempDir::new("embedded-idle");
    let port = common::free_port();
    let status_port = common::free_port();
    let csv = dir.path("test.csv");
    let stderr = dir.path("svc.stderr");
    // `ulimit -n 1024`, as on a default Linux login, for the service only.
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\" \"$@\"")
        .arg(common::host_service_bin())
        .args([
            &format!("--embedded-broker=127.0.0.1:{port}"),
            "--status-addr",
            &format!("127.0.0.1:{status_port}"),
            "--quiet",
            "sensor-data",
            csv.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let svc = Service {
        child,
        status_port,
        stdout: dir.path("none"),
        stderr,
    };
    wait_for(T, "the status page", || {
        common::http_get(status_port, "/healthz")
    });
    svc.wait_subscribed();
    // A python3 holding 2,000 idle connections (it raises its own descriptor limit). It
    // waits until the connections stop completing (the server has taken what it takes
    // and its listen queue is full: SYNs beyond that are retried by the kernel for
    // seconds), so a server that accepts without limit has run out of descriptors
    // before the device publishes.
    let mut idle = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import resource, select, socket, sys, time\n\
             soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n\
             resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))\n\
             socks = []\n\
             for _ in range(2000):\n\
             \x20   s = socket.socket()\n\
             \x20   s.setblocking(False)\n\
             \x20   s.connect_ex(('127.0.0.1', {status_port}))\n\
             \x20   socks.append(s)\n\
             poll = select.poll()\n\
             for s in socks:\n\
             \x20   poll.register(s, select.POLLOUT)\n\
             pending, last, start = len(socks), time.monotonic(), time.monotonic()\n\
             while pending and time.monotonic() - last < 3 and time.monotonic() - start < 20:\n\
             \x20   for fd, _ in poll.poll(200):\n\
             \x20       poll.unregister(fd)\n\
             \x20       pending -= 1\n\
             \x20       last = time.monotonic()\n\
             print('ready', 2000 - pending, flush=True)\n\
             sys.stdin.read()\n"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(idle.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let connected: usize = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("python said {line:?}"));
    let cap = host_service::status::MAX_CONNECTIONS;
    assert!(connected > cap, "only {connected} idle connections made");
    // The service takes only its capped share of them (the rest wait in the kernel),
    // so its descriptors stay far from the limit: looked at 20 times over 2 s.
    for _ in 0..20 {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", svc.child.id()))
            .unwrap()
            .count();
        assert!(
            fds < cap + 100,
            "{fds} descriptors open with {connected} idle status connections"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Devices keep publishing through the embedded broker.
    let events: Vec<String> = (0..20).map(|i| format!(r#"["lux-1", {i}, {i}]"#)).collect();
    for chunk in events.chunks(5) {
        publish_lines(port, "sensor-data", 1, chunk);
    }
    wait_for(T, "20 rows", || (csv_rows(&csv).len() >= 20).then_some(()));
    drop(idle.stdin.take());
    idle.wait().unwrap();
    wait_for(T, "the status page to answer again", || {
        common::http_get(status_port, "/healthz").filter(|(c, _)| *c == 200)
    });
    let log = svc.stderr_text();
    assert!(!log.contains("Too many open files"), "{log}");
    assert_eq!(svc.terminate(), 0);
}

/// The status page refuses a foreign `Host` (DNS rebinding), and a client that
/// connects and sends nothing is disconnected (the header timeout) instead of holding a
/// connection forever.
#[test]
fn status_page_checks_host_and_closes_idle_connections() {
    let dir = TempDir::new("embedded-idle1");
    let svc = Service::start(
        &dir.0,
        "svc",
        &[
            "--embedded-broker=127.0.0.1:0",
            "t",
            dir.path("t.csv").to_str().unwrap(),
        ],
    );
    // DNS rebinding: a page under another name must not read the status.
    let (code, body) = common::http_get_host(svc.status_port, "/status", "evil.example").unwrap();
    assert_eq!(code, 421, "{body}");
    assert!(body.contains("--allowed-host evil.example"), "{body}");
    let (code, _) = common::http_get_host(svc.status_port, "/status", "localhost:1").unwrap();
    assert_eq!(code, 200);
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", svc.status_port)).unwrap();
    idle.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut idle, &mut buf).expect("closed, not timed out");
    assert_eq!(
        n, 0,
        "the server closes an idle connection without a response"
    );
    assert_eq!(svc.terminate(), 0);
}
