//! Allocation-free building blocks of the native MQTT writer (`mqtt_writer.mpy`), kept apart
//! from the MicroPython glue so they can be tested on the host with `cargo test`.
//!
//! * [`ext80`]: a software model of the x87 80-bit `long double` arithmetic MicroPython's
//!   float formatting uses on the unix x64 port.
//! * [`repr`]: `repr(float)` byte for byte as MicroPython (double precision, "exact" format
//!   implementation) prints it, which is also what its `json.dumps` writes for a float.
//! * [`json`]: a JSON writer into a byte slice that escapes strings and formats ints, floats,
//!   booleans and `null` the way MicroPython's `json.dumps` does.
//! * [`mqtt`]: MQTT 3.1.1 framing: remaining length, CONNECT, PUBLISH fixed header, CONNACK
//!   return codes.
//! * [`ticks`]: MicroPython's `time.ticks_diff` arithmetic.
#![no_std]
#![deny(missing_docs)]

pub mod ext80;
pub mod json;
pub mod mqtt;
pub mod repr;
pub mod ticks;
