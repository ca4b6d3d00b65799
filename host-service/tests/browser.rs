//! The status page in a real browser: headless Chromium loads `/`, its rendered DOM is
//! compared number by number with `/status`, and a screenshot is saved for a person to
//! look at (target/status-page.png). Needs the Debian `chromium` package, so it is built
//! only with `--features browser-check`; `make check-status-page` installs Chromium and
//! runs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{publish_bytes, publish_lines, wait_for, Service, TempDir};

const T: Duration = Duration::from_secs(30);

fn chromium() -> PathBuf {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|p| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|d| d.join(p))
                .find(|p| p.is_file())
        })
        .expect("Chromium is not installed: run `make check-status-page` (Debian: apt-get install chromium)")
}

/// Runs headless Chromium with a fresh profile; returns stdout. Killed after 60 s.
fn run_chromium(profile: &Path, args: &[String]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    common::wait_success(child, "chromium");
    reader.join().unwrap()
}

/// The text of the element with `id` in a serialized DOM.
fn by_id<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let start = at + dom[at..].find('>').unwrap() + 1;
    let end = start + dom[start..].find('<').unwrap();
    &dom[start..end]
}

/// The `<tr>` of a sensor.
fn sensor_row<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("data-sensor=\"{id}\""))
        .unwrap_or_else(|| panic!("no row for sensor {id}"));
    let start = dom[..at].rfind("<tr").unwrap();
    &dom[start..start + dom[start..].find("</tr>").unwrap()]
}

fn cell<'a>(row: &'a str, class: &str) -> &'a str {
    let at = row.find(&format!("class=\"{class}\">")).unwrap() + class.len() + 9;
    &row[at..at + row[at..].find('<').unwrap()]
}

#[test]
fn status_page_in_chromium_matches_status_json() {
    let dir = TempDir::new("browser");
    let csv = dir.path("test.csv");
    let (svc, port) = Service::embedded(
        &dir.0,
        "svc",
        &[
            "--stale-after",
            "5",
            "--quiet",
            "sensor-data",
            csv.to_str().unwrap(),
        ],
    );
    // One sensor that goes quiet (stale after 5 s), two that keep reporting.
    publish_lines(port, "sensor-data", 1, &[r#"["porch", 1, 3.5]"#.to_owned()]);
    wait_for(Duration::from_secs(20), "porch to go stale", || {
        (svc.status()["sensors"]["porch"]["stale"] == true).then_some(())
    });
    let mut events = Vec::new();
    for i in 0..40 {
        let x = f64::from(i);
        events.push(format!(
            r#"["lux-1", {i}, {}]"#,
            300.0 + 80.0 * (x / 5.0).sin()
        ));
        events.push(format!(r#"["lux-2", {i}, {}]"#, 20 + (i * 7) % 13));
    }
    publish_lines(port, "sensor-data", 1, &events);
    publish_bytes(port, "sensor-data", 1, b"hi, there");
    let status = wait_for(T, "all messages counted", || {
        let s = svc.status();
        (s["messages_received"] == 82).then_some(s)
    });

    let url = format!("http://127.0.0.1:{}/", svc.status_port);
    let dom = run_chromium(
        &dir.path("profile-dom"),
        &["--dump-dom".into(), url.clone()],
    );
    for (id, key) in [
        ("messages-received", "messages_received"),
        ("rows-written", "rows_written"),
        ("rejects", "rejects"),
        ("duplicates", "duplicates_dropped"),
        ("sensors-total", "sensors_total"),
    ] {
        assert_eq!(by_id(&dom, id), status[key].to_string(), "#{id} vs {key}");
    }
    for (kind, n) in status["rejects_by_kind"].as_object().unwrap() {
        assert_eq!(
            by_id(&dom, &format!("rejects-{kind}")),
            n.to_string(),
            "{kind}"
        );
    }
    assert_eq!(by_id(&dom, "csv-path"), csv.display().to_string());
    assert!(dom.contains(&format!(
        "data-bytes=\"{}\"",
        status["csv"]["size_bytes"].as_u64().unwrap()
    )));
    assert_eq!(
        by_id(&dom, "rejects-file"),
        status["rejects_file"].as_str().unwrap()
    );
    assert_eq!(by_id(&dom, "broker-state"), "connected");
    assert_eq!(by_id(&dom, "subscription"), "granted at QoS 1");
    for (id, s) in status["sensors"].as_object().unwrap() {
        let row = sensor_row(&dom, id);
        assert_eq!(cell(row, "value"), s["last_value"].to_string(), "{id}");
        assert_eq!(cell(row, "rows"), s["rows"].to_string(), "{id}");
        // Stale is decided when the page is made: it must agree with the age it shows.
        let age = cell(row, "age").trim();
        let secs: f64 = match age.split_once(' ') {
            Some((n, "s")) => n.parse().unwrap(),
            Some((n, "min")) => n.parse::<f64>().unwrap() * 60.0,
            other => panic!("{id}: age {other:?}"),
        };
        assert_eq!(
            row.contains("class=\"sensor stale\""),
            secs > 5.0,
            "{id}: {age}"
        );
        let points = s["recent"].as_array().unwrap().len();
        assert_eq!(row.matches("<polyline").count(), 1, "{id}: one sparkline");
        assert!(row.contains(&format!("last {points} values")), "{id}");
    }
    assert_eq!(status["sensors"]["porch"]["stale"], true);
    assert!(sensor_row(&dom, "porch").contains("class=\"sensor stale\""));

    // The screenshot, kept for a person to look at.
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/status-page.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &dir.path("profile-shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1000,760".into(),
            url,
        ],
    );
    let png = std::fs::read(&shot).expect("the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1000, 760));
    assert!(png.len() > 10_000, "a blank page? {} bytes", png.len());
    println!("screenshot: {} ({} bytes)", shot.display(), png.len());
    assert_eq!(svc.terminate(), 0);
}
