//! The writer task: turns publishes into CSV rows (or rejects), flushes at the end of
//! each burst of available messages, and only then acknowledges them, so an acked
//! QoS 1 message is always on disk.

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::Arc;

use rumqttc::{AsyncClient, Publish, QoS};
use tokio::sync::mpsc;

use crate::event::{parse_event, python_time_now, Reject, RejectKind, Row};
use crate::journal::{message_hash, Journal};
use crate::sink::{CsvSink, RejectSink, SinkError, TailFix};
use crate::stats::Stats;

/// Most messages handled between two flushes.
const MAX_BATCH: usize = 1024;

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
    /// Recognises payloads the guard cut short.
    pub truncation: crate::guard::Truncation,
    /// The configured topic filter (without `$share/GROUP/`): a message on a topic it
    /// does not match comes from a subscription an earlier configuration left in the
    /// broker's session, and is rejected as `off-topic` instead of written.
    pub topic_filter: String,
}

impl Writer {
    fn handle(&mut self, p: &Publish, console: &mut String) -> Result<(), SinkError> {
        Stats::bump(&self.stats.received);
        if p.retain {
            // A retained message is replayed on every fresh subscribe: an old reading,
            // not a new event.
            if Stats::get(&self.stats.retained_skipped) == 0 {
                tracing::info!(topic = ?p.topic, "skipping retained (stale) message replayed by the broker");
            }
            Stats::bump(&self.stats.retained_skipped);
            return Ok(());
        }
        let hash = (p.qos != QoS::AtMostOnce).then(|| message_hash(&p.topic, &p.payload));
        if let (true, Some(h)) = (p.dup, hash) {
            if self.journal.seen(p.pkid, h) {
                Stats::bump(&self.stats.duplicates);
                tracing::debug!(
                    pkid = p.pkid,
                    "redelivery of a message already written; not writing it again"
                );
                return Ok(());
            }
        }
        let off_topic = !crate::session::topic_matches(&self.topic_filter, &p.topic);
        let parsed = match self.truncation.split(&p.payload) {
            cut if off_topic => {
                let (size, kept) = cut.unwrap_or((p.payload.len() as u64, &p.payload[..]));
                Err((
                    Reject {
                        kind: RejectKind::OffTopic,
                        detail: format!(
                            "the topic does not match the configured filter {:?} (a subscription \
                             an earlier configuration left in the broker's session)",
                            self.topic_filter
                        ),
                    },
                    kept,
                    size,
                ))
            }
            Some((size, first)) => Err((
                Reject {
                    kind: RejectKind::TooLarge,
                    detail: format!(
                        "{size} bytes, limit {}; the first {} bytes are kept",
                        self.max_payload,
                        first.len()
                    ),
                },
                first,
                size,
            )),
            None => parse_event(&p.payload, self.max_payload).map_err(|r| {
                let kept = if r.kind == RejectKind::TooLarge {
                    &p.payload[..p.payload.len().min(crate::guard::KEEP)]
                } else {
                    &p.payload[..]
                };
                (r, kept, p.payload.len() as u64)
            }),
        };
        match parsed {
            Ok(event) => {
                let ts = python_time_now();
                let row = Row::new(ts, &event);
                self.csv.write_row(&row)?;
                if self.print_events {
                    row.write_console_line(console);
                }
                self.stats
                    .row_written(&event.sensor_id, row.value_repr(), ts);
            }
            Err((reject, kept, size)) => {
                self.rejects
                    .write(reject.kind, &p.topic, &reject.detail, kept, size)?;
                if self.stats.count_reject(reject.kind) {
                    tracing::warn!(
                        kind = %reject.kind,
                        topic = ?p.topic,
                        detail = ?reject.detail,
                        rejects_file = %self.rejects.path().display(),
                        "rejected a payload (kept verbatim in the rejects file; further rejects of this kind are logged at debug level)"
                    );
                } else {
                    tracing::debug!(kind = %reject.kind, topic = ?p.topic, detail = ?reject.detail, "rejected a payload");
                }
            }
        }
        if let Some(h) = hash {
            self.journal.record(p.pkid, h);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        // Order matters: rows first, then the journal that says they were written. The
        // CSV's flush also checks the rows went to the file its path names (not a
        // deleted or rotated one) before anything is acknowledged.
        self.csv.flush()?;
        self.rejects.flush()?;
        self.journal.flush()
    }

    /// Opens the CSV and the rejects file again (SIGHUP, for logrotate).
    fn reopen(&mut self) -> Result<(), SinkError> {
        self.flush()?;
        let fix = self.csv.reopen()?;
        self.rejects.reopen()?;
        tracing::info!(
            csv = %self.csv.path().display(),
            rejects_file = %self.rejects.path().display(),
            "SIGHUP: reopened the CSV and the rejects file"
        );
        let path = self.csv.path().to_owned();
        report_tail_fix(fix, &path, &mut self.rejects, &self.stats)
    }

    /// Runs until the channel closes, then flushes. Acks go out through `client`
    /// without ever waiting on it while publishes are waiting (see [`Backlog`]).
    pub async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Publish>,
        client: AsyncClient,
        backlog: Arc<Backlog>,
        reopen: Arc<tokio::sync::Notify>,
    ) -> Result<(), SinkError> {
        let mut batch: Vec<Publish> = Vec::with_capacity(MAX_BATCH);
        let mut console = String::with_capacity(64 * 1024);
        let mut stdout_ok = true;
        // (QoS, packet id) of rows on disk whose ack didn't fit in the client's queue yet.
        let mut acks: VecDeque<(QoS, u16)> = VecDeque::new();
        loop {
            while let Some(&(qos, pkid)) = acks.front() {
                if client.try_ack(&ack_for(qos, pkid)).is_err() {
                    break;
                }
                acks.pop_front();
            }
            let first = if let Some(&(qos, pkid)) = acks.front() {
                // Wait for room for the next ack, or for new work, whichever comes first.
                let next = ack_for(qos, pkid);
                tokio::select! {
                    r = client.ack(&next) => {
                        match r {
                            Ok(()) => { acks.pop_front(); }
                            // The MQTT task is gone: the broker redelivers (DUP) later and
                            // the journal drops the duplicates.
                            Err(_) => acks.clear(),
                        }
                        continue;
                    }
                    _ = reopen.notified() => {
                        self.reopen()?;
                        continue;
                    }
                    m = rx.recv() => m,
                }
            } else {
                tokio::select! {
                    _ = reopen.notified() => {
                        self.reopen()?;
                        continue;
                    }
                    m = rx.recv() => m,
                }
            };
            let Some(first) = first else { break };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let waiting = (rx.len() + batch.len()) as u64;
            self.stats
                .backlog_max
                .fetch_max(waiting, std::sync::atomic::Ordering::Relaxed);
            for p in &batch {
                self.handle(p, &mut console)?;
            }
            self.flush()?;
            if !console.is_empty() {
                if stdout_ok {
                    let mut out = std::io::stdout().lock();
                    if out
                        .write_all(console.as_bytes())
                        .and_then(|_| out.flush())
                        .is_err()
                    {
                        // A closed stdout must not stop the CSV.
                        stdout_ok = false;
                        tracing::warn!("stdout is closed; no more console lines");
                    }
                }
                console.clear();
            }
            // Rows are on disk: now they may be acknowledged.
            acks.extend(
                batch
                    .iter()
                    .filter(|p| p.qos != QoS::AtMostOnce)
                    .map(|p| (p.qos, p.pkid)),
            );
            backlog.done(batch.len());
            batch.clear();
        }
        self.flush()?;
        for (qos, pkid) in acks {
            if client.ack(&ack_for(qos, pkid)).await.is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// A stand-in publish carrying what an ack needs (QoS and packet id).
fn ack_for(qos: QoS, pkid: u16) -> Publish {
    let mut p = Publish::new("", qos, Vec::new());
    p.pkid = pkid;
    p
}

/// How many publishes the MQTT task handed over that the writer hasn't finished.
///
/// The MQTT task stops polling the socket above [`Backlog::HIGH`] (TCP then pushes back
/// on the broker) and resumes below [`Backlog::LOW`]. This bounds memory even when a
/// broker pours a long session backlog on us without waiting for acks (mosquitto did),
/// and it can't deadlock: the writer never waits on the MQTT task while it has work.
#[derive(Debug, Default)]
pub struct Backlog {
    n: std::sync::atomic::AtomicUsize,
    notify: tokio::sync::Notify,
}

impl Backlog {
    /// Pause reading at this many waiting publishes...
    pub const HIGH: usize = 16384;
    /// ...and resume below this many.
    pub const LOW: usize = 4096;

    /// One more publish handed to the writer.
    pub fn add(&self) {
        self.n.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// `k` publishes finished.
    pub fn done(&self, k: usize) {
        let before = self.n.fetch_sub(k, std::sync::atomic::Ordering::AcqRel);
        if before - k < Self::LOW {
            self.notify.notify_waiters();
        }
    }

    /// True when the MQTT task should pause.
    pub fn is_high(&self) -> bool {
        self.n.load(std::sync::atomic::Ordering::Acquire) >= Self::HIGH
    }

    /// Waits until the backlog is below [`Backlog::LOW`].
    pub async fn wait_low(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.n.load(std::sync::atomic::Ordering::Acquire) < Self::LOW {
                return;
            }
            notified.await;
        }
    }
}

/// Logs how the end of the CSV was repaired; a torn row goes to the rejects file.
pub fn report_tail_fix(
    fix: Option<TailFix>,
    csv: &std::path::Path,
    rejects: &mut RejectSink,
    stats: &Stats,
) -> Result<(), SinkError> {
    match fix {
        None => {}
        Some(TailFix::NewlineAdded) => tracing::warn!(
            csv = %csv.display(),
            "the CSV's last row had no line end; added one"
        ),
        Some(TailFix::Torn(fragment)) => {
            tracing::warn!(
                csv = %csv.display(),
                bytes = fragment.len(),
                rejects_file = %rejects.path().display(),
                "the CSV ended in a partial row (killed mid-write?); moved it to the rejects file"
            );
            rejects.write(
                RejectKind::TornRow,
                "",
                "partial last line of the CSV",
                &fragment,
                fragment.len() as u64,
            )?;
            rejects.flush()?;
            stats.count_reject(RejectKind::TornRow);
        }
    }
    Ok(())
}
