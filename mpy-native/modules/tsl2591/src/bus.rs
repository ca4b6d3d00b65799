//! `embedded_hal` on top of MicroPython objects: an I2C bus with `machine.I2C`'s methods and a
//! delay that calls `time.sleep_ms` (or a callable the user passes).
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{self, ErrorKind, I2c, NoAcknowledgeSource, Operation, SevenBitAddress};
use micropython_rt::{errno, import, py_err, qstr, Error, Obj, Result};

/// A bus error: the Python exception the bus raised (kept so its errno reaches the user).
#[derive(Debug)]
pub struct BusError(pub Error);

impl i2c::Error for BusError {
    fn kind(&self) -> ErrorKind {
        match self.0.errno() {
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

/// Longest transfer the driver makes (STATUS + 4 data bytes), plus the command byte.
const MAX_XFER: usize = 8;

/// An I2C bus object with `writeto(addr, buf)` and `readfrom_mem_into(addr, reg, buf)`.
///
/// Transfers go through one preallocated `bytearray` per length, so steady-state sampling
/// allocates nothing on the MicroPython heap.
pub struct PyI2c {
    bus: Obj,
    bufs: [Obj; MAX_XFER + 1],
}

impl PyI2c {
    pub fn new(bus: Obj) -> PyI2c {
        PyI2c { bus, bufs: [Obj::NULL; MAX_XFER + 1] }
    }

    /// The bytearray of exactly `len` bytes (made on first use).
    fn buf(&mut self, len: usize) -> Result<Obj> {
        let slot = self.bufs.get_mut(len).ok_or_else(|| py_err!(ValueError, "I2C transfer of {} bytes too long", len))?;
        if slot.is_null() {
            *slot = micropython_rt::global(qstr!("bytearray"))?.call(&[Obj::int(len as isize)])?;
        }
        Ok(*slot)
    }

    fn write_bytes(&mut self, addr: u8, bytes: &[u8]) -> Result<()> {
        let buf = self.buf(bytes.len())?;
        // SAFETY: a buffer this code owns; no other view of it is alive here.
        unsafe { buf.buffer_mut() }?.copy_from_slice(bytes);
        self.bus.call_method(qstr!("writeto"), &[Obj::int(addr as isize), buf])?;
        Ok(())
    }

    fn read_mem(&mut self, addr: u8, reg: u8, out: &mut [u8]) -> Result<()> {
        let buf = self.buf(out.len())?;
        self.bus.call_method(qstr!("readfrom_mem_into"), &[Obj::int(addr as isize), Obj::int(reg as isize), buf])?;
        copy_back(buf, out)
    }

    fn read_plain(&mut self, addr: u8, out: &mut [u8]) -> Result<()> {
        let buf = self.buf(out.len())?;
        self.bus.call_method(qstr!("readfrom_into"), &[Obj::int(addr as isize), buf])?;
        copy_back(buf, out)
    }
}

/// Copy what the bus read into `out`; a bus object that resized our buffer is a bus error,
/// not a panic.
fn copy_back(buf: Obj, out: &mut [u8]) -> Result<()> {
    let got = buf.buffer()?;
    if got.len() != out.len() {
        return Err(micropython_rt::os_err!(
            errno::EIO,
            "I2C bus object returned {} bytes, expected {}",
            got.len(),
            out.len()
        ));
    }
    out.copy_from_slice(got);
    Ok(())
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
        .map_err(BusError)
    }
}

/// Waits by calling `sleep_ms(ms)`: `time.sleep_ms` by default, nothing if the bus says
/// `no_wait` (the simulator), or the callable given as `sleep_ms=`.
pub struct PyDelay {
    sleep: Obj,
    bus: Obj,
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
        Ok(PyDelay { sleep, bus, error: None })
    }

    pub fn bus(&self) -> Obj {
        self.bus
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
