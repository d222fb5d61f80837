//! A small unsigned big integer, just enough for exactly rounded float parsing and
//! printing ([`crate::long_double`]): the values involved are at most a few thousand
//! digits, so schoolbook arithmetic on 32-bit limbs is simple and fast enough.

use std::cmp::Ordering;

/// An unsigned integer of any size, little-endian 32-bit limbs, no leading zero limbs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BigUint {
    limbs: Vec<u32>,
}

impl BigUint {
    pub(crate) fn from_u128(mut value: u128) -> Self {
        let mut limbs = Vec::new();
        while value != 0 {
            limbs.push(value as u32);
            value >>= 32;
        }
        Self { limbs }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    /// The number of significant bits (0 for zero).
    pub(crate) fn bit_len(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(&top) => self.limbs.len() as u64 * 32 - u64::from(top.leading_zeros()),
        }
    }

    pub(crate) fn bit(&self, index: u64) -> bool {
        let limb = (index / 32) as usize;
        self.limbs
            .get(limb)
            .is_some_and(|&l| l >> (index % 32) & 1 == 1)
    }

    /// Whether any bit below `index` is set.
    pub(crate) fn any_below(&self, index: u64) -> bool {
        let whole = ((index / 32) as usize).min(self.limbs.len());
        if self.limbs[..whole].iter().any(|&l| l != 0) {
            return true;
        }
        let rest = index % 32;
        rest != 0
            && self
                .limbs
                .get(whole)
                .is_some_and(|&l| l & ((1u32 << rest) - 1) != 0)
    }

    /// The low 128 bits.
    pub(crate) fn low_u128(&self) -> u128 {
        self.limbs
            .iter()
            .take(4)
            .rev()
            .fold(0u128, |acc, &l| acc << 32 | u128::from(l))
    }

    pub(crate) fn mul_small(&mut self, factor: u32) {
        let mut carry = 0u64;
        for limb in &mut self.limbs {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
        self.trim();
    }

    pub(crate) fn add_small(&mut self, value: u32) {
        let mut carry = u64::from(value);
        for limb in &mut self.limbs {
            if carry == 0 {
                return;
            }
            let sum = u64::from(*limb) + carry;
            *limb = sum as u32;
            carry = sum >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    /// Multiplies by `10^exp`.
    pub(crate) fn mul_pow10(&mut self, mut exp: u64) {
        while exp >= 9 {
            self.mul_small(1_000_000_000);
            exp -= 9;
        }
        if exp > 0 {
            self.mul_small(10u32.pow(exp as u32));
        }
    }

    pub(crate) fn shl(&self, bits: u64) -> Self {
        if self.is_zero() {
            return Self::default();
        }
        let whole = (bits / 32) as usize;
        let rest = (bits % 32) as u32;
        let mut limbs = vec![0u32; whole];
        limbs.reserve(self.limbs.len() + 1);
        let mut carry = 0u32;
        for &l in &self.limbs {
            if rest == 0 {
                limbs.push(l);
            } else {
                limbs.push(l << rest | carry);
                carry = l >> (32 - rest);
            }
        }
        if carry != 0 {
            limbs.push(carry);
        }
        Self { limbs }
    }

    pub(crate) fn shr(&self, bits: u64) -> Self {
        let whole = (bits / 32) as usize;
        if whole >= self.limbs.len() {
            return Self::default();
        }
        let rest = (bits % 32) as u32;
        let src = &self.limbs[whole..];
        let mut limbs = Vec::with_capacity(src.len());
        for (i, &l) in src.iter().enumerate() {
            let high = src.get(i + 1).copied().unwrap_or(0);
            limbs.push(if rest == 0 {
                l
            } else {
                l >> rest | high << (32 - rest)
            });
        }
        let mut out = Self { limbs };
        out.trim();
        out
    }

    pub(crate) fn add(&self, other: &Self) -> Self {
        let (long, short) = if self.limbs.len() >= other.limbs.len() {
            (self, other)
        } else {
            (other, self)
        };
        let mut limbs = Vec::with_capacity(long.limbs.len() + 1);
        let mut carry = 0u64;
        for (i, &l) in long.limbs.iter().enumerate() {
            let sum = u64::from(l) + u64::from(short.limbs.get(i).copied().unwrap_or(0)) + carry;
            limbs.push(sum as u32);
            carry = sum >> 32;
        }
        if carry != 0 {
            limbs.push(carry as u32);
        }
        Self { limbs }
    }

    /// `self - other`; the caller guarantees `self >= other`.
    pub(crate) fn sub(&self, other: &Self) -> Self {
        let mut limbs = Vec::with_capacity(self.limbs.len());
        let mut borrow = 0i64;
        for (i, &l) in self.limbs.iter().enumerate() {
            let mut diff =
                i64::from(l) - i64::from(other.limbs.get(i).copied().unwrap_or(0)) - borrow;
            borrow = 0;
            if diff < 0 {
                diff += 1 << 32;
                borrow = 1;
            }
            limbs.push(diff as u32);
        }
        let mut out = Self { limbs };
        out.trim();
        out
    }

    /// Divides in place by a small divisor and returns the remainder.
    pub(crate) fn div_small(&mut self, divisor: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.limbs.iter_mut().rev() {
            let cur = rem << 32 | u64::from(*limb);
            *limb = (cur / u64::from(divisor)) as u32;
            rem = cur % u64::from(divisor);
        }
        self.trim();
        rem as u32
    }

    /// `floor(self / divisor)` when the quotient is known to fit in `bits` bits (at
    /// most 127), and whether the division left a remainder.
    pub(crate) fn div_bounded(&self, divisor: &Self, bits: u32) -> (u128, bool) {
        let mut rem = self.clone();
        let mut quotient = 0u128;
        for i in (0..bits).rev() {
            let shifted = divisor.shl(u64::from(i));
            if rem.cmp(&shifted) != Ordering::Less {
                rem = rem.sub(&shifted);
                quotient |= 1 << i;
            }
        }
        (quotient, !rem.is_zero())
    }

    /// Decimal digits, most significant first ("0" for zero).
    pub(crate) fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_owned();
        }
        let mut value = self.clone();
        let mut chunks = Vec::new();
        while !value.is_zero() {
            chunks.push(value.div_small(1_000_000_000));
        }
        let mut text = String::with_capacity(chunks.len() * 9);
        let mut iter = chunks.iter().rev();
        if let Some(first) = iter.next() {
            text.push_str(&first.to_string());
        }
        for chunk in iter {
            text.push_str(&format!("{chunk:09}"));
        }
        text
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }
}

impl Ord for BigUint {
    fn cmp(&self, other: &Self) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }
}

impl PartialOrd for BigUint {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(v: u128) -> BigUint {
        BigUint::from_u128(v)
    }

    #[test]
    fn arithmetic_matches_u128() {
        let a = big(0x1234_5678_9abc_def0_1122_3344);
        let b = big(0xffff_ffff_0000_0001);
        assert_eq!(a.add(&b).low_u128(), a.low_u128() + b.low_u128());
        assert_eq!(a.sub(&b).low_u128(), a.low_u128() - b.low_u128());
        assert_eq!(a.shl(17).low_u128(), a.low_u128() << 17);
        assert_eq!(a.shr(33).low_u128(), a.low_u128() >> 33);
        assert_eq!(a.shr(200), BigUint::default());
        let mut c = a.clone();
        c.mul_small(1000);
        assert_eq!(c.low_u128(), a.low_u128() * 1000);
        assert_eq!(c.div_small(1000), 0);
        assert_eq!(c, a);
        assert_eq!(a.div_bounded(&b, 127), (a.low_u128() / b.low_u128(), true));
        assert_eq!(a.bit_len(), 93);
        assert!(a.bit(2) && !a.bit(0));
        assert!(a.any_below(3) && !a.any_below(2));
    }

    #[test]
    fn decimal_text_of_large_powers() {
        let mut v = big(1);
        v.mul_pow10(40);
        assert_eq!(v.to_decimal(), format!("1{}", "0".repeat(40)));
        assert_eq!(big(0).to_decimal(), "0");
        assert_eq!(big(1_000_000_007).to_decimal(), "1000000007");
    }
}
