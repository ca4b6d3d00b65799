//! The embedded broker (`--embedded-broker`): rumqttd running in this process, so a
//! single binary is enough on the host.
//!
//! What it keeps: persistent sessions (clean session off), their subscriptions and the
//! QoS 1/2 messages queued for a disconnected client, shared subscriptions, all in
//! memory for as long as this process runs. What it does not keep: anything across a
//! restart of this process (no disk persistence), so messages sent while the service is
//! down are lost unless the device buffers them. Use mosquitto with `persistence true`
//! when restarts must lose nothing.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Errors starting the embedded broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The listen address is taken or not ours.
    #[error("embedded broker cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The broker didn't come up.
    #[error("embedded broker did not start on {0}")]
    NotStarted(SocketAddr),
}

/// rumqttd settings for one plain MQTT 3.1.1 listener.
fn config(addr: SocketAddr, credentials: Option<&(String, String)>) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 10_000,
        // Larger than any sensor event, so oversized payloads reach the service and are
        // kept in the rejects file instead of being dropped by the broker.
        max_payload_size: 1024 * 1024,
        max_inflight_count: 100,
        auth: credentials.map(|(u, p)| HashMap::from([(u.clone(), p.clone())])),
        external_auth: None,
        dynamic_filters: true,
    };
    let server = ServerSettings {
        name: "v4-embedded".to_owned(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 200,
            // In-memory log per topic: 8 x 4 MiB bounds what is held for offline sessions.
            max_segment_size: 4 * 1024 * 1024,
            max_segment_count: 8,
            ..Default::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Default::default()
    }
}

/// Starts the broker on `addr` in background threads and waits until it accepts
/// connections. It runs until the process exits.
pub fn start(
    addr: SocketAddr,
    credentials: Option<&(String, String)>,
) -> Result<SocketAddr, BrokerError> {
    // rumqttd only logs a bind failure from its own thread; check first so the user
    // gets a clear error.
    let probe = TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?;
    let addr = probe
        .local_addr()
        .map_err(|source| BrokerError::Bind { addr, source })?;
    drop(probe);
    let mut broker = Broker::new(config(addr, credentials));
    let thread = std::thread::Builder::new()
        .name("embedded-broker".to_owned())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .map_err(|source| BrokerError::Bind { addr, source })?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if thread.is_finished() {
            return Err(BrokerError::NotStarted(addr));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            tracing::info!(%addr, "embedded MQTT broker listening");
            return Ok(addr);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::NotStarted(addr))
}
