//! MQTT 3.1.1 framing (OASIS standard, sections 2 and 3): what a publisher needs.

/// CONNECT packet type (first byte).
pub const CONNECT: u8 = 0x10;
/// CONNACK packet type.
pub const CONNACK: u8 = 0x20;
/// PUBLISH packet type (flags in the low nibble: DUP 8, QoS << 1, RETAIN 1).
pub const PUBLISH: u8 = 0x30;
/// PUBACK packet type.
pub const PUBACK: u8 = 0x40;
/// PINGREQ packet type.
pub const PINGREQ: u8 = 0xC0;
/// PINGRESP packet type.
pub const PINGRESP: u8 = 0xD0;
/// DISCONNECT packet type.
pub const DISCONNECT: u8 = 0xE0;

/// The largest "remaining length" a packet may have (four 7-bit groups).
pub const MAX_REMAINING: usize = 268_435_455;
/// Room for a fixed header: the type byte and up to four length bytes.
pub const MAX_HEADER: usize = 5;

/// How many bytes the remaining-length field takes for `n` (1..=4).
pub const fn len_size(n: usize) -> usize {
    if n < 0x80 {
        1
    } else if n < 0x4000 {
        2
    } else if n < 0x20_0000 {
        3
    } else {
        4
    }
}

/// The size of a whole packet whose remaining length is `remaining`: the type byte, the
/// remaining-length field, the rest.
pub const fn packet_size(remaining: usize) -> usize {
    1 + len_size(remaining) + remaining
}

/// Write the remaining-length field for `n` (<= [`MAX_REMAINING`]) at the start of `out`;
/// returns its size. Seven bits a byte, least significant group first, high bit = more.
pub fn put_len(out: &mut [u8], mut n: usize) -> usize {
    let mut i = 0;
    loop {
        let b = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = b;
            return i + 1;
        }
        out[i] = b | 0x80;
        i += 1;
    }
}

/// Incremental decoder of a remaining-length field, fed one byte at a time.
#[derive(Default, Debug, Clone, Copy)]
pub struct LenDecoder {
    value: usize,
    shift: u32,
}

/// The remaining-length field is longer than four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedLength;

impl LenDecoder {
    /// Feed byte `b`: `Ok(Some(len))` when complete, `Ok(None)` if more bytes follow.
    pub fn push(&mut self, b: u8) -> Result<Option<usize>, MalformedLength> {
        self.value |= ((b & 0x7F) as usize) << self.shift;
        if b & 0x80 == 0 {
            return Ok(Some(self.value));
        }
        self.shift += 7;
        if self.shift > 21 {
            return Err(MalformedLength);
        }
        Ok(None)
    }
}

/// What goes into a CONNECT packet (clean session, no will).
#[derive(Debug, Clone, Copy)]
pub struct Connect<'a> {
    /// Client identifier.
    pub client_id: &'a [u8],
    /// Keepalive in seconds (0 = off).
    pub keepalive: u16,
    /// User name, if any.
    pub user: Option<&'a [u8]>,
    /// Password, if any (MQTT 3.1.1 allows one only with a user name).
    pub password: Option<&'a [u8]>,
}

/// The size of a CONNECT packet ([`Connect::packet_len`]) from the lengths of its strings
/// (`None`: no user name, no password).
pub fn connect_len(client_id: usize, user: Option<usize>, password: Option<usize>) -> usize {
    packet_size(connect_remaining(client_id, user, password))
}

/// The remaining length of a CONNECT packet from the lengths of its strings.
pub fn connect_remaining(client_id: usize, user: Option<usize>, password: Option<usize>) -> usize {
    let mut n = 10 + 2 + client_id;
    for s in [user, password].into_iter().flatten() {
        n += 2 + s;
    }
    n
}

impl Connect<'_> {
    fn remaining(&self) -> usize {
        connect_remaining(self.client_id.len(), self.user.map(<[u8]>::len), self.password.map(<[u8]>::len))
    }
    /// Size of the whole packet.
    pub fn packet_len(&self) -> usize {
        packet_size(self.remaining())
    }
    /// Write the packet into `out` (at least [`packet_len`](Self::packet_len) bytes); returns
    /// its size.
    /// (A shorter `out` gets only the leading pieces that fit whole; nothing panics.)
    pub fn write(&self, out: &mut [u8]) -> usize {
        let mut w = Cursor { out, at: 0 };
        connect_header(&mut w, self.remaining(), self.keepalive, self.user.is_some(), self.password.is_some());
        for s in [Some(self.client_id), self.user, self.password].into_iter().flatten() {
            w.put_str(s);
        }
        w.at
    }
}

/// Put the fixed and variable header of a CONNECT packet (clean session, no will) with
/// `remaining` bytes after the fixed header ([`connect_remaining`]); the strings follow (client
/// id, then the user name and password if flagged), each with [`Cursor::put_str`].
pub fn connect_header(w: &mut Cursor<'_>, remaining: usize, keepalive: u16, user: bool, password: bool) {
    let mut len = [0u8; 4];
    let n = put_len(&mut len, remaining);
    w.put(&[CONNECT]);
    w.put(&len[..n]);
    let flags = 0x02 | if user { 0x80 } else { 0 } | if password { 0x40 } else { 0 }; // clean session
    // "MQTT", protocol level 4 = MQTT 3.1.1, flags, keepalive
    let [k0, k1] = keepalive.to_be_bytes();
    w.put(&[0, 4, b'M', b'Q', b'T', b'T', 4, flags, k0, k1]);
}

/// Appends to a buffer; a piece that does not fit whole is dropped (and counted in `at`), so
/// nothing panics.
pub struct Cursor<'a> {
    /// The buffer.
    pub out: &'a mut [u8],
    /// Where the next piece goes (the bytes put so far, if it started at 0).
    pub at: usize,
}

impl Cursor<'_> {
    /// Append `b`.
    pub fn put(&mut self, b: &[u8]) {
        if let Some(d) = self.out.get_mut(self.at..self.at + b.len()) {
            d.copy_from_slice(b);
        }
        self.at += b.len();
    }
    /// Append an MQTT UTF-8 string (16-bit big-endian length, then the bytes).
    pub fn put_str(&mut self, s: &[u8]) {
        self.put(&(s.len() as u16).to_be_bytes());
        self.put(s);
    }
}

/// Write a PUBLISH fixed header (DUP 0, RETAIN 0) for `remaining` bytes so that it ends
/// exactly at `hdr.len()`; returns where it starts. `hdr` must be [`MAX_HEADER`] bytes.
pub fn publish_header(hdr: &mut [u8], qos: u8, remaining: usize) -> usize {
    let start = hdr.len() - 1 - len_size(remaining);
    hdr[start] = PUBLISH | (qos << 1);
    put_len(&mut hdr[start + 1..], remaining);
    start
}

/// The meaning of a CONNACK return code other than 0 (MQTT 3.1.1 table 3.1).
pub fn connack_reason(code: u8) -> &'static str {
    match code {
        1 => "unacceptable protocol version",
        2 => "client identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "unknown return code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_boundaries() {
        for (n, want) in [
            (0usize, &[0x00u8][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (MAX_REMAINING, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut out = [0u8; 4];
            let k = put_len(&mut out, n);
            assert_eq!(&out[..k], want, "encode {n}");
            assert_eq!(len_size(n), k);
            let mut d = LenDecoder::default();
            let mut got = None;
            for &b in want {
                got = d.push(b).unwrap();
            }
            assert_eq!(got, Some(n), "decode {n}");
        }
        let mut d = LenDecoder::default();
        assert!((0..3).all(|_| d.push(0xFF) == Ok(None)));
        assert_eq!(d.push(0xFF), Err(MalformedLength));
    }

    #[test]
    fn connect_packet_bytes() {
        let c = Connect {
            client_id: b"lux-1",
            keepalive: 60,
            user: Some(b"alice"),
            password: Some(b"pw"),
        };
        let mut out = [0u8; 64];
        let n = c.write(&mut out);
        assert_eq!(n, c.packet_len());
        assert_eq!(n, connect_len(5, Some(5), Some(2)));
        let want: &[u8] =
            b"\x10\x1c\x00\x04MQTT\x04\xc2\x00\x3c\x00\x05lux-1\x00\x05alice\x00\x02pw";
        assert_eq!(&out[..n], want);
        let anon = Connect {
            client_id: b"x",
            keepalive: 0,
            user: None,
            password: None,
        };
        let n = anon.write(&mut out);
        assert_eq!(&out[..n], b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x00\x00\x01x");
        // A short buffer gets the leading pieces that fit whole and the full length back, no
        // panic.
        let mut short = [0u8; 4];
        assert_eq!(anon.write(&mut short), 15);
        assert_eq!(&short, b"\x10\x0d\x00\x00");
    }

    #[test]
    fn cursor_puts_whole_pieces_only() {
        let mut out = [0u8; 6];
        let mut c = Cursor { out: &mut out, at: 1 };
        c.put_str(b"ab");
        assert_eq!(c.at, 5);
        c.put_str(b"cd"); // does not fit: dropped, counted
        assert_eq!(c.at, 9);
        assert_eq!(out, [0, 0, 2, b'a', b'b', 0]);
        assert_eq!(connect_remaining(5, Some(5), Some(2)), 0x1c);
        assert_eq!(connect_len(1, None, None), 15);
    }

    #[test]
    fn publish_header_is_right_aligned() {
        let mut hdr = [0u8; MAX_HEADER];
        let s = publish_header(&mut hdr, 0, 37);
        assert_eq!(&hdr[s..], &[0x30, 37]);
        let s = publish_header(&mut hdr, 1, 200);
        assert_eq!(&hdr[s..], &[0x32, 0xC8, 0x01]);
        let s = publish_header(&mut hdr, 1, MAX_REMAINING);
        assert_eq!(s, 0);
        assert_eq!(hdr, [0x32, 0xFF, 0xFF, 0xFF, 0x7F]);
    }
}
