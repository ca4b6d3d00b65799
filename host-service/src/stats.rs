//! Counters and state shared by the MQTT task, the writer and the status page.

use std::collections::{BTreeMap, HashMap, VecDeque};
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
    /// What the broker answered to this connection's SUBSCRIBE.
    pub subscription: SubscriptionState,
}

/// The subscription on the current connection, as the broker acknowledged it (SUBACK).
/// It is sent again on every connection, whatever the broker says about a saved session,
/// so a changed topic, an added share group or a session saved without a subscription
/// never leaves the service deaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionState {
    /// Not connected, or the SUBSCRIBE is not sent yet.
    None,
    /// SUBSCRIBE sent, no SUBACK yet.
    Pending,
    /// The broker granted this QoS (it may be lower than requested).
    Granted(u8),
    /// The broker refused the filter (SUBACK failure code 0x80).
    Refused,
}

impl SubscriptionState {
    /// The state's name in JSON, metrics and `/healthz`.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::None => "none",
            SubscriptionState::Pending => "pending",
            SubscriptionState::Granted(_) => "granted",
            SubscriptionState::Refused => "refused",
        }
    }

    /// The granted QoS, if granted.
    pub fn granted_qos(self) -> Option<u8> {
        match self {
            SubscriptionState::Granted(q) => Some(q),
            _ => None,
        }
    }
}

/// How many recent readings each sensor keeps for the status page's sparkline.
pub const SPARK_POINTS: usize = 60;

/// The last readings of one sensor.
#[derive(Debug, Clone)]
pub struct SensorStat {
    /// The value's Python repr.
    pub last_value: String,
    /// The server timestamp of the last row.
    pub last_ts: f64,
    /// When it was written.
    pub last_seen: Instant,
    /// Rows written for this sensor since start (or since it was last evicted).
    pub rows: u64,
    /// The last [`SPARK_POINTS`] values (as floats), oldest first.
    pub recent: VecDeque<f64>,
    /// Position in the least-recently-seen order.
    seq: u64,
}

/// Per-sensor state, capped: when a new sensor id arrives and the table is full, the
/// sensor seen least recently is evicted (and counted). 100,000 distinct ids cost no
/// more memory than `cap` of them.
#[derive(Debug)]
pub struct SensorTable {
    map: HashMap<String, SensorStat>,
    /// seq -> id, oldest first.
    order: BTreeMap<u64, String>,
    next_seq: u64,
    cap: usize,
    evicted: u64,
}

impl SensorTable {
    /// An empty table holding at most `cap` sensors.
    pub fn new(cap: usize) -> Self {
        SensorTable {
            map: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            cap: cap.max(1),
            evicted: 0,
        }
    }

    /// Records a row for `id`.
    pub fn record(&mut self, id: &str, value_repr: &str, ts: f64, now: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let value = value_repr.parse::<f64>().unwrap_or(f64::NAN);
        if let Some(s) = self.map.get_mut(id) {
            let id_owned = self.order.remove(&s.seq).unwrap_or_else(|| id.to_owned());
            self.order.insert(seq, id_owned);
            s.seq = seq;
            s.last_value.clear();
            s.last_value.push_str(value_repr);
            s.last_ts = ts;
            s.last_seen = now;
            s.rows += 1;
            if s.recent.len() == SPARK_POINTS {
                s.recent.pop_front();
            }
            s.recent.push_back(value);
            return;
        }
        while self.map.len() >= self.cap {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&old);
            self.evicted += 1;
        }
        self.order.insert(seq, id.to_owned());
        let mut recent = VecDeque::with_capacity(SPARK_POINTS);
        recent.push_back(value);
        self.map.insert(
            id.to_owned(),
            SensorStat {
                last_value: value_repr.to_owned(),
                last_ts: ts,
                last_seen: now,
                rows: 1,
                recent,
                seq,
            },
        );
    }

    /// Sensors held now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no sensor has been seen.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The most sensors held.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Sensors evicted to make room for new ones.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Up to `limit` sensors, most recently seen first, after skipping `offset`.
    pub fn most_recent(&self, offset: usize, limit: usize) -> Vec<(&str, &SensorStat)> {
        self.order
            .values()
            .rev()
            .skip(offset)
            .take(limit)
            .filter_map(|id| self.map.get(id).map(|s| (id.as_str(), s)))
            .collect()
    }

    /// One sensor.
    pub fn get(&self, id: &str) -> Option<&SensorStat> {
        self.map.get(id)
    }
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
    /// The QoS asked for in the SUBSCRIBE.
    pub requested_qos: u8,
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
    /// Filters of an earlier configuration the broker's session may still hold, while
    /// their UNSUBSCRIBE is not acknowledged.
    pub stale_filters: Mutex<Vec<String>>,
    /// Per-sensor last values, capped.
    pub sensors: Mutex<SensorTable>,
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
            requested_qos: 1,
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
                subscription: SubscriptionState::None,
            }),
            stale_filters: Mutex::new(Vec::new()),
            sensors: Mutex::new(SensorTable::new(DEFAULT_MAX_SENSORS)),
        }
    }

    /// Caps the per-sensor table at `cap` sensors (call before any row is recorded).
    pub fn set_max_sensors(&mut self, cap: usize) {
        *self.sensors.get_mut().unwrap_or_else(|p| p.into_inner()) = SensorTable::new(cap);
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
            b.subscription = SubscriptionState::None;
        }
        if error.is_some() {
            b.last_error = error;
        }
    }

    /// Records the subscription's state on the current connection.
    pub fn set_subscription(&self, state: SubscriptionState) {
        self.broker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .subscription = state;
    }

    /// Records the filters being unsubscribed (empty when the session holds no others).
    pub fn set_stale_filters(&self, filters: Vec<String>) {
        *self.stale_filters.lock().unwrap_or_else(|p| p.into_inner()) = filters;
    }

    /// A copy of the stale filters.
    pub fn stale_filters(&self) -> Vec<String> {
        self.stale_filters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
        self.sensors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(sensor_id, value_repr, ts, Instant::now());
    }
}

/// Sensors remembered for the status page unless `--max-sensors` says otherwise.
pub const DEFAULT_MAX_SENSORS: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_table_evicts_the_least_recently_seen() {
        let mut t = SensorTable::new(3);
        let now = Instant::now();
        for id in ["a", "b", "c"] {
            t.record(id, "1", 0.0, now);
        }
        t.record("a", "2", 1.0, now); // a is now the most recent; b the oldest
        t.record("d", "3", 2.0, now);
        assert_eq!(t.len(), 3);
        assert_eq!(t.evicted(), 1);
        assert!(t.get("b").is_none());
        let ids: Vec<&str> = t.most_recent(0, 10).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["d", "a", "c"]);
        assert_eq!(t.get("a").unwrap().recent, [1.0, 2.0]);
        for i in 0..100_000 {
            t.record(&format!("id-{i}"), "1.5", 0.0, now);
        }
        assert_eq!((t.len(), t.evicted()), (3, 100_001));
    }
}
