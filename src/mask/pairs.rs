//! A few two-byte literals found in one pass over a text.
//!
//! The payload scan looks for `\u` and `\/` (escapes that may hide a literal) and for the
//! detector triggers too short for the SIMD literal searcher (Twilio's `SK`). One `memmem`
//! pass each cost ~0.45 ms per maximum-size batch apiece, mostly in verifying the `\` of every
//! escaped quote of JSON logs (8 % of their bytes); comparing both bytes of every pair on 32
//! positions at once costs about what one of those passes did, for all of them.

/// Finds where each of a few two-byte literals starts.
#[derive(Debug, Clone)]
pub struct PairFinder {
    pairs: Vec<[u8; 2]>,
}

impl PairFinder {
    pub fn new(pairs: Vec<[u8; 2]>) -> Self {
        Self { pairs }
    }

    /// Calls `visit(offset, pair)` for every offset of `text` where pair number `pair` starts.
    /// Offsets come in no particular order. Without AVX2 (or with more than four pairs) each
    /// pair is one `memmem` pass, which skips the second of two overlapping occurrences of a
    /// pair like `aa` — none of the pairs searched has equal bytes.
    pub fn find_all(&self, text: &[u8], mut visit: impl FnMut(usize, usize)) {
        // How far the vector path examined the text, when it ran.
        #[cfg(target_arch = "x86_64")]
        let done = if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY (each arm): the CPU supports AVX2 (checked just above). One instance per
            // count, so the loop over the pairs unrolls.
            match self.pairs.as_slice() {
                [a] => Some(unsafe { find_avx2(&[*a], text, &mut visit) }),
                [a, b] => Some(unsafe { find_avx2(&[*a, *b], text, &mut visit) }),
                [a, b, c] => Some(unsafe { find_avx2(&[*a, *b, *c], text, &mut visit) }),
                [a, b, c, d] => Some(unsafe { find_avx2(&[*a, *b, *c, *d], text, &mut visit) }),
                _ => None,
            }
        } else {
            None
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done: Option<usize> = None;
        let Some(done) = done else {
            for (k, pair) in self.pairs.iter().enumerate() {
                memchr::memmem::find_iter(text, pair).for_each(|at| visit(at, k));
            }
            return;
        };
        // The last positions, where a 33-byte load would run past the end.
        for at in done..text.len().saturating_sub(1) {
            for (k, pair) in self.pairs.iter().enumerate() {
                if text[at] == pair[0] && text[at + 1] == pair[1] {
                    visit(at, k);
                }
            }
        }
    }
}

/// The vector loop of [`PairFinder::find_all`]: returns the offset up to which every position
/// was examined.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn find_avx2<const N: usize>(
    pairs: &[[u8; 2]; N],
    text: &[u8],
    visit: &mut impl FnMut(usize, usize),
) -> usize {
    use std::arch::x86_64::{
        __m256i, _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8, _mm256_setzero_si256, _mm256_testz_si256,
    };
    let firsts = pairs.map(|pair| _mm256_set1_epi8(pair[0] as i8));
    let seconds = pairs.map(|pair| _mm256_set1_epi8(pair[1] as i8));
    let mut at = 0;
    while at + 33 <= text.len() {
        // SAFETY: both loads read inside `text` (at + 1 + 32 <= len); AVX2 is available.
        let (v0, v1) = unsafe {
            (
                _mm256_loadu_si256(text.as_ptr().add(at).cast::<__m256i>()),
                _mm256_loadu_si256(text.as_ptr().add(at + 1).cast::<__m256i>()),
            )
        };
        let mut any = _mm256_setzero_si256();
        for (first, second) in firsts.iter().zip(&seconds) {
            let found = _mm256_and_si256(
                _mm256_cmpeq_epi8(v0, *first),
                _mm256_cmpeq_epi8(v1, *second),
            );
            any = _mm256_or_si256(any, found);
        }
        if _mm256_testz_si256(any, any) == 0 {
            for (k, (first, second)) in firsts.iter().zip(&seconds).enumerate() {
                let found = _mm256_and_si256(
                    _mm256_cmpeq_epi8(v0, *first),
                    _mm256_cmpeq_epi8(v1, *second),
                );
                let mut bits = _mm256_movemask_epi8(found) as u32;
                while bits != 0 {
                    visit(at + bits.trailing_zeros() as usize, k);
                    bits &= bits - 1;
                }
            }
        }
        at += 32;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(pairs: &[[u8; 2]], text: &[u8]) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        for (at, window) in text.windows(2).enumerate() {
            for (k, pair) in pairs.iter().enumerate() {
                if window == pair {
                    found.push((at, k));
                }
            }
        }
        found.sort_unstable();
        found
    }

    #[test]
    fn finds_every_occurrence_of_every_pair() {
        let pair_sets: [&[[u8; 2]]; 4] = [
            &[*b"\\u", *b"\\/", *b"SK"],
            &[*b"\\u"],
            &[*b"ab", *b"bc", *b"ca", *b"aa"],
            // More pairs than the vector path takes: one memmem pass each.
            &[*b"ab", *b"bc", *b"ca", *b"ac", *b"cb"],
        ];
        let mut next = crate::mask::xorshift(0x2545_f491_4f6c_dd1d);
        for length in (0..200).chain([1000, 4097]) {
            for pairs in pair_sets {
                let text: Vec<u8> = (0..length)
                    .map(|_| b"\\u/SKabc\""[(next() % 9) as usize])
                    .collect();
                let mut found = Vec::new();
                PairFinder::new(pairs.to_vec()).find_all(&text, |at, k| found.push((at, k)));
                found.sort_unstable();
                assert_eq!(
                    found,
                    naive(pairs, &text),
                    "length {length}, pairs {pairs:?}"
                );
            }
        }
    }
}
