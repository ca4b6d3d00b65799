//! `embedded_hal` on top of MicroPython objects: an I2C bus with `machine.I2C`'s methods and a
//! delay that calls `time.sleep_ms` (or a callable the user passes).
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{self, ErrorKind, I2c, NoAcknowledgeSource, Operation, SevenBitAddress};
use micropython_rt::{errno, import, os_err, qstr, Error, Obj, Result};

/// A bus error: the Python exception, and whether it is ours (a misbehaving bus object: its
/// message says what happened) rather than the bus's own (described by its errno).
#[derive(Debug)]
pub struct BusError {
    pub err: Error,
    pub ours: bool,
}

impl i2c::Error for BusError {
    fn kind(&self) -> ErrorKind {
        match self.err.errno() {
            Some(errno::ENODEV) => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address),
            Some(errno::EIO) => ErrorKind::Bus,
            _ => ErrorKind::Other,
        }
    }
}

/// Words for the errnos an I2C bus raises, as the fallback module prints them.
pub fn describe(e: i32) -> &'static str {
    match e {
        errno::EIO => "bus error (EIO)",
        errno::ENODEV => "no acknowledge (ENODEV)",
        errno::ETIMEDOUT => "bus timeout (ETIMEDOUT)",
        _ => "bus error",
    }
}

/// What went wrong, for a message: our own text, or the words for the bus's errno.
pub fn detail(e: &BusError, errno: i32) -> Obj {
    if e.ours {
        e.err.text()
    } else {
        Obj::str(describe(errno))
    }
}

/// Longest transfer the driver makes (STATUS + 4 data bytes), plus the command byte.
const MAX_XFER: usize = 8;

/// An I2C bus object with `writeto(addr, buf)` and `readfrom_mem_into(addr, reg, buf)`.
///
/// Transfers go through one preallocated `bytearray` per length, so steady-state sampling
/// allocates nothing on the MicroPython heap. Their memory is the runtime's: Rust copies in and
/// out of it, never holding a reference across the bus call.
pub struct PyI2c {
    bus: Obj,
    bufs: [Obj; MAX_XFER + 1],
}

impl PyI2c {
    pub fn new(bus: Obj) -> PyI2c {
        PyI2c { bus, bufs: [Obj::NULL; MAX_XFER + 1] }
    }

    pub fn bus(&self) -> Obj {
        self.bus
    }

    /// The bytearray of exactly `len` bytes (made on first use).
    fn buf(&mut self, len: usize) -> Result<Obj> {
        let Some(slot) = self.bufs.get_mut(len) else {
            return Err(os_err!(errno::EINVAL, "I2C transfer of %d bytes too long", len));
        };
        if slot.is_null() {
            *slot = Obj::bytearray(len)?;
        }
        Ok(*slot)
    }

    fn write_bytes(&mut self, addr: u8, bytes: &[u8]) -> core::result::Result<(), BusError> {
        let buf = self.buf(bytes.len()).and_then(|b| b.copy_from(0, bytes).map(|_| b)).map_err(ours)?;
        self.bus.call_method(qstr!("writeto"), &[Obj::int(addr as isize), buf]).map_err(theirs)?;
        Ok(())
    }

    fn read_mem(&mut self, addr: u8, reg: u8, out: &mut [u8]) -> core::result::Result<(), BusError> {
        let buf = self.buf(out.len()).map_err(ours)?;
        self.bus
            .call_method(qstr!("readfrom_mem_into"), &[Obj::int(addr as isize), Obj::int(reg as isize), buf])
            .map_err(theirs)?;
        copy_back(buf, out)
    }

    fn read_plain(&mut self, addr: u8, out: &mut [u8]) -> core::result::Result<(), BusError> {
        let buf = self.buf(out.len()).map_err(ours)?;
        self.bus.call_method(qstr!("readfrom_into"), &[Obj::int(addr as isize), buf]).map_err(theirs)?;
        copy_back(buf, out)
    }
}

fn ours(err: Error) -> BusError {
    BusError { err, ours: true }
}
fn theirs(err: Error) -> BusError {
    BusError { err, ours: false }
}

/// Copy what the bus read into `out`; a bus object that resized our buffer is a bus error,
/// not a panic.
fn copy_back(buf: Obj, out: &mut [u8]) -> core::result::Result<(), BusError> {
    let got = buf.buffer_len().map_err(ours)?;
    if got != out.len() {
        return Err(ours(os_err!(errno::EIO, "I2C bus object returned %d bytes, expected %d", got, out.len())));
    }
    buf.copy_to(0, out).map_err(ours)
}

impl i2c::ErrorType for PyI2c {
    type Error = BusError;
}

impl I2c<SevenBitAddress> for PyI2c {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> core::result::Result<(), BusError> {
        // A register read (write [reg] then read) maps to readfrom_mem_into, one bus transaction
        // with a repeated start, as machine.I2C does it.
        match operations {
            [Operation::Write(w), Operation::Read(r)] if w.len() == 1 => self.read_mem(address, w[0], r),
            ops => ops.iter_mut().try_for_each(|op| match op {
                Operation::Write(w) => self.write_bytes(address, w),
                Operation::Read(r) => self.read_plain(address, r),
            }),
        }
    }
}

/// Waits by calling `sleep_ms(ms)`: `time.sleep_ms` by default, nothing if the bus says
/// `no_wait` (the simulator), or the callable given as `sleep_ms=`.
pub struct PyDelay {
    sleep: Obj,
    error: Option<Error>,
}

impl PyDelay {
    pub fn new(sleep_ms: Option<Obj>, bus: Obj) -> Result<PyDelay> {
        let sleep = match sleep_ms {
            Some(f) => f,
            None => {
                let no_wait = match bus.attr(qstr!("no_wait")) {
                    Ok(v) => v.is_true()?,
                    Err(_) => false,
                };
                if no_wait {
                    Obj::NULL
                } else {
                    import(qstr!("time"))?.attr(qstr!("sleep_ms"))?
                }
            }
        };
        Ok(PyDelay { sleep, error: None })
    }

    /// The first error a sleep raised (e.g. KeyboardInterrupt), if any.
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }
}

impl DelayNs for PyDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.delay_ms(ns.div_ceil(1_000_000));
    }

    fn delay_ms(&mut self, ms: u32) {
        if self.sleep.is_null() || self.error.is_some() {
            return;
        }
        if let Err(e) = self.sleep.call(&[Obj::int(ms as isize)]) {
            self.error = Some(e);
        }
    }
}
