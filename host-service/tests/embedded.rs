//! The same paths with the in-process broker (`--embedded-broker`): no mosquitto
//! server involved; mosquitto_pub is only the publishing client.

mod common;

use std::time::Duration;

use common::{csv_rows, csv_values, publish_bytes, publish_lines, wait_for, Service, TempDir};

const T: Duration = Duration::from_secs(30);

#[test]
fn embedded_broker_writes_rows_and_rejects() {
    let dir = TempDir::new("embedded");
    let port = common::free_port();
    let csv = dir.path("test.csv");
    let svc = Service::start(
        &dir.0,
        "svc",
        &[
            &format!("--embedded-broker=127.0.0.1:{port}"),
            "--client-id",
            "emb",
            "sensor-data",
            csv.to_str().unwrap(),
        ],
    );
    svc.wait_subscribed();
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
    let recs =
        host_service::sink::read_rejects(&std::fs::read(dir.path("test.csv.rejects")).unwrap());
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

/// The in-process broker keeps a persistent session while the process lives: a second
/// instance (its client) that restarts gets what was published meanwhile; two
/// instances in a share group split the stream.
#[test]
fn embedded_broker_sessions_and_share_groups() {
    let dir = TempDir::new("embedded-share");
    let port = common::free_port();
    let a_csv = dir.path("a.csv");
    let b_csv = dir.path("b.csv");
    let a = Service::start(
        &dir.0,
        "a",
        &[
            &format!("--embedded-broker=127.0.0.1:{port}"),
            "--client-id",
            "emb-a",
            "--share-group",
            "g",
            "--quiet",
            "s/data",
            a_csv.to_str().unwrap(),
        ],
    );
    a.wait_subscribed();
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
    std::thread::sleep(Duration::from_millis(500));
    let (va, vb) = (csv_values(&a_csv), csv_values(&b_csv));
    assert!(
        !va.is_empty() && !vb.is_empty(),
        "split {} / {}",
        va.len(),
        vb.len()
    );
    let mut all: Vec<u64> = va.iter().chain(&vb).map(|v| v.parse().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (0..400).collect::<Vec<u64>>(), "lost or duplicated");
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
    std::thread::sleep(Duration::from_millis(300));
    let got: Vec<u64> = csv_values(&c_csv)
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(got, (0..100).collect::<Vec<u64>>());
    assert_eq!(c.terminate(), 0);
    assert_eq!(a.terminate(), 0);
}
