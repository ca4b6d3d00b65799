//! Command line: raw clap arguments ([`Args`]) and the checked [`Config`] built from them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Subscribes to sensor events on an MQTT topic and appends them to a CSV file
/// (the tutorial's `python3 server.py TOPIC FILE`, with a status page).
#[derive(Debug, Clone, Parser)]
#[command(name = "host-service", version, about, long_about = None)]
pub struct Args {
    /// MQTT topic (filter) to subscribe to, e.g. sensor-data or sensors/+/data;
    /// $share/GROUP/TOPIC is the same as --share-group GROUP TOPIC.
    #[arg(env = "HOST_SERVICE_TOPIC")]
    pub topic: String,

    /// CSV file to append rows to (created with a header if new or empty).
    #[arg(env = "HOST_SERVICE_FILE")]
    pub file: PathBuf,

    /// Broker URL: mqtt://host:port, or mqtts://host:port for TLS.
    #[arg(
        long,
        env = "HOST_SERVICE_BROKER",
        default_value = "mqtt://localhost:1883"
    )]
    pub broker: String,

    /// Run an MQTT broker in-process on ADDR (default 127.0.0.1:1883; give it as
    /// --embedded-broker=ADDR) and connect to it, so no mosquitto is needed. It keeps
    /// sessions and queued messages only while this process runs.
    #[arg(
        long,
        env = "HOST_SERVICE_EMBEDDED_BROKER",
        value_name = "ADDR",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "127.0.0.1:1883"
    )]
    pub embedded_broker: Option<SocketAddr>,

    /// PEM certificate (chain) for the embedded broker's TLS listener (with
    /// --embedded-broker-key): clients then connect with TLS, e.g. mosquitto_pub --cafile.
    #[arg(
        long,
        env = "HOST_SERVICE_EMBEDDED_BROKER_CERT",
        value_name = "PEM",
        requires_all = ["embedded_broker", "embedded_broker_key"]
    )]
    pub embedded_broker_cert: Option<PathBuf>,

    /// PEM private key for --embedded-broker-cert.
    #[arg(
        long,
        env = "HOST_SERVICE_EMBEDDED_BROKER_KEY",
        value_name = "PEM",
        requires = "embedded_broker_cert"
    )]
    pub embedded_broker_key: Option<PathBuf>,

    /// Let the embedded broker accept clients without credentials on an address beyond
    /// this machine (by default a non-loopback --embedded-broker needs --username and
    /// --password, which devices then must send).
    #[arg(long, env = "HOST_SERVICE_ALLOW_ANONYMOUS")]
    pub allow_anonymous: bool,

    /// Subscription QoS: 1 (default; with the persistent session and the delivery journal
    /// each row is written once) or 0. QoS 2 is refused, see README.
    #[arg(long, env = "HOST_SERVICE_QOS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,

    /// MQTT client id; the persistent session is keyed on it, so keep it stable
    /// (default: host-service-HOSTNAME).
    #[arg(long, env = "HOST_SERVICE_CLIENT_ID")]
    pub client_id: Option<String>,

    /// Start a clean session (drop what the broker queued while we were away).
    #[arg(long, env = "HOST_SERVICE_CLEAN_SESSION")]
    pub clean_session: bool,

    /// Username for the broker.
    #[arg(long, env = "HOST_SERVICE_USERNAME")]
    pub username: Option<String>,

    /// Password for the broker.
    #[arg(
        long,
        env = "HOST_SERVICE_PASSWORD",
        hide_env_values = true,
        requires = "username"
    )]
    pub password: Option<String>,

    /// Use TLS (implied by an mqtts:// or ssl:// broker URL).
    #[arg(long, env = "HOST_SERVICE_TLS")]
    pub tls: bool,

    /// PEM file with the CA certificate(s) to trust (default: the system's roots).
    #[arg(long, env = "HOST_SERVICE_CA_FILE", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// PEM client certificate for mutual TLS (with --client-key).
    #[arg(
        long,
        env = "HOST_SERVICE_CLIENT_CERT",
        value_name = "PEM",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,

    /// PEM private key for --client-cert.
    #[arg(
        long,
        env = "HOST_SERVICE_CLIENT_KEY",
        value_name = "PEM",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,

    /// Address of the status page (/, /status, /metrics, /healthz).
    #[arg(
        long,
        env = "HOST_SERVICE_STATUS_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub status_addr: SocketAddr,

    /// A host name the status page answers to besides IP addresses and localhost
    /// (repeatable); other `Host` headers are refused (DNS rebinding protection).
    #[arg(
        long = "allowed-host",
        env = "HOST_SERVICE_ALLOWED_HOSTS",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Mark a sensor stale on the status page after this many seconds without a row.
    #[arg(
        long,
        env = "HOST_SERVICE_STALE_AFTER",
        value_name = "SECS",
        default_value_t = 60.0
    )]
    pub stale_after: f64,

    /// Remember at most this many sensors for the status page (the least recently seen
    /// is forgotten first; the CSV is not affected).
    #[arg(long, env = "HOST_SERVICE_MAX_SENSORS", value_name = "N", default_value_t = crate::stats::DEFAULT_MAX_SENSORS)]
    pub max_sensors: usize,

    /// File that keeps rejected payloads verbatim, too large ones by their first 1 KiB
    /// (default: FILE.rejects).
    #[arg(long, env = "HOST_SERVICE_REJECTS", value_name = "FILE")]
    pub rejects: Option<PathBuf>,

    /// Join the shared subscription $share/NAME/TOPIC, so instances split one stream.
    #[arg(long, env = "HOST_SERVICE_SHARE_GROUP", value_name = "NAME")]
    pub share_group: Option<String>,

    /// Payloads longer than this many bytes are rejected as too large (their first
    /// 1 KiB is kept in the rejects file; the rest is never held in memory).
    #[arg(long, env = "HOST_SERVICE_MAX_PAYLOAD", default_value_t = 4096)]
    pub max_payload: usize,

    /// Keep-alive interval in seconds (at least 5).
    #[arg(long, env = "HOST_SERVICE_KEEP_ALIVE", default_value_t = 30)]
    pub keep_alive: u64,

    /// Longest wait between reconnection attempts, in seconds.
    #[arg(long, env = "HOST_SERVICE_MAX_BACKOFF", default_value_t = 10.0)]
    pub max_backoff: f64,

    /// Don't print a SensorEvent(...) line per event on stdout.
    #[arg(long, short, env = "HOST_SERVICE_QUIET")]
    pub quiet: bool,
}

/// Invalid combinations of options.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The broker URL can't be used.
    #[error("bad --broker {url:?}: {reason}")]
    BrokerUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The topic is empty or has characters MQTT forbids in a filter.
    #[error("bad topic {0:?}: {1}")]
    Topic(String, &'static str),
    /// The share group name is not allowed.
    #[error("bad --share-group {0:?}: it must not be empty or contain '/', '+' or '#'")]
    ShareGroup(String),
    /// A TLS file can't be read.
    #[error("cannot read {path}: {source}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A bad number.
    #[error("{0}")]
    Value(String),
}

/// The shortest valid event payload, `["",0,0]`, in bytes.
pub const MIN_PAYLOAD: usize = 8;

/// Why `--qos 2` is refused.
pub const QOS2_REFUSED: &str =
    "--qos 2 is not supported: the MQTT client (rumqttc 0.24) forgets the QoS 2 \
handshake when the service restarts and drops the connection on the broker's PUBREL redelivery, \
reconnecting forever without progress. Use --qos 1 (the default): QoS 2 publishers are delivered \
at QoS 1 and the delivery journal still writes each row once";

/// TLS settings, files already read.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM CA bundle, or None for the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client cert and key.
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The topic as given.
    pub topic: String,
    /// The filter actually subscribed (with `$share/GROUP/` when sharing).
    pub subscription: String,
    /// The filter the topics of delivered messages must match (`subscription` without
    /// `$share/GROUP/`).
    pub topic_filter: String,
    /// CSV path.
    pub csv_path: PathBuf,
    /// Rejects path.
    pub rejects_path: PathBuf,
    /// Delivery journal path (FILE.acklog).
    pub journal_path: PathBuf,
    /// The filters subscribed under this client id (FILE.subscriptions).
    pub subscriptions_path: PathBuf,
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// The broker as shown on the status page.
    pub broker_url: String,
    /// Run the embedded broker on this address.
    pub embedded_broker: Option<SocketAddr>,
    /// The embedded broker's TLS certificate and key (PEM), read.
    pub embedded_broker_tls: Option<(Vec<u8>, Vec<u8>)>,
    /// Subscription QoS.
    pub qos: rumqttc::QoS,
    /// Client id.
    pub client_id: String,
    /// Clean session.
    pub clean_session: bool,
    /// Credentials.
    pub credentials: Option<(String, String)>,
    /// TLS, if on.
    pub tls: Option<TlsSettings>,
    /// Status page address.
    pub status_addr: SocketAddr,
    /// Payload limit.
    pub max_payload: usize,
    /// Host names the status page answers to (besides IPs and localhost).
    pub allowed_hosts: Vec<String>,
    /// Stale sensor limit.
    pub stale_after: Duration,
    /// Per-sensor table cap.
    pub max_sensors: usize,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// Reconnection backoff cap.
    pub max_backoff: Duration,
    /// Print console lines.
    pub print_events: bool,
}

fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn default_client_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    if host.is_empty() {
        "host-service".to_owned()
    } else {
        format!("host-service-{host}")
    }
}

impl Config {
    /// Checks the arguments and reads the TLS files.
    pub fn from_args(args: Args) -> Result<Config, ConfigError> {
        if args.topic.is_empty() {
            return Err(ConfigError::Topic(args.topic, "empty"));
        }
        if args.topic.contains('\0') {
            return Err(ConfigError::Topic(args.topic, "contains a NUL"));
        }
        // `$share/GROUP/FILTER` given as the topic is a shared subscription too.
        let topic_filter = match crate::session::filter_of(&args.topic) {
            Some(f) if !f.is_empty() => f.to_owned(),
            _ => {
                return Err(ConfigError::Topic(
                    args.topic,
                    "a shared subscription is $share/GROUP/TOPIC",
                ))
            }
        };
        if !rumqttc::valid_filter(&topic_filter) {
            return Err(ConfigError::Topic(
                args.topic,
                "'#' may only be the last level and '+' or '#' must be a whole level \
                 (e.g. sensors/+/data, sensors/#)",
            ));
        }
        let subscription = match &args.share_group {
            Some(g) if g.is_empty() || g.contains(['/', '+', '#']) => {
                return Err(ConfigError::ShareGroup(g.clone()));
            }
            Some(_) if topic_filter != args.topic => {
                return Err(ConfigError::Topic(
                    args.topic,
                    "it is a shared subscription already; give either --share-group or $share/",
                ));
            }
            Some(g) => format!("$share/{g}/{}", args.topic),
            None => args.topic.clone(),
        };
        if args.rejects.as_ref() == Some(&args.file) {
            return Err(ConfigError::Value(format!(
                "--rejects {} is the CSV file itself: give the rejects their own file",
                args.file.display()
            )));
        }
        if args.keep_alive < 5 {
            return Err(ConfigError::Value(format!(
                "--keep-alive {} is too short: at least 5 seconds (the MQTT client's minimum)",
                args.keep_alive
            )));
        }
        if args.max_payload < MIN_PAYLOAD {
            return Err(ConfigError::Value(format!(
                "--max-payload {} would reject every event: the shortest one, [\"\",0,0], is \
                 {MIN_PAYLOAD} bytes",
                args.max_payload
            )));
        }
        let (scheme, host, port) = match args.embedded_broker {
            Some(addr) => {
                let host = if addr.ip().is_unspecified() {
                    "127.0.0.1".to_owned()
                } else {
                    addr.ip().to_string()
                };
                ("mqtt", host, addr.port())
            }
            None => parse_broker_url(&args.broker)?,
        };
        if let Some(addr) = args.embedded_broker {
            if !addr.ip().is_loopback() && args.username.is_none() && !args.allow_anonymous {
                return Err(ConfigError::Value(format!(
                    "--embedded-broker={addr} accepts clients from the network: give \
                     --username and --password (devices must then send them), or \
                     --allow-anonymous to let anyone who reaches the port publish and subscribe"
                )));
            }
        }
        let tls_on = args.tls || matches!(scheme, "mqtts" | "ssl");
        if !tls_on && (args.ca_file.is_some() || args.client_cert.is_some()) {
            return Err(ConfigError::Value(
                "--ca-file and --client-cert/--client-key are TLS settings, but the connection \
                 to the broker is not TLS: give --tls or an mqtts:// --broker URL (they would \
                 be ignored and everything sent in clear text)"
                    .into(),
            ));
        }
        if args.embedded_broker.is_some() && tls_on {
            return Err(ConfigError::Value(
                "--tls is for an external broker (the service reaches its embedded broker \
                 over loopback); for TLS clients of the embedded broker give \
                 --embedded-broker-cert and --embedded-broker-key"
                    .into(),
            ));
        }
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|source| ConfigError::TlsFile {
                path: p.clone(),
                source,
            })
        };
        let embedded_broker_tls = match (&args.embedded_broker_cert, &args.embedded_broker_key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            _ => None,
        };
        let tls = if tls_on {
            let ca_pem = args.ca_file.as_ref().map(read).transpose()?;
            let client_auth = match (&args.client_cert, &args.client_key) {
                (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
                _ => None,
            };
            Some(TlsSettings {
                ca_pem,
                client_auth,
            })
        } else {
            None
        };
        if !(args.max_backoff.is_finite() && args.max_backoff > 0.0) {
            return Err(ConfigError::Value(
                "--max-backoff must be a positive number of seconds".into(),
            ));
        }
        if !(args.stale_after.is_finite() && args.stale_after > 0.0) {
            return Err(ConfigError::Value(
                "--stale-after must be a positive number of seconds".into(),
            ));
        }
        if args.max_sensors == 0 {
            return Err(ConfigError::Value(
                "--max-sensors must be at least 1".into(),
            ));
        }
        let qos = match args.qos {
            0 => rumqttc::QoS::AtMostOnce,
            1 => rumqttc::QoS::AtLeastOnce,
            _ => return Err(ConfigError::Value(QOS2_REFUSED.into())),
        };
        let broker_url = format!(
            "{}://{host}:{port}",
            if tls.is_some() { "mqtts" } else { "mqtt" }
        );
        let broker_url = if args.embedded_broker.is_some() {
            format!("{broker_url} (embedded)")
        } else {
            broker_url
        };
        Ok(Config {
            rejects_path: args
                .rejects
                .clone()
                .unwrap_or_else(|| with_suffix(&args.file, ".rejects")),
            journal_path: with_suffix(&args.file, ".acklog"),
            subscriptions_path: with_suffix(&args.file, ".subscriptions"),
            csv_path: args.file,
            topic: args.topic,
            subscription,
            topic_filter,
            host,
            port,
            broker_url,
            embedded_broker: args.embedded_broker,
            embedded_broker_tls,
            qos,
            client_id: args.client_id.unwrap_or_else(default_client_id),
            clean_session: args.clean_session,
            credentials: args
                .username
                .map(|u| (u, args.password.unwrap_or_default())),
            tls,
            status_addr: args.status_addr,
            max_payload: args.max_payload,
            allowed_hosts: args.allowed_hosts,
            stale_after: Duration::from_secs_f64(args.stale_after),
            max_sensors: args.max_sensors,
            keep_alive: Duration::from_secs(args.keep_alive),
            max_backoff: Duration::from_secs_f64(args.max_backoff),
            print_events: !args.quiet,
        })
    }
}

/// The URL with the password of a `user:password@` part replaced by `***`, for messages.
pub fn redact_password(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}{user}{masked}@{host}")
        }
        None => url.to_owned(),
    }
}

/// Splits `mqtt://host:port` into its parts (port defaults to 1883, or 8883 for TLS).
pub fn parse_broker_url(url: &str) -> Result<(&'static str, String, u16), ConfigError> {
    let bad = |reason: &str| ConfigError::BrokerUrl {
        url: redact_password(url),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("mqtt", url),
    };
    let scheme = match scheme {
        "mqtt" | "tcp" => "mqtt",
        "mqtts" | "ssl" | "tls" => "mqtts",
        _ => return Err(bad("the scheme must be mqtt:// or mqtts://")),
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') || rest.contains('@') {
        return Err(bad(
            "expected scheme://host:port (credentials go in --username/--password)",
        ));
    }
    let default_port = if scheme == "mqtts" { 8883 } else { 1883 };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None if after.is_empty() => default_port,
            None => return Err(bad("junk after the IPv6 address")),
        };
        (h.to_owned(), port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
            None => (rest.to_owned(), default_port),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((scheme, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(
            parse_broker_url("mqtt://localhost:1883").unwrap(),
            ("mqtt", "localhost".into(), 1883)
        );
        assert_eq!(
            parse_broker_url("mqtts://h").unwrap(),
            ("mqtts", "h".into(), 8883)
        );
        assert_eq!(parse_broker_url("h:99").unwrap(), ("mqtt", "h".into(), 99));
        assert_eq!(
            parse_broker_url("mqtt://[::1]:7").unwrap(),
            ("mqtt", "::1".into(), 7)
        );
        assert!(parse_broker_url("http://h").is_err());
        let e = parse_broker_url("mqtt://u:s3cret@h")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"mqtt://u:***@h\"") && !e.contains("s3cret"),
            "{e}"
        );
    }

    #[test]
    fn share_group_and_defaults() {
        let args = Args::parse_from(["host-service", "--share-group", "g", "sensor-data", "x.csv"]);
        let c = Config::from_args(args).unwrap();
        assert_eq!(c.subscription, "$share/g/sensor-data");
        assert_eq!(c.rejects_path, PathBuf::from("x.csv.rejects"));
        assert_eq!((c.host.as_str(), c.port), ("localhost", 1883));
        let args = Args::parse_from(["host-service", "--embedded-broker", "t", "x.csv"]);
        let c = Config::from_args(args).unwrap();
        assert_eq!((c.port, c.topic.as_str()), (1883, "t"));
        let args = Args::parse_from([
            "host-service",
            "--embedded-broker=0.0.0.0:1999",
            "t",
            "x.csv",
        ]);
        let e = Config::from_args(args.clone()).unwrap_err().to_string();
        assert!(
            e.contains("--allow-anonymous") && e.contains("--username"),
            "{e}"
        );
        let mut args = args;
        args.allow_anonymous = true;
        let c = Config::from_args(args).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 1999));
    }

    fn refused(args: &[&str]) -> String {
        let mut all = vec!["host-service"];
        all.extend_from_slice(args);
        Config::from_args(Args::parse_from(all))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_combinations_are_refused_with_the_reason() {
        assert!(refused(&["a/#/b", "x.csv"]).contains("'#' may only be the last level"));
        assert!(refused(&["a+", "x.csv"]).contains("whole level"));
        assert!(refused(&["$share//t", "x.csv"]).contains("$share/GROUP/TOPIC"));
        assert!(refused(&["--share-group", "g", "$share/h/t", "x.csv"]).contains("either"));
        assert!(refused(&["--ca-file", "ca.pem", "t", "x.csv"]).contains("not TLS"));
        assert!(refused(&["--keep-alive", "0", "t", "x.csv"]).contains("at least 5"));
        assert!(refused(&["--max-payload", "0", "t", "x.csv"]).contains("every event"));
        assert!(refused(&["--rejects", "x.csv", "t", "x.csv"]).contains("CSV file itself"));
        let c =
            Config::from_args(Args::parse_from(["host-service", "$share/g/s/+", "x.csv"])).unwrap();
        assert_eq!(
            (c.subscription.as_str(), c.topic_filter.as_str()),
            ("$share/g/s/+", "s/+")
        );
        let c = Config::from_args(Args::parse_from(["host-service", "s/#", "x.csv"])).unwrap();
        assert_eq!(c.topic_filter, "s/#");
    }
}
