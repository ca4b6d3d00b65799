//! TLS (rustls, with `--ca-file`) and username/password against a real mosquitto with a
//! TLS listener and a password file. Certificates are made by `openssl` for the test.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{csv_values, require, wait_for, Mosquitto, Service, TempDir};

const T: Duration = Duration::from_secs(30);

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1, readable by the mosquitto user.
fn make_certs(dir: &Path) {
    let openssl = require("openssl");
    let p = |f: &str| dir.join(f);
    run(Command::new(&openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=lumen-link test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt")));
    signed_cert(
        dir,
        "server",
        "localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    );
    use std::os::unix::fs::PermissionsExt;
    for f in ["ca.crt", "server.crt", "server.key"] {
        std::fs::set_permissions(p(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// `NAME.key` and `NAME.crt` for `/CN=cn`, signed by the test CA with the X.509 extensions `ext`.
fn signed_cert(dir: &Path, name: &str, cn: &str, ext: &str) {
    let openssl = require("openssl");
    let p = |suffix: &str| dir.join(format!("{name}.{suffix}"));
    run(Command::new(&openssl)
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
        ])
        .arg("-keyout")
        .arg(p("key"))
        .arg("-out")
        .arg(p("csr")));
    std::fs::write(p("cnf"), ext).unwrap();
    run(Command::new(&openssl)
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("csr"))
        .arg("-CA")
        .arg(dir.join("ca.crt"))
        .arg("-CAkey")
        .arg(dir.join("ca.key"))
        .arg("-out")
        .arg(p("crt"))
        .arg("-extfile")
        .arg(p("cnf")));
}

#[test]
fn tls_and_password_auth() {
    let dir = TempDir::new("tls");
    make_certs(&dir.0);
    let pwfile = dir.path("passwd");
    run(Command::new(require("mosquitto_passwd"))
        .args(["-b", "-c"])
        .arg(&pwfile)
        .args(["sensor", "s3cret"]));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    let port = common::free_port();
    let d = dir.0.display();
    let m = Mosquitto::start_with(
        &dir.0,
        port,
        false,
        &format!(
            "cafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n\
             password_file {d}/passwd\nallow_anonymous false\n"
        ),
    );
    let csv = dir.path("test.csv");
    let ca = dir.path("ca.crt");
    let url = format!("mqtts://127.0.0.1:{}", m.port);

    // Wrong password: the status page says why, and it keeps retrying.
    let bad = Service::start(
        &dir.0,
        "bad",
        &[
            "--broker",
            &url,
            "--ca-file",
            ca.to_str().unwrap(),
            "--username",
            "sensor",
            "--password",
            "nope",
            "--client-id",
            "tls-bad",
            "t",
            dir.path("bad.csv").to_str().unwrap(),
        ],
    );
    wait_for(T, "a refused connection on the status page", || {
        let s = bad.status();
        let err = s["broker"]["last_error"].as_str().unwrap_or("").to_owned();
        (s["broker"]["state"] != "connected"
            && err == "the broker refused the connection: not authorized")
            .then_some(())
    });
    // Logged as a refusal, not as an unreachable broker, and without the password.
    let log = bad.stderr_text();
    assert!(
        log.contains("the broker refused the connection (check --username/--password"),
        "{log}"
    );
    assert!(
        !log.contains("cannot reach the broker") && !log.contains("nope"),
        "{log}"
    );
    drop(bad);

    // A password in the broker URL is refused without echoing it.
    let out = common::run_to_exit(
        Command::new(common::host_service_bin())
            .args(["--broker", "mqtts://sensor:hunter2@127.0.0.1:8883", "t"])
            .arg(dir.path("x.csv")),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("mqtts://sensor:***@127.0.0.1:8883"), "{err}");

    // Right password (from the environment twins), over TLS verified against the test CA.
    let svc = Service::start_env(
        &dir.0,
        "good",
        &[
            "--broker",
            &url,
            "--ca-file",
            ca.to_str().unwrap(),
            "--client-id",
            "tls-good",
            "t",
            csv.to_str().unwrap(),
        ],
        &[
            ("HOST_SERVICE_USERNAME", "sensor"),
            ("HOST_SERVICE_PASSWORD", "s3cret"),
        ],
    );
    svc.wait_subscribed();
    assert!(svc.status()["broker"]["url"]
        .as_str()
        .unwrap()
        .starts_with("mqtts://"));
    run(common::mosquitto_client("mosquitto_pub", m.port)
        .arg("--cafile")
        .arg(&ca)
        .args([
            "-u", "sensor", "-P", "s3cret", "-i", "tls-pub", "-q", "1", "-t", "t",
        ])
        .args(["-m", r#"["lux-1", 1, 42.5]"#]));
    wait_for(T, "the row", || (csv_values(&csv).len() == 1).then_some(()));
    assert_eq!(csv_values(&csv), ["42.5"]);
    assert_eq!(svc.terminate(), 0);
}

/// Mutual TLS: the broker requires a client certificate signed by the CA.
#[test]
fn mutual_tls_with_client_certificate() {
    let dir = TempDir::new("mtls");
    make_certs(&dir.0);
    let p = |f: &str| dir.path(f);
    signed_cert(
        &dir.0,
        "client",
        "host-service",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    );
    let d = dir.0.display();
    let m = Mosquitto::start_with(
        &dir.0,
        common::free_port(),
        false,
        &format!(
            "cafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\nrequire_certificate true\n"
        ),
    );
    let csv = p("test.csv");
    let url = format!("mqtts://127.0.0.1:{}", m.port);
    let ca = p("ca.crt");
    // Without a client certificate the handshake fails and the status page says so.
    let anon = Service::start(
        &dir.0,
        "anon",
        &[
            "--broker",
            &url,
            "--ca-file",
            ca.to_str().unwrap(),
            "--client-id",
            "mtls-anon",
            "t",
            p("anon.csv").to_str().unwrap(),
        ],
    );
    wait_for(T, "a failed connection on the status page", || {
        let s = anon.status();
        (s["broker"]["state"] != "connected" && s["broker"]["last_error"].is_string()).then_some(())
    });
    drop(anon);
    let svc = Service::start(
        &dir.0,
        "svc",
        &[
            "--broker",
            &url,
            "--ca-file",
            ca.to_str().unwrap(),
            "--client-cert",
            p("client.crt").to_str().unwrap(),
            "--client-key",
            p("client.key").to_str().unwrap(),
            "--client-id",
            "mtls",
            "t",
            csv.to_str().unwrap(),
        ],
    );
    svc.wait_subscribed();
    run(common::mosquitto_client("mosquitto_pub", m.port)
        .arg("--cafile")
        .arg(&ca)
        .arg("--cert")
        .arg(p("client.crt"))
        .arg("--key")
        .arg(p("client.key"))
        .args([
            "-i",
            "mtls-pub",
            "-q",
            "1",
            "-t",
            "t",
            "-m",
            r#"["lux-1", 1, 7.25]"#,
        ]));
    wait_for(T, "the row", || (csv_values(&csv).len() == 1).then_some(()));
    assert_eq!(csv_values(&csv), ["7.25"]);
    // Ctrl-C (SIGINT) is a clean stop too.
    assert_eq!(svc.interrupt(), 0);
}

/// The embedded broker's TLS listener, on the network with credentials (what a board on
/// the LAN needs): a TLS client with the CA and the password gets through, a plain-text
/// client is refused and logged.
#[test]
fn embedded_broker_with_tls_and_credentials() {
    let dir = TempDir::new("embedded-tls");
    make_certs(&dir.0);
    let port = common::free_port();
    let csv = dir.path("test.csv");
    let p = |f: &str| dir.path(f).to_str().unwrap().to_owned();
    let svc = Service::start(
        &dir.0,
        "svc",
        &[
            &format!("--embedded-broker=0.0.0.0:{port}"),
            "--embedded-broker-cert",
            &p("server.crt"),
            "--embedded-broker-key",
            &p("server.key"),
            "--username",
            "sensor",
            "--password",
            "s3cret",
            "t",
            csv.to_str().unwrap(),
        ],
    );
    svc.wait_subscribed();
    run(common::mosquitto_client("mosquitto_pub", port)
        .args(["--cafile", &p("ca.crt")])
        .args(["-u", "sensor", "-P", "s3cret", "-q", "1", "-t", "t"])
        .args(["-m", r#"["lux-1", 1, 42.5]"#]));
    wait_for(T, "the row", || (csv_values(&csv).len() == 1).then_some(()));
    let plain = common::mosquitto_client("mosquitto_pub", port)
        .args(["-u", "sensor", "-P", "s3cret", "-t", "t", "-m", "x"])
        .output()
        .unwrap();
    assert!(!plain.status.success());
    wait_for(T, "the refusal in the log", || {
        svc.stderr_text()
            .contains("refused a connection (TLS handshake failed)")
            .then_some(())
    });
    assert!(
        !svc.stderr_text().contains("without TLS"),
        "no clear-text warning with TLS on"
    );
    assert_eq!(csv_values(&csv), ["42.5"]);
    assert_eq!(svc.terminate(), 0);
}
