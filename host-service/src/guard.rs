//! The payload guard: the MQTT client's connection to the broker runs through this
//! in-process relay, which bounds what the client ever holds in memory.
//!
//! rumqttc connects to a private Unix socket (abstract namespace, only this process may
//! use it); for each such connection the guard opens the real one (TCP, or TLS with the
//! `--tls` settings) and copies the bytes. Towards the client it reads the MQTT framing:
//! a PUBLISH whose payload is longer than `--max-payload` is passed on with only its
//! first [`KEEP`] bytes, behind a marker that carries the original length; the rest is
//! read off the socket and dropped as it arrives. The writer turns such a message into a
//! `too-large` reject (first bytes kept) and acknowledges it, so the broker does not
//! redeliver it forever, and a 100 MB payload costs no more memory than a small one.
//! rumqttc's own packet limit is set just above what the guard can pass, so nothing
//! larger reaches the client even if the guard were bypassed.
//!
//! The marker starts with 16 random bytes chosen when the process starts and never sent
//! anywhere, so a publisher can't forge a truncated message.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rumqttc::tokio_rustls::rustls::{ClientConfig, RootCertStore};
use rumqttc::tokio_rustls::TlsConnector;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener, UnixStream};

use crate::cli::{Config, TlsSettings};

/// How many bytes of an oversized payload are kept (in the rejects file).
pub const KEEP: usize = 1024;
/// Marker: 16 random bytes + the original length (u64, big endian).
const MARK_LEN: usize = 16 + 8;
/// The most an MQTT PUBLISH needs besides its payload: fixed header (5), topic length
/// (2) and topic (up to 65 535), packet id (2).
pub const HEADER_ROOM: usize = 5 + 2 + 65_535 + 2;
/// Connecting to the broker (TCP, then TLS) must each finish within this time: less
/// than rumqttc's 5 s wait for the CONNACK, so the reason reaches the status page first.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Errors setting the guard up.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The private socket can't be created.
    #[error("cannot create the MQTT client's private socket: {0}")]
    Socket(io::Error),
    /// The TLS settings can't be used.
    #[error("TLS: {0}")]
    Tls(String),
}

/// What the writer needs to recognise a truncated payload.
#[derive(Debug, Clone)]
pub struct Truncation {
    nonce: [u8; 16],
}

/// `N` random bytes (a multiple of 8) from /dev/urandom.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !ok {
        // No /dev/urandom: time and pid through the std hasher's random keys.
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            h.write_u32(std::process::id());
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes
}

/// 16 random hex digits: an unguessable name, drawn apart from the truncation marker so
/// a name seen elsewhere tells nothing about the marker.
pub fn random_hex() -> String {
    random_bytes::<8>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Truncation {
    /// A fresh random marker.
    pub fn new() -> Self {
        Truncation {
            nonce: random_bytes(),
        }
    }

    /// If `payload` was truncated by the guard: the original length and the first bytes.
    pub fn split<'a>(&self, payload: &'a [u8]) -> Option<(u64, &'a [u8])> {
        let rest = payload.strip_prefix(&self.nonce[..])?;
        let (len, first) = rest.split_at_checked(8)?;
        Some((u64::from_be_bytes(len.try_into().ok()?), first))
    }

    fn marker(&self, original_len: u64) -> [u8; MARK_LEN] {
        let mut m = [0u8; MARK_LEN];
        m[..16].copy_from_slice(&self.nonce);
        m[16..].copy_from_slice(&original_len.to_be_bytes());
        m
    }
}

impl Default for Truncation {
    fn default() -> Self {
        Self::new()
    }
}

/// The guard's shared state.
#[derive(Debug)]
pub struct Guard {
    /// The abstract socket name rumqttc connects to (with its leading NUL).
    pub socket_name: String,
    /// The marker for truncated payloads.
    pub truncation: Truncation,
    /// Why the last connection to the broker failed (rumqttc only sees a closed socket).
    pub last_error: Mutex<Option<String>>,
}

impl Guard {
    /// The reason of the last failed broker connection, taken.
    pub fn take_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }
}

/// The client's packet limit: the largest packet the guard passes on.
pub fn client_packet_limit(max_payload: usize) -> usize {
    max_payload.max(MARK_LEN + KEEP) + HEADER_ROOM
}

/// A PEM certificate chain and its private key, read for rustls; `cert_opt` and `key_opt`
/// name the options they came from in the messages.
pub fn pem_cert_and_key(
    cert: &[u8],
    key: &[u8],
    cert_opt: &str,
    key_opt: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs = rustls_pemfile::certs(&mut &cert[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad {cert_opt}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {cert_opt}"));
    }
    let key = rustls_pemfile::private_key(&mut &key[..])
        .map_err(|e| format!("bad {key_opt}: {e}"))?
        .ok_or_else(|| format!("no private key in {key_opt}"))?;
    Ok((certs, key))
}

fn tls_connector(tls: &TlsSettings) -> Result<TlsConnector, GuardError> {
    let bad = |m: String| GuardError::Tls(m);
    let mut roots = RootCertStore::empty();
    match &tls.ca_pem {
        Some(pem) => {
            for cert in rustls_pemfile::certs(&mut &pem[..]) {
                let cert = cert.map_err(|e| bad(format!("bad --ca-file: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| bad(format!("bad CA certificate in --ca-file: {e}")))?;
            }
            if roots.is_empty() {
                return Err(bad("no certificate in --ca-file".into()));
            }
        }
        None => {
            let certs = rustls_native_certs::load_native_certs()
                .map_err(|e| bad(format!("cannot load the system's CA certificates: {e}")))?;
            roots.add_parsable_certificates(certs);
        }
    }
    let builder = ClientConfig::builder().with_root_certificates(roots);
    let config = match &tls.client_auth {
        Some((cert, key)) => {
            let (certs, key) = pem_cert_and_key(cert, key, "--client-cert", "--client-key")
                .map_err(GuardError::Tls)?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| bad(format!("client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Starts the guard for `config`'s broker; rumqttc connects to [`Guard::socket_name`].
/// `truncation` marks the payloads it cuts (the embedded broker's front end uses the same).
pub fn start(config: &Config, truncation: Truncation) -> Result<Arc<Guard>, GuardError> {
    let tls = config.tls.as_ref().map(tls_connector).transpose()?;
    let name = format!("\0host-service-{}-{}", std::process::id(), random_hex());
    let listener = UnixListener::bind(&name).map_err(GuardError::Socket)?;
    let guard = Arc::new(Guard {
        socket_name: name,
        truncation,
        last_error: Mutex::new(None),
    });
    let relay = Arc::new(Relay {
        host: config.host.clone(),
        port: config.port,
        tls,
        limit: config.max_payload,
        guard: guard.clone(),
    });
    tokio::spawn(async move {
        loop {
            let Ok((local, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            // Only this process: anyone else must connect to the broker themselves.
            let ours = local
                .peer_cred()
                .ok()
                .and_then(|c| c.pid())
                .is_some_and(|pid| pid == std::process::id() as i32);
            if !ours {
                continue;
            }
            tokio::spawn(relay.clone().run(local));
        }
    });
    Ok(guard)
}

struct Relay {
    host: String,
    port: u16,
    tls: Option<TlsConnector>,
    limit: usize,
    guard: Arc<Guard>,
}

impl Relay {
    async fn connect(&self) -> Result<Box<dyn Stream>, String> {
        let addr = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let target = (self.host.as_str(), self.port);
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target))
            .await
            .map_err(|_| format!("cannot connect to {addr}: timed out"))?
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| format!("bad TLS server name {:?}: {e}", self.host))?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp))
            .await
            .map_err(|_| format!("TLS handshake with {addr}: timed out"))?
            .map_err(|e| format!("TLS handshake with {addr} failed: {e}"))?;
        Ok(Box::new(stream))
    }

    async fn run(self: Arc<Self>, local: UnixStream) {
        let remote = match self.connect().await {
            Ok(r) => r,
            Err(e) => {
                self.guard.set_error(Some(e));
                return;
            }
        };
        self.guard.set_error(None);
        let (mut remote_r, mut remote_w) = tokio::io::split(remote);
        let (mut local_r, mut local_w) = local.into_split();
        let up = async {
            let _ = tokio::io::copy(&mut local_r, &mut remote_w).await;
            let _ = remote_w.shutdown().await;
        };
        let down = guarded_copy(
            &mut remote_r,
            &mut local_w,
            self.limit,
            &self.guard.truncation,
        );
        tokio::select! {
            _ = up => {}
            _ = down => {}
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

#[derive(Debug, Clone, Copy)]
enum State {
    /// At the start of a packet.
    Header,
    /// Bytes of the current packet still to pass on.
    Pass(usize),
    /// Bytes of an oversized payload still to drop.
    Skip(usize),
}

/// Appends `n` as an MQTT remaining length (1 to 4 bytes, 7 bits each, low first).
pub fn push_remaining_length(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut byte = (n & 0x7f) as u8;
        n >>= 7;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            break;
        }
    }
}

/// The MQTT fixed header at the start of `b`: (packet type and flags byte, header
/// length, remaining length), or None if more bytes are needed.
pub(crate) fn fixed_header(b: &[u8]) -> Option<Result<(u8, usize, usize), ()>> {
    let first = *b.first()?;
    let mut len = 0usize;
    for i in 0..4 {
        let byte = *b.get(1 + i)?;
        len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(Ok((first, 2 + i, len)));
        }
    }
    Some(Err(()))
}

/// Copies broker -> client, truncating PUBLISH payloads longer than `limit`.
/// Returns the number of payloads truncated (when the stream ends).
///
/// The common case costs no copy: each read is scanned for packet boundaries and its
/// pass-through spans are written straight from the read buffer; only a packet header
/// split across reads is carried over, and only a truncated packet is rebuilt.
pub async fn guarded_copy<R, W>(
    r: &mut R,
    w: &mut W,
    limit: usize,
    truncation: &Truncation,
) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    // Bytes of an unfinished header carried over from the previous read.
    let mut carry: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut state = State::Header;
    let mut truncated = 0u64;
    let mut rebuilt: Vec<u8> = Vec::new();
    loop {
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            let _ = w.shutdown().await;
            return Ok(truncated);
        }
        let joined;
        let input: &[u8] = if carry.is_empty() {
            &chunk[..n]
        } else {
            carry.extend_from_slice(&chunk[..n]);
            joined = std::mem::take(&mut carry);
            &joined
        };
        let mut i = 0;
        // Start of the pass-through span not written yet.
        let mut span = 0;
        while i < input.len() {
            match state {
                State::Pass(k) => {
                    let take = k.min(input.len() - i);
                    i += take;
                    state = if take == k {
                        State::Header
                    } else {
                        State::Pass(k - take)
                    };
                }
                State::Skip(k) => {
                    let take = k.min(input.len() - i);
                    i += take;
                    span = i;
                    state = if take == k {
                        State::Header
                    } else {
                        State::Skip(k - take)
                    };
                }
                State::Header => {
                    let b = &input[i..];
                    let (first, hl, rl) = match fixed_header(b) {
                        None => break,
                        // Malformed: pass the rest through; the client will refuse it.
                        Some(Err(())) => {
                            state = State::Pass(usize::MAX);
                            continue;
                        }
                        Some(Ok(h)) => h,
                    };
                    if first >> 4 != 3 || rl <= limit {
                        state = State::Pass(hl + rl);
                        continue;
                    }
                    // A PUBLISH that may be too large: look at its topic and packet id.
                    if b.len() < hl + 2 {
                        break;
                    }
                    let topic_len = usize::from(b[hl]) << 8 | usize::from(b[hl + 1]);
                    let qos = (first >> 1) & 3;
                    let vh = 2 + topic_len + if qos > 0 { 2 } else { 0 };
                    if rl < vh || rl - vh <= limit {
                        state = State::Pass(hl + rl);
                        continue;
                    }
                    let payload_len = rl - vh;
                    let keep = KEEP.min(payload_len);
                    if b.len() < hl + vh + keep {
                        break;
                    }
                    rebuilt.clear();
                    rebuilt.push(first);
                    push_remaining_length(&mut rebuilt, vh + MARK_LEN + keep);
                    rebuilt.extend_from_slice(&b[hl..hl + vh]);
                    rebuilt.extend_from_slice(&truncation.marker(payload_len as u64));
                    rebuilt.extend_from_slice(&b[hl + vh..hl + vh + keep]);
                    w.write_all(&input[span..i]).await?;
                    w.write_all(&rebuilt).await?;
                    i += hl + vh + keep;
                    span = i;
                    truncated += 1;
                    state = if payload_len > keep {
                        State::Skip(payload_len - keep)
                    } else {
                        State::Header
                    };
                }
            }
        }
        w.write_all(&input[span..i]).await?;
        carry = input[i..].to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(topic: &str, qos: u8, pkid: u16, payload: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic.as_bytes());
        if qos > 0 {
            body.extend_from_slice(&pkid.to_be_bytes());
        }
        body.extend_from_slice(payload);
        let mut p = vec![0x30 | (qos << 1)];
        push_remaining_length(&mut p, body.len());
        p.extend_from_slice(&body);
        p
    }

    /// A reader that hands out its data in small pieces.
    struct Trickle(Vec<u8>, usize);
    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            let step = self.1;
            let n = step.min(self.0.len()).min(buf.remaining());
            let head: Vec<u8> = self.0.drain(..n).collect();
            buf.put_slice(&head);
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn oversized_publishes_are_cut_and_marked_others_pass() {
        let t = Truncation::new();
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let mut input = Vec::new();
        input.extend(publish("a", 1, 7, b"small"));
        input.extend(publish("big/t", 1, 8, &big));
        input.extend([0x90, 0x03, 0x00, 0x01, 0x01]); // SUBACK passes untouched
        input.extend(publish("b", 0, 0, &big[..5000]));
        input.extend(publish("c", 2, 9, b"after"));
        for step in [1, 7, 1000, 70_000] {
            let mut out = Vec::new();
            let n = guarded_copy(&mut Trickle(input.clone(), step), &mut out, 4096, &t)
                .await
                .unwrap();
            assert_eq!(n, 2, "step {step}");
            let mut want = Vec::new();
            want.extend(publish("a", 1, 7, b"small"));
            let mut cut = t.marker(300_000).to_vec();
            cut.extend_from_slice(&big[..KEEP]);
            want.extend(publish("big/t", 1, 8, &cut));
            want.extend([0x90, 0x03, 0x00, 0x01, 0x01]);
            let mut cut = t.marker(5000).to_vec();
            cut.extend_from_slice(&big[..KEEP]);
            want.extend(publish("b", 0, 0, &cut));
            want.extend(publish("c", 2, 9, b"after"));
            assert!(out == want, "step {step}");
        }
        let mut cut = t.marker(5000).to_vec();
        cut.extend_from_slice(b"xyz");
        assert_eq!(t.split(&cut), Some((5000, &b"xyz"[..])));
        assert_eq!(Truncation::new().split(&cut), None);
        assert_eq!(t.split(b"[\"lux-1\", 1, 2]"), None);
    }
}
