//! The whole path, as a user runs it: `host-service sensor-data FILE --embedded-broker` on the
//! host, and on the "device" the real MicroPython runtime running the tutorial's `import client`
//! with our Rust `tsl2591.mpy` and `mqtt_writer.mpy` on the simulated sensor. Checks the CSV
//! rows, the console lines and the status page agree.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_listening(port: u16) {
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

fn require(p: &Path) {
    assert!(p.exists(), "{} is missing: run `make setup natmods host` first", p.display());
}

/// Lux for the simulator's default counts (full 611, ir 284) at gain x1, 100 ms: the
/// tutorial's formula, in f64 like MicroPython's x64 floats.
fn expected_lux() -> f64 {
    let cpl = (100.0 * 1.0) / 408.0;
    let (full, ir) = (611.0, 284.0);
    let lux1 = (full - 1.64 * ir) / cpl;
    let lux2 = (0.59 * full - 0.86 * ir) / cpl;
    if lux2 > lux1 { lux2 } else { lux1 }
}

#[test]
fn device_to_csv_with_native_modules_and_embedded_broker() {
    let mpy = lumen_link::mpy_dir();
    for m in ["tsl2591", "mqtt_writer"] {
        require(&mpy.join(format!("{m}.mpy")));
    }
    require(&lumen_link::micropython());
    require(&lumen_link::host_service());

    let dir = std::env::temp_dir().join(format!("lumen-system-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("device")).unwrap();
    let csv = dir.join("test.csv");
    let (mqtt_port, status_port) = (free_port(), free_port());

    let host = Kill(
        Command::new(lumen_link::host_service())
            .args(["sensor-data", csv.to_str().unwrap()])
            .arg(format!("--embedded-broker=127.0.0.1:{mqtt_port}"))
            .args(["--broker", &format!("mqtt://127.0.0.1:{mqtt_port}")])
            .args(["--status-addr", &format!("127.0.0.1:{status_port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start host-service"),
    );
    wait_listening(mqtt_port);
    wait_listening(status_port);

    std::fs::write(
        dir.join("device/config.py"),
        format!(
            "SENSOR_ID = 'lux-1'\nWIFI_ESSID = 'x'\nWIFI_PASSWORD = 'x'\nMQTT_HOST = '127.0.0.1'\n\
             MQTT_PORT = {mqtt_port}\nMQTT_TOPIC = 'sensor-data'\nSLEEP_TIME = 0.3\nMQTT_QOS = 1\n"
        ),
    )
    .unwrap();
    let repo = lumen_link::repo();
    let micropypath = [
        dir.join("device"),
        mpy.clone(),
        repo.join("mpy-scripts"),
        repo.join("mpy-scripts/sim"),
    ]
    .iter()
    .map(|p| p.display().to_string())
    .collect::<Vec<_>>()
    .join(":");
    let mut device = Kill(
        Command::new(lumen_link::micropython())
            .args(["-c", "import client"])
            .env("MICROPYPATH", format!("{micropypath}:.frozen"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start micropython"),
    );

    // Wait for at least 5 rows in the CSV.
    let t0 = Instant::now();
    let rows = loop {
        let text = std::fs::read_to_string(&csv).unwrap_or_default();
        let rows: Vec<String> = text.split("\r\n").skip(1).filter(|l| !l.is_empty()).map(String::from).collect();
        if rows.len() >= 5 {
            break rows;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = device.0.kill();
            let mut out = String::new();
            device.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            device.0.stderr.take().unwrap().read_to_string(&mut out).unwrap();
            panic!("only {} rows after 30 s; device said:\n{out}", rows.len());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(device);

    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("timestamp,datetime,sensor_id,value\r\n"), "{text}");
    let lux = expected_lux();
    for row in &rows {
        let cols: Vec<&str> = row.split(',').collect();
        assert_eq!(cols.len(), 4, "{row}");
        let ts: f64 = cols[0].parse().unwrap_or_else(|_| panic!("ts in {row}"));
        assert!((ts - now()).abs() < 120.0, "server time expected in {row}");
        assert!(cols[1].starts_with("20") && cols[1].contains('T'), "ISO datetime in {row}");
        assert_eq!(cols[2], "lux-1");
        // The value crossed JSON as MicroPython printed it; it must read back as the same double.
        assert_eq!(cols[3].parse::<f64>().unwrap(), lux, "{row}");
    }

    let status: serde_json::Value = serde_json::from_str(&http_get(status_port, "/status")).expect("status JSON");
    let written = status["rows_written"].as_u64().expect("rows_written");
    let now_rows = std::fs::read_to_string(&csv).unwrap().split("\r\n").skip(1).filter(|l| !l.is_empty()).count();
    assert_eq!(written as usize, now_rows, "status {status}");
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}
