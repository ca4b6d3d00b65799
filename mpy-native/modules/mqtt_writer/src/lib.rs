//! `mqtt_writer`: the ThingFlow `MQTTWriter` as a MicroPython native module in Rust.
//!
//! Same API, behaviour and console messages as the pure-Python fallback
//! (mpy-scripts/fallback/mqtt_writer.py), which documents them; in short:
//!
//! ```python
//! from mqtt_writer import MQTTWriter
//! m = MQTTWriter('lux-1', '192.168.1.10', 1883, 'sensor-data')  # prints Connecting/Connection successful
//! m.on_next(('lux-1', 624, 284.1312))  # PUBLISH ["lux-1", 624, 284.1312] (QoS 0, not retained)
//! m.on_completed()                     # DISCONNECT
//! ```
//!
//! `MQTTWriter(name, host, port=1883, topic='sensor-data', qos=0, keepalive=60, user=None,
//! password=None, sock=None)`: QoS 0 or 1 (waits for PUBACK), PINGREQ before a publish once
//! `keepalive` seconds have passed since the last packet, reconnect with backoff (0.5 s doubling
//! to 30 s) after a broken connection, `OSError` naming the CONNACK refusal, `sock=` to run over
//! a given stream object (the benchmark's discard socket).
//!
//! The hot path (`on_next`) allocates nothing on the MicroPython heap: the event is written as
//! JSON (byte-identical to `json.dumps`, floats included, see `mqtt_codec::repr`) straight into a
//! frame `bytearray` kept by the instance, behind a pre-built PUBLISH header and topic, and sent
//! with one write. A real socket is driven through its native stream protocol (poll, read, write
//! without method calls); any other object through its `write`/`readinto`/`settimeout` methods.
//!
//! `_json(x)` returns the JSON text the writer would send for `x`, `_own_floats()` whether
//! floats are formatted natively on this port (for tests).
#![no_std]
// micropython-rt errors carry their message inline (no allocator), so they are large by design.
#![allow(clippy::result_large_err)]

mod encode;
mod text;

use encode::{Encoder, Stop};
use micropython_rt::{
    errno, global, import, protect, py_err, qstr, sys, Args, Class, Error, ExcKind, Module, Obj,
    Qstr, Result,
};
use mqtt_codec::json::Writer;
use mqtt_codec::mqtt::{self, Connect, LenDecoder, MAX_HEADER, MAX_REMAINING};
use text::{error_text, py_text, text_of};

micropython_rt::entry!(init);

fn init(m: &Module) -> Result<()> {
    m.fn1(qstr!("_json"), |x| {
        let enc = Encoder::new()?;
        let mut buf = bytearray(64)?;
        let n = encode_into(&enc, x, &mut buf, 0, 0)?;
        let bytes = &buf.buffer()?[..n];
        let s =
            core::str::from_utf8(bytes).map_err(|_| py_err!(ValueError, "JSON is not UTF-8"))?;
        Ok(Obj::str(s))
    })?;
    // True when floats are formatted by our model of this port's repr (else by json.dumps).
    m.fn0(qstr!("_own_floats"), || {
        Ok(Obj::bool(encode::Encoder::new()?.own_floats()))
    })?;
    m.class::<MqttWriter>()
        .method(qstr!("on_next"), 1, 1, |w: &mut MqttWriter, a| {
            w.on_next(a[0]).map(|_| Obj::none())
        })
        .method(qstr!("on_error"), 1, 1, |w: &mut MqttWriter, a| {
            let r = py_text(a[0], true);
            micropython_rt::print(format_args!(
                "Disconnecting from MQTT broker due to error: {}",
                text_of(&r)
            ))?;
            w.disconnect();
            Ok(Obj::none())
        })
        .method(qstr!("on_completed"), 0, 0, |w: &mut MqttWriter, _| {
            micropython_rt::print(format_args!("Disconnecting from MQTT broker"))?;
            w.disconnect();
            Ok(Obj::none())
        })
        .register(m)?;
    Ok(())
}

/// Socket timeout (s) for the handshake, acks and writes.
const TIMEOUT_S: isize = 10;
const BACKOFF_MIN_MS: isize = 500;
const BACKOFF_MAX_MS: isize = 30_000;
/// Initial payload room in the frame buffer; it grows (doubling) for larger events.
const PAYLOAD_CAP: usize = 128;

// py/stream.h: the poll ioctl and its flags (stable parts of the stream protocol).
const STREAM_POLL: usize = 3;
const POLL_RD: usize = 0x01;
const POLL_ERR: usize = 0x08;
const POLL_HUP: usize = 0x10;

fn bytearray(n: usize) -> Result<Obj> {
    global(qstr!("bytearray"))?.call(&[Obj::int(n as isize)])
}

/// Encode `x` into `buf[at..]`, replacing `buf` by a larger bytearray (keeping `buf[..at]`) as
/// often as needed; the total frame may not exceed `at + MAX_REMAINING - overhead`. Returns the
/// payload length.
fn encode_into(enc: &Encoder, x: Obj, buf: &mut Obj, at: usize, overhead: usize) -> Result<usize> {
    let limit = MAX_REMAINING - overhead;
    loop {
        let room = {
            // SAFETY: a buffer this code owns; no other view of it is alive here.
            let b = unsafe { buf.buffer_mut() }?;
            let mut w = Writer::new(&mut b[at..]);
            match enc.value(&mut w, x, 0) {
                Ok(()) if w.len() <= limit => return Ok(w.len()),
                Ok(()) => None,
                Err(Stop::Py(e)) => return Err(e),
                Err(Stop::Full) => Some(b.len() - at),
            }
        };
        let room = match room {
            Some(r) if r < limit => (r * 2).min(limit),
            _ => return Err(py_err!(ValueError, "event too large for one MQTT packet")),
        };
        let bigger = bytearray(at + room)?;
        let old = buf.buffer()?;
        // SAFETY: a buffer this code owns; no other view of it is alive here.
        unsafe { bigger.buffer_mut() }?[..at].copy_from_slice(&old[..at]);
        *buf = bigger;
    }
}

/// MicroPython's millisecond clock (`time.ticks_ms`/`ticks_diff`/`sleep_ms`, on every port).
/// Integer milliseconds only: no float arithmetic, so no soft-float code on the ESP8266.
struct Clock {
    ticks_ms: Obj,
    ticks_diff: Obj,
    sleep_ms: Obj,
}

impl Clock {
    fn new() -> Result<Clock> {
        let t = import(qstr!("time"))?;
        let get = |name: Qstr| -> Result<Obj> {
            if t.has_method(name) {
                t.attr(name)
            } else {
                Err(py_err!(RuntimeError, "mqtt_writer needs MicroPython's time.ticks_ms, ticks_diff and sleep_ms"))
            }
        };
        Ok(Clock { ticks_ms: get(qstr!("ticks_ms"))?, ticks_diff: get(qstr!("ticks_diff"))?, sleep_ms: get(qstr!("sleep_ms"))? })
    }
    /// A millisecond timestamp (wraps; compare with [`since`](Self::since)).
    fn now(&self) -> Result<isize> {
        self.ticks_ms.call(&[])?.to_int()
    }
    fn since(&self, start: isize) -> Result<isize> {
        let now = self.now()?;
        self.ticks_diff.call(&[Obj::int(now), Obj::int(start)])?.to_int()
    }
    fn sleep_ms(&self, ms: isize) -> Result<()> {
        self.sleep_ms.call(&[Obj::int(ms)])?;
        Ok(())
    }
}

/// `MQTTWriter(...)`: see the module docs.
struct MqttWriter {
    host: Obj,
    port: Obj,
    topic: Obj,
    client_id: Obj,
    user: Obj,
    password: Obj,
    qos: u8,
    keepalive: u16,
    pid: u16,
    /// The connection (None when closed) and its native stream protocol, if it has one.
    sock: Obj,
    stream: Option<&'static sys::mp_abi_stream_p_t>,
    /// `clock.now()` at the last packet sent.
    last_tx: isize,
    /// `[MAX_HEADER room][topic][packet id if QoS 1][payload]`: PUBLISH header written
    /// right-aligned before the topic, so a frame is one contiguous slice.
    frame: Obj,
    payload_at: usize,
    /// Scratch for the method path (`readinto`, small packets).
    rbuf: Obj,
    enc: Encoder,
    clock: Clock,
}

fn type_named(o: Obj, name: Qstr) -> bool {
    global(name)
        .map(|t| o.type_ptr() == t.as_raw() as *const sys::mp_abi_type_t)
        .unwrap_or(false)
}

/// A str, bytes or bytearray argument as bytes (MQTT UTF-8 string, at most 65535 bytes).
fn utf8_arg(what: &str, v: Obj) -> Result<Obj> {
    if !(v.is_str() || type_named(v, qstr!("bytes")) || type_named(v, qstr!("bytearray"))) {
        let r = py_text(v, true);
        return Err(py_err!(
            ValueError,
            "{} must be a str or bytes, got {}",
            what,
            text_of(&r)
        ));
    }
    let b = v.buffer()?;
    if b.len() > 0xFFFF {
        return Err(py_err!(ValueError, "{} is longer than 65535 bytes", what));
    }
    Ok(Obj::bytes(b))
}

impl Class for MqttWriter {
    fn name() -> Qstr {
        qstr!("MQTTWriter")
    }

    fn make_new(args: &Args<'_>) -> Result<Self> {
        let names = [
            qstr!("name"),
            qstr!("host"),
            qstr!("port"),
            qstr!("topic"),
            qstr!("qos"),
            qstr!("keepalive"),
            qstr!("user"),
            qstr!("password"),
            qstr!("sock"),
        ];
        args.check("MQTTWriter", &names, 2)?;
        let arg = |i: usize| args.get(i, names[i]);
        let name = arg(0).unwrap_or_else(Obj::none);
        let host = arg(1).unwrap_or_else(Obj::none);
        let port = arg(2).unwrap_or_else(|| Obj::int(1883));
        let topic = arg(3).unwrap_or_else(|| Obj::str("sensor-data"));
        let qos_obj = arg(4).unwrap_or_else(|| Obj::int(0));
        let keepalive_obj = arg(5).unwrap_or_else(|| Obj::int(60));
        let user = args.get_opt(6, names[6]);
        let password = args.get_opt(7, names[7]);
        let sock = args.get_opt(8, names[8]);

        match port.to_int() {
            Ok(1..=65535) => {}
            _ => {
                let r = py_text(port, true);
                return Err(py_err!(ValueError, "port must be 1..65535, got {}", text_of(&r)));
            }
        }
        let qos = match qos_obj.to_int() {
            Ok(q @ 0..=1) => q as u8,
            _ => {
                let r = py_text(qos_obj, true);
                return Err(py_err!(
                    ValueError,
                    "qos must be 0 or 1, got {}",
                    text_of(&r)
                ));
            }
        };
        let keepalive = match keepalive_obj.to_int() {
            Ok(k @ 0..=0xFFFF) => k as u16,
            _ => {
                let r = py_text(keepalive_obj, true);
                return Err(py_err!(
                    ValueError,
                    "keepalive must be 0..65535 s, got {}",
                    text_of(&r)
                ));
            }
        };
        if password.is_some() && user.is_none() {
            return Err(py_err!(
                ValueError,
                "MQTT 3.1.1 needs a user name to send a password"
            ));
        }
        let client_id = utf8_arg("name", name)?;
        let topic_b = utf8_arg("topic", topic)?;
        let tb = topic_b.buffer()?;
        if tb.is_empty() || tb.iter().any(|&c| c == b'+' || c == b'#') {
            let r = py_text(topic, true);
            return Err(py_err!(
                ValueError,
                "topic must be non-empty with no wildcards, got {}",
                text_of(&r)
            ));
        }
        let user = match user {
            Some(u) => utf8_arg("user", u)?,
            None => Obj::none(),
        };
        let password = match password {
            Some(p) => utf8_arg("password", p)?,
            None => Obj::none(),
        };

        let payload_at = MAX_HEADER + 2 + tb.len() + if qos == 1 { 2 } else { 0 };
        let frame = bytearray(payload_at + PAYLOAD_CAP)?;
        // SAFETY: a buffer this code owns; no other view of it is alive here.
        mqtt::put_str(&mut unsafe { frame.buffer_mut() }?[MAX_HEADER..], tb);
        let mut w = MqttWriter {
            host,
            port,
            topic,
            client_id,
            user,
            password,
            qos,
            keepalive,
            pid: 0,
            sock: Obj::none(),
            stream: None,
            last_tx: 0,
            frame,
            payload_at,
            rbuf: bytearray(4)?,
            enc: Encoder::new()?,
            clock: Clock::new()?,
        };
        w.open(sock)?;
        Ok(w)
    }

    fn get_attr(&self, name: Qstr) -> Result<Option<Obj>> {
        Ok(if name == qstr!("host") {
            Some(self.host)
        } else if name == qstr!("port") {
            Some(self.port)
        } else if name == qstr!("topic") {
            Some(self.topic)
        } else {
            None
        })
    }
}

fn os_msg(args: core::fmt::Arguments<'_>) -> Error {
    Error::new(ExcKind::OSError, args)
}

/// `OSError(errno)` as the runtime raises it for a failed socket call.
fn os_errno(e: i32) -> Error {
    match global(qstr!("OSError")).and_then(|t| t.call(&[Obj::int(e as isize)])) {
        Ok(exc) => Error::Py(exc),
        Err(err) => err,
    }
}

impl MqttWriter {
    // -- ThingFlow subscriber API --------------------------------------------------------------

    fn on_next(&mut self, x: Obj) -> Result<()> {
        let overhead = self.payload_at - MAX_HEADER;
        let n = encode_into(&self.enc, x, &mut self.frame, self.payload_at, overhead)?;
        loop {
            let sent = if self.sock.is_none() {
                Err(os_msg(format_args!("not connected")))
            } else {
                self.check_link().and_then(|_| self.publish(n))
            };
            match sent {
                Ok(()) => return Ok(()),
                Err(e) if e.is(ExcKind::OSError) => self.reconnect(e)?,
                Err(e) => return Err(e),
            }
        }
    }

    fn publish(&mut self, n: usize) -> Result<()> {
        let rem = self.payload_at - MAX_HEADER + n;
        // SAFETY: a buffer this code owns; no other view of it is alive here.
        let buf = unsafe { self.frame.buffer_mut() }?;
        let start = mqtt::publish_header(&mut buf[..MAX_HEADER], self.qos, rem);
        let pid = self.pid % 0xFFFF + 1; // 1..=65535, never 0
        if self.qos == 1 {
            self.pid = pid;
            buf[self.payload_at - 2..self.payload_at].copy_from_slice(&pid.to_be_bytes());
        }
        self.send(self.frame, start, MAX_HEADER - start + rem)?;
        if self.qos == 1 {
            self.wait_for(mqtt::PUBACK, Some(pid))?;
        }
        Ok(())
    }

    /// Before a publish: notice a connection the broker closed (so the event is not written
    /// into a dead socket), read and drop any stray packet, and ping when keepalive is due.
    fn check_link(&mut self) -> Result<()> {
        let mut first = [0u8; 1];
        let pending = match self.stream {
            Some(s) => match s.ioctl {
                Some(ioctl) => {
                    let sock = self.sock;
                    let mut err = 0;
                    // SAFETY: the closure only calls the stream's C function (no destructors to skip).
                    let ready = unsafe {
                        protect(|| ioctl(sock.as_raw(), STREAM_POLL, POLL_RD | POLL_ERR | POLL_HUP, &mut err))
                    }?;
                    if ready == usize::MAX {
                        if err == errno::EINVAL {
                            // A stream without poll support: use its methods from now on.
                            self.stream = None;
                            return self.check_link();
                        }
                        return Err(os_errno(err));
                    }
                    if ready & (POLL_RD | POLL_ERR | POLL_HUP) != 0 {
                        // Data or EOF is waiting: this read does not block.
                        self.read_exact(&mut first)?;
                        true
                    } else {
                        false
                    }
                }
                None => self.peek_by_methods(&mut first)?,
            },
            None => self.peek_by_methods(&mut first)?,
        };
        if pending {
            self.read_packet(Some(first[0]))?; // a stray packet: read and drop
        }
        if self.keepalive != 0 && self.clock.since(self.last_tx)? >= self.keepalive as isize * 1000
        {
            self.send_small(&[mqtt::PINGREQ, 0])?;
            self.wait_for(mqtt::PINGRESP, None)?;
        }
        Ok(())
    }

    /// A non-blocking one-byte read through the object's methods (timeout 0, then back).
    fn peek_by_methods(&mut self, first: &mut [u8; 1]) -> Result<bool> {
        let sock = self.sock;
        sock.call_method(qstr!("settimeout"), &[Obj::int(0)])?;
        let r = sock.call_method(qstr!("readinto"), &[self.rbuf, Obj::int(1)]);
        sock.call_method(qstr!("settimeout"), &[Obj::int(TIMEOUT_S)])?;
        let r = r?;
        if r.is_none() {
            return Ok(false);
        }
        if r.to_int()? == 0 {
            return Err(os_msg(format_args!("connection closed by the MQTT broker")));
        }
        first[0] = self.rbuf.buffer()?[0];
        Ok(true)
    }

    // -- socket I/O ------------------------------------------------------------------------------

    /// Write `buf[off..off + n]` (`buf` a bytes-like object) to the connection.
    fn send(&mut self, buf: Obj, off: usize, n: usize) -> Result<()> {
        let sock = self.sock;
        match self.stream.and_then(|s| s.write) {
            Some(write) => {
                let data = &buf.buffer()?[off..off + n];
                let mut done = 0;
                while done < n {
                    let mut err = 0;
                    let p = data[done..].as_ptr();
                    // SAFETY: as for ioctl above.
                    let k = unsafe { protect(|| write(sock.as_raw(), p.cast(), n - done, &mut err)) }?;
                    if k == usize::MAX {
                        if err == errno::EAGAIN {
                            return Err(Error::os(
                                errno::ETIMEDOUT,
                                format_args!("timed out writing to the MQTT broker"),
                            ));
                        }
                        return Err(os_errno(err));
                    }
                    if k == 0 {
                        return Err(os_msg(format_args!("connection closed by the MQTT broker")));
                    }
                    done += k;
                }
            }
            None => {
                let w = sock.call_method(
                    qstr!("write"),
                    &[buf, Obj::int(off as isize), Obj::int(n as isize)],
                )?;
                if w.is_none() || w.to_int()? != n as isize {
                    let r = py_text(w, true);
                    return Err(os_msg(format_args!(
                        "short write to MQTT broker ({} of {} bytes)",
                        text_of(&r),
                        n
                    )));
                }
            }
        }
        self.last_tx = self.clock.now()?;
        Ok(())
    }

    /// A packet of up to 4 bytes (PINGREQ, DISCONNECT).
    fn send_small(&mut self, p: &[u8]) -> Result<()> {
        // SAFETY: a buffer this code owns; no other view of it is alive here.
        unsafe { self.rbuf.buffer_mut() }?[..p.len()].copy_from_slice(p);
        self.send(self.rbuf, 0, p.len())
    }

    /// Read exactly `out.len()` bytes; a timeout is `OSError(ETIMEDOUT)`.
    fn read_exact(&mut self, out: &mut [u8]) -> Result<()> {
        let sock = self.sock;
        let mut got = 0;
        while got < out.len() {
            let want = out.len() - got;
            let k = match self.stream.and_then(|s| s.read) {
                Some(read) => {
                    let mut err = 0;
                    let p = out[got..].as_mut_ptr();
                    // SAFETY: as for ioctl above.
                    let k = unsafe { protect(|| read(sock.as_raw(), p.cast(), want, &mut err)) }?;
                    if k == usize::MAX {
                        if err == errno::EAGAIN || err == errno::ETIMEDOUT {
                            return Err(timed_out());
                        }
                        return Err(os_errno(err));
                    }
                    k
                }
                None => {
                    let want = want.min(4);
                    let r =
                        sock.call_method(qstr!("readinto"), &[self.rbuf, Obj::int(want as isize)])?;
                    if r.is_none() {
                        return Err(timed_out()); // unix: a timed-out read reports EAGAIN as None
                    }
                    let k = (r.to_int()? as usize).min(want);
                    out[got..got + k].copy_from_slice(&self.rbuf.buffer()?[..k]);
                    k
                }
            };
            if k == 0 {
                return Err(os_msg(format_args!("connection closed by the MQTT broker")));
            }
            got += k;
        }
        Ok(())
    }

    /// Read one packet (its first byte already read if `first` is given). Returns the type
    /// byte, the remaining length and up to 4 body bytes (longer bodies are skipped).
    fn read_packet(&mut self, first: Option<u8>) -> Result<(u8, usize, [u8; 4])> {
        let mut b = [0u8; 1];
        let t = match first {
            Some(t) => t,
            None => {
                self.read_exact(&mut b)?;
                b[0]
            }
        };
        let mut dec = LenDecoder::default();
        let n = loop {
            self.read_exact(&mut b)?;
            match dec.push(b[0]) {
                Ok(Some(n)) => break n,
                Ok(None) => {}
                Err(_) => {
                    return Err(os_msg(format_args!(
                        "malformed packet length from the MQTT broker"
                    )))
                }
            }
        };
        let mut body = [0u8; 4];
        if n <= 4 {
            self.read_exact(&mut body[..n])?;
        } else {
            let mut left = n; // nothing this long is expected; skip it
            while left > 0 {
                let k = left.min(4);
                self.read_exact(&mut body[..k])?;
                left -= k;
            }
            body = [0; 4];
        }
        Ok((t, n, body))
    }

    /// Read packets until one of type `ptype` (and packet id `pid`) arrives; others (a late
    /// PINGRESP, an old PUBACK) are skipped.
    fn wait_for(&mut self, ptype: u8, pid: Option<u16>) -> Result<()> {
        loop {
            let (t, n, body) = self.read_packet(None)?;
            if t & 0xF0 != ptype {
                continue;
            }
            match pid {
                None => return Ok(()),
                Some(p) if n == 2 && body[..2] == p.to_be_bytes() => return Ok(()),
                Some(_) => {}
            }
        }
    }

    // -- connection ------------------------------------------------------------------------------

    fn open(&mut self, given: Option<Obj>) -> Result<()> {
        let (hs, ps) = (py_text(self.host, false), py_text(self.port, false));
        micropython_rt::print(format_args!(
            "Connecting to {}:{}",
            text_of(&hs),
            text_of(&ps)
        ))?;
        let sock = match given {
            Some(s) => s,
            None => self.dial()?,
        };
        self.sock = sock;
        // A socket (or any object with a native stream protocol) is driven directly; other
        // objects (the benchmark's Python discard socket) through their methods.
        self.stream = sock
            .stream()
            .filter(|s| s.read.is_some() && s.write.is_some() && s.ioctl.is_some());
        if let Err(e) = self.handshake() {
            self.sock = Obj::none();
            self.stream = None;
            let _ = sock.call_method(qstr!("close"), &[]);
            return Err(e);
        }
        micropython_rt::print(format_args!("Connection successful"))
    }

    /// Resolve and connect a TCP socket to host:port.
    fn dial(&self) -> Result<Obj> {
        let (hs, ps) = (py_text(self.host, false), py_text(self.port, false));
        let (h, p) = (text_of(&hs), text_of(&ps));
        let socket = import(qstr!("socket"))?;
        let ai = socket
            .attr(qstr!("getaddrinfo"))?
            .call(&[
                self.host,
                self.port,
                Obj::int(0),
                socket.attr(qstr!("SOCK_STREAM"))?,
            ])
            .and_then(|l| l.get_item(Obj::int(0)))
            .map_err(|e| e.context(format_args!("cannot resolve MQTT broker host {}", h)))?;
        let [af, ty, proto] =
            [0, 1, 2].map(|i| ai.get_item(Obj::int(i)).unwrap_or_else(|_| Obj::int(0)));
        let s = socket.attr(qstr!("socket"))?.call(&[af, ty, proto])?;
        let connected = s
            .call_method(qstr!("settimeout"), &[Obj::int(TIMEOUT_S)])
            .and_then(|_| s.call_method(qstr!("connect"), &[ai.get_item(Obj::int(-1))?]));
        if let Err(e) = connected {
            let _ = s.call_method(qstr!("close"), &[]);
            return Err(match e.errno() {
                Some(errno::ECONNREFUSED) => Error::os(
                    errno::ECONNREFUSED,
                    format_args!("MQTT broker {}:{} refused connection", h, p),
                ),
                Some(n) => Error::os(n, format_args!("cannot connect to MQTT broker {}:{}", h, p)),
                None => e.context(format_args!("cannot connect to MQTT broker {}:{}", h, p)),
            });
        }
        Ok(s)
    }

    fn handshake(&mut self) -> Result<()> {
        self.sock
            .call_method(qstr!("settimeout"), &[Obj::int(TIMEOUT_S)])?;
        let (p, n) = {
            fn opt(o: &Obj) -> Result<Option<&[u8]>> {
                if o.is_none() {
                    Ok(None)
                } else {
                    o.buffer().map(Some)
                }
            }
            let c = Connect {
                client_id: self.client_id.buffer()?,
                keepalive: self.keepalive,
                user: opt(&self.user)?,
                password: opt(&self.password)?,
            };
            let p = bytearray(c.packet_len())?;
            // SAFETY: a buffer this code owns; no other view of it is alive here.
            let n = c.write(unsafe { p.buffer_mut() }?);
            (p, n)
        };
        self.send(p, 0, n)?;
        let (t, n, body) = self.read_packet(None)?;
        if t != mqtt::CONNACK || n != 2 {
            return Err(os_msg(format_args!(
                "expected CONNACK from the MQTT broker, got packet type 0x{:02x}",
                t
            )));
        }
        if body[1] != 0 {
            return Err(os_msg(format_args!(
                "MQTT broker refused the connection: {} (CONNACK code {})",
                mqtt::connack_reason(body[1]),
                body[1]
            )));
        }
        Ok(())
    }

    fn reconnect(&mut self, err: Error) -> Result<()> {
        let (hs, ps, es) = (
            py_text(self.host, false),
            py_text(self.port, false),
            error_text(&err),
        );
        micropython_rt::print(format_args!(
            "MQTT connection to {}:{} lost ({}); reconnecting",
            text_of(&hs),
            text_of(&ps),
            text_of(&es)
        ))?;
        if !self.sock.is_none() {
            let _ = self.sock.call_method(qstr!("close"), &[]);
            self.sock = Obj::none();
            self.stream = None;
        }
        let mut delay = BACKOFF_MIN_MS;
        let mut attempt = 1;
        loop {
            match self.open(None) {
                Ok(()) => return Ok(()),
                Err(e) if e.is(ExcKind::OSError) => {
                    let es = error_text(&e);
                    micropython_rt::print(format_args!(
                        "Reconnect attempt {} failed ({}); retrying in {} ms",
                        attempt,
                        text_of(&es),
                        delay
                    ))?;
                }
                Err(e) => return Err(e),
            }
            self.clock.sleep_ms(delay)?;
            delay = (delay * 2).min(BACKOFF_MAX_MS);
            attempt += 1;
        }
    }

    /// Send DISCONNECT (if still connected) and close; errors are moot at this point.
    fn disconnect(&mut self) {
        if self.sock.is_none() {
            return;
        }
        let _ = self.send_small(&[mqtt::DISCONNECT, 0]);
        let _ = self.sock.call_method(qstr!("close"), &[]);
        self.sock = Obj::none();
        self.stream = None;
    }
}

fn timed_out() -> Error {
    Error::os(
        errno::ETIMEDOUT,
        format_args!("timed out waiting for the MQTT broker"),
    )
}
