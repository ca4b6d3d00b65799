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
//! The hot path (`on_next`) allocates nothing on the MicroPython heap: the event is printed as
//! JSON by the runtime's own machinery (what `json.dumps` does, so byte-identical by
//! construction; see `encode.rs`) straight into a frame `bytearray` kept by the instance,
//! behind a pre-built PUBLISH header and topic, and sent with one write. The transport is
//! chosen once, at connect: a real socket's native stream protocol (poll, read, write without
//! method calls), or any other object's `write`/`readinto`/`settimeout` methods.
//!
//! Not in the ESP8266 build (tests only): `_json(x)` returns the JSON text the writer would
//! send for `x`, `_own_floats()` whether floats are formatted natively on this port.
#![no_std]

mod encode;

#[cfg(not(target_arch = "xtensa"))]
use micropython_rt::Stream;
use micropython_rt::{
    errno, import, os_err, print, py_err, qstr, static_qstr, Args, Builtin, Class, Error, ExcKind, Method, Module, Obj,
    PrintKind, Printer, Qstr, Result, StaticQstr,
};
use mqtt_codec::mqtt::{self, Connect, LenDecoder, MAX_HEADER, MAX_REMAINING};

micropython_rt::entry!(init);

fn init(m: &Module) -> Result<()> {
    #[cfg(not(target_arch = "xtensa"))]
    {
        m.func(qstr!("_json"), 1, 1, |a| {
            let mut buf = Obj::bytearray(64)?;
            let n = encode_into(a[0], &mut buf, 0, 0)?;
            let mut tmp = [0u8; 256];
            if n > tmp.len() {
                return Err(py_err!(ValueError, "_json: text longer than %d bytes", tmp.len()));
            }
            buf.copy_to(0, &mut tmp[..n])?;
            let s = core::str::from_utf8(&tmp[..n]).map_err(|_| py_err!(ValueError, "JSON is not UTF-8"))?;
            Ok(Obj::str(s))
        });
        // True when floats are formatted by our model of this port's repr (else by the runtime).
        m.func(qstr!("_own_floats"), 0, 0, |_| {
            #[cfg(target_pointer_width = "64")]
            return Ok(Obj::bool(encode::own_floats()?));
            #[cfg(not(target_pointer_width = "64"))]
            return Ok(Obj::bool(false));
        });
    }
    m.class::<MqttWriter>().methods(&METHODS).register(m);
    Ok(())
}

static METHODS: [Method<MqttWriter>; 3] = [
    Method { name: static_qstr!("on_next"), min: 1, max: 1, f: |w, a| w.on_next(a.arg(0)).map(|_| Obj::none()) },
    Method {
        name: static_qstr!("on_error"),
        min: 1,
        max: 1,
        f: |w, a| {
            print("Disconnecting from MQTT broker due to error: %r", &[a.arg(0)])?;
            w.disconnect();
            Ok(Obj::none())
        },
    },
    Method {
        name: static_qstr!("on_completed"),
        min: 0,
        max: 0,
        f: |w, _| {
            print("Disconnecting from MQTT broker", &[])?;
            w.disconnect();
            Ok(Obj::none())
        },
    },
];

/// Socket timeout (s) for the handshake, acks and writes.
const TIMEOUT_S: isize = 10;
const BACKOFF_MIN_MS: isize = 500;
const BACKOFF_MAX_MS: isize = 30_000;
/// Initial payload room in the frame buffer; it grows (doubling) for larger events.
const PAYLOAD_CAP: usize = 128;

#[cfg(not(target_arch = "xtensa"))]
mod poll {
    // py/stream.h: the poll ioctl and its flags (stable parts of the stream protocol).
    pub const STREAM_POLL: usize = 3;
    pub const POLL_RD: usize = 0x01;
    pub const POLL_ERR: usize = 0x08;
    pub const POLL_HUP: usize = 0x10;
}
#[cfg(not(target_arch = "xtensa"))]
use poll::*;

/// Encode `x` into `buf[at..]`, replacing `buf` by a larger bytearray (keeping `buf[..at]`) as
/// often as needed; the total frame may not exceed `at + MAX_REMAINING - overhead`. Returns the
/// payload length.
fn encode_into(x: Obj, buf: &mut Obj, at: usize, overhead: usize) -> Result<usize> {
    let limit = MAX_REMAINING - overhead;
    #[cfg(target_pointer_width = "64")]
    {
        let mut tmp = [0u8; 160];
        if let Some(n) = encode::write_event(x, &mut tmp)? {
            if buf.buffer_len()? < at + n {
                grow(buf, at, at + n)?;
            }
            buf.copy_from(at, &tmp[..n])?;
            return Ok(n);
        }
    }
    loop {
        // The runtime's JSON printing (what `json.dumps` does) into the frame. The frame is
        // reachable from Python (a socket object's `write` gets it) and printing may run Python
        // code (a `__repr__`), so the printer looks the frame's memory up at every append.
        let mut p = Printer::into_buffer(*buf, at);
        p.print(x, PrintKind::Json)?;
        let n = p.len();
        if n > limit {
            return Err(py_err!(ValueError, "event too large for one MQTT packet"));
        }
        if p.fits() {
            return Ok(n);
        }
        grow(buf, at, at + n.max(p.capacity() * 2).min(limit))?;
    }
}

/// Replace `buf` by a bytearray of `size` bytes holding the first `keep` bytes of the old one.
fn grow(buf: &mut Obj, keep: usize, size: usize) -> Result<()> {
    let bigger = Obj::bytearray(size)?;
    let (old, len) = buf.buffer_raw(false)?;
    let (new, _) = bigger.buffer_raw(true)?;
    // SAFETY: at most `len` bytes of the old buffer (Python may have shrunk it), `keep < size`
    // of the new one, distinct, and no runtime call intervenes.
    unsafe { core::ptr::copy_nonoverlapping(old, new, keep.min(len)) };
    *buf = bigger;
    Ok(())
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

/// The transport, chosen once at connect: an object's native stream protocol (a socket), or
/// its Python methods (`write`, `readinto`, `settimeout`).
///
/// The ESP8266 build has only the method path (a board's socket has those methods too, and
/// code space is what that chip lacks); the native stream path is for 64-bit ports, where a
/// real socket then costs no method calls per event.
#[derive(Copy, Clone)]
enum Link {
    Closed,
    #[cfg(not(target_arch = "xtensa"))]
    Stream(Stream),
    Methods(Obj),
}

/// The constructor's parameters, in order.
static PARAMS: [StaticQstr; 9] = [
    static_qstr!("name"),
    static_qstr!("host"),
    static_qstr!("port"),
    static_qstr!("topic"),
    static_qstr!("qos"),
    static_qstr!("keepalive"),
    static_qstr!("user"),
    static_qstr!("password"),
    static_qstr!("sock"),
];

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
    /// The connection (None when closed) and how to drive it.
    sock: Obj,
    link: Link,
    /// `clock.now()` at the last packet sent.
    last_tx: isize,
    /// `[MAX_HEADER room][topic][packet id if QoS 1][payload]`: PUBLISH header written
    /// right-aligned before the topic, so a frame is one contiguous slice.
    frame: Obj,
    payload_at: usize,
    /// Scratch for the method path (`readinto`, small packets).
    rbuf: Obj,
    clock: Clock,
}

/// A str, bytes or bytearray argument as bytes (MQTT UTF-8 string, at most 65535 bytes).
fn utf8_arg(what: &'static str, v: Obj) -> Result<Obj> {
    if !(v.is_str() || v.is_type(Builtin::bytes) || v.is_type(Builtin::bytearray)) {
        return Err(py_err!(ValueError, "%s must be a str or bytes, got %r", what, v));
    }
    let b = Builtin::bytes;
    let bytes = micropython_rt::builtin(b).call(&[v, Obj::str("utf-8")]).or_else(|_| micropython_rt::builtin(b).call(&[v]))?;
    if bytes.buffer_len()? > 0xFFFF {
        return Err(py_err!(ValueError, "%s is longer than 65535 bytes", what));
    }
    Ok(bytes)
}

impl Class for MqttWriter {
    fn name() -> Qstr {
        qstr!("MQTTWriter")
    }

    fn make_new(args: &Args<'_>) -> Result<Self> {
        let mut w = core::mem::MaybeUninit::uninit();
        Self::make_new_in(&mut w, args)?;
        // SAFETY: make_new_in returned Ok, so it wrote the value.
        Ok(unsafe { w.assume_init() })
    }

    /// Built in place (the instance's memory), then connected.
    fn make_new_in(this: &mut core::mem::MaybeUninit<Self>, args: &Args<'_>) -> Result<()> {
        let mut a = [Obj::NULL; 9];
        args.parse("MQTTWriter", &PARAMS, 2, &mut a)?;
        let or = |o: Obj, d: Obj| if o.is_null() { d } else { o };
        let opt = |o: Obj| if o.is_null() || o.is_none() { None } else { Some(o) };
        let (name, host) = (a[0], a[1]);
        let port = or(a[2], Obj::int(1883));
        let topic = if a[3].is_null() { Obj::str("sensor-data") } else { a[3] };
        let qos_obj = or(a[4], Obj::int(0));
        let keepalive_obj = or(a[5], Obj::int(60));
        let (user, password, sock) = (opt(a[6]), opt(a[7]), opt(a[8]));

        if !matches!(port.to_int(), Ok(1..=65535)) {
            return Err(py_err!(ValueError, "port must be 1..65535, got %r", port));
        }
        let qos = match qos_obj.to_int() {
            Ok(q @ 0..=1) => q as u8,
            _ => return Err(py_err!(ValueError, "qos must be 0 or 1, got %r", qos_obj)),
        };
        let keepalive = match keepalive_obj.to_int() {
            Ok(k @ 0..=0xFFFF) => k as u16,
            _ => return Err(py_err!(ValueError, "keepalive must be 0..65535 s, got %r", keepalive_obj)),
        };
        if password.is_some() && user.is_none() {
            return Err(py_err!(ValueError, "MQTT 3.1.1 needs a user name to send a password"));
        }
        let client_id = utf8_arg("name", name)?;
        let topic_b = utf8_arg("topic", topic)?;
        let tb = topic_b.bytes_ref()?;
        if tb.is_empty() || tb.iter().any(|&c| c == b'+' || c == b'#') {
            return Err(py_err!(ValueError, "topic must be non-empty with no wildcards, got %r", topic));
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
        let frame = Obj::bytearray(payload_at + PAYLOAD_CAP)?;
        frame.copy_from(MAX_HEADER, &(tb.len() as u16).to_be_bytes())?;
        frame.copy_from(MAX_HEADER + 2, tb)?;
        let w = this.write(MqttWriter {
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
            link: Link::Closed,
            last_tx: 0,
            frame,
            payload_at,
            rbuf: Obj::bytearray(4)?,
            clock: Clock::new()?,
        });
        w.open(sock)
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

/// `OSError(errno)` as the runtime raises it for a failed socket call.
#[cfg(not(target_arch = "xtensa"))]
fn os_errno(e: i32) -> Error {
    match micropython_rt::builtin(Builtin::OSError).call(&[Obj::int(e as isize)]) {
        Ok(exc) => Error::from_exception(exc),
        Err(err) => err,
    }
}

#[inline(never)]
fn not_connected() -> Error {
    Error::new(ExcKind::OSError, "not connected")
}

fn closed() -> Error {
    Error::new(ExcKind::OSError, "connection closed by the MQTT broker")
}

fn timed_out() -> Error {
    os_err!(errno::ETIMEDOUT, "timed out waiting for the MQTT broker")
}

impl MqttWriter {
    // -- ThingFlow subscriber API --------------------------------------------------------------

    fn on_next(&mut self, x: Obj) -> Result<()> {
        let overhead = self.payload_at - MAX_HEADER;
        let n = encode_into(x, &mut self.frame, self.payload_at, overhead)?;
        loop {
            let sent = if matches!(self.link, Link::Closed) {
                Err(not_connected())
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
        let mut hdr = [0u8; MAX_HEADER];
        let start = mqtt::publish_header(&mut hdr, self.qos, rem);
        self.frame.copy_from(start, &hdr[start..])?;
        let pid = self.pid % 0xFFFF + 1; // 1..=65535, never 0
        if self.qos == 1 {
            self.pid = pid;
            self.frame.copy_from(self.payload_at - 2, &pid.to_be_bytes())?;
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
        if self.peek(&mut first)? {
            self.read_packet(Some(first[0]), &mut [0; 4])?; // a stray packet: read and drop
        }
        if self.keepalive != 0 && self.clock.since(self.last_tx)? >= self.keepalive as isize * 1000 {
            self.send_small(&[mqtt::PINGREQ, 0])?;
            self.wait_for(mqtt::PINGRESP, None)?;
        }
        Ok(())
    }

    // -- the transport ---------------------------------------------------------------------------

    /// A non-blocking one-byte read: `Ok(true)` with the byte if one was pending.
    fn peek(&mut self, first: &mut [u8; 1]) -> Result<bool> {
        match self.link {
            #[cfg(not(target_arch = "xtensa"))]
            Link::Stream(s) => match s.ioctl(STREAM_POLL, POLL_RD | POLL_ERR | POLL_HUP)? {
                Ok(ready) if ready & (POLL_RD | POLL_ERR | POLL_HUP) != 0 => {
                    // Data or EOF is waiting: this read does not block.
                    self.read_exact(first)?;
                    Ok(true)
                }
                Ok(_) => Ok(false),
                Err(e) => Err(os_errno(e)),
            },
            Link::Methods(sock) => {
                sock.call_method(qstr!("settimeout"), &[Obj::int(0)])?;
                let r = sock.call_method(qstr!("readinto"), &[self.rbuf, Obj::int(1)]);
                sock.call_method(qstr!("settimeout"), &[Obj::int(TIMEOUT_S)])?;
                let r = r?;
                if r.is_none() {
                    return Ok(false);
                }
                if r.to_int()? == 0 {
                    return Err(closed());
                }
                self.rbuf.copy_to(0, first)?;
                Ok(true)
            }
            Link::Closed => Err(not_connected()),
        }
    }

    /// Write `buf[off..off + n]` (`buf` a bytes-like object) to the connection.
    fn send(&mut self, buf: Obj, off: usize, n: usize) -> Result<()> {
        match self.link {
            #[cfg(not(target_arch = "xtensa"))]
            Link::Stream(s) => {
                let mut done = 0;
                while done < n {
                    let (p, len) = buf.buffer_raw(false)?;
                    if off + n > len {
                        return Err(py_err!(ValueError, "frame shorter than its packet"));
                    }
                    // SAFETY: in bounds (checked); the pointer is used by this one call only.
                    match unsafe { s.write(p.add(off + done), n - done) }? {
                        Ok(0) => return Err(closed()),
                        Ok(k) => done += k,
                        Err(errno::EAGAIN) => {
                            return Err(os_err!(errno::ETIMEDOUT, "timed out writing to the MQTT broker"))
                        }
                        Err(e) => return Err(os_errno(e)),
                    }
                }
            }
            Link::Methods(sock) => {
                let w = sock.call_method(qstr!("write"), &[buf, Obj::int(off as isize), Obj::int(n as isize)])?;
                if w.is_none() || w.to_int()? != n as isize {
                    return Err(py_err!(OSError, "short write to MQTT broker (%r of %d bytes)", w, n));
                }
            }
            Link::Closed => return Err(not_connected()),
        }
        self.last_tx = self.clock.now()?;
        Ok(())
    }

    /// A packet of up to 4 bytes (PINGREQ, DISCONNECT).
    fn send_small(&mut self, p: &[u8]) -> Result<()> {
        self.rbuf.copy_from(0, p)?;
        self.send(self.rbuf, 0, p.len())
    }

    /// Read exactly `out.len()` bytes; a timeout is `OSError(ETIMEDOUT)`.
    fn read_exact(&mut self, out: &mut [u8]) -> Result<()> {
        let mut got = 0;
        while got < out.len() {
            let want = out.len() - got;
            let k = match self.link {
                #[cfg(not(target_arch = "xtensa"))]
                Link::Stream(s) => {
                    // SAFETY: our stack buffer, in bounds.
                    match unsafe { s.read(out[got..].as_mut_ptr(), want) }? {
                        Ok(k) => k,
                        Err(errno::EAGAIN | errno::ETIMEDOUT) => return Err(timed_out()),
                        Err(e) => return Err(os_errno(e)),
                    }
                }
                Link::Methods(sock) => {
                    let want = want.min(4);
                    let r = sock.call_method(qstr!("readinto"), &[self.rbuf, Obj::int(want as isize)])?;
                    if r.is_none() {
                        return Err(timed_out()); // unix: a timed-out read reports EAGAIN as None
                    }
                    let k = (r.to_int()? as usize).min(want);
                    self.rbuf.copy_to(0, &mut out[got..got + k])?;
                    k
                }
                Link::Closed => return Err(not_connected()),
            };
            if k == 0 {
                return Err(closed());
            }
            got += k;
        }
        Ok(())
    }

    /// Read one packet (its first byte already read if `first` is given): up to 4 body bytes
    /// into `body` (longer bodies are skipped, `body` zeroed). Returns the type byte and the
    /// remaining length as `type | min(length, 0xFFFFFF) << 8` (one word).
    fn read_packet(&mut self, first: Option<u8>, body: &mut [u8; 4]) -> Result<u32> {
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
                Err(_) => return Err(Error::new(ExcKind::OSError, "malformed packet length from the MQTT broker")),
            }
        };
        let mut left = n; // more than 4 bytes are not expected: skipped
        while left > 0 {
            let k = left.min(4);
            self.read_exact(&mut body[..k])?;
            left -= k;
        }
        if n > 4 {
            *body = [0; 4];
        }
        Ok(t as u32 | (n.min(0xFF_FFFF) as u32) << 8)
    }

    /// Read packets until one of type `ptype` (and packet id `pid`) arrives; others (a late
    /// PINGRESP, an old PUBACK) are skipped.
    fn wait_for(&mut self, ptype: u8, pid: Option<u16>) -> Result<()> {
        loop {
            let mut body = [0u8; 4];
            let tn = self.read_packet(None, &mut body)?;
            let (t, n) = (tn as u8, tn >> 8);
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
        print("Connecting to %s:%s", &[self.host, self.port])?;
        let sock = match given {
            Some(s) => s,
            None => self.dial()?,
        };
        self.sock = sock;
        // A socket (or any object with a full native stream protocol) is driven directly; other
        // objects (the benchmark's Python discard socket) through their methods.
        #[cfg(not(target_arch = "xtensa"))]
        {
            self.link = match sock.stream() {
                Some(s) if s.is_full() && !matches!(s.ioctl(STREAM_POLL, 0), Ok(Err(errno::EINVAL))) => Link::Stream(s),
                _ => Link::Methods(sock),
            };
        }
        #[cfg(target_arch = "xtensa")]
        {
            self.link = Link::Methods(sock);
        }
        if let Err(e) = self.handshake() {
            self.sock = Obj::none();
            self.link = Link::Closed;
            let _ = sock.call_method(qstr!("close"), &[]);
            return Err(e);
        }
        print("Connection successful", &[])
    }

    /// Resolve and connect a TCP socket to host:port.
    fn dial(&self) -> Result<Obj> {
        let socket = import(qstr!("socket"))?;
        let ai = socket
            .attr(qstr!("getaddrinfo"))?
            .call(&[self.host, self.port, Obj::int(0), socket.attr(qstr!("SOCK_STREAM"))?])
            .and_then(|l| l.get_item(Obj::int(0)))
            .map_err(|e| e.context("cannot resolve MQTT broker host %s", &[self.host]))?;
        // socket(af, type, proto) from the entry (0 for an item it lacks)
        let mut sargs = [Obj::NULL; 3];
        for (i, o) in sargs.iter_mut().enumerate() {
            *o = ai.get_item(Obj::int(i as isize)).unwrap_or_else(|_| Obj::int(0));
        }
        let s = socket.attr(qstr!("socket"))?.call(&sargs)?;
        let connected = s
            .call_method(qstr!("settimeout"), &[Obj::int(TIMEOUT_S)])
            .and_then(|_| s.call_method(qstr!("connect"), &[ai.get_item(Obj::int(-1))?]));
        if let Err(e) = connected {
            let _ = s.call_method(qstr!("close"), &[]);
            let hp = [self.host, self.port];
            return Err(match e.errno() {
                Some(n) => Error::os(
                    n,
                    if n == errno::ECONNREFUSED {
                        "MQTT broker %s:%s refused connection"
                    } else {
                        "cannot connect to MQTT broker %s:%s"
                    },
                    &hp,
                ),
                None => e.context("cannot connect to MQTT broker %s:%s", &hp),
            });
        }
        Ok(s)
    }

    fn handshake(&mut self) -> Result<()> {
        self.sock.call_method(qstr!("settimeout"), &[Obj::int(TIMEOUT_S)])?;
        fn opt(o: &Obj) -> Result<Option<&[u8]>> {
            if o.is_none() {
                Ok(None)
            } else {
                o.bytes_ref().map(Some)
            }
        }
        let c = Connect {
            client_id: self.client_id.bytes_ref()?,
            keepalive: self.keepalive,
            user: opt(&self.user)?,
            password: opt(&self.password)?,
        };
        let p = Obj::bytearray(c.packet_len())?;
        // SAFETY: a fresh buffer of ours; no runtime call while the slice lives.
        let n = c.write(unsafe { p.buffer_mut() }?);
        self.send(p, 0, n)?;
        let mut body = [0u8; 4];
        let tn = self.read_packet(None, &mut body)?;
        let (t, n) = (tn as u8, tn >> 8);
        if t != mqtt::CONNACK || n != 2 {
            return Err(py_err!(OSError, "expected CONNACK from the MQTT broker, got packet type 0x%02x", t));
        }
        if body[1] != 0 {
            return Err(py_err!(
                OSError,
                "MQTT broker refused the connection: %s (CONNACK code %d)",
                mqtt::connack_reason(body[1]),
                body[1]
            ));
        }
        Ok(())
    }

    fn reconnect(&mut self, err: Error) -> Result<()> {
        print("MQTT connection to %s:%s lost (%s); reconnecting", &[self.host, self.port, err.exception()])?;
        if !self.sock.is_none() {
            let _ = self.sock.call_method(qstr!("close"), &[]);
            self.sock = Obj::none();
            self.link = Link::Closed;
        }
        let mut delay = BACKOFF_MIN_MS;
        let mut attempt = 1;
        loop {
            match self.open(None) {
                Ok(()) => return Ok(()),
                Err(e) if e.is(ExcKind::OSError) => {
                    print("Reconnect attempt %d failed (%s); retrying in %d ms", &[Obj::int(attempt), e.exception(), Obj::int(delay)])?;
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
        self.link = Link::Closed;
    }
}
