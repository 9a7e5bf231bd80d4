//! Decimal text of integers without the formatting machinery, for values written on every
//! request (header values).

/// The decimal text of a `u64`, right-aligned in a buffer of its own (an owner for
/// `Bytes::from_owner`, or a slice to copy).
#[derive(Clone, Copy, Debug)]
pub struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    /// The digits of `n`, without leading zeros (`0` for zero).
    pub fn new(mut n: u64) -> Self {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            // A remainder of 10 always fits a digit.
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Self { buf, start }
    }
}

impl AsRef<[u8]> for Digits {
    fn as_ref(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_the_decimal_text() {
        for n in [0, 7, 10, 999, 1000, 123_456_789, u64::MAX] {
            assert_eq!(Digits::new(n).as_ref(), n.to_string().as_bytes(), "{n}");
        }
    }
}
