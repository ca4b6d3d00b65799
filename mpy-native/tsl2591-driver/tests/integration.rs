mod common;

use common::{
    delay, destroy, new, read_regs, sample_block, write_reg, Register, ADDR, CMD, ENABLE_OFF,
    ENABLE_ON,
};
use embedded_hal::i2c::ErrorKind;
use embedded_hal_mock::eh1::{
    delay::NoopDelay,
    i2c::{Mock as I2cMock, Transaction as I2cTrans},
};
use tsl2591_driver::{Error, Gain, IntegrationTime, Tsl2591};

#[test]
fn new_and_destroy_make_no_traffic() {
    let sensor = new(&[]);
    assert_eq!(sensor.address(), ADDR);
    assert_eq!(sensor.integration(), IntegrationTime::Ms100);
    assert_eq!(sensor.gain(), Gain::Low);
    destroy(sensor);
}

#[test]
fn init_checks_id_writes_control_and_powers_down() {
    let mut sensor = new(&[
        read_regs(Register::ID, vec![0x50]),
        write_reg(Register::CONTROL, 0x00),
        write_reg(Register::ENABLE, ENABLE_OFF),
    ]);
    sensor.init().unwrap();
    destroy(sensor);
}

#[test]
fn init_writes_configured_settings_once() {
    let i2c = I2cMock::new(&[
        read_regs(Register::ID, vec![0x50]),
        write_reg(Register::CONTROL, 0x23), // 400 ms | high gain
        write_reg(Register::ENABLE, ENABLE_OFF),
    ]);
    let mut sensor = Tsl2591::new_with_config(i2c, ADDR, IntegrationTime::Ms400, Gain::High);
    sensor.init().unwrap();
    destroy(sensor);
}

#[test]
fn init_reports_wrong_id_and_writes_nothing() {
    let mut sensor = new(&[read_regs(Register::ID, vec![0x00])]);
    assert_eq!(sensor.init(), Err(Error::IdMismatch(0x00)));
    destroy(sensor);
}

#[test]
fn init_reports_missing_device_as_bus_error() {
    let mut sensor =
        new(&[
            read_regs(Register::ID, vec![0x50]).with_error(ErrorKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Address,
            )),
        ]);
    assert!(matches!(
        sensor.init(),
        Err(Error::I2c(ErrorKind::NoAcknowledge(_)))
    ));
    destroy(sensor);
}

#[test]
fn device_id_reads_register_0x12() {
    let mut sensor = new(&[I2cTrans::write_read(ADDR, vec![0xB2], vec![0x50])]);
    assert_eq!(sensor.device_id().unwrap(), 0x50);
    destroy(sensor);
}

macro_rules! set_integration_test {
    ($name:ident, $it:ident, $code:expr) => {
        #[test]
        fn $name() {
            let mut sensor = new(&[write_reg(Register::CONTROL, $code)]);
            sensor.set_integration(IntegrationTime::$it).unwrap();
            assert_eq!(sensor.integration(), IntegrationTime::$it);
            destroy(sensor);
        }
    };
}
set_integration_test!(set_it_100, Ms100, 0);
set_integration_test!(set_it_200, Ms200, 1);
set_integration_test!(set_it_300, Ms300, 2);
set_integration_test!(set_it_400, Ms400, 3);
set_integration_test!(set_it_500, Ms500, 4);
set_integration_test!(set_it_600, Ms600, 5);

macro_rules! set_gain_test {
    ($name:ident, $gain:ident, $code:expr) => {
        #[test]
        fn $name() {
            let mut sensor = new(&[write_reg(Register::CONTROL, $code)]);
            sensor.set_gain(Gain::$gain).unwrap();
            assert_eq!(sensor.gain(), Gain::$gain);
            destroy(sensor);
        }
    };
}
set_gain_test!(set_gain_low, Low, 0x00);
set_gain_test!(set_gain_medium, Medium, 0x10);
set_gain_test!(set_gain_high, High, 0x20);
set_gain_test!(set_gain_max, Max, 0x30);

#[test]
fn gain_and_integration_combine_in_control() {
    let mut sensor = new(&[
        write_reg(Register::CONTROL, 0x05),
        write_reg(Register::CONTROL, 0x35),
        write_reg(Register::CONTROL, 0x12),
    ]);
    sensor.set_integration(IntegrationTime::Ms600).unwrap();
    sensor.set_gain(Gain::Max).unwrap();
    sensor
        .set_config(IntegrationTime::Ms300, Gain::Medium)
        .unwrap();
    destroy(sensor);
}

#[test]
fn failed_control_write_keeps_cached_settings() {
    let mut sensor = new(&[write_reg(Register::CONTROL, 0x30).with_error(ErrorKind::Bus)]);
    assert_eq!(sensor.set_gain(Gain::Max), Err(Error::I2c(ErrorKind::Bus)));
    assert_eq!(sensor.gain(), Gain::Low);
    destroy(sensor);
}

#[test]
fn enable_and_disable_write_enable_register() {
    let mut sensor = new(&[
        I2cTrans::write(ADDR, vec![0xA0, 0x13]),
        I2cTrans::write(ADDR, vec![0xA0, 0x00]),
    ]);
    sensor.enable().unwrap();
    sensor.disable().unwrap();
    destroy(sensor);
}

#[test]
fn full_luminosity_enables_waits_reads_block_and_disables() {
    let mut sensor = new(&[
        write_reg(Register::ENABLE, ENABLE_ON),
        read_regs(Register::STATUS, sample_block(0x1234, 0x0102)),
        write_reg(Register::ENABLE, ENABLE_OFF),
    ]);
    let mut d = delay(&[110]);
    assert_eq!(
        sensor.get_full_luminosity(&mut d).unwrap(),
        (0x1234, 0x0102)
    );
    d.done();
    destroy(sensor);
}

#[test]
fn wait_follows_integration_time_with_ten_percent_margin() {
    let mut sensor = new(&[
        write_reg(Register::CONTROL, 0x05),
        write_reg(Register::ENABLE, ENABLE_ON),
        read_regs(Register::STATUS, sample_block(1, 2)),
        write_reg(Register::ENABLE, ENABLE_OFF),
    ]);
    sensor.set_integration(IntegrationTime::Ms600).unwrap();
    let mut d = delay(&[660]);
    assert_eq!(sensor.get_full_luminosity(&mut d).unwrap(), (1, 2));
    d.done();
    destroy(sensor);
}

#[test]
fn polls_status_until_avalid() {
    let not_ready = vec![0x00, 0, 0, 0, 0];
    let mut sensor = new(&[
        write_reg(Register::ENABLE, ENABLE_ON),
        read_regs(Register::STATUS, not_ready.clone()),
        read_regs(Register::STATUS, not_ready),
        read_regs(Register::STATUS, sample_block(500, 100)),
        write_reg(Register::ENABLE, ENABLE_OFF),
    ]);
    let mut d = delay(&[110, 5, 5]);
    assert_eq!(sensor.get_full_luminosity(&mut d).unwrap(), (500, 100));
    d.done();
    destroy(sensor);
}

#[test]
fn gives_up_when_avalid_never_sets_and_still_powers_down() {
    let polls = tsl2591_driver::AVALID_POLLS as usize;
    let mut t = vec![write_reg(Register::ENABLE, ENABLE_ON)];
    t.extend((0..=polls).map(|_| read_regs(Register::STATUS, vec![0; 5])));
    t.push(write_reg(Register::ENABLE, ENABLE_OFF));
    let mut sensor = new(&t);
    let mut waits = vec![110];
    waits.extend(std::iter::repeat_n(5, polls));
    let mut d = delay(&waits);
    assert_eq!(sensor.get_full_luminosity(&mut d), Err(Error::NotReady));
    d.done();
    destroy(sensor);
}

#[test]
fn read_error_still_powers_down_and_reports_read_error() {
    let mut sensor = new(&[
        write_reg(Register::ENABLE, ENABLE_ON),
        read_regs(Register::STATUS, vec![0; 5]).with_error(ErrorKind::Bus),
        write_reg(Register::ENABLE, ENABLE_OFF).with_error(ErrorKind::ArbitrationLoss),
    ]);
    assert_eq!(
        sensor.get_full_luminosity(&mut NoopDelay::new()),
        Err(Error::I2c(ErrorKind::Bus))
    );
    destroy(sensor);
}

#[test]
fn enable_error_stops_the_measurement() {
    let mut sensor = new(&[write_reg(Register::ENABLE, ENABLE_ON).with_error(ErrorKind::Bus)]);
    let mut d = delay(&[]);
    assert_eq!(
        sensor.get_full_luminosity(&mut d),
        Err(Error::I2c(ErrorKind::Bus))
    );
    d.done();
    destroy(sensor);
}

#[test]
fn lux_uses_cached_settings() {
    let mut sensor = new(&[
        write_reg(Register::CONTROL, 0x11),
        write_reg(Register::ENABLE, ENABLE_ON),
        read_regs(Register::STATUS, sample_block(611, 284)),
        write_reg(Register::ENABLE, ENABLE_OFF),
    ]);
    sensor
        .set_config(IntegrationTime::Ms200, Gain::Medium)
        .unwrap();
    let mut d = delay(&[220]);
    let lux = sensor.lux(&mut d).unwrap();
    d.done();
    let cpl = 200.0 * 25.0 / 408.0;
    let expected = f64::max(
        (611.0 - 1.64 * 284.0) / cpl,
        (0.59 * 611.0 - 0.86 * 284.0) / cpl,
    );
    assert!(
        ((lux as f64) - expected).abs() / expected < 1e-6,
        "{lux} vs {expected}"
    );
    destroy(sensor);
}

#[test]
fn lux_reports_saturation() {
    let mut sensor = new(&[
        write_reg(Register::ENABLE, ENABLE_ON),
        read_regs(Register::STATUS, sample_block(0xFFFF, 0x1000)),
        write_reg(Register::ENABLE, ENABLE_OFF),
    ]);
    assert_eq!(sensor.lux(&mut NoopDelay::new()), Err(Error::Saturated));
    destroy(sensor);
}

#[test]
fn command_byte_is_0xa0_or_register() {
    // The exact bytes on the wire for the data read, independent of helpers.
    let mut sensor = new(&[
        I2cTrans::write(ADDR, vec![0xA0, 0x13]),
        I2cTrans::write_read(ADDR, vec![0xB3], vec![0x01, 0x34, 0x12, 0x78, 0x56]),
        I2cTrans::write(ADDR, vec![0xA0, 0x00]),
    ]);
    assert_eq!(CMD | Register::STATUS, 0xB3);
    assert_eq!(
        sensor.get_full_luminosity(&mut NoopDelay::new()).unwrap(),
        (0x1234, 0x5678)
    );
    destroy(sensor);
}

/// One measurement's transactions returning (ch0, ch1).
fn measurement(ch0: u16, ch1: u16) -> Vec<I2cTrans> {
    vec![
        write_reg(Register::ENABLE, ENABLE_ON),
        read_regs(Register::STATUS, sample_block(ch0, ch1)),
        write_reg(Register::ENABLE, ENABLE_OFF),
    ]
}

#[test]
fn auto_gain_steps_up_in_the_dark_until_scaled_count_would_be_too_high() {
    let mut t = measurement(10, 2); // x1: 10 * 25 fits -> medium
    t.push(write_reg(Register::CONTROL, 0x10));
    t.extend(measurement(250, 50)); // x25: 250 * 428 / 25 = 4280 fits -> high
    t.push(write_reg(Register::CONTROL, 0x20));
    t.extend(measurement(4280, 856)); // x428: 4280 * 9876 / 428 > 33176 -> stay
    let mut sensor = new(&t);
    let lux = sensor.lux_auto_gain(&mut NoopDelay::new()).unwrap();
    assert_eq!(sensor.gain(), Gain::High);
    let expected =
        tsl2591_driver::calculate_lux(IntegrationTime::Ms100, Gain::High, 4280, 856).unwrap();
    assert_eq!(lux, expected);
    destroy(sensor);
}

#[test]
fn auto_gain_steps_down_when_saturated_and_gives_up_after_four_measurements() {
    let mut t = measurement(0xFFFF, 0xFFFF);
    t.push(write_reg(Register::CONTROL, 0x21));
    t.extend(measurement(60000, 100)); // above 90 % of 65535 -> lower
    t.push(write_reg(Register::CONTROL, 0x11));
    t.extend(measurement(0xFFFF, 0xFFFF));
    t.push(write_reg(Register::CONTROL, 0x01));
    t.extend(measurement(0xFFFF, 0xFFFF)); // 4th measurement: no more changes
    let i2c = I2cMock::new(&t);
    let mut sensor = Tsl2591::new_with_config(i2c, ADDR, IntegrationTime::Ms200, Gain::Max);
    assert_eq!(
        sensor.lux_auto_gain(&mut NoopDelay::new()),
        Err(Error::Saturated)
    );
    assert_eq!(sensor.gain(), Gain::Low);
    destroy(sensor);
}

#[test]
fn auto_gain_keeps_a_good_reading() {
    let mut sensor = new(&measurement(30000, 1000)); // 100 ms max 36863: 30000 is fine
    let lux = sensor.lux_auto_gain(&mut NoopDelay::new()).unwrap();
    assert!(lux > 0.0);
    assert_eq!(sensor.gain(), Gain::Low);
    destroy(sensor);
}
