//! host-service: subscribes to sensor events on an MQTT topic and appends them to a CSV
//! file in exactly the format of the tutorial's `server.py`, with a status page, a
//! rejects file for bad payloads and at-least-once delivery turned into exactly-once
//! rows (manual acks after the flush, plus a delivery journal for redeliveries).
//!
//! Modules: [`cli`] (options and checked config), [`event`] and [`pyrepr`] (parsing and
//! Python-compatible formatting), [`sink`] (CSV and rejects files), [`journal`]
//! (redelivery detection), [`writer`] and [`mqtt`] (the two tasks), [`status`] (axum),
//! [`broker`] (the embedded broker).
#![deny(missing_docs)]

pub mod broker;
pub mod cli;
pub mod event;
pub mod guard;
pub mod journal;
pub mod logsafe;
pub mod mqtt;
pub mod pyrepr;
pub mod session;
pub mod sink;
pub mod stats;
pub mod status;
pub mod writer;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::cli::Config;
use crate::stats::Stats;

/// Errors that stop the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CSV, rejects or journal file can't be opened or written.
    #[error(transparent)]
    Sink(#[from] sink::SinkError),
    /// The embedded broker can't start.
    #[error(transparent)]
    Broker(#[from] broker::BrokerError),
    /// The MQTT client's relay can't start (TLS settings, socket).
    #[error(transparent)]
    Guard(#[from] guard::GuardError),
    /// The status page can't listen.
    #[error("status page cannot listen on {addr}: {source}")]
    Status {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A task panicked.
    #[error("internal error: {0}")]
    Task(String),
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// Runs the service until Ctrl-C/SIGTERM (Ok) or a fatal error.
pub async fn run(mut config: Config) -> Result<(), Error> {
    // Files first: a CSV we can't write must stop us before we subscribe (and ack).
    let (csv, torn) = sink::CsvSink::open(&config.csv_path)?;
    let mut rejects = sink::RejectSink::open(&config.rejects_path)?;
    let journal = journal::Journal::open(&config.journal_path)?;
    let subscribed = session::SubscribedFilters::open(&config.subscriptions_path)?;
    let mut stats = Stats::new(
        config.broker_url.clone(),
        config.subscription.clone(),
        config.csv_path.clone(),
        config.rejects_path.clone(),
    );
    stats.requested_qos = config.qos as u8;
    stats.set_max_sensors(config.max_sensors);
    let stats = Arc::new(stats);
    writer::report_tail_fix(torn, &config.csv_path, &mut rejects, &stats)?;

    let listener = tokio::net::TcpListener::bind(config.status_addr)
        .await
        .map_err(|source| Error::Status {
            addr: config.status_addr,
            source,
        })?;
    let status_addr = listener.local_addr().map_err(|source| Error::Status {
        addr: config.status_addr,
        source,
    })?;
    tracing::info!("status page on http://{status_addr}/ (JSON at /status)");

    // One marker for payloads cut short, by the embedded broker's front end (devices'
    // PUBLISHes over its limit) and by the guard (the broker's, over --max-payload).
    let truncation = guard::Truncation::new();
    if let Some(addr) = config.embedded_broker {
        let broker = broker::start(
            addr,
            config.credentials.as_ref(),
            config.embedded_broker_tls.as_ref(),
            truncation.clone(),
        )
        .await?;
        let lan = !broker.addr.ip().is_loopback();
        if lan && config.credentials.is_none() {
            tracing::warn!(
                addr = %broker.addr,
                "the embedded broker accepts anonymous clients from the network (--allow-anonymous): \
                 anyone who can reach this port can publish into the CSV and read every event"
            );
        } else if lan && config.embedded_broker_tls.is_none() {
            tracing::warn!(
                addr = %broker.addr,
                "the embedded broker listens on the network without TLS: passwords and events \
                 travel in clear text (--embedded-broker-cert/--embedded-broker-key turn TLS on)"
            );
        }
        // The service talks to rumqttd directly; clients go through the front end.
        config.host = broker.internal.ip().to_string();
        config.port = broker.internal.port();
    }
    let config = Arc::new(config);

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let guard = guard::start(&config, truncation)?;
    let (client, eventloop) = mqtt::client(&config, &guard);
    // Unbounded on purpose: the MQTT task must never wait on the writer, because the
    // writer's acks only leave when the event loop is polled (a bounded channel here
    // deadlocks: writer waiting to queue acks, MQTT task waiting to queue publishes).
    // Memory is bounded by `Backlog` instead: the MQTT task stops reading when the
    // writer is behind.
    let (tx, rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = oneshot::channel();
    let writer = writer::Writer {
        csv,
        rejects,
        journal,
        stats: stats.clone(),
        max_payload: config.max_payload,
        print_events: config.print_events,
        truncation: guard.truncation.clone(),
        topic_filter: config.topic_filter.clone(),
    };
    let writer_client = client.clone();
    // SIGHUP (logrotate): the writer opens the CSV and the rejects file again.
    let reopen = Arc::new(tokio::sync::Notify::new());
    #[cfg(unix)]
    {
        let reopen = reopen.clone();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    reopen.notify_one();
                }
            });
        }
    }
    let backlog = Arc::new(writer::Backlog::default());
    let writer_backlog = backlog.clone();
    let writer_task = tokio::spawn(async move {
        let res = writer.run(rx, writer_client, writer_backlog, reopen).await;
        let _ = done_tx.send(());
        res
    });
    let mqtt_task = tokio::spawn(mqtt::run(
        config.clone(),
        guard.clone(),
        (client, eventloop),
        stats.clone(),
        subscribed,
        mqtt::WriterLink {
            tx,
            backlog,
            done: done_rx,
        },
        shutdown_rx.clone(),
    ));
    let stats_for_log = stats.clone();
    let status_config = status::StatusConfig {
        allowed_hosts: config.allowed_hosts.clone(),
        stale_after: config.stale_after,
    };
    let mut status_shutdown = shutdown_rx.clone();
    let status_task = tokio::spawn(async move {
        status::serve(listener, status::app(stats, status_config), async move {
            let _ = status_shutdown.changed().await;
        })
        .await;
    });

    tracing::info!(
        topic = %config.subscription,
        csv = %config.csv_path.display(),
        broker = %config.broker_url,
        client_id = %config.client_id,
        "host-service started"
    );
    let mut writer_task = writer_task;
    let writer_result = tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutting down: flushing");
            None
        }
        res = &mut writer_task => Some(res),
    };
    let _ = shutdown_tx.send(true);
    let writer_result = match writer_result {
        Some(r) => r,
        None => writer_task.await,
    };
    // A panicked task must not end in exit 0 (a supervisor would not restart us): the
    // MQTT task's end closes the writer's channel, which then stops as if shut down.
    let mqtt_result = mqtt_task.await;
    let status_result = status_task.await;
    tracing::debug!(
        writer_backlog_max = Stats::get(&stats_for_log.backlog_max),
        "stopped"
    );
    match (writer_result, mqtt_result, status_result) {
        (Ok(Err(e)), _, _) => Err(e.into()),
        (Err(e), _, _) => Err(Error::Task(format!("the writer: {e}"))),
        (_, Err(e), _) => Err(Error::Task(format!("the MQTT task: {e}"))),
        (_, _, Err(e)) => Err(Error::Task(format!("the status page: {e}"))),
        (Ok(Ok(())), Ok(()), Ok(())) => Ok(()),
    }
}
