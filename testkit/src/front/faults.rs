//! Seeded fault injection.

use std::sync::{Mutex, PoisonError};

/// A failure the front answers with: instead of forwarding the call, or — the `…AfterApply` kinds — after moto
/// applied it, losing the answer as a server error, a dropped connection or a timeout after the write does in AWS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 500 `ServerException`.
    Http500,
    /// HTTP 503 `ServiceUnavailableException`.
    Http503,
    /// HTTP 400 `ThrottlingException`, as if a bucket were empty.
    Throttling,
    /// The connection is reset (TCP RST) without any response.
    ConnectionReset,
    /// Nothing for the configured slow delay, then HTTP 503; meant to outlast the client's
    /// timeout.
    SlowResponse,
    /// Forwarded and applied, then HTTP 500 `ServerException` instead of moto's answer.
    Http500AfterApply,
    /// Forwarded and applied, then the connection is reset without a response.
    ResetAfterApply,
    /// Forwarded and applied, then nothing for the slow delay, then HTTP 503: the client times out first.
    StallAfterApply,
}

impl FaultKind {
    /// Whether the call is forwarded (and applied) before the fault loses its answer.
    pub fn after_apply(self) -> bool {
        matches!(
            self,
            FaultKind::Http500AfterApply | FaultKind::ResetAfterApply | FaultKind::StallAfterApply
        )
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and good enough to spread faults.
#[derive(Debug)]
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    fn next_unit(&mut self) -> f64 {
        const TWO_POW_53: f64 = (1u64 << 53) as f64;
        (self.next_u64() >> 11) as f64 / TWO_POW_53
    }
}

/// Decides per call whether it fails and how. Every call takes exactly two draws, so the
/// n-th call's fate depends only on the seed and n (calls made one after another get the
/// same faults on every run).
#[derive(Debug)]
pub(super) struct FaultDice {
    rng: Mutex<SplitMix64>,
    rate: f64,
    kinds: Vec<FaultKind>,
}

impl FaultDice {
    /// `None` when `rate` is outside [0, 1] or no kind is given for a positive rate.
    pub(super) fn new(seed: u64, rate: f64, kinds: &[FaultKind]) -> Option<Self> {
        let usable = (0.0..=1.0).contains(&rate) && (rate == 0.0 || !kinds.is_empty());
        usable.then(|| Self {
            rng: Mutex::new(SplitMix64 { state: seed }),
            rate,
            kinds: kinds.to_vec(),
        })
    }

    pub(super) fn roll(&self) -> Option<FaultKind> {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let chance = rng.next_unit();
        let pick = rng.next_u64();
        if chance >= self.rate {
            return None;
        }
        let index = pick.checked_rem(self.kinds.len() as u64)?;
        self.kinds.get(usize::try_from(index).ok()?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_mix_64_matches_the_reference_sequence() {
        // First outputs of the reference implementation seeded with 0.
        let mut rng = SplitMix64 { state: 0 };
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn the_rate_bounds_are_honoured() {
        let kinds = [FaultKind::Http500, FaultKind::Http503];
        let never = FaultDice::new(1, 0.0, &kinds).expect("valid dice");
        let always = FaultDice::new(1, 1.0, &kinds).expect("valid dice");
        for _ in 0..200 {
            assert_eq!(never.roll(), None);
            assert!(always.roll().is_some());
        }
    }

    #[test]
    fn unusable_settings_are_refused() {
        assert!(FaultDice::new(1, 1.5, &[FaultKind::Http500]).is_none());
        assert!(FaultDice::new(1, -0.1, &[FaultKind::Http500]).is_none());
        assert!(FaultDice::new(1, f64::NAN, &[FaultKind::Http500]).is_none());
        assert!(FaultDice::new(1, 0.5, &[]).is_none());
    }
}
