//! Public types: errors, integration time, gain.

/// All possible errors of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    /// The I²C bus reported an error (a missing device shows up here as a NACK).
    I2c(E),
    /// The device-ID register (0x12) did not read 0x50; holds the value read.
    IdMismatch(u8),
    /// A channel read 0xFFFF: the sensor is saturated and no lux can be computed.
    ///
    /// The tutorial's code reports 0 lux in that case; callers that must behave the
    /// same map this variant to 0.0.
    Saturated,
    /// The ALS never reported a valid reading (STATUS.AVALID stayed 0) within the
    /// integration time plus the polling allowance.
    NotReady,
}

/// ALS integration time (CONTROL register bits 2:0, "ATIME").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntegrationTime {
    /// 100 ms (code 0, the power-on default).
    #[default]
    Ms100,
    /// 200 ms (code 1).
    Ms200,
    /// 300 ms (code 2).
    Ms300,
    /// 400 ms (code 3).
    Ms400,
    /// 500 ms (code 4).
    Ms500,
    /// 600 ms (code 5).
    Ms600,
}

impl IntegrationTime {
    /// Nominal integration time in milliseconds.
    pub const fn as_ms(self) -> u16 {
        (self.code() as u16 + 1) * 100
    }

    /// Register code 0..=5, as written to CONTROL bits 2:0 (and as used by the
    /// tutorial's `INTEGRATIONTIME_*` constants).
    pub const fn code(self) -> u8 {
        match self {
            IntegrationTime::Ms100 => 0,
            IntegrationTime::Ms200 => 1,
            IntegrationTime::Ms300 => 2,
            IntegrationTime::Ms400 => 3,
            IntegrationTime::Ms500 => 4,
            IntegrationTime::Ms600 => 5,
        }
    }

    /// The variant for a register code, `None` for codes above 5.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(IntegrationTime::Ms100),
            1 => Some(IntegrationTime::Ms200),
            2 => Some(IntegrationTime::Ms300),
            3 => Some(IntegrationTime::Ms400),
            4 => Some(IntegrationTime::Ms500),
            5 => Some(IntegrationTime::Ms600),
            _ => None,
        }
    }

    /// Largest count channel 0 can reach at this integration time (the ADC
    /// saturates early at 100 ms; from 200 ms on it is the 16-bit limit).
    pub const fn max_count(self) -> u16 {
        match self {
            IntegrationTime::Ms100 => 36863,
            _ => 0xFFFF,
        }
    }

    /// How long to wait after enabling before reading: the nominal time plus a
    /// 10 % allowance for the internal oscillator's tolerance.
    ///
    /// The tutorial waited `0.120 * code + 1` s (over a second at 100 ms); if the
    /// reading is still not valid after this wait the driver polls STATUS.AVALID.
    pub const fn wait_ms(self) -> u32 {
        let ms = self.as_ms() as u32;
        ms + ms / 10
    }
}

/// ALS gain (CONTROL register bits 5:4, "AGAIN").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gain {
    /// Low gain, x1 (code 0x00, the power-on default).
    #[default]
    Low,
    /// Medium gain, x25 (code 0x10).
    Medium,
    /// High gain, x428 (code 0x20).
    High,
    /// Maximum gain, x9876 (code 0x30).
    Max,
}

impl Gain {
    /// The gain multiplier used by the lux formula (1, 25, 428, 9876).
    pub const fn factor(self) -> u16 {
        match self {
            Gain::Low => 1,
            Gain::Medium => 25,
            Gain::High => 428,
            Gain::Max => 9876,
        }
    }

    /// Register code as written to CONTROL (already shifted: 0x00, 0x10, 0x20,
    /// 0x30, the values of the tutorial's `GAIN_*` constants).
    pub const fn code(self) -> u8 {
        match self {
            Gain::Low => 0x00,
            Gain::Medium => 0x10,
            Gain::High => 0x20,
            Gain::Max => 0x30,
        }
    }

    /// The variant for a (shifted) register code, `None` for anything else.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0x00 => Some(Gain::Low),
            0x10 => Some(Gain::Medium),
            0x20 => Some(Gain::High),
            0x30 => Some(Gain::Max),
            _ => None,
        }
    }

    /// The next higher gain, `None` at [`Gain::Max`].
    pub const fn higher(self) -> Option<Self> {
        match self {
            Gain::Low => Some(Gain::Medium),
            Gain::Medium => Some(Gain::High),
            Gain::High => Some(Gain::Max),
            Gain::Max => None,
        }
    }

    /// The next lower gain, `None` at [`Gain::Low`].
    pub const fn lower(self) -> Option<Self> {
        match self {
            Gain::Low => None,
            Gain::Medium => Some(Gain::Low),
            Gain::High => Some(Gain::Medium),
            Gain::Max => Some(Gain::High),
        }
    }
}
