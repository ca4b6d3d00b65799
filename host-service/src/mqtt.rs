//! The MQTT task: owns the rumqttc event loop, reconnects with backoff, subscribes on
//! every connection, and hands publishes to the writer.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, Incoming, MqttOptions,
    Outgoing, Publish, SubscribeReasonCode, Transport,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::cli::Config;
use crate::guard::Guard;
use crate::session::{topic_matches, unsubscribable_topic, SubscribedFilters};
use crate::stats::{BrokerState, Stats, SubscriptionState};
use crate::writer::Backlog;

/// Builds the client and its event loop from the config. The client reaches the broker
/// through the payload guard ([`crate::guard`]), which also does the TLS, so its packet
/// limit is `--max-payload` plus the PUBLISH header.
pub fn client(config: &Config, guard: &Guard) -> (AsyncClient, EventLoop) {
    let mut opts = MqttOptions::new(config.client_id.clone(), guard.socket_name.clone(), 0);
    opts.set_transport(Transport::Unix)
        .set_clean_session(config.clean_session)
        .set_manual_acks(true)
        .set_keep_alive(config.keep_alive)
        .set_max_packet_size(
            crate::guard::client_packet_limit(config.max_payload),
            64 * 1024,
        );
    if let Some((user, pass)) = &config.credentials {
        opts.set_credentials(user.clone(), pass.clone());
    }
    // Room for a full batch of acks without making the writer wait.
    AsyncClient::new(opts, 4096)
}

fn describe(e: &ConnectionError, guard: &Guard) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker refused the connection: {}", refusal(*code))
        }
        // The guard saw why the broker couldn't be reached; rumqttc only saw it hang up.
        other => guard.take_error().unwrap_or_else(|| other.to_string()),
    }
}

/// CONNACK return codes in words (MQTT 3.1.1 §3.2.2.3).
fn refusal(code: ConnectReturnCode) -> &'static str {
    match code {
        ConnectReturnCode::BadUserNamePassword => "bad user name or password",
        ConnectReturnCode::NotAuthorized => "not authorized",
        ConnectReturnCode::BadClientId => "client id rejected",
        ConnectReturnCode::ServiceUnavailable => "server unavailable",
        ConnectReturnCode::RefusedProtocolVersion => "unsupported protocol version",
        ConnectReturnCode::Success => "success",
    }
}

/// The MQTT task's side of the writer.
#[derive(Debug)]
pub struct WriterLink {
    /// Publishes to write.
    pub tx: mpsc::UnboundedSender<Publish>,
    /// How far behind the writer is.
    pub backlog: Arc<Backlog>,
    /// Fires when the writer has finished (after shutdown).
    pub done: oneshot::Receiver<()>,
}

/// Runs the event loop until `shutdown` flips, then waits for the writer to finish
/// (still polling so its acks go out) and disconnects.
pub async fn run(
    config: Arc<Config>,
    guard: Arc<Guard>,
    (client, mut eventloop): (AsyncClient, EventLoop),
    stats: Arc<Stats>,
    mut subscribed: SubscribedFilters,
    writer: WriterLink,
    mut shutdown: watch::Receiver<bool>,
) {
    let WriterLink {
        tx,
        backlog,
        done: writer_done,
    } = writer;
    let initial_backoff = Duration::from_millis(100);
    let mut backoff = initial_backoff;
    let mut connected_once = false;
    let mut tx = Some(tx);
    // UNSUBSCRIBEs queued on this connection and UNSUBACKs received.
    let (mut unsub_sent, mut unsub_acked) = (0usize, 0usize);
    // Topics unsubscribed because an off-topic message arrived on them (bounded).
    let mut off_topics: std::collections::HashSet<String> = Default::default();
    loop {
        if backlog.is_high() {
            // The writer is behind: stop reading so TCP pushes back on the broker.
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = backlog.wait_low() => {}
            }
        }
        let event = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            ev = eventloop.poll() => ev,
        };
        match event {
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                if !topic_matches(&config.topic_filter, &p.topic)
                    && unsubscribable_topic(&p.topic)
                    && off_topics.len() < SubscribedFilters::MAX
                    && !off_topics.contains(p.topic.as_str())
                {
                    // A subscription this service doesn't know about (left by a version
                    // that kept no FILE.subscriptions, or by hand): stop it at the source
                    // if it was the plain topic. The writer keeps the message as off-topic.
                    tracing::warn!(
                        topic = ?p.topic,
                        filter = ?config.topic_filter,
                        "a message on a topic the configured filter does not match: the \
                         broker's session under this client id holds another subscription; \
                         unsubscribing the topic (its messages go to the rejects file as off-topic)"
                    );
                    if client.try_unsubscribe(p.topic.clone()).is_ok() {
                        unsub_sent += 1;
                        off_topics.insert(p.topic.clone());
                    }
                }
                if let Some(tx) = &tx {
                    backlog.add();
                    if tx.send(p).is_err() {
                        // The writer died (its error is reported by main); stop reading.
                        break;
                    }
                }
            }
            Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                backoff = initial_backoff;
                if connected_once {
                    Stats::bump(&stats.reconnects);
                }
                connected_once = true;
                stats.set_broker(BrokerState::Connected, None);
                tracing::info!(
                    broker = %stats.broker_url,
                    session_present = ack.session_present,
                    "connected to the broker"
                );
                // Subscribe on every connection, session or not: the saved session may
                // hold another topic, no share group or no subscription at all, and only
                // the SUBACK tells what the broker will send us. A retained message the
                // broker replays for it is skipped by the writer.
                stats.set_subscription(SubscriptionState::Pending);
                // Filters an earlier configuration subscribed under this client id stay
                // in a saved session: unsubscribe them (remembered until acknowledged).
                let stale = if ack.session_present {
                    subscribed.stale(&config.subscription)
                } else {
                    Vec::new()
                };
                let remember = stale.iter().cloned().chain([config.subscription.clone()]);
                if let Err(e) = subscribed.set(remember) {
                    tracing::warn!(
                        file = %subscribed.path().display(),
                        error = %e,
                        "cannot record the subscribed filter (a later change of topic under \
                         this client id is then noticed only when its messages arrive)"
                    );
                }
                if !stale.is_empty() {
                    tracing::info!(filters = ?stale, "unsubscribing filters no longer configured (left in the broker's session by an earlier configuration)");
                }
                (unsub_sent, unsub_acked) = (stale.len(), 0);
                off_topics.clear();
                stats.set_stale_filters(stale.clone());
                let client = client.clone();
                let filter = config.subscription.clone();
                let qos = config.qos;
                tokio::spawn(async move {
                    if let Err(e) = client.subscribe(filter, qos).await {
                        tracing::error!(error = %e, "cannot queue the subscription");
                    }
                    for f in stale {
                        if let Err(e) = client.unsubscribe(f).await {
                            tracing::error!(error = %e, "cannot queue an unsubscription");
                        }
                    }
                });
            }
            Ok(Event::Incoming(Incoming::UnsubAck(_))) => {
                unsub_acked += 1;
                if unsub_acked == unsub_sent {
                    tracing::info!("the broker's session holds only the configured filter now");
                    stats.set_stale_filters(Vec::new());
                    if let Err(e) = subscribed.set([config.subscription.clone()]) {
                        tracing::warn!(file = %subscribed.path().display(), error = %e, "cannot record the subscribed filter");
                    }
                }
            }
            Ok(Event::Incoming(Incoming::SubAck(ack))) => match ack.return_codes.first() {
                Some(SubscribeReasonCode::Success(q)) => {
                    let granted = *q as u8;
                    tracing::info!(filter = ?config.subscription, granted_qos = granted, "subscribed");
                    if granted < config.qos as u8 {
                        tracing::warn!(
                            filter = ?config.subscription,
                            requested_qos = config.qos as u8,
                            granted_qos = granted,
                            "the broker granted a lower QoS than asked for"
                        );
                    }
                    stats.set_subscription(SubscriptionState::Granted(granted));
                }
                _ => {
                    tracing::error!(filter = ?config.subscription, "the broker refused the subscription");
                    stats.set_broker(
                        BrokerState::Connected,
                        Some(format!("subscription to {} refused", config.subscription)),
                    );
                    stats.set_subscription(SubscriptionState::Refused);
                }
            },
            Ok(_) => {}
            Err(e) => {
                let msg = describe(&e, &guard);
                let was = stats.broker_status().state;
                let refused = matches!(e, ConnectionError::ConnectionRefused(_));
                if was == BrokerState::Connected {
                    tracing::warn!(error = %msg, "lost the broker; reconnecting");
                } else if refused && backoff == initial_backoff {
                    tracing::error!(error = %msg, broker = %stats.broker_url, "the broker refused the connection (check --username/--password and --client-id); retrying with backoff");
                } else if backoff == initial_backoff {
                    tracing::warn!(error = %msg, broker = %stats.broker_url, "cannot reach the broker; retrying with backoff");
                } else {
                    tracing::debug!(error = %msg, retry_in = ?backoff, "still cannot reach the broker");
                }
                stats.set_broker(BrokerState::Disconnected, Some(msg));
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(config.max_backoff);
                stats.set_broker(BrokerState::Connecting, None);
            }
        }
    }
    // Shutdown: let the writer drain what it has, keep polling so its acks are sent.
    drop(tx.take());
    let connected = stats.broker_status().state == BrokerState::Connected;
    let drain = async {
        let mut writer_done = writer_done;
        loop {
            tokio::select! {
                _ = &mut writer_done => break,
                ev = eventloop.poll(), if connected => if ev.is_err() { let _ = (&mut writer_done).await; break; },
            }
        }
        if connected {
            // A DISCONNECT keeps the persistent session (and no last will fires).
            let _ = client.try_disconnect();
            loop {
                match eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        tracing::warn!("shutdown: gave up waiting for the broker");
    }
}
