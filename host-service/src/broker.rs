//! The embedded broker (`--embedded-broker`): rumqttd running in this process, so a
//! single binary is enough on the host.
//!
//! rumqttd listens on a private loopback port. Clients reach it through a small front
//! end on the user's address that reads each CONNECT first and:
//! - gives a client id to a clean-session client that sent none (MQTT 3.1.1 §3.1.3.1
//!   lets the server do so; rumqttd itself refuses the empty id that `mosquitto_pub` and
//!   `mosquitto_sub` send by default), and answers a persistent-session client without an
//!   id with CONNACK 0x02, as the standard says;
//! - checks `--username/--password` and answers a wrong one with CONNACK 0x04 (rumqttd
//!   just drops the connection, which clients report as "connection lost");
//! - logs every refused connection (peer address, client id and the reason);
//! - caps the number of client connections.
//!
//! - speaks TLS when given a certificate and key (`--embedded-broker-cert/-key`).
//!
//! After the CONNACK the bytes are copied both ways untouched.
//!
//! What it keeps: persistent sessions (clean session off), their subscriptions and the
//! QoS 1/2 messages queued for a disconnected client, shared subscriptions, all in
//! memory for as long as this process runs. What it does not keep: anything across a
//! restart of this process (no disk persistence), so messages sent while the service is
//! down are lost unless the device buffers them. Use mosquitto with `persistence true`
//! when restarts must lose nothing.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls_server::rustls::ServerConfig;
use tokio_rustls_server::TlsAcceptor;

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
    /// The TLS certificate or key can't be used.
    #[error("embedded broker TLS: {0}")]
    Tls(String),
}

/// A TLS acceptor from a PEM certificate chain and private key.
fn tls_acceptor(cert: &[u8], key: &[u8]) -> Result<TlsAcceptor, BrokerError> {
    let (certs, key) = crate::guard::pem_cert_and_key(
        cert,
        key,
        "--embedded-broker-cert",
        "--embedded-broker-key",
    )
    .map_err(BrokerError::Tls)?;
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| BrokerError::Tls(format!("certificate and key don't fit: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Most client connections at once (each costs three file descriptors: the client's,
/// ours to rumqttd, and rumqttd's), lowered to fit the process's descriptor limit.
pub const MAX_CONNECTIONS: usize = 1000;

/// File descriptors kept free for everything else: the CSV, rejects and journal files,
/// the MQTT client, the status page's connections ([`crate::status::MAX_CONNECTIONS`]).
const RESERVED_FDS: usize = crate::status::MAX_CONNECTIONS + 64;

/// The soft limit on open files (`ulimit -n`), from /proc/self/limits.
fn fd_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// How many client connections the front end takes at once.
pub fn connection_cap() -> usize {
    match fd_limit() {
        Some(n) => (n.saturating_sub(RESERVED_FDS) / 3).clamp(1, MAX_CONNECTIONS),
        None => MAX_CONNECTIONS,
    }
}
/// rumqttd's packet limit (`max_payload_size`, checked against the whole packet).
const RUMQTTD_PACKET_LIMIT: usize = 1024 * 1024;
/// Payloads longer than this are cut by the front end so the packet stays under
/// [`RUMQTTD_PACKET_LIMIT`] whatever its topic.
const PUBLISH_LIMIT: usize = RUMQTTD_PACKET_LIMIT - crate::guard::HEADER_ROOM;

/// The CONNECT must arrive within this time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest CONNECT accepted (client id, will, credentials).
const MAX_CONNECT: usize = 64 * 1024;

/// rumqttd settings for one plain MQTT 3.1.1 listener.
fn config(addr: SocketAddr, credentials: Option<&(String, String)>) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 10_000,
        // Larger than any sensor event, so oversized payloads reach the service and are
        // counted there instead of being dropped by the broker.
        max_payload_size: RUMQTTD_PACKET_LIMIT,
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
            max_connections: MAX_CONNECTIONS + 16,
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

/// The running broker.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedBroker {
    /// Where clients connect (the front end).
    pub addr: SocketAddr,
    /// rumqttd's private loopback listener (this service connects there directly).
    pub internal: SocketAddr,
}

/// Starts rumqttd on a private loopback port and the front end on `addr`, and waits
/// until both accept connections. They run until the process exits.
pub async fn start(
    addr: SocketAddr,
    credentials: Option<&(String, String)>,
    tls: Option<&(Vec<u8>, Vec<u8>)>,
    truncation: crate::guard::Truncation,
) -> Result<EmbeddedBroker, BrokerError> {
    let tls = tls.map(|(c, k)| tls_acceptor(c, k)).transpose()?;
    let front = TcpListener::bind(addr)
        .await
        .map_err(|source| BrokerError::Bind { addr, source })?;
    let addr = front
        .local_addr()
        .map_err(|source| BrokerError::Bind { addr, source })?;
    // rumqttd binds itself; pick a free loopback port for it.
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let internal = StdListener::bind(loopback)
        .and_then(|l| l.local_addr())
        .map_err(|source| BrokerError::Bind {
            addr: loopback,
            source,
        })?;
    let mut broker = Broker::new(config(internal, credentials));
    let thread = std::thread::Builder::new()
        .name("embedded-broker".to_owned())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .map_err(|source| BrokerError::Bind { addr, source })?;
    let up = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if thread.is_finished() {
                return false;
            }
            if StdStream::connect_timeout(&internal, Duration::from_millis(200)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    })
    .await
    .unwrap_or(false);
    if !up {
        return Err(BrokerError::NotStarted(internal));
    }
    let tls_on = tls.is_some();
    let front_end = Arc::new(FrontEnd {
        id_prefix: crate::guard::random_hex(),
        internal,
        credentials: credentials.cloned(),
        next_id: AtomicU64::new(0),
        tls,
        truncation,
    });
    tokio::spawn(front_end.serve(front));
    tracing::info!(%addr, tls = tls_on, "embedded MQTT broker listening");
    Ok(EmbeddedBroker { addr, internal })
}

struct FrontEnd {
    /// Random per process, so an assigned id can't be guessed (and taken) by a client.
    id_prefix: String,
    internal: SocketAddr,
    credentials: Option<(String, String)>,
    next_id: AtomicU64,
    tls: Option<TlsAcceptor>,
    /// Marks the PUBLISHes cut to fit rumqttd's packet limit.
    truncation: crate::guard::Truncation,
}

/// CONNACK return codes (MQTT 3.1.1 §3.2.2.3).
const IDENTIFIER_REJECTED: u8 = 0x02;
const SERVER_UNAVAILABLE: u8 = 0x03;
const BAD_USER_NAME_OR_PASSWORD: u8 = 0x04;
const NOT_AUTHORIZED: u8 = 0x05;

impl FrontEnd {
    async fn serve(self: Arc<Self>, listener: TcpListener) {
        let cap = connection_cap();
        let permits = Arc::new(tokio::sync::Semaphore::new(cap));
        let mut warned_full = false;
        loop {
            let permit = match permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    if !warned_full {
                        tracing::warn!(
                            max = cap,
                            "embedded broker: connection limit reached (see ulimit -n); new clients wait"
                        );
                        warned_full = true;
                    }
                    match permits.clone().acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => return,
                    }
                }
            };
            let (stream, peer) = crate::status::accept(&listener, "embedded broker").await;
            let this = self.clone();
            tokio::spawn(async move {
                match &this.tls {
                    None => this.handle(stream, peer).await,
                    Some(tls) => {
                        match tokio::time::timeout(CONNECT_TIMEOUT, tls.accept(stream)).await {
                            Ok(Ok(s)) => this.handle(s, peer).await,
                            Ok(Err(e)) => {
                                tracing::warn!(%peer, error = %e, "embedded broker: refused a connection (TLS handshake failed)")
                            }
                            Err(_) => {
                                tracing::warn!(%peer, "embedded broker: refused a connection (no TLS handshake within 10 s)")
                            }
                        }
                    }
                }
                drop(permit);
            });
        }
    }

    async fn refuse<S: AsyncWrite + Unpin>(&self, client: &mut S, code: u8) {
        let _ = client.write_all(&[0x20, 0x02, 0x00, code]).await;
        let _ = client.shutdown().await;
    }

    async fn handle<S: AsyncRead + AsyncWrite + Unpin>(&self, mut client: S, peer: SocketAddr) {
        let packet = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            read_packet(&mut client, MAX_CONNECT),
        )
        .await
        {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!(%peer, reason = %e, "embedded broker: refused a connection (no valid CONNECT)");
                return;
            }
            Err(_) => {
                tracing::warn!(%peer, "embedded broker: refused a connection (no CONNECT within 10 s)");
                return;
            }
        };
        let connect = match Connect::parse(&packet) {
            Ok(c) => c,
            Err(reason) => {
                tracing::warn!(%peer, %reason, "embedded broker: refused a connection (bad CONNECT)");
                return;
            }
        };
        let client_id = String::from_utf8_lossy(connect.client_id(&packet)).into_owned();
        if let Some((user, pass)) = &self.credentials {
            let given = (
                connect.username.map(|r| &packet[r.0..r.1]),
                connect.password.map(|r| &packet[r.0..r.1]),
            );
            if given.0.is_none() {
                tracing::warn!(%peer, client_id = ?client_id, "embedded broker: refused a client without credentials (not authorized)");
                self.refuse(&mut client, NOT_AUTHORIZED).await;
                return;
            }
            if given != (Some(user.as_bytes()), Some(pass.as_bytes())) {
                tracing::warn!(%peer, client_id = ?client_id, "embedded broker: refused a client (bad user name or password)");
                self.refuse(&mut client, BAD_USER_NAME_OR_PASSWORD).await;
                return;
            }
        }
        let mut id = client_id.clone();
        if client_id.is_empty() {
            if !connect.clean_session {
                tracing::warn!(%peer, "embedded broker: refused a client with an empty client id and a persistent session (MQTT 3.1.1 needs an id to keep a session)");
                self.refuse(&mut client, IDENTIFIER_REJECTED).await;
                return;
            }
            id = format!(
                "auto-{}-{}",
                self.id_prefix,
                self.next_id.fetch_add(1, Ordering::Relaxed)
            );
            tracing::debug!(%peer, client_id = %id, "embedded broker: assigned a client id");
        }
        let packet = connect.rebuild(&packet, id.as_bytes());
        let mut upstream = match TcpStream::connect(self.internal).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, client_id = ?id, error = %e, "embedded broker: refused a client (broker unavailable)");
                self.refuse(&mut client, SERVER_UNAVAILABLE).await;
                return;
            }
        };
        let _ = upstream.set_nodelay(true);
        let mut ack = [0u8; 4];
        let answer = async {
            upstream.write_all(&packet).await?;
            upstream.read_exact(&mut ack).await
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, answer).await {
            Ok(Ok(_)) if ack[0] == 0x20 && ack[3] == 0 => {}
            Ok(Ok(_)) => {
                tracing::warn!(%peer, client_id = ?id, code = ack[3], "embedded broker: refused a client (CONNACK)");
                let _ = client.write_all(&ack).await;
                return;
            }
            _ => {
                tracing::warn!(
                    %peer,
                    client_id = ?id,
                    "embedded broker: refused a client (rumqttd closed the connection without a CONNACK: \
                     an MQTT version other than 3.1.1, or the connection limit)"
                );
                self.refuse(&mut client, SERVER_UNAVAILABLE).await;
                return;
            }
        }
        if client.write_all(&ack).await.is_err() {
            return;
        }
        // rumqttd drops a client whose packet is over its limit, losing the message
        // without a trace; a PUBLISH whose payload is over PUBLISH_LIMIT is passed on cut
        // to its first 1 KiB instead, marked, and the service keeps it as too-large.
        let (mut client_r, mut client_w) = tokio::io::split(client);
        let (mut upstream_r, mut upstream_w) = upstream.into_split();
        let up = crate::guard::guarded_copy(
            &mut client_r,
            &mut upstream_w,
            PUBLISH_LIMIT,
            &self.truncation,
        );
        let down = async {
            let _ = tokio::io::copy(&mut upstream_r, &mut client_w).await;
            let _ = client_w.shutdown().await;
        };
        tokio::select! {
            r = up => if let Ok(n) = r {
                if n > 0 {
                    tracing::info!(%peer, client_id = ?id, payloads = n, "embedded broker: cut PUBLISH payloads over its limit to their first bytes");
                }
            },
            _ = down => {}
        }
    }
}

/// Reads one MQTT packet (fixed header + remaining length) of at most `max` bytes.
async fn read_packet<S: AsyncRead + Unpin>(s: &mut S, max: usize) -> std::io::Result<Vec<u8>> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let mut packet = vec![s.read_u8().await?];
    let len = loop {
        packet.push(s.read_u8().await?);
        match crate::guard::fixed_header(&packet) {
            None => {}
            Some(Ok((_, _, len))) => break len,
            Some(Err(())) => return Err(bad("malformed remaining length")),
        }
    };
    if len > max {
        return Err(bad("CONNECT larger than 64 KiB"));
    }
    let head = packet.len();
    packet.resize(head + len, 0);
    s.read_exact(&mut packet[head..]).await?;
    Ok(packet)
}

/// Where the parts of a CONNECT are (byte ranges into the packet).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Connect {
    /// Start of the variable header.
    body: usize,
    /// Offset of the keep-alive field.
    keep_alive_at: usize,
    /// The client id's length prefix and bytes.
    client_id: (usize, usize),
    clean_session: bool,
    username: Option<(usize, usize)>,
    password: Option<(usize, usize)>,
}

impl Connect {
    fn parse(p: &[u8]) -> Result<Connect, &'static str> {
        if p.first() != Some(&0x10) {
            return Err("the first packet is not a CONNECT");
        }
        let Some(Ok((_, body, _))) = crate::guard::fixed_header(p) else {
            return Err("truncated");
        };
        let mut at = body;
        let field = |at: &mut usize| -> Result<(usize, usize), &'static str> {
            let hi = *p.get(*at).ok_or("truncated")? as usize;
            let lo = *p.get(*at + 1).ok_or("truncated")? as usize;
            let start = *at + 2;
            let end = start + (hi << 8 | lo);
            if end > p.len() {
                return Err("truncated");
            }
            *at = end;
            Ok((start, end))
        };
        let name = field(&mut at)?;
        let level = *p.get(at).ok_or("truncated")?;
        if &p[name.0..name.1] != b"MQTT" || level != 4 {
            return Err("not MQTT 3.1.1 (the embedded broker speaks only 3.1.1)");
        }
        let flags = *p.get(at + 1).ok_or("truncated")?;
        let keep_alive_at = at + 2;
        at += 4;
        if at > p.len() {
            return Err("truncated");
        }
        let client_id = field(&mut at)?;
        if flags & 0x04 != 0 {
            field(&mut at)?; // will topic
            field(&mut at)?; // will message
        }
        let username = if flags & 0x80 != 0 {
            Some(field(&mut at)?)
        } else {
            None
        };
        let password = if flags & 0x40 != 0 {
            Some(field(&mut at)?)
        } else {
            None
        };
        Ok(Connect {
            body,
            keep_alive_at,
            client_id,
            clean_session: flags & 0x02 != 0,
            username,
            password,
        })
    }

    fn client_id<'a>(&self, p: &'a [u8]) -> &'a [u8] {
        &p[self.client_id.0..self.client_id.1]
    }

    /// The packet with `id` as client id, and keep-alive 0 ("none", which rumqttd
    /// refuses) turned into the longest one.
    fn rebuild(&self, p: &[u8], id: &[u8]) -> Vec<u8> {
        let mut body = Vec::with_capacity(p.len() + id.len());
        body.extend_from_slice(&p[self.body..self.client_id.0 - 2]);
        let ka = self.keep_alive_at - self.body;
        if body[ka] == 0 && body[ka + 1] == 0 {
            body[ka] = 0xff;
            body[ka + 1] = 0xff;
        }
        body.extend_from_slice(&(id.len() as u16).to_be_bytes());
        body.extend_from_slice(id);
        body.extend_from_slice(&p[self.client_id.1..]);
        let mut out = vec![0x10];
        crate::guard::push_remaining_length(&mut out, body.len());
        out.extend_from_slice(&body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(client_id: &[u8], flags: u8, keep_alive: u16, extra: &[&[u8]]) -> Vec<u8> {
        let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, flags];
        body.extend_from_slice(&keep_alive.to_be_bytes());
        for f in std::iter::once(client_id).chain(extra.iter().copied()) {
            body.extend_from_slice(&(f.len() as u16).to_be_bytes());
            body.extend_from_slice(f);
        }
        let mut p = vec![0x10, body.len() as u8];
        p.extend_from_slice(&body);
        p
    }

    #[test]
    fn connect_is_parsed_and_given_a_client_id() {
        let p = connect(b"", 0x02 | 0x80 | 0x40, 60, &[b"user", b"pw"]);
        let c = Connect::parse(&p).unwrap();
        assert!(c.clean_session);
        assert_eq!(c.client_id(&p), b"");
        assert_eq!(&p[c.username.unwrap().0..c.username.unwrap().1], b"user");
        let q = c.rebuild(&p, b"auto-1");
        assert_eq!(
            q,
            connect(b"auto-1", 0x02 | 0x80 | 0x40, 60, &[b"user", b"pw"])
        );
        let c2 = Connect::parse(&q).unwrap();
        assert_eq!(c2.client_id(&q), b"auto-1");
        // keep-alive 0 (none) becomes the longest
        let p = connect(b"x", 0x02, 0, &[]);
        let q = Connect::parse(&p).unwrap().rebuild(&p, b"x");
        assert_eq!(q, connect(b"x", 0x02, 0xffff, &[]));
        // a will is skipped over
        let p = connect(b"x", 0x04 | 0x80, 5, &[b"will/t", b"bye", b"u"]);
        let c = Connect::parse(&p).unwrap();
        assert_eq!(&p[c.username.unwrap().0..c.username.unwrap().1], b"u");
        assert!(Connect::parse(&p[..p.len() - 1]).is_err());
        assert!(Connect::parse(b"\x30\x00").is_err());
    }
}
