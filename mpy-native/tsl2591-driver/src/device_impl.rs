//! Register map and the bus-facing driver methods.

use embedded_hal::{delay::DelayNs, i2c::I2c};

use crate::{
    lux::{calculate_lux, is_saturated},
    types::{Error, Gain, IntegrationTime},
};

/// Register addresses (datasheet names). Only the ones the driver uses.
pub struct Register;
impl Register {
    /// ENABLE: power and function enables.
    pub const ENABLE: u8 = 0x00;
    /// CONTROL: integration time (bits 2:0) and gain (bits 5:4).
    pub const CONTROL: u8 = 0x01;
    /// Device ID. The tutorial's map says 0x0A, a TSL2561 leftover: on the
    /// TSL2591 0x0A is NPAIHTL (a threshold byte) and the ID lives at 0x12.
    pub const ID: u8 = 0x12;
    /// STATUS: bit 0 AVALID; followed by C0DATAL/H, C1DATAL/H (auto-increment).
    pub const STATUS: u8 = 0x13;
}

/// Bit values of the command byte and the registers.
pub struct BitFlags;
impl BitFlags {
    /// CMD bit plus TRANSACTION = 01 (normal operation, address auto-increment).
    pub const COMMAND: u8 = 0xA0;
    /// ENABLE.PON: power on.
    pub const PON: u8 = 0x01;
    /// ENABLE.AEN: ALS enable.
    pub const AEN: u8 = 0x02;
    /// ALS interrupt enable; set like the tutorial's driver does.
    pub const AIEN: u8 = 0x10;
    /// STATUS.AVALID: an integration cycle completed since AEN.
    pub const AVALID: u8 = 0x01;
}

/// The I²C address of the TSL2591 (fixed in the silicon).
pub const DEFAULT_ADDRESS: u8 = 0x29;
/// What the ID register (0x12) reads on a TSL2591.
pub const DEVICE_ID: u8 = 0x50;
/// ENABLE value written to start a measurement (PON | AEN | AIEN).
pub const ENABLE_ON: u8 = BitFlags::PON | BitFlags::AEN | BitFlags::AIEN;
/// ENABLE value written to power the ALS down between measurements.
pub const ENABLE_OFF: u8 = 0x00;
/// Extra STATUS polls when AVALID is not yet set after [`IntegrationTime::wait_ms`].
pub const AVALID_POLLS: u8 = 20;
/// Pause between two such polls, in milliseconds.
pub const AVALID_POLL_MS: u32 = 5;
/// Most measurements [`Tsl2591::lux_auto_gain`] makes for one result.
pub const AUTO_GAIN_ATTEMPTS: u8 = 4;

/// TSL2591 driver.
///
/// Owns the bus; caches the integration time and gain last written so the lux
/// maths and CONTROL writes need no read-back.
#[derive(Debug)]
pub struct Tsl2591<I2C> {
    i2c: I2C,
    address: u8,
    integration: IntegrationTime,
    gain: Gain,
}

impl<I2C> Tsl2591<I2C> {
    /// New driver on `i2c` at `address` (normally [`DEFAULT_ADDRESS`]), with
    /// the power-on settings (100 ms, low gain). No bus traffic until [`init`].
    ///
    /// [`init`]: Tsl2591::init
    pub fn new(i2c: I2C, address: u8) -> Self {
        Self::new_with_config(i2c, address, IntegrationTime::default(), Gain::default())
    }

    /// Like [`new`](Tsl2591::new) but with the settings that [`init`] will
    /// write, so construction takes a single CONTROL write.
    ///
    /// [`init`]: Tsl2591::init
    pub fn new_with_config(
        i2c: I2C,
        address: u8,
        integration: IntegrationTime,
        gain: Gain,
    ) -> Self {
        Tsl2591 {
            i2c,
            address,
            integration,
            gain,
        }
    }

    /// Give the bus back.
    pub fn destroy(self) -> I2C {
        self.i2c
    }

    /// The bus, borrowed.
    pub fn i2c(&self) -> &I2C {
        &self.i2c
    }

    /// The I²C address in use.
    pub fn address(&self) -> u8 {
        self.address
    }

    /// The integration time last written (or to be written by `init`).
    pub fn integration(&self) -> IntegrationTime {
        self.integration
    }

    /// The gain last written (or to be written by `init`).
    pub fn gain(&self) -> Gain {
        self.gain
    }
}

impl<I2C, E> Tsl2591<I2C>
where
    I2C: I2c<Error = E>,
{
    /// Check the device ID, write the cached integration time and gain, and
    /// power the ALS down until the first measurement.
    ///
    /// Fails with [`Error::IdMismatch`] if something other than a TSL2591
    /// answers, and [`Error::I2c`] if nothing does.
    pub fn init(&mut self) -> Result<(), Error<E>> {
        let id = self.device_id()?;
        if id != DEVICE_ID {
            return Err(Error::IdMismatch(id));
        }
        self.write_control(self.integration, self.gain)?;
        self.disable()
    }

    /// Read the device-ID register (0x50 on a TSL2591).
    pub fn device_id(&mut self) -> Result<u8, Error<E>> {
        let mut id = [0u8; 1];
        self.read_registers(Register::ID, &mut id)?;
        Ok(id[0])
    }

    /// Set the integration time (one CONTROL write).
    pub fn set_integration(&mut self, integration: IntegrationTime) -> Result<(), Error<E>> {
        self.write_control(integration, self.gain)
    }

    /// Set the gain (one CONTROL write).
    pub fn set_gain(&mut self, gain: Gain) -> Result<(), Error<E>> {
        self.write_control(self.integration, gain)
    }

    /// Set both at once (one CONTROL write).
    pub fn set_config(&mut self, integration: IntegrationTime, gain: Gain) -> Result<(), Error<E>> {
        self.write_control(integration, gain)
    }

    /// Power on and start integrating (ENABLE = PON | AEN | AIEN).
    pub fn enable(&mut self) -> Result<(), Error<E>> {
        self.write_register(Register::ENABLE, ENABLE_ON)
    }

    /// Power off (ENABLE = 0).
    pub fn disable(&mut self) -> Result<(), Error<E>> {
        self.write_register(Register::ENABLE, ENABLE_OFF)
    }

    /// One measurement: enable, wait the integration time (plus margin, then
    /// poll STATUS.AVALID if needed), read both channels, disable.
    ///
    /// Returns `(full, ir)`: channel 0 (full spectrum) and channel 1 (infrared).
    /// STATUS and the four data bytes come in one 5-byte block read from 0x13.
    /// If the read fails the driver still tries to power the sensor down and
    /// reports the read's error.
    pub fn get_full_luminosity<D: DelayNs>(
        &mut self,
        delay: &mut D,
    ) -> Result<(u16, u16), Error<E>> {
        self.enable()?;
        delay.delay_ms(self.integration.wait_ms());
        let result = self.read_when_valid(delay);
        let off = self.disable();
        let channels = result?;
        off?;
        Ok(channels)
    }

    /// One measurement converted to lux (single precision).
    ///
    /// A saturated channel gives [`Error::Saturated`]; use
    /// [`get_full_luminosity`](Tsl2591::get_full_luminosity) with
    /// [`calculate_lux_f64`](crate::calculate_lux_f64) for double precision.
    pub fn lux<D: DelayNs>(&mut self, delay: &mut D) -> Result<f32, Error<E>> {
        let (full, ir) = self.get_full_luminosity(delay)?;
        calculate_lux(self.integration, self.gain, full, ir).ok_or(Error::Saturated)
    }

    /// Like [`lux`](Tsl2591::lux) but adjusts the gain first (auto-gain; the
    /// plain methods never change the gain on their own).
    ///
    /// After each measurement: if channel 0 is above 90 % of full scale (or
    /// saturated) and a lower gain exists, the gain steps down and it measures
    /// again; if channel 0 scaled by the next higher gain would still stay
    /// below that limit, the gain steps up and it measures again. At most
    /// [`AUTO_GAIN_ATTEMPTS`] measurements; the new gain stays set.
    pub fn lux_auto_gain<D: DelayNs>(&mut self, delay: &mut D) -> Result<f32, Error<E>> {
        let mut attempts = AUTO_GAIN_ATTEMPTS;
        loop {
            let (full, ir) = self.get_full_luminosity(delay)?;
            attempts -= 1;
            if attempts > 0 {
                if let Some(gain) = self.better_gain(full, ir) {
                    self.set_gain(gain)?;
                    continue;
                }
            }
            return calculate_lux(self.integration, self.gain, full, ir).ok_or(Error::Saturated);
        }
    }

    fn better_gain(&self, full: u16, ir: u16) -> Option<Gain> {
        let limit = self.integration.max_count() as u32 * 9 / 10;
        if is_saturated(full, ir) || full as u32 > limit {
            return self.gain.lower();
        }
        let higher = self.gain.higher()?;
        let scaled = full as u32 * higher.factor() as u32 / self.gain.factor() as u32;
        if scaled < limit {
            Some(higher)
        } else {
            None
        }
    }

    /// Read STATUS + C0DATAL..C1DATAH; re-read while AVALID is clear, a bounded
    /// number of times.
    fn read_when_valid<D: DelayNs>(&mut self, delay: &mut D) -> Result<(u16, u16), Error<E>> {
        let mut block = [0u8; 5];
        let mut polls_left = AVALID_POLLS;
        loop {
            self.read_registers(Register::STATUS, &mut block)?;
            if block[0] & BitFlags::AVALID != 0 {
                let full = u16::from_le_bytes([block[1], block[2]]);
                let ir = u16::from_le_bytes([block[3], block[4]]);
                return Ok((full, ir));
            }
            if polls_left == 0 {
                return Err(Error::NotReady);
            }
            polls_left -= 1;
            delay.delay_ms(AVALID_POLL_MS);
        }
    }

    fn write_control(&mut self, integration: IntegrationTime, gain: Gain) -> Result<(), Error<E>> {
        self.write_register(Register::CONTROL, integration.code() | gain.code())?;
        // Cache only what the device accepted.
        self.integration = integration;
        self.gain = gain;
        Ok(())
    }

    fn write_register(&mut self, register: u8, value: u8) -> Result<(), Error<E>> {
        self.i2c
            .write(self.address, &[BitFlags::COMMAND | register, value])
            .map_err(Error::I2c)
    }

    fn read_registers(&mut self, register: u8, buf: &mut [u8]) -> Result<(), Error<E>> {
        self.i2c
            .write_read(self.address, &[BitFlags::COMMAND | register], buf)
            .map_err(Error::I2c)
    }
}
