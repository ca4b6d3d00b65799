//! The writer task: turns publishes into CSV rows (or rejects), flushes at the end of
//! each burst of available messages, and only then acknowledges them, so an acked
//! QoS 1 message is always on disk.

use std::io::Write as _;
use std::sync::Arc;

use rumqttc::{AsyncClient, Publish, QoS};
use tokio::sync::mpsc;

use crate::event::{parse_event, python_time_now, Row};
use crate::journal::{message_hash, Journal};
use crate::sink::{CsvSink, RejectSink, SinkError};
use crate::stats::Stats;

/// Most messages handled between two flushes.
const MAX_BATCH: usize = 512;

/// Publishes waiting between the MQTT task and the writer. With at most one batch of
/// acks in flight this stays far below the client's request capacity (4096), so the
/// writer never waits on an ack while the MQTT task waits on this channel.
pub const CHANNEL_CAPACITY: usize = 512;

/// The writer's state.
#[derive(Debug)]
pub struct Writer {
    /// CSV output.
    pub csv: CsvSink,
    /// Rejects output.
    pub rejects: RejectSink,
    /// Delivery journal.
    pub journal: Journal,
    /// Shared counters.
    pub stats: Arc<Stats>,
    /// Payload size limit.
    pub max_payload: usize,
    /// Print the console line per event.
    pub print_events: bool,
}

impl Writer {
    fn handle(&mut self, p: &Publish, console: &mut String) -> Result<(), SinkError> {
        Stats::bump(&self.stats.received);
        if p.retain {
            // A retained message is replayed on every fresh subscribe: an old reading,
            // not a new event.
            if Stats::get(&self.stats.retained_skipped) == 0 {
                tracing::info!(topic = %p.topic, "skipping retained (stale) message replayed by the broker");
            }
            Stats::bump(&self.stats.retained_skipped);
            return Ok(());
        }
        let hash = (p.qos != QoS::AtMostOnce).then(|| message_hash(&p.topic, &p.payload));
        if let (true, Some(h)) = (p.dup, hash) {
            if self.journal.seen(p.pkid, h) {
                Stats::bump(&self.stats.duplicates);
                tracing::debug!(pkid = p.pkid, "redelivery of a message already written; not writing it again");
                return Ok(());
            }
        }
        match parse_event(&p.payload, self.max_payload) {
            Ok(event) => {
                let ts = python_time_now();
                let row = Row::new(ts, &event);
                self.csv.write_row(&row)?;
                if self.print_events {
                    row.write_console_line(console);
                }
                self.stats.row_written(&event.sensor_id, row.value_repr(), ts);
            }
            Err(reject) => {
                self.rejects.write(reject.kind, &p.topic, &reject.detail, &p.payload)?;
                if self.stats.count_reject(reject.kind) {
                    tracing::warn!(
                        kind = %reject.kind,
                        topic = %p.topic,
                        detail = %reject.detail,
                        rejects_file = %self.rejects.path().display(),
                        "rejected a payload (kept verbatim in the rejects file; further rejects of this kind are logged at debug level)"
                    );
                } else {
                    tracing::debug!(kind = %reject.kind, detail = %reject.detail, "rejected a payload");
                }
            }
        }
        if let Some(h) = hash {
            self.journal.record(p.pkid, h);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        // Order matters: rows first, then the journal that says they were written.
        self.csv.flush()?;
        self.rejects.flush()?;
        self.journal.flush()
    }

    /// Runs until the channel closes, then flushes. Acks go out through `client`.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Publish>,
        client: AsyncClient,
    ) -> Result<(), SinkError> {
        let mut batch: Vec<Publish> = Vec::with_capacity(MAX_BATCH);
        let mut console = String::with_capacity(64 * 1024);
        let mut stdout_ok = true;
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            for p in &batch {
                self.handle(p, &mut console)?;
            }
            self.flush()?;
            if !console.is_empty() {
                if stdout_ok {
                    let mut out = std::io::stdout().lock();
                    if out.write_all(console.as_bytes()).and_then(|_| out.flush()).is_err() {
                        // A closed stdout must not stop the CSV.
                        stdout_ok = false;
                        tracing::warn!("stdout is closed; no more console lines");
                    }
                }
                console.clear();
            }
            for p in batch.drain(..) {
                if p.qos != QoS::AtMostOnce {
                    // Fails only when the MQTT task is gone (shutdown); the broker then
                    // redelivers with DUP set and the journal drops the duplicate.
                    let _ = client.ack(&p).await;
                }
            }
        }
        self.flush()
    }
}
