//! Counters and state shared by the MQTT task, the writer and the status page.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::event::RejectKind;

/// The connection to the broker, as the status page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    /// Trying to connect (first attempt, or between retries).
    Connecting,
    /// Connected and subscribed.
    Connected,
    /// The last attempt failed or the connection was lost; retrying with backoff.
    Disconnected,
}

impl BrokerState {
    /// The state's name in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerState::Connecting => "connecting",
            BrokerState::Connected => "connected",
            BrokerState::Disconnected => "disconnected",
        }
    }
}

/// Broker connection details.
#[derive(Debug, Clone)]
pub struct BrokerStatus {
    /// Current state.
    pub state: BrokerState,
    /// When it entered this state.
    pub since: Instant,
    /// The last connection error, if any.
    pub last_error: Option<String>,
    /// Whether the broker confirmed the subscription (or kept it in the session).
    pub subscribed: bool,
}

/// The last reading of one sensor.
#[derive(Debug, Clone)]
pub struct SensorStat {
    /// The value's Python repr.
    pub last_value: String,
    /// The server timestamp of the last row.
    pub last_ts: f64,
    /// When it was written.
    pub last_seen: Instant,
    /// Rows written for this sensor since start.
    pub rows: u64,
}

/// Everything the status page reports.
#[derive(Debug)]
pub struct Stats {
    /// Process start.
    pub started: Instant,
    /// Broker address shown on the page.
    pub broker_url: String,
    /// The topic filter subscribed to (with `$share/...` if any).
    pub subscription: String,
    /// The CSV file.
    pub csv_path: PathBuf,
    /// The rejects file.
    pub rejects_path: PathBuf,
    /// Publishes received from the broker.
    pub received: AtomicU64,
    /// Rows written to the CSV.
    pub rows_written: AtomicU64,
    /// Redeliveries recognised and not written again.
    pub duplicates: AtomicU64,
    /// Retained messages replayed by the broker on subscribe (stale; not written).
    pub retained_skipped: AtomicU64,
    /// Successful connections after the first.
    pub reconnects: AtomicU64,
    /// Most publishes ever waiting for the writer at once.
    pub backlog_max: AtomicU64,
    /// Rejects by kind, indexed by [`RejectKind::index`].
    pub rejects: [AtomicU64; RejectKind::ALL.len()],
    /// Broker connection state.
    pub broker: Mutex<BrokerStatus>,
    /// Per-sensor last values.
    pub sensors: Mutex<BTreeMap<String, SensorStat>>,
}

impl Stats {
    /// Fresh counters.
    pub fn new(
        broker_url: String,
        subscription: String,
        csv_path: PathBuf,
        rejects_path: PathBuf,
    ) -> Self {
        let now = Instant::now();
        Stats {
            started: now,
            broker_url,
            subscription,
            csv_path,
            rejects_path,
            received: AtomicU64::new(0),
            rows_written: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            retained_skipped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            backlog_max: AtomicU64::new(0),
            rejects: Default::default(),
            broker: Mutex::new(BrokerStatus {
                state: BrokerState::Connecting,
                since: now,
                last_error: None,
                subscribed: false,
            }),
            sensors: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts a reject; returns true if it is the first of its kind (to log it loudly).
    pub fn count_reject(&self, kind: RejectKind) -> bool {
        self.rejects[kind.index()].fetch_add(1, Ordering::Relaxed) == 0
    }

    /// All rejects.
    pub fn rejects_total(&self) -> u64 {
        self.rejects.iter().map(Stats::get).sum()
    }

    /// Moves the broker state (keeps `since` when the state doesn't change).
    pub fn set_broker(&self, state: BrokerState, error: Option<String>) {
        let mut b = self.broker.lock().unwrap_or_else(|p| p.into_inner());
        if b.state != state {
            b.state = state;
            b.since = Instant::now();
        }
        if state != BrokerState::Connected {
            b.subscribed = false;
        }
        if error.is_some() {
            b.last_error = error;
        }
    }

    /// Marks the subscription as active.
    pub fn set_subscribed(&self, subscribed: bool) {
        self.broker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .subscribed = subscribed;
    }

    /// A copy of the broker status.
    pub fn broker_status(&self) -> BrokerStatus {
        self.broker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records a written row.
    pub fn row_written(&self, sensor_id: &str, value_repr: &str, ts: f64) {
        Stats::bump(&self.rows_written);
        let mut sensors = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match sensors.get_mut(sensor_id) {
            Some(s) => {
                s.last_value.clear();
                s.last_value.push_str(value_repr);
                s.last_ts = ts;
                s.last_seen = now;
                s.rows += 1;
            }
            None => {
                sensors.insert(
                    sensor_id.to_owned(),
                    SensorStat {
                        last_value: value_repr.to_owned(),
                        last_ts: ts,
                        last_seen: now,
                        rows: 1,
                    },
                );
            }
        }
    }
}
