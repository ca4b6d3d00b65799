//! Helpers shared by the integration tests: the register map re-declared from
//! the datasheet (independently of the crate) and mock constructors.
#![allow(dead_code)]

use embedded_hal_mock::eh1::{
    delay::{CheckedDelay, Transaction as DelayTrans},
    i2c::{Mock as I2cMock, Transaction as I2cTrans},
};
use tsl2591_driver::Tsl2591;

pub const ADDR: u8 = 0x29;

pub struct Register;
impl Register {
    pub const ENABLE: u8 = 0x00;
    pub const CONTROL: u8 = 0x01;
    pub const ID: u8 = 0x12;
    pub const STATUS: u8 = 0x13;
}

pub const CMD: u8 = 0xA0;
pub const ENABLE_ON: u8 = 0x01 | 0x02 | 0x10;
pub const ENABLE_OFF: u8 = 0x00;

pub fn new(transactions: &[I2cTrans]) -> Tsl2591<I2cMock> {
    Tsl2591::new(I2cMock::new(transactions), ADDR)
}

/// Give the mock back and check every expected transaction happened.
pub fn destroy(sensor: Tsl2591<I2cMock>) {
    sensor.destroy().done();
}

pub fn delay(ms: &[u32]) -> CheckedDelay {
    let t: Vec<DelayTrans> = ms.iter().map(|&m| DelayTrans::delay_ms(m)).collect();
    CheckedDelay::new(&t)
}

pub fn write_reg(reg: u8, value: u8) -> I2cTrans {
    I2cTrans::write(ADDR, vec![CMD | reg, value])
}

pub fn read_regs(reg: u8, response: Vec<u8>) -> I2cTrans {
    I2cTrans::write_read(ADDR, vec![CMD | reg], response)
}

/// STATUS (AVALID set) then the four data bytes, little-endian.
pub fn sample_block(ch0: u16, ch1: u16) -> Vec<u8> {
    let [a, b] = ch0.to_le_bytes();
    let [c, d] = ch1.to_le_bytes();
    vec![0x01, a, b, c, d]
}
