//! TCP sequence numbers: the only place that compares raw `u32` sequence values.

/// A TCP sequence number with wrap-aware arithmetic (RFC 1982 serial numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seq(pub u32);

impl Seq {
    /// Signed distance from `other` to `self`: positive when `self` is after `other`.
    pub fn since(self, other: Seq) -> i64 {
        i64::from(self.0.wrapping_sub(other.0) as i32)
    }

    /// The sequence number `n` bytes later.
    pub fn plus(self, n: u64) -> Seq {
        Seq(self.0.wrapping_add(n as u32))
    }

    /// Whether `self` comes strictly after `other`.
    pub fn after(self, other: Seq) -> bool {
        self.since(other) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_wraps_around_zero() {
        assert_eq!(Seq(5).since(Seq(u32::MAX - 4)), 10);
        assert_eq!(Seq(u32::MAX - 4).since(Seq(5)), -10);
        assert!(Seq(3).after(Seq(u32::MAX)));
        assert_eq!(Seq(u32::MAX).plus(2), Seq(1));
    }
}
