//! The status page: `GET /` (HTML), `/status` (JSON), `/metrics` (Prometheus text),
//! `/healthz`, and the server that serves it with bounded resources.
//!
//! `/status` and the HTML page are both rendered from one typed [`StatusReport`], so
//! what a person sees is what a script reads.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize, Serializer};

use crate::event::RejectKind;
use crate::stats::{BrokerState, SensorStat, Stats, SubscriptionState};

/// Sensors listed by `/status` unless `?sensors=N` asks for more (up to the table's cap).
pub const DEFAULT_SENSORS_SHOWN: usize = 100;
/// Sensors drawn on the HTML page.
pub const HTML_SENSORS_SHOWN: usize = 50;

/// Settings of the status page.
#[derive(Debug, Clone)]
pub struct StatusConfig {
    /// Host names (besides IP literals and `localhost`) accepted in the `Host` header.
    pub allowed_hosts: Vec<String>,
    /// A sensor not heard from for this long is marked stale.
    pub stale_after: Duration,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            allowed_hosts: Vec::new(),
            stale_after: Duration::from_secs(60),
        }
    }
}

/// The router's state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The shared counters.
    pub stats: Arc<Stats>,
    /// Page settings.
    pub config: Arc<StatusConfig>,
}

/// Builds the router; tests drive it without a socket (`app(..).oneshot(request)`).
pub fn app(stats: Arc<Stats>, config: StatusConfig) -> Router {
    let state = AppState {
        stats,
        config: Arc::new(config),
    };
    Router::new()
        .route("/", get(index))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .layer(middleware::from_fn_with_state(state.clone(), check_host))
        .with_state(state)
}

/// The host part of a `Host` header value (`[::1]:8080` -> `::1`, `a:80` -> `a`).
fn host_name(value: &str) -> &str {
    if let Some(v6) = value.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match value.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => value,
    }
}

/// True if the page may answer a request with this `Host` header. A DNS-rebinding page
/// reaches us under its own name (`Host: evil.example`); IP literals, `localhost` and
/// the names given with `--allowed-host` pass.
pub fn host_allowed(value: &str, allowed: &[String]) -> bool {
    let host = host_name(value.trim());
    host.parse::<std::net::IpAddr>().is_ok()
        || host.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}").to_owned())
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    match host {
        Some(h) if !host_allowed(&h, &state.config.allowed_hosts) => (
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "host {:?} is not served here (DNS rebinding protection); \
                 start host-service with --allowed-host {} to allow it\n",
                h,
                host_name(&h)
            ),
        )
            .into_response(),
        _ => next.run(req).await,
    }
}

/// The broker connection in [`StatusReport`].
#[derive(Debug, Clone, Serialize)]
pub struct BrokerReport {
    /// `mqtt://host:port` (plus ` (embedded)`).
    pub url: String,
    /// `connecting`, `connected` or `disconnected`.
    pub state: &'static str,
    /// True when the broker acknowledged the subscription on this connection (SUBACK).
    pub subscribed: bool,
    /// The filter subscribed to.
    pub subscription: String,
    /// Each filter with what the broker's SUBACK said.
    pub subscriptions: Vec<SubscriptionReport>,
    /// Filters of an earlier configuration (another topic or share group under the same
    /// client id) the broker's session still holds, being unsubscribed; their messages
    /// go to the rejects file as `off-topic`.
    pub unsubscribing: Vec<String>,
    /// Seconds in this state.
    pub state_for_seconds: f64,
    /// The last connection error.
    pub last_error: Option<String>,
    /// Connections after the first.
    pub reconnects: u64,
}

/// One topic filter and the broker's answer.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionReport {
    /// The filter.
    pub filter: String,
    /// QoS asked for.
    pub requested_qos: u8,
    /// `none` (not connected), `pending` (no SUBACK yet), `granted` or `refused`.
    pub state: &'static str,
    /// The QoS the broker granted.
    pub granted_qos: Option<u8>,
}

/// One sensor in [`StatusReport`].
#[derive(Debug, Clone, Serialize)]
pub struct SensorReport {
    /// The sensor id (the key in the JSON map).
    #[serde(skip)]
    pub id: String,
    /// The last value (a JSON number; a string if it has no JSON form).
    pub last_value: serde_json::Value,
    /// The server timestamp of its last row.
    pub last_ts: f64,
    /// Seconds since its last row.
    pub age_seconds: f64,
    /// Rows written for it.
    pub rows: u64,
    /// Not heard from for longer than the stale limit.
    pub stale: bool,
    /// Its last values, oldest first (the sparkline).
    pub recent: Vec<Option<f64>>,
}

/// The CSV file.
#[derive(Debug, Clone, Serialize)]
pub struct CsvReport {
    /// Its path.
    pub path: PathBuf,
    /// Its size, if it can be read.
    pub size_bytes: Option<u64>,
}

/// Everything `/status` returns and `/` shows.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// The broker connection.
    pub broker: BrokerReport,
    /// Publishes received.
    pub messages_received: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Rejected payloads.
    pub rejects: u64,
    /// Rejected payloads by kind.
    pub rejects_by_kind: BTreeMap<&'static str, u64>,
    /// Redeliveries recognised and not written again.
    pub duplicates_dropped: u64,
    /// Stale retained messages not written.
    pub retained_skipped: u64,
    /// Most publishes waiting for the writer at once.
    pub writer_backlog_max: u64,
    /// Sensors remembered now (at most `max_sensors`).
    pub sensors_total: usize,
    /// The cap on remembered sensors.
    pub max_sensors: usize,
    /// Sensors forgotten (least recently seen first) to stay under the cap.
    pub sensors_evicted: u64,
    /// The sensors listed here, most recently seen first (a page of them).
    #[serde(serialize_with = "sensors_as_map")]
    pub sensors: Vec<SensorReport>,
    /// The CSV file.
    pub csv: CsvReport,
    /// The rejects file.
    pub rejects_file: PathBuf,
}

fn sensors_as_map<S: Serializer>(sensors: &[SensorReport], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(sensors.iter().map(|r| (&r.id, r)))
}

fn csv_size(stats: &Stats) -> Option<u64> {
    std::fs::metadata(&stats.csv_path).ok().map(|m| m.len())
}

/// A JSON number for a Python repr (`371.6063`, `1e+16`, `284`); a string if it has none.
fn repr_to_json(repr: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Number>(repr)
        .map(serde_json::Value::Number)
        .unwrap_or_else(|_| serde_json::Value::String(repr.to_owned()))
}

fn sensor_report(id: &str, s: &SensorStat, stale_after: Duration) -> SensorReport {
    let age = s.last_seen.elapsed();
    SensorReport {
        id: id.to_owned(),
        last_value: repr_to_json(&s.last_value),
        last_ts: s.last_ts,
        age_seconds: age.as_secs_f64(),
        rows: s.rows,
        stale: age > stale_after,
        recent: s
            .recent
            .iter()
            .map(|v| v.is_finite().then_some(*v))
            .collect(),
    }
}

impl StatusReport {
    /// The report now, listing `limit` sensors (most recently seen first) after `offset`.
    pub fn collect(stats: &Stats, config: &StatusConfig, offset: usize, limit: usize) -> Self {
        let broker = stats.broker_status();
        let rejects_by_kind = RejectKind::ALL
            .iter()
            .map(|k| (k.as_str(), Stats::get(&stats.rejects[k.index()])))
            .collect();
        let (sensors, sensors_total, max_sensors, sensors_evicted) = {
            let table = stats.sensors.lock().unwrap_or_else(|p| p.into_inner());
            let page = table
                .most_recent(offset, limit.min(table.cap()))
                .into_iter()
                .map(|(id, s)| sensor_report(id, s, config.stale_after))
                .collect();
            (page, table.len(), table.cap(), table.evicted())
        };
        let sub = broker.subscription;
        StatusReport {
            uptime_seconds: stats.started.elapsed().as_secs_f64(),
            broker: BrokerReport {
                url: stats.broker_url.clone(),
                state: broker.state.as_str(),
                subscribed: matches!(sub, SubscriptionState::Granted(_)),
                subscription: stats.subscription.clone(),
                subscriptions: vec![SubscriptionReport {
                    filter: stats.subscription.clone(),
                    requested_qos: stats.requested_qos,
                    state: sub.as_str(),
                    granted_qos: sub.granted_qos(),
                }],
                unsubscribing: stats.stale_filters(),
                state_for_seconds: broker.since.elapsed().as_secs_f64(),
                last_error: broker.last_error,
                reconnects: Stats::get(&stats.reconnects),
            },
            messages_received: Stats::get(&stats.received),
            rows_written: Stats::get(&stats.rows_written),
            rejects: stats.rejects_total(),
            rejects_by_kind,
            duplicates_dropped: Stats::get(&stats.duplicates),
            retained_skipped: Stats::get(&stats.retained_skipped),
            writer_backlog_max: Stats::get(&stats.backlog_max),
            sensors_total,
            max_sensors,
            sensors_evicted,
            sensors,
            csv: CsvReport {
                path: stats.csv_path.clone(),
                size_bytes: csv_size(stats),
            },
            rejects_file: stats.rejects_path.clone(),
        }
    }
}

/// `/status` query: `?sensors=N&offset=M` pages through the sensors.
#[derive(Debug, Deserialize)]
pub struct Page {
    /// How many sensors to list (default [`DEFAULT_SENSORS_SHOWN`]).
    pub sensors: Option<usize>,
    /// How many of the most recently seen to skip.
    pub offset: Option<usize>,
}

async fn status(State(state): State<AppState>, Query(page): Query<Page>) -> Json<StatusReport> {
    Json(StatusReport::collect(
        &state.stats,
        &state.config,
        page.offset.unwrap_or(0),
        page.sensors.unwrap_or(DEFAULT_SENSORS_SHOWN),
    ))
}

/// `/healthz`: 200 only while connected with the subscription granted (SUBACK), so a
/// service that can't receive anything is not reported healthy; 503 otherwise.
async fn healthz(State(state): State<AppState>) -> Response {
    let b = state.stats.broker_status();
    let sub = b.subscription;
    let granted = match sub.granted_qos() {
        Some(q) => format!(" granted_qos={q}"),
        None => String::new(),
    };
    let body = format!(
        "broker={} subscription={} {}{granted}\n",
        b.state.as_str(),
        state.stats.subscription,
        sub.as_str(),
    );
    if b.state == BrokerState::Connected && granted.len() > 1 {
        (StatusCode::OK, format!("ok {body}")).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not receiving {body}"),
        )
            .into_response()
    }
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The `/metrics` text.
pub fn metrics_text(stats: &Stats) -> String {
    let mut out = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, lines: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in lines {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let plain = |v: String| vec![(String::new(), v)];
    metric(
        "host_service_uptime_seconds",
        "gauge",
        "Seconds since the service started.",
        plain(format!("{:.3}", stats.started.elapsed().as_secs_f64())),
    );
    let broker = stats.broker_status();
    metric(
        "host_service_broker_connected",
        "gauge",
        "1 when connected to the broker.",
        plain(u8::from(broker.state == BrokerState::Connected).to_string()),
    );
    metric(
        "host_service_subscription_granted",
        "gauge",
        "1 when the broker acknowledged the subscription on this connection.",
        plain(u8::from(broker.subscription.granted_qos().is_some()).to_string()),
    );
    metric(
        "host_service_broker_reconnects_total",
        "counter",
        "Connections made after the first.",
        plain(Stats::get(&stats.reconnects).to_string()),
    );
    metric(
        "host_service_messages_received_total",
        "counter",
        "Publishes received.",
        plain(Stats::get(&stats.received).to_string()),
    );
    metric(
        "host_service_rows_written_total",
        "counter",
        "Rows written to the CSV.",
        plain(Stats::get(&stats.rows_written).to_string()),
    );
    metric(
        "host_service_rejects_total",
        "counter",
        "Rejected payloads by kind.",
        RejectKind::ALL
            .iter()
            .map(|k| {
                (
                    format!("{{kind=\"{}\"}}", k.as_str()),
                    Stats::get(&stats.rejects[k.index()]).to_string(),
                )
            })
            .collect(),
    );
    metric(
        "host_service_duplicates_dropped_total",
        "counter",
        "Redelivered messages recognised and not written again.",
        plain(Stats::get(&stats.duplicates).to_string()),
    );
    metric(
        "host_service_retained_skipped_total",
        "counter",
        "Stale retained messages not written.",
        plain(Stats::get(&stats.retained_skipped).to_string()),
    );
    metric(
        "host_service_csv_size_bytes",
        "gauge",
        "Size of the CSV file.",
        plain(csv_size(stats).unwrap_or(0).to_string()),
    );
    let (sensors, evicted): (Vec<(String, String, f64)>, u64) = {
        let table = stats.sensors.lock().unwrap_or_else(|p| p.into_inner());
        (
            table
                .most_recent(0, DEFAULT_SENSORS_SHOWN)
                .into_iter()
                .map(|(id, s)| {
                    (
                        id.to_owned(),
                        s.last_value.clone(),
                        s.last_seen.elapsed().as_secs_f64(),
                    )
                })
                .collect(),
            table.evicted(),
        )
    };
    metric(
        "host_service_sensors_evicted_total",
        "counter",
        "Sensors forgotten to keep the per-sensor table under its cap.",
        plain(evicted.to_string()),
    );
    metric(
        "host_service_sensor_last_value",
        "gauge",
        "Last value per sensor (the most recently seen sensors).",
        sensors
            .iter()
            .filter_map(|(id, v, _)| {
                let v: f64 = v.parse().ok()?;
                Some((
                    format!("{{sensor_id=\"{}\"}}", label(id)),
                    crate::pyrepr::float_repr(v),
                ))
            })
            .collect(),
    );
    metric(
        "host_service_sensor_age_seconds",
        "gauge",
        "Seconds since each sensor's last row.",
        sensors
            .iter()
            .map(|(id, _, age)| {
                (
                    format!("{{sensor_id=\"{}\"}}", label(id)),
                    format!("{age:.3}"),
                )
            })
            .collect(),
    );
    out
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics_text(&state.stats),
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An inline SVG polyline of `values` (no script, no external resource).
pub fn sparkline(values: &[Option<f64>]) -> String {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let finite: Vec<f64> = values.iter().flatten().copied().collect();
    let mut svg = format!(
        "<svg class=\"spark\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"last {} values\">",
        finite.len()
    );
    if let (Some(lo), Some(hi)) = (
        finite.iter().copied().reduce(f64::min),
        finite.iter().copied().reduce(f64::max),
    ) {
        let span = if hi > lo { hi - lo } else { 1.0 };
        let step = if values.len() > 1 {
            W / (values.len() - 1) as f64
        } else {
            0.0
        };
        let mut points = String::new();
        let mut last = (0.0, 0.0);
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                // A lone reading sits at the right end, where the latest one goes.
                let x = if values.len() > 1 {
                    i as f64 * step
                } else {
                    W - 2.0
                };
                let y = if hi > lo {
                    H - 2.0 - (v - lo) / span * (H - 4.0)
                } else {
                    H / 2.0
                };
                let _ = write!(points, "{x:.1},{y:.1} ");
                last = (x, y);
            }
        }
        // The line, and a dot on the latest value (all there is for a single reading).
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"#2a6ebb\" stroke-width=\"1.5\" points=\"{}\"/>\
             <circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"#2a6ebb\"/>",
            points.trim_end(),
            last.0.clamp(2.0, W - 2.0),
            last.1
        );
    }
    svg.push_str("</svg>");
    svg
}

fn human_age(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n < 10 * 1024 => format!("{n} B"),
        n if n < 10 * 1024 * 1024 => format!("{:.0} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

/// The HTML page for a report. Numbers a test compares with `/status` carry `id`s.
pub fn render_html(r: &StatusReport) -> String {
    let b = &r.broker;
    let sub = &b.subscriptions[0];
    let mut sensors = String::new();
    for s in &r.sensors {
        let _ = write!(
            sensors,
            "<tr class=\"sensor{stale}\" data-sensor=\"{id}\"><td class=\"id\">{id}</td><td>{spark}</td>\
             <td class=\"value\">{value}</td><td class=\"age\">{age}{stale_label}</td><td class=\"rows\">{rows}</td></tr>",
            stale = if s.stale { " stale" } else { "" },
            id = html_escape(&s.id),
            spark = sparkline(&s.recent),
            value = html_escape(&match &s.last_value {
                serde_json::Value::String(v) => v.clone(),
                v => v.to_string(),
            }),
            age = human_age(s.age_seconds),
            stale_label = if s.stale { " <b>stale</b>" } else { "" },
            rows = s.rows,
        );
    }
    if r.sensors.is_empty() {
        sensors.push_str("<tr><td colspan=\"5\">no sensor heard from yet</td></tr>");
    }
    let more = if r.sensors_total > r.sensors.len() {
        format!(
            "<p>{} of {} sensors shown (most recently seen first; <a href=\"/status?sensors={}\">all in /status</a>).</p>",
            r.sensors.len(),
            r.sensors_total,
            r.max_sensors
        )
    } else {
        String::new()
    };
    let evicted = if r.sensors_evicted > 0 {
        format!(
            "<p>{} sensors not seen recently were forgotten to stay under {}.</p>",
            r.sensors_evicted, r.max_sensors
        )
    } else {
        String::new()
    };
    let mut rejects = String::new();
    for (kind, n) in &r.rejects_by_kind {
        let _ = write!(
            rejects,
            "<tr class=\"{cls}\"><td>{kind}</td><td class=\"n\" id=\"rejects-{kind}\">{n}</td></tr>",
            cls = if *n > 0 { "bad" } else { "zero" }
        );
    }
    let (state_cls, sub_text) = match (b.state, sub.granted_qos) {
        ("connected", Some(q)) => ("ok", format!("granted at QoS {q}")),
        ("connected", None) => ("warn", sub.state.to_owned()),
        _ => ("bad", sub.state.to_owned()),
    };
    let err = match (&b.last_error, b.state) {
        (Some(e), s) if s != "connected" => {
            format!(" <span class=\"err\">({})</span>", html_escape(e))
        }
        _ => String::new(),
    };
    let size = r
        .csv
        .size_bytes
        .map(human_bytes)
        .unwrap_or_else(|| "missing".into());
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>host-service</title>\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <meta http-equiv=\"refresh\" content=\"5\">\
         <style>\
         body{{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:60em;color:#222}}\
         h1{{font-size:1.4em;margin:0 0 .6em}} h2{{font-size:1.1em;margin:1.4em 0 .4em}}\
         .cards{{display:flex;gap:1em;flex-wrap:wrap}} .card{{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;min-width:8em}}\
         .card b{{display:block;font-size:1.6em}} table{{border-collapse:collapse}}\
         td,th{{padding:.25em .9em;text-align:left;border-bottom:1px solid #eee}} td.value,td.rows,td.n{{text-align:right;font-variant-numeric:tabular-nums}}\
         .ok{{color:#176d2c}} .warn{{color:#a15c00}} .bad{{color:#b00020}} .zero{{color:#999}}\
         tr.stale td{{color:#999}} tr.stale b{{color:#b00020}} code{{background:#f4f4f4;padding:0 .3em}}\
         </style></head><body>\
         <h1>host-service</h1>\
         <p>Broker <code>{url}</code>: <b class=\"{state_cls}\" id=\"broker-state\">{state}</b>{err} &middot; \
         subscription <code>{filter}</code> <span class=\"{state_cls}\" id=\"subscription\">{sub_text}</span></p>\
         <div class=\"cards\">\
         <div class=\"card\"><b id=\"messages-received\">{recv}</b>messages received</div>\
         <div class=\"card\"><b id=\"rows-written\">{rows}</b>rows written</div>\
         <div class=\"card\"><b id=\"rejects\" class=\"{rej_cls}\">{rej}</b>rejected</div>\
         <div class=\"card\"><b id=\"duplicates\">{dups}</b>duplicates dropped</div>\
         <div class=\"card\"><b id=\"sensors-total\">{nsens}</b>sensors</div>\
         </div>\
         <h2>Sensors</h2>\
         <table><tr><th>sensor</th><th>recent values</th><th>last value</th><th>age</th><th>rows</th></tr>{sensors}</table>\
         {more}{evicted}\
         <h2>Files</h2>\
         <p>CSV <code id=\"csv-path\">{csv}</code> <span id=\"csv-size\" data-bytes=\"{size_bytes}\">{size}</span></p>\
         <p>Rejects file <code id=\"rejects-file\">{rejects_file}</code></p>\
         <table><tr><th>reject kind</th><th>count</th></tr>{rejects}</table>\
         <p>Up {up} &middot; <a href=\"/status\">/status</a> &middot; <a href=\"/metrics\">/metrics</a> &middot; <a href=\"/healthz\">/healthz</a></p>\
         </body></html>",
        url = html_escape(&b.url),
        state = b.state,
        filter = html_escape(&sub.filter),
        recv = r.messages_received,
        rows = r.rows_written,
        rej = r.rejects,
        rej_cls = if r.rejects > 0 { "bad" } else { "" },
        dups = r.duplicates_dropped,
        nsens = r.sensors_total,
        csv = html_escape(&r.csv.path.display().to_string()),
        size_bytes = r.csv.size_bytes.unwrap_or(0),
        rejects_file = html_escape(&r.rejects_file.display().to_string()),
        up = human_age(r.uptime_seconds),
    )
}

async fn index(State(state): State<AppState>) -> Html<String> {
    let report = StatusReport::collect(&state.stats, &state.config, 0, HTML_SENSORS_SHOWN);
    Html(render_html(&report))
}

/// Most status connections served at once. Further clients wait in the listen queue
/// (costing this process no file descriptor), so a flood of idle connections to the
/// status port can't use up the descriptors the MQTT side needs.
pub const MAX_CONNECTIONS: usize = 64;
/// A request's head must arrive within this time, an idle keep-alive connection is
/// closed after it, and no connection lives longer than [`CONNECTION_LIFETIME`].
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a status connection may stay open.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// The next connection on `listener`, with TCP_NODELAY set. A failed accept (EMFILE and
/// friends) is logged as `what`'s and retried after a pause instead of spinning.
pub(crate) async fn accept(
    listener: &tokio::net::TcpListener,
    what: &str,
) -> (tokio::net::TcpStream, std::net::SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(e) => {
                tracing::warn!(error = %e, "{what}: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, with at most
/// [`MAX_CONNECTIONS`] connections, each with [`HEADER_TIMEOUT`] to send its request
/// head and [`CONNECTION_LIFETIME`] in all.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return,
            a = accept(&listener, "status page") => a,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn stats() -> Arc<Stats> {
        Arc::new(Stats::new(
            "mqtt://x:1".into(),
            "t".into(),
            "/nonexistent.csv".into(),
            "r".into(),
        ))
    }

    async fn get(app: Router, uri: &str, host: &str) -> (StatusCode, String) {
        let res = app
            .oneshot(
                axum::http::Request::get(uri)
                    .header(header::HOST, host)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let code = res.status();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (code, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn metrics_escape_labels_and_count() {
        let stats = stats();
        stats.row_written("a\"b", "1.5", 1.0);
        stats.count_reject(RejectKind::NotJson);
        let text = metrics_text(&stats);
        assert!(
            text.contains("host_service_sensor_last_value{sensor_id=\"a\\\"b\"} 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("host_service_rejects_total{kind=\"not-json\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("host_service_rows_written_total 1\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn status_json_is_the_typed_report() {
        let stats = stats();
        stats.row_written("a\"b", "1.5", 1.0);
        stats.row_written("a\"b", "2", 2.0);
        stats.count_reject(RejectKind::NotJson);
        let (code, body) = get(
            app(stats, StatusConfig::default()),
            "/status",
            "127.0.0.1:8080",
        )
        .await;
        assert_eq!(code, StatusCode::OK);
        let js: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(js["rejects"], 1);
        assert_eq!(js["rejects_by_kind"]["not-json"], 1);
        assert_eq!(js["sensors"]["a\"b"]["last_value"], 2);
        assert_eq!(
            js["sensors"]["a\"b"]["recent"],
            serde_json::json!([1.5, 2.0])
        );
        assert_eq!(js["sensors"]["a\"b"]["stale"], false);
        assert_eq!(js["broker"]["subscriptions"][0]["state"], "none");
        assert_eq!(js["broker"]["subscribed"], false);
    }

    #[tokio::test]
    async fn healthz_is_ok_only_with_a_granted_subscription() {
        let stats = stats();
        let router = app(stats.clone(), StatusConfig::default());
        let (code, body) = get(router.clone(), "/healthz", "localhost").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        stats.set_broker(BrokerState::Connected, None);
        stats.set_subscription(SubscriptionState::Pending);
        let (code, body) = get(router.clone(), "/healthz", "localhost").await;
        assert_eq!(
            (code, body.as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not receiving broker=connected subscription=t pending\n"
            )
        );
        stats.set_subscription(SubscriptionState::Granted(1));
        let (code, body) = get(router.clone(), "/healthz", "localhost").await;
        assert_eq!(
            (code, body.as_str()),
            (
                StatusCode::OK,
                "ok broker=connected subscription=t granted granted_qos=1\n"
            )
        );
        stats.set_subscription(SubscriptionState::Refused);
        let (code, _) = get(router, "/healthz", "localhost").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn foreign_host_header_is_refused() {
        let router = app(
            stats(),
            StatusConfig {
                allowed_hosts: vec!["pi.lan".into()],
                ..StatusConfig::default()
            },
        );
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "10.0.0.5",
            "PI.lan:80",
        ] {
            let (code, body) = get(router.clone(), "/status", host).await;
            assert_eq!(code, StatusCode::OK, "{host}: {body}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
        ] {
            let (code, body) = get(router.clone(), "/", host).await;
            assert_eq!(code, StatusCode::MISDIRECTED_REQUEST, "{host}");
            assert!(body.contains("--allowed-host"), "{body}");
        }
    }

    #[tokio::test]
    async fn status_pages_through_sensors_and_html_shows_them() {
        let stats = stats();
        for i in 0..250 {
            stats.row_written(&format!("s-{i:03}"), &i.to_string(), i as f64);
        }
        let router = app(stats, StatusConfig::default());
        let (_, body) = get(router.clone(), "/status", "localhost").await;
        let js: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            js["sensors"].as_object().unwrap().len(),
            DEFAULT_SENSORS_SHOWN
        );
        assert_eq!(js["sensors_total"], 250);
        assert!(js["sensors"].get("s-249").is_some());
        let (_, body) = get(router.clone(), "/status?sensors=10&offset=240", "localhost").await;
        let js: serde_json::Value = serde_json::from_str(&body).unwrap();
        let ids: Vec<&String> = js["sensors"].as_object().unwrap().keys().collect();
        assert_eq!(ids.len(), 10);
        assert!(js["sensors"].get("s-000").is_some());
        let (_, html) = get(router, "/", "localhost").await;
        assert!(html.contains("<td class=\"id\">s-249</td>"), "{html}");
        assert!(html.contains("50 of 250 sensors shown"), "{html}");
        assert!(html.contains("<svg class=\"spark\""));
        assert!(
            !html.contains("s-100<"),
            "only the 50 most recent are drawn"
        );
    }

    #[test]
    fn sparkline_scales_into_the_box() {
        let svg = sparkline(&[Some(1.0), Some(3.0), None, Some(2.0)]);
        assert!(
            svg.contains("points=\"0.0,22.0 40.0,2.0 120.0,12.0\""),
            "{svg}"
        );
        assert!(sparkline(&[]).ends_with("</svg>"));
    }
}
