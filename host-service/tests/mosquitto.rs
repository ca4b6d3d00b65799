//! End-to-end tests against a real mosquitto (started by each test on a free port with
//! a generated config) and the real host-service binary.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    csv_rows, csv_values, publish_bytes, publish_lines, wait_for, Mosquitto, Service, TempDir,
};

const T: Duration = Duration::from_secs(30);

fn broker_arg(m: &Mosquitto) -> String {
    format!("mqtt://127.0.0.1:{}", m.port)
}

/// `--broker` (the mosquitto on `port`) and `--client-id`, then `rest` (options, TOPIC,
/// FILE).
fn args_for(port: u16, client_id: &str, rest: &[&str]) -> Vec<String> {
    let broker = format!("mqtt://127.0.0.1:{port}");
    ["--broker", &broker, "--client-id", client_id]
        .iter()
        .chain(rest)
        .map(|s| s.to_string())
        .collect()
}

fn wait_rows(path: &std::path::Path, n: usize) {
    wait_for(T, &format!("{n} rows in {}", path.display()), || {
        let rows = csv_rows(path);
        (rows.len() >= n).then_some(())
    });
}

/// Events published the tutorial's way (mosquitto_pub, QoS 0) end up in the CSV and on
/// stdout exactly as CPython's server.py would write them for the same timestamps.
#[test]
fn tutorial_events_match_server_py_byte_for_byte() {
    let dir = TempDir::new("tutorial");
    let mut m = Mosquitto::start(&dir.0, false);
    let csv = dir.path("test.csv");
    let svc = Service::start(
        &dir.0,
        "svc",
        &args_for(m.port, "tut", &["sensor-data", csv.to_str().unwrap()]),
    );
    svc.wait_subscribed();
    let payloads: Vec<String> = vec![
        r#"["lux-1", 624, 284.1312]"#.into(),
        r#"["lux-1", 626, 371.6063]"#.into(),
        r#"["lux-1", 628, 284]"#.into(),
        r#"["lux-1", 630, 0.0]"#.into(),
        r#"["lux-2", 2, 1e16]"#.into(),
        r#"["lux-2", 4, 0.00001]"#.into(),
        r#"["it's", 4, -12.5]"#.into(),
        r#"["a,b \"q\"", 5, 1.5e300]"#.into(),
        r#"["tab\there\nnl", 6, 7]"#.into(),
        r#"["héllo ☀", 7, 123456789012345678901234567890]"#.into(),
        r#"["x", 8, -0]"#.into(),
        r#"["x",9,2.5E-7]"#.into(),
    ];
    publish_lines(m.port, "sensor-data", 0, &payloads);
    wait_rows(&csv, payloads.len());
    // Rebuild the file with CPython from the payloads and our timestamps.
    let mut rdr = csv::ReaderBuilder::new().from_path(&csv).unwrap();
    let ts: Vec<String> = rdr.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(ts.len(), payloads.len());
    let input: String = payloads
        .iter()
        .zip(&ts)
        .map(|(p, t)| serde_json::to_string(&(p, t)).unwrap() + "\n")
        .collect();
    let out = common::python(
        "import sys, json, csv, io, warnings\nwarnings.simplefilter('ignore')\n\
         from collections import namedtuple\nfrom datetime import datetime\n\
         SensorEvent = namedtuple('SensorEvent', ['sensor_id', 'ts', 'val'])\n\
         buf = io.StringIO(newline='')\nw = csv.writer(buf)\nw.writerow(['timestamp', 'datetime', 'sensor_id', 'value'])\n\
         lines = ''\n\
         for line in sys.stdin:\n\
         \x20   payload, ts = json.loads(line)\n\
         \x20   ev = SensorEvent(*json.loads(payload))._replace(ts=float(ts))\n\
         \x20   lines += repr(ev) + '\\n'\n\
         \x20   w.writerow([ev.ts, datetime.utcfromtimestamp(ev.ts).isoformat(), ev.sensor_id, ev.val])\n\
         sys.stdout.write(json.dumps([buf.getvalue(), lines]))\n",
        input.as_bytes(),
    );
    let (want_csv, want_stdout): (String, String) = serde_json::from_slice(&out).unwrap();
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), want_csv);
    let stdout_text = wait_for(T, "console lines", || {
        let s = svc.stdout_text();
        (s.lines().count() >= payloads.len()).then_some(s)
    });
    assert_eq!(stdout_text, want_stdout);
    // SIGTERM: exit 0, and the CSV stays complete.
    assert_eq!(svc.terminate(), 0);
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), want_csv);
    m.stop();
}

/// Every kind of bad payload is counted, kept verbatim in the rejects file, and the
/// service goes on; the status endpoints report the right numbers.
#[test]
fn bad_payloads_are_kept_and_counted_and_status_reports_them() {
    let dir = TempDir::new("rejects");
    let m = Mosquitto::start(&dir.0, false);
    let csv = dir.path("data.csv");
    let rejects = dir.path("bad.rejects");
    let svc = Service::start(
        &dir.0,
        "svc",
        &args_for(
            m.port,
            "rej",
            &[
                "--rejects",
                rejects.to_str().unwrap(),
                "sensor-data",
                csv.to_str().unwrap(),
            ],
        ),
    );
    svc.wait_subscribed();
    let huge = format!(r#"["lux-1", 1, 1.0, "{}"]"#, "x".repeat(10_000));
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("not-utf8", b"[\"lux-\xff\", 1, 2.0]".to_vec()),
        ("not-json", b"hi, there".to_vec()),
        ("not-json", b"".to_vec()),
        ("wrong-shape", br#"{"sensor_id": "lux-1"}"#.to_vec()),
        ("wrong-shape", br#"["lux-1", 624]"#.to_vec()),
        ("wrong-shape", br#"["lux-1", 624, 1.0, 2.0]"#.to_vec()),
        ("wrong-shape", br#"[1, 624, 1.0]"#.to_vec()),
        ("wrong-shape", br#"["lux-1", 624, "1.0"]"#.to_vec()),
        ("non-finite", br#"["lux-1", 624, NaN]"#.to_vec()),
        ("non-finite", br#"["lux-1", 624, Infinity]"#.to_vec()),
        ("non-finite", br#"["lux-1", 624, 1e999]"#.to_vec()),
        ("too-large", huge.into_bytes()),
        ("not-json", b"\x00\x01binary\r\n\x02".to_vec()),
    ];
    publish_lines(
        m.port,
        "sensor-data",
        1,
        &[r#"["lux-1", 1, 10.5]"#.to_owned()],
    );
    for (_, payload) in &bad {
        publish_bytes(m.port, "sensor-data", 1, payload);
    }
    publish_lines(
        m.port,
        "sensor-data",
        1,
        &[r#"["lux-1", 2, 11.5]"#.to_owned()],
    );
    wait_rows(&csv, 2);
    let records = wait_for(T, "all rejects on disk", || {
        let r = common::rejects(&rejects);
        (r.len() >= bad.len()).then_some(r)
    });
    assert_eq!(records.len(), bad.len());
    for ((kind, payload), rec) in bad.iter().zip(&records) {
        assert_eq!(
            rec.kind,
            *kind,
            "payload {:?}",
            String::from_utf8_lossy(payload)
        );
        // Kept verbatim; a too-large one only by its first bytes.
        let kept = &payload[..payload.len().min(host_service::guard::KEEP)];
        assert!(
            rec.payload == kept,
            "{kind}: kept {} bytes",
            rec.payload.len()
        );
        assert_eq!(rec.size, payload.len() as u64);
        assert_eq!(rec.topic, "sensor-data");
    }
    assert_eq!(csv_values(&csv), ["10.5", "11.5"]);

    let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for (k, _) in &bad {
        *by_kind.entry(k).or_default() += 1;
    }
    let s = svc.status();
    assert_eq!(s["messages_received"], bad.len() as u64 + 2);
    assert_eq!(s["rows_written"], 2);
    assert_eq!(s["rejects"], bad.len() as u64);
    for (k, n) in &by_kind {
        assert_eq!(s["rejects_by_kind"][*k], *n, "kind {k}");
    }
    assert_eq!(s["sensors"]["lux-1"]["last_value"], 11.5);
    assert_eq!(s["sensors"]["lux-1"]["rows"], 2);
    assert!(s["sensors"]["lux-1"]["age_seconds"].as_f64().unwrap() < 30.0);
    assert_eq!(
        s["csv"]["size_bytes"],
        std::fs::metadata(&csv).unwrap().len()
    );
    assert_eq!(s["broker"]["state"], "connected");

    let (code, metrics) = common::http_get(svc.status_port, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("host_service_rows_written_total 2\n"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "host_service_messages_received_total {}\n",
        bad.len() + 2
    )));
    assert!(
        metrics.contains("host_service_rejects_total{kind=\"wrong-shape\"} 5\n"),
        "{metrics}"
    );
    assert!(metrics.contains("host_service_sensor_last_value{sensor_id=\"lux-1\"} 11.5\n"));
    assert!(metrics.contains("host_service_broker_connected 1\n"));
    let (code, body) = common::http_get(svc.status_port, "/healthz").unwrap();
    assert_eq!(
        (code, body.trim()),
        (
            200,
            "ok broker=connected subscription=sensor-data granted granted_qos=1"
        )
    );
    let (code, html) = common::http_get(svc.status_port, "/").unwrap();
    assert_eq!(code, 200);
    assert!(html.contains("<td class=\"id\">lux-1</td>"), "{html}");
    assert!(html.contains("<td class=\"value\">11.5</td>"), "{html}");
    assert!(
        html.contains(&format!(
            "<b id=\"rejects\" class=\"bad\">{}</b>rejected",
            bad.len()
        )),
        "{html}"
    );

    // One warning per kind, not one per payload.
    let log = svc.stderr_text();
    assert_eq!(
        log.matches("rejected a payload (kept verbatim").count(),
        by_kind.len(),
        "{log}"
    );
    assert_eq!(svc.terminate(), 0);
}

/// A CSV path that can't be written stops the service before it subscribes.
#[test]
fn unwritable_csv_exits_nonzero_before_subscribing() {
    let dir = TempDir::new("unwritable");
    let m = Mosquitto::start(&dir.0, false);
    let out = common::run_to_exit(
        std::process::Command::new(env!("CARGO_BIN_EXE_host-service"))
            .args(["--broker", &broker_arg(&m), "--client-id", "nowrite-client"])
            .args(["--status-addr", "127.0.0.1:0"])
            .args(["sensor-data", "/nonexistent-dir/sub/test.csv"]),
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(out.status.code().is_some(), "exited by a signal?");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot open /nonexistent-dir/sub/test.csv for writing"),
        "{stderr}"
    );
    // mosquitto logs connections in the order it accepts them: once a probe client that
    // connected after the service exited is in its log, a connection by the service
    // would be there too.
    publish_lines(m.port, "probe", 0, &["x".to_owned()]);
    wait_for(T, "the probe's connection in mosquitto's log", || {
        m.log().contains("New client connected").then_some(())
    });
    assert!(
        !m.log().contains("nowrite-client"),
        "it connected: {}",
        m.log()
    );
}

/// A partial last line (SIGKILL mid-write) is cut and kept in the rejects file; the file
/// is appended to, with its header only once.
#[test]
fn torn_last_row_is_repaired_and_file_is_appended() {
    let dir = TempDir::new("torn");
    let m = Mosquitto::start(&dir.0, false);
    let csv = dir.path("test.csv");
    let existing = "timestamp,datetime,sensor_id,value\r\n1700000000.5,2023-11-14T22:13:20.500000,lux-1,3.5\r\n";
    std::fs::write(&csv, format!("{existing}1700000002.25,2023-11-1")).unwrap();
    let args = args_for(m.port, "torn", &["--qos", "1", "t", csv.to_str().unwrap()]);
    let svc = Service::start(&dir.0, "svc", &args);
    svc.wait_subscribed();
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), existing);
    let recs = common::rejects(&dir.path("test.csv.rejects"));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].kind, "torn-row");
    assert_eq!(recs[0].payload, b"1700000002.25,2023-11-1");
    assert_eq!(svc.status()["rejects_by_kind"]["torn-row"], 1);
    publish_lines(m.port, "t", 1, &[r#"["lux-1", 1, 4.5]"#.to_owned()]);
    wait_rows(&csv, 2);
    assert_eq!(svc.terminate(), 0);
    // A second run appends; still one header.
    let svc = Service::start(&dir.0, "svc2", &args);
    svc.wait_subscribed();
    publish_lines(m.port, "t", 1, &[r#"["lux-1", 2, 5.5]"#.to_owned()]);
    wait_rows(&csv, 3);
    assert_eq!(csv_values(&csv), ["3.5", "4.5", "5.5"]);
    assert_eq!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .matches("timestamp,")
            .count(),
        1
    );
    assert_eq!(svc.terminate(), 0);
}

/// Broker down at start and lost later: the service retries, the status page says so,
/// and it catches up once the broker is back.
#[test]
fn broker_down_at_start_and_lost_later() {
    let dir = TempDir::new("down");
    let port = common::free_port();
    let csv = dir.path("test.csv");
    let svc = Service::start(
        &dir.0,
        "svc",
        &args_for(
            port,
            "down",
            &["--max-backoff", "0.5", "t", csv.to_str().unwrap()],
        ),
    );
    wait_for(T, "disconnected state with an error", || {
        let s = svc.status();
        (s["broker"]["state"] != "connected" && s["broker"]["last_error"].is_string()).then_some(())
    });
    let (_, health) = common::http_get(svc.status_port, "/healthz").unwrap();
    assert!(!health.contains("broker=connected"), "{health}");
    let mut m = Mosquitto::start_on(&dir.0, port, false);
    svc.wait_subscribed();
    publish_lines(port, "t", 1, &[r#"["lux-1", 1, 1.5]"#.to_owned()]);
    wait_rows(&csv, 1);
    m.stop();
    wait_for(T, "the status page to notice the lost broker", || {
        (svc.status()["broker"]["state"] != "connected").then_some(())
    });
    m.restart();
    svc.wait_subscribed();
    publish_lines(port, "t", 1, &[r#"["lux-1", 2, 2.5]"#.to_owned()]);
    wait_rows(&csv, 2);
    assert_eq!(csv_values(&csv), ["1.5", "2.5"]);
    assert!(svc.status()["broker"]["reconnects"].as_u64().unwrap() >= 1);
    assert_eq!(svc.terminate(), 0);
}

fn assert_exactly_once(values: &[String], n: usize) {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for v in values {
        *counts
            .entry(v.parse().unwrap_or_else(|_| panic!("bad value {v}")))
            .or_default() += 1;
    }
    let missing: Vec<u64> = (0..n as u64).filter(|i| !counts.contains_key(i)).collect();
    let dups: Vec<(&u64, &usize)> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        missing.is_empty(),
        "{} lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        dups.is_empty(),
        "{} duplicated, e.g. {:?}",
        dups.len(),
        &dups[..dups.len().min(10)]
    );
    assert_eq!(values.len(), n);
}

fn events(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!(r#"["p-1", {i}, {i}]"#)).collect()
}

/// QoS 1 + persistent session against mosquitto with persistence: SIGKILL of the
/// service mid-stream, events sent while it is down, and broker restarts (with the
/// service up and with it down) lose nothing and duplicate nothing.
#[test]
fn restarts_lose_nothing_and_duplicate_nothing() {
    let dir = TempDir::new("persist");
    let mut m = Mosquitto::start(&dir.0, true);
    let csv = dir.path("test.csv");
    let args = args_for(
        m.port,
        "persist-1",
        &[
            "--qos",
            "1",
            "--max-backoff",
            "0.5",
            "--quiet",
            "p/data",
            csv.to_str().unwrap(),
        ],
    );
    let svc = Service::start(&dir.0, "svc1", &args);
    svc.wait_subscribed();

    // 1. SIGKILL while a burst is being written.
    let port = m.port;
    let publisher =
        std::thread::spawn(move || common::publish_many(port, "p/data", 1, &events(0..3000)));
    wait_for(T, "the burst to start arriving", || {
        (csv_rows(&csv).len() > 200).then_some(())
    });
    svc.kill();
    publisher.join().unwrap();
    // 2. More while it is down (queued in the session).
    publish_lines(m.port, "p/data", 1, &events(3000..3500));
    let svc = Service::start(&dir.0, "svc2", &args);
    wait_rows(&csv, 3500);
    // 3. Broker restart with the service running.
    m.stop();
    wait_for(T, "disconnect noticed", || {
        (svc.status()["broker"]["state"] != "connected").then_some(())
    });
    m.restart();
    svc.wait_subscribed();
    publish_lines(m.port, "p/data", 1, &events(3500..4000));
    wait_rows(&csv, 4000);
    // 4. Service down, events queued, broker restarted (its database keeps them).
    assert_eq!(svc.terminate(), 0);
    publish_lines(m.port, "p/data", 1, &events(4000..4500));
    m.stop();
    m.restart();
    let svc = Service::start(&dir.0, "svc3", &args);
    wait_rows(&csv, 4500);
    let n = common::settle(m.port, "p/data", &[&csv], 4500);
    assert_exactly_once(&csv_values(&csv), n);
    assert_eq!(svc.terminate(), 0);
}

/// Two instances in one share group split a stream with nothing lost or doubled.
#[test]
fn share_group_splits_a_stream() {
    let dir = TempDir::new("share");
    let m = Mosquitto::start(&dir.0, false);
    let a_csv = dir.path("a.csv");
    let b_csv = dir.path("b.csv");
    let start = |name: &str, csv: &std::path::Path| {
        Service::start(
            &dir.0,
            name,
            &args_for(
                m.port,
                name,
                &[
                    "--share-group",
                    "writers",
                    "--quiet",
                    "s/data",
                    csv.to_str().unwrap(),
                ],
            ),
        )
    };
    let a = start("share-a", &a_csv);
    let b = start("share-b", &b_csv);
    a.wait_subscribed();
    b.wait_subscribed();
    assert_eq!(
        a.status()["broker"]["subscription"],
        "$share/writers/s/data"
    );
    publish_lines(m.port, "s/data", 1, &events(0..1000));
    wait_for(T, "all 1000 rows across both files", || {
        (csv_rows(&a_csv).len() + csv_rows(&b_csv).len() >= 1000).then_some(())
    });
    let n = common::settle(m.port, "s/data", &[&a_csv, &b_csv], 1000);
    let (va, vb) = (csv_values(&a_csv), csv_values(&b_csv));
    assert!(
        !va.is_empty() && !vb.is_empty(),
        "one instance got nothing: {} / {}",
        va.len(),
        vb.len()
    );
    let all: Vec<String> = va.into_iter().chain(vb).collect();
    assert_exactly_once(&all, n);
    assert_eq!(a.terminate(), 0);
    assert_eq!(b.terminate(), 0);
}

/// A long session backlog (the broker pours it out without waiting for acks) is written
/// exactly once while the service's memory stays bounded: it stops reading the socket
/// while the writer is behind.
#[test]
fn long_session_backlog_is_drained_with_bounded_queue() {
    let dir = TempDir::new("backlog");
    let m = Mosquitto::start_with(
        &dir.0,
        common::free_port(),
        false,
        "max_queued_messages 1000000\n",
    );
    let csv = dir.path("test.csv");
    let args = args_for(
        m.port,
        "backlog",
        &["--quiet", "b/data", csv.to_str().unwrap()],
    );
    let svc = Service::start(&dir.0, "svc1", &args);
    svc.wait_subscribed();
    assert_eq!(svc.terminate(), 0);
    const N: usize = 30_000;
    common::publish_many(m.port, "b/data", 1, &events(0..N));
    let svc = Service::start(&dir.0, "svc2", &args);
    wait_rows(&csv, N);
    let n = common::settle(m.port, "b/data", &[&csv], N);
    assert_exactly_once(&csv_values(&csv), n);
    let s = svc.status();
    let backlog = s["writer_backlog_max"].as_u64().unwrap();
    let high = host_service::writer::Backlog::HIGH as u64;
    assert!(
        backlog <= high + 64,
        "backlog reached {backlog} (pause at {high})"
    );
    assert_eq!(s["rows_written"], n as u64);
    assert_eq!(svc.terminate(), 0);
}

/// The tutorial's device publishes with RETAIN set. Live events are written; the stale
/// copy the broker replays on a fresh subscription is not (it would be an old reading
/// stamped with a new time).
#[test]
fn retained_events_live_are_written_replays_are_not() {
    let dir = TempDir::new("retained");
    let m = Mosquitto::start(&dir.0, false);
    let csv = dir.path("test.csv");
    let args = args_for(
        m.port,
        "ret",
        &["--clean-session", "r/data", csv.to_str().unwrap()],
    );
    let svc = Service::start(&dir.0, "svc1", &args);
    svc.wait_subscribed();
    let st = common::mosquitto_client("mosquitto_pub", m.port)
        .args(["-i", "ret-pub", "-t", "r/data", "-r"])
        .args(["-m", r#"["lux-1", 611, 284.1312]"#])
        .status()
        .unwrap();
    assert!(st.success());
    wait_rows(&csv, 1);
    assert_eq!(svc.terminate(), 0);
    let svc = Service::start(&dir.0, "svc2", &args);
    svc.wait_subscribed();
    wait_for(T, "the retained replay to be counted", || {
        (svc.status()["retained_skipped"] == 1).then_some(())
    });
    assert_eq!(csv_values(&csv), ["284.1312"]);
    assert_eq!(svc.terminate(), 0);
}

/// SUBSCRIBE goes out on every connection, even when the broker kept a session: a
/// session saved for another topic, or without the share group, would otherwise leave
/// the service deaf while `/status` said `subscribed`. `/status` and `/healthz` show
/// what the SUBACK granted.
#[test]
fn saved_session_with_another_topic_still_subscribes() {
    let dir = TempDir::new("resub");
    let m = Mosquitto::start(&dir.0, false);
    let csv = dir.path("test.csv");
    let run = |name: &str, extra: &[&str], topic: &str| {
        let rest = [&["--quiet"], extra, &[topic, csv.to_str().unwrap()]].concat();
        Service::start(&dir.0, name, &args_for(m.port, "resub", &rest))
    };
    // 0. A session saved without any subscription.
    common::create_empty_session(m.port, "resub");
    let svc = run("svc0", &[], "old/t");
    svc.wait_subscribed();
    assert!(svc.stderr_text().contains("session_present=true"));
    publish_lines(m.port, "old/t", 1, &[r#"["old", 1, 0.5]"#.to_owned()]);
    wait_rows(&csv, 1);
    assert_eq!(svc.terminate(), 0);
    std::fs::remove_file(&csv).unwrap();
    // 1. A session saved with the topic "old/t".
    let svc = run("svc1", &[], "old/t");
    svc.wait_subscribed();
    assert_eq!(svc.terminate(), 0);
    // 2. Same client id, new topic: the broker says session_present.
    let svc = run("svc2", &[], "new/t");
    svc.wait_subscribed();
    let s = svc.status();
    assert_eq!(
        s["broker"]["subscriptions"],
        serde_json::json!([{"filter": "new/t", "requested_qos": 1, "state": "granted", "granted_qos": 1}])
    );
    let (code, body) = common::http_get(svc.status_port, "/healthz").unwrap();
    assert_eq!(
        (code, body.trim()),
        (
            200,
            "ok broker=connected subscription=new/t granted granted_qos=1"
        )
    );
    publish_lines(m.port, "new/t", 1, &events(0..3));
    wait_rows(&csv, 3);
    assert!(
        svc.stderr_text().contains("session_present=true"),
        "{}",
        svc.stderr_text()
    );
    assert_eq!(svc.terminate(), 0);
    // 3. Same session, now in a share group.
    let svc = run("svc3", &["--share-group", "g"], "new/t");
    svc.wait_subscribed();
    assert_eq!(
        svc.status()["broker"]["subscriptions"][0]["filter"],
        "$share/g/new/t"
    );
    // The session's plain new/t is unsubscribed (it would deliver a second copy of
    // each event besides the share group's).
    wait_for(T, "the plain new/t unsubscribed", || {
        (svc.status()["broker"]["unsubscribing"] == serde_json::json!([])).then_some(())
    });
    publish_lines(m.port, "new/t", 1, &events(3..6));
    // A last event: any second copy of 3..5 would be delivered before it.
    publish_lines(m.port, "new/t", 1, &events(6..7));
    wait_rows(&csv, 7);
    let values = csv_values(&csv);
    assert!(values.contains(&"6".to_owned()), "{values:?}");
    assert_exactly_once(&values, 7);
    assert_eq!(svc.terminate(), 0);
}

/// The off-topic rejects in the rejects file, as (topic, payload) pairs.
fn off_topic_rejects(path: &std::path::Path) -> Vec<(String, String)> {
    common::rejects(path)
        .into_iter()
        .filter(|r| r.kind == "off-topic")
        .map(|r| (r.topic, String::from_utf8(r.payload).unwrap()))
        .collect()
}

/// The topic changes under the same `--client-id`: the broker's saved session still holds
/// the old filter and delivers what was queued for it. Those events are not written to
/// the CSV: they are kept in the rejects file as `off-topic` (nothing lost, acked, counted
/// in /status), and the old filter is unsubscribed so nothing more comes from it, across
/// SIGKILLs and broker restarts. A session this service never recorded (a state file
/// lost, or left by an older version) gets the message's topic unsubscribed.
#[test]
fn changed_topic_old_session_events_are_kept_out_of_the_csv() {
    let dir = TempDir::new("offtopic");
    let mut m = Mosquitto::start(&dir.0, true);
    let csv = dir.path("test.csv");
    let rejects = dir.path("test.csv.rejects");
    let port = m.port;
    let run = |name: &str, topic: &str| {
        Service::start(
            &dir.0,
            name,
            &args_for(
                port,
                "offtopic",
                &[
                    "--max-backoff",
                    "0.5",
                    "--quiet",
                    topic,
                    csv.to_str().unwrap(),
                ],
            ),
        )
    };
    let off_topic = |svc: &Service| svc.status()["rejects_by_kind"]["off-topic"].clone();
    let old = |range: std::ops::Range<usize>| -> Vec<String> {
        range.map(|i| format!(r#"["old", {i}, {i}]"#)).collect()
    };
    // 1. Topic old/t with a persistent session, then SIGKILL.
    let svc = run("svc1", "old/t");
    svc.wait_subscribed();
    publish_lines(m.port, "old/t", 1, &events(0..3));
    wait_rows(&csv, 3);
    svc.kill();
    // 2. Events for old/t queue in the session while the service is down; the broker
    //    restarts (its database keeps session and queue).
    publish_lines(m.port, "old/t", 1, &old(100..110));
    m.stop();
    m.restart();
    // 3. Same client id, topic new/t: the queue is delivered, but not written.
    let svc = run("svc2", "new/t");
    svc.wait_subscribed();
    wait_for(T, "old/t unsubscribed and its queue rejected", || {
        let s = svc.status();
        (s["broker"]["unsubscribing"] == serde_json::json!([])
            && s["rejects_by_kind"]["off-topic"] == 10)
            .then_some(())
    });
    // Stopped at the source: old/t published now is not delivered (the new/t events
    // published after it arrive, in order, after where it would have).
    publish_lines(m.port, "old/t", 1, &old(200..205));
    publish_lines(m.port, "new/t", 1, &events(3..6));
    wait_rows(&csv, 6);
    assert_eq!(off_topic(&svc), 10);
    assert_exactly_once(&csv_values(&csv), 6);
    let kept = off_topic_rejects(&rejects);
    let want: Vec<(String, String)> = old(100..110)
        .into_iter()
        .map(|p| ("old/t".to_owned(), p))
        .collect();
    assert_eq!(kept, want);
    svc.kill();
    // 4. Another broker restart and service start: the session holds new/t only.
    m.stop();
    m.restart();
    let svc = run("svc3", "new/t");
    svc.wait_subscribed();
    publish_lines(m.port, "old/t", 1, &old(300..303));
    publish_lines(m.port, "new/t", 1, &events(6..9));
    wait_rows(&csv, 9);
    assert_eq!(off_topic(&svc), 0);
    assert_eq!(
        svc.status()["broker"]["unsubscribing"],
        serde_json::json!([])
    );
    svc.kill();
    // 5. The record of subscribed filters lost (as after an older version): topic
    //    other/t; what new/t had queued is rejected and new/t unsubscribed on arrival.
    publish_lines(m.port, "new/t", 1, &old(400..404));
    std::fs::remove_file(dir.path("test.csv.subscriptions")).unwrap();
    let svc = run("svc4", "other/t");
    svc.wait_subscribed();
    wait_for(T, "new/t's queue rejected", || {
        (off_topic(&svc) == 4).then_some(())
    });
    wait_for(T, "new/t unsubscribed", || {
        svc.stderr_text()
            .contains("the broker's session holds only the configured filter")
            .then_some(())
    });
    publish_lines(m.port, "new/t", 1, &old(500..505));
    publish_lines(m.port, "other/t", 1, &events(9..12));
    wait_rows(&csv, 12);
    assert_eq!(off_topic(&svc), 4);
    assert_exactly_once(&csv_values(&csv), 12);
    assert_eq!(off_topic_rejects(&rejects).len(), 14);
    assert_eq!(svc.terminate(), 0);
}

/// `--qos 2` is refused with the reason (rumqttc can't answer the broker's PUBREL
/// redelivery after a restart: it reconnected ~10 times a second without progress).
/// QoS 2 publishers are still served: the broker delivers at our QoS 1, and a SIGKILL
/// during their backlog loses and duplicates nothing.
#[test]
fn qos2_subscription_refused_and_qos2_publishers_survive_a_kill() {
    let dir = TempDir::new("qos2");
    let mut m = Mosquitto::start(&dir.0, true);
    let csv = dir.path("test.csv");
    let out = common::run_to_exit(
        std::process::Command::new(common::host_service_bin())
            .args(["--broker", &broker_arg(&m), "--qos", "2", "q/data"])
            .arg(&csv),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("host-service: error: --qos 2 is not supported")
            && err.contains("PUBREL")
            && err.contains("--qos 1"),
        "{err}"
    );
    assert!(
        !csv.exists(),
        "nothing may be created before the options are checked"
    );

    let args = args_for(
        m.port,
        "qos2",
        &[
            "--max-backoff",
            "0.5",
            "--quiet",
            "q/data",
            csv.to_str().unwrap(),
        ],
    );
    let svc = Service::start(&dir.0, "svc1", &args);
    svc.wait_subscribed();
    let port = m.port;
    let publisher =
        std::thread::spawn(move || common::publish_many(port, "q/data", 2, &events(0..3000)));
    wait_for(T, "the QoS 2 burst to start arriving", || {
        (csv_rows(&csv).len() > 200).then_some(())
    });
    svc.kill();
    publisher.join().unwrap();
    let svc = Service::start(&dir.0, "svc2", &args);
    wait_rows(&csv, 3000);
    // A broker restart with the QoS 2 messages acknowledged in between.
    m.stop();
    m.restart();
    svc.wait_subscribed();
    publish_lines(m.port, "q/data", 2, &events(3000..3100));
    wait_rows(&csv, 3100);
    let n = common::settle(m.port, "q/data", &[&csv], 3100);
    assert_exactly_once(&csv_values(&csv), n);
    let s = svc.status();
    assert_eq!(s["broker"]["subscriptions"][0]["granted_qos"], 1);
    assert!(s["broker"]["reconnects"].as_u64().unwrap() <= 2, "{s}");
    assert_eq!(svc.terminate(), 0);
}

/// Inputs that used to grow memory without bound: a 100 MB payload (the client took
/// packets up to 256 MB and the rejects file got all of it) and 100,000 distinct sensor
/// ids (per-sensor state was never evicted; one /status was 92 MB). Peak RSS is printed.
#[test]
fn huge_payloads_and_many_sensor_ids_stay_bounded() {
    let dir = TempDir::new("bounded");
    let m = Mosquitto::start(&dir.0, false);
    let csv = dir.path("test.csv");
    let svc = Service::start(
        &dir.0,
        "svc",
        &args_for(
            m.port,
            "bounded",
            &[
                "--max-payload",
                "4096",
                "--quiet",
                "b/data",
                csv.to_str().unwrap(),
            ],
        ),
    );
    svc.wait_subscribed();
    let base = common::peak_rss_mib(svc.child.id());
    // A 100 MB payload at QoS 1, then an ordinary event.
    let mut huge = br#"["lux-1", 1, "#.to_vec();
    huge.resize(100 * 1024 * 1024, b'7');
    publish_bytes(m.port, "b/data", 1, &huge);
    publish_lines(m.port, "b/data", 1, &[r#"["lux-1", 2, 2.5]"#.to_owned()]);
    wait_rows(&csv, 1);
    let s = wait_for(T, "the too-large reject", || {
        let s = svc.status();
        (s["rejects_by_kind"]["too-large"] == 1).then_some(s)
    });
    assert_eq!(
        s["broker"]["reconnects"], 0,
        "the payload must not cost the connection"
    );
    let recs = common::rejects(&dir.path("test.csv.rejects"));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].size, huge.len() as u64);
    assert!(recs[0].payload == huge[..host_service::guard::KEEP]);
    let rejects_size = std::fs::metadata(dir.path("test.csv.rejects"))
        .unwrap()
        .len();
    assert!(rejects_size < 4096, "rejects file is {rejects_size} bytes");
    let after_huge = common::peak_rss_mib(svc.child.id());

    // 100,000 distinct sensor ids.
    const N: usize = 100_000;
    let burst: Vec<String> = (0..N)
        .map(|i| format!(r#"["id-{i:06}", {i}, {i}]"#))
        .collect();
    common::publish_many(m.port, "b/data", 1, &burst);
    wait_rows(&csv, N + 1);
    let (code, body) = common::http_get(svc.status_port, "/status").unwrap();
    assert_eq!(code, 200);
    let s: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["sensors_total"], 1000);
    assert_eq!(s["max_sensors"], 1000);
    assert_eq!(s["sensors_evicted"], (N + 1 - 1000) as u64);
    assert!(s["sensors"].get("id-099999").is_some());
    assert!(body.len() < 64 * 1024, "/status is {} bytes", body.len());
    let (_, html) = common::http_get(svc.status_port, "/").unwrap();
    assert!(html.len() < 64 * 1024, "/ is {} bytes", html.len());
    let after_ids = common::peak_rss_mib(svc.child.id());
    println!(
        "host-service peak RSS (debug build): {base:.1} MiB at start, {after_huge:.1} MiB after a \
         100 MB payload, {after_ids:.1} MiB after 100,000 distinct sensor ids ({} bytes of /status)",
        body.len()
    );
    assert!(
        after_huge - base < 8.0,
        "a 100 MB payload cost {:.1} MiB",
        after_huge - base
    );
    assert!(
        after_ids < 64.0,
        "peak RSS {after_ids:.1} MiB with 100,000 ids"
    );
    assert_eq!(svc.terminate(), 0);
}

/// On start: a second instance on the same CSV is refused (it used to write every row
/// twice), a CSV with another header is refused and left alone (it used to be appended
/// to), and a last row without its line end gets one (it used to go to the rejects file
/// as torn).
#[test]
fn csv_is_locked_and_checked_on_start() {
    let dir = TempDir::new("csvcheck");
    let m = Mosquitto::start(&dir.0, false);
    let csv = dir.path("test.csv");
    let row = "1484535480.613611,2017-01-16T02:58:00.613611,lux-1,371.6063";
    std::fs::write(&csv, format!("timestamp,datetime,sensor_id,value\r\n{row}")).unwrap();
    let args = |id: &str, file: &std::path::Path| {
        args_for(m.port, id, &["--quiet", "c/data", file.to_str().unwrap()])
    };
    let a = Service::start(&dir.0, "a", &args("csv-a", &csv));
    a.wait_subscribed();
    assert_eq!(csv_rows(&csv), [row]);
    assert_eq!(a.status()["rejects_by_kind"]["torn-row"], 0);
    assert!(a
        .stderr_text()
        .contains("last row had no line end; added one"));

    let refused = |file: &std::path::Path| {
        let b_args = args("csv-b", file);
        let out = common::run_to_exit(
            std::process::Command::new(common::host_service_bin())
                .args(&b_args)
                .args(["--status-addr", "127.0.0.1:0"]),
        );
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused(&csv);
    assert!(
        err.contains("is in use by another host-service") && err.contains("test.csv"),
        "{err}"
    );
    let other = dir.path("other.csv");
    std::fs::write(&other, "time,temp\n1,2\n").unwrap();
    let err = refused(&other);
    assert!(err.contains("starts with \"time,temp\""), "{err}");
    assert_eq!(std::fs::read(&other).unwrap(), b"time,temp\n1,2\n");

    publish_lines(m.port, "c/data", 1, &events(0..100));
    wait_rows(&csv, 101);
    let values = csv_values(&csv);
    assert_eq!(values[0], "371.6063");
    assert_exactly_once(&values[1..], 100);
    assert_eq!(a.terminate(), 0);
}

/// The CSV deleted while running, then rotated the logrotate way (renamed + SIGHUP):
/// no acknowledged row ends up in a deleted file, nothing is lost or doubled.
#[test]
fn deleted_or_rotated_csv_loses_nothing() {
    let dir = TempDir::new("csvrotate");
    let m = Mosquitto::start(&dir.0, false);
    let csv = dir.path("test.csv");
    let rotated = dir.path("test.csv.1");
    let rejects = dir.path("test.csv.rejects");
    let svc = Service::start(
        &dir.0,
        "svc",
        &args_for(
            m.port,
            "rotate",
            &["--quiet", "r/data", csv.to_str().unwrap()],
        ),
    );
    svc.wait_subscribed();
    publish_lines(m.port, "r/data", 1, &events(0..100));
    wait_rows(&csv, 100);
    // 1. Deleted: the next rows go to a new file at the path (with its header).
    std::fs::remove_file(&csv).unwrap();
    publish_lines(m.port, "r/data", 1, &events(100..300));
    wait_rows(&csv, 200);
    assert!(svc
        .stderr_text()
        .contains("deleted, replaced or moved away"));
    let mut all = csv_values(&csv);
    assert_eq!(all.len(), 200);
    // 2. logrotate: rename, SIGHUP, more rows; the rejects file is reopened too.
    std::fs::rename(&csv, &rotated).unwrap();
    std::fs::rename(&rejects, dir.path("test.csv.rejects.1")).unwrap();
    common::signal(svc.child.id(), "HUP");
    wait_for(T, "the reopen to be logged", || {
        svc.stderr_text()
            .contains("SIGHUP: reopened the CSV and the rejects file")
            .then_some(())
    });
    assert!(csv.exists() && rejects.exists());
    publish_lines(m.port, "r/data", 1, &events(300..500));
    publish_bytes(m.port, "r/data", 1, b"hi, there");
    // The reject comes after the rows, and the rejects file is flushed after the CSV.
    wait_for(T, "the last message's reject", || {
        (!common::rejects(&rejects).is_empty()).then_some(())
    });
    all = csv_values(&rotated)
        .into_iter()
        .chain(csv_values(&csv))
        .collect();
    let want: Vec<String> = (100..500).map(|i| i.to_string()).collect();
    assert_eq!(all, want, "rows 100..500 once each, in order");
    let recs = common::rejects(&rejects);
    assert_eq!(recs.len(), 1);
    assert_eq!(svc.terminate(), 0);
}
