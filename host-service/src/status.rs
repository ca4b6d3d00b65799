//! The status page: `GET /` (HTML), `/status` (JSON), `/metrics` (Prometheus text),
//! `/healthz`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::event::RejectKind;
use crate::stats::{BrokerState, Stats};

/// Builds the router; tests can drive it without a socket.
pub fn app(stats: Arc<Stats>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(stats)
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

/// The `/status` document.
pub fn status_json(stats: &Stats) -> serde_json::Value {
    let broker = stats.broker_status();
    let rejects: serde_json::Map<String, serde_json::Value> = RejectKind::ALL
        .iter()
        .map(|k| {
            (
                k.as_str().to_owned(),
                json!(Stats::get(&stats.rejects[k.index()])),
            )
        })
        .collect();
    let sensors: serde_json::Map<String, serde_json::Value> = stats
        .sensors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(id, s)| {
            (
                id.clone(),
                json!({
                    "last_value": repr_to_json(&s.last_value),
                    "last_ts": s.last_ts,
                    "age_seconds": s.last_seen.elapsed().as_secs_f64(),
                    "rows": s.rows,
                }),
            )
        })
        .collect();
    json!({
        "uptime_seconds": stats.started.elapsed().as_secs_f64(),
        "broker": {
            "url": stats.broker_url,
            "state": broker.state.as_str(),
            "subscribed": broker.subscribed,
            "subscription": stats.subscription,
            "state_for_seconds": broker.since.elapsed().as_secs_f64(),
            "last_error": broker.last_error,
            "reconnects": Stats::get(&stats.reconnects),
        },
        "messages_received": Stats::get(&stats.received),
        "rows_written": Stats::get(&stats.rows_written),
        "rejects": stats.rejects_total(),
        "rejects_by_kind": rejects,
        "duplicates_dropped": Stats::get(&stats.duplicates),
        "retained_skipped": Stats::get(&stats.retained_skipped),
        "writer_backlog_max": Stats::get(&stats.backlog_max),
        "sensors": sensors,
        "csv": { "path": stats.csv_path, "size_bytes": csv_size(stats) },
        "rejects_file": stats.rejects_path,
    })
}

async fn status(State(stats): State<Arc<Stats>>) -> Json<serde_json::Value> {
    Json(status_json(&stats))
}

async fn healthz(State(stats): State<Arc<Stats>>) -> Response {
    // Alive is enough for a liveness probe; the body says whether the broker is there.
    let state = stats.broker_status().state;
    (StatusCode::OK, format!("ok broker={}\n", state.as_str())).into_response()
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
    let sensors = stats
        .sensors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    metric(
        "host_service_sensor_last_value",
        "gauge",
        "Last value per sensor.",
        sensors
            .iter()
            .filter_map(|(id, s)| {
                let v: f64 = s.last_value.parse().ok()?;
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
            .map(|(id, s)| {
                (
                    format!("{{sensor_id=\"{}\"}}", label(id)),
                    format!("{:.3}", s.last_seen.elapsed().as_secs_f64()),
                )
            })
            .collect(),
    );
    out
}

async fn metrics(State(stats): State<Arc<Stats>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics_text(&stats),
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn index(State(stats): State<Arc<Stats>>) -> Html<String> {
    let s = status_json(&stats);
    let broker = &s["broker"];
    let mut rows = String::new();
    if let Some(sensors) = s["sensors"].as_object() {
        for (id, v) in sensors {
            let _ = write!(
                rows,
                "<tr><td>{}</td><td>{}</td><td>{:.1} s</td><td>{}</td></tr>",
                html_escape(id),
                v["last_value"],
                v["age_seconds"].as_f64().unwrap_or(0.0),
                v["rows"]
            );
        }
    }
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>host-service</title>\
         <meta http-equiv=\"refresh\" content=\"5\">\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em 1em;text-align:left}}</style>\
         </head><body><h1>host-service</h1>\
         <p>Broker <code>{url}</code>: <b>{state}</b>{err} &middot; subscription <code>{sub}</code></p>\
         <p>Up {up:.0} s &middot; {recv} messages received &middot; {rows} rows written &middot; {rej} rejected</p>\
         <p>CSV <code>{csv}</code> ({size} bytes)</p>\
         <table><tr><th>sensor</th><th>last value</th><th>age</th><th>rows</th></tr>{rows_html}</table>\
         <p><a href=\"/status\">/status</a> &middot; <a href=\"/metrics\">/metrics</a> &middot; <a href=\"/healthz\">/healthz</a></p>\
         </body></html>",
        url = html_escape(broker["url"].as_str().unwrap_or("")),
        state = broker["state"].as_str().unwrap_or(""),
        err = broker["last_error"]
            .as_str()
            .filter(|_| broker["state"] != "connected")
            .map(|e| format!(" ({})", html_escape(e)))
            .unwrap_or_default(),
        sub = html_escape(broker["subscription"].as_str().unwrap_or("")),
        up = s["uptime_seconds"].as_f64().unwrap_or(0.0),
        recv = s["messages_received"],
        rows = s["rows_written"],
        rej = s["rejects"],
        csv = html_escape(&stats.csv_path.display().to_string()),
        size = s["csv"]["size_bytes"],
        rows_html = rows,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_escape_labels_and_count() {
        let stats = Stats::new(
            "mqtt://x:1".into(),
            "t".into(),
            "/nonexistent.csv".into(),
            "r".into(),
        );
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
        let js = status_json(&stats);
        assert_eq!(js["rejects"], 1);
        assert_eq!(js["sensors"]["a\"b"]["last_value"], 1.5);
    }
}
