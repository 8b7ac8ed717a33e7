//! Payment card numbers: a hand-written scan, because no literal announces them.
//!
//! A candidate is a run of 13–19 digits, optionally grouped by single spaces or dashes (one
//! kind of separator per number), not glued to other digits or letters. It is a card number
//! only when its prefix belongs to a card network (IIN ranges of Visa, Mastercard, Amex,
//! Discover, JCB, Diners, UnionPay, Maestro), its length fits that network and it passes the
//! Luhn check — so order numbers, epoch milliseconds and other long ids survive.

/// Byte ranges of card numbers in `text`, appended to `out`.
pub fn find(text: &str, out: &mut Vec<(usize, usize)>) {
    find_from(text, 0, out);
}

/// [`find`] where [`may_contain`] says a card may be, from the first run it flags: the lines
/// it lets through are long, and the runs before that one cannot hold a card.
pub fn find_likely(text: &str, out: &mut Vec<(usize, usize)>) {
    if let Some(flagged) = first_long_run(text) {
        find_from_flagged(text, flagged, out);
    }
}

/// [`find`] from the run holding byte `flagged`, the first run of `text` the pre-check flags
/// (from [`flag_runs`] over many texts at once, or [`find_likely`]).
pub fn find_from_flagged(text: &str, flagged: usize, out: &mut Vec<(usize, usize)>) {
    find_from(text, run_start(text.as_bytes(), flagged), out);
}

/// Whether the run holding byte `flagged` (a byte [`flag_runs`] reported) holds a card number,
/// and where that run ends. Runs the pre-check does not flag cannot hold one, so the decision
/// to mask a line looks at its flagged runs alone.
pub fn card_in_run(text: &str, flagged: usize) -> (bool, usize) {
    let bytes = text.as_bytes();
    if flagged >= bytes.len() {
        return (false, flagged);
    }
    let mut end = flagged;
    while end < bytes.len() {
        let between = matches!(bytes[end], b' ' | b'-')
            && end > 0
            && bytes[end - 1].is_ascii_digit()
            && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if !(bytes[end].is_ascii_digit() || between) {
            break;
        }
        end += 1;
    }
    // Every candidate starting inside the run ends inside it.
    let found = cards_from(text, run_start(bytes, flagged), end, |_, _| true);
    (found, end)
}

/// The first byte of the run holding byte `flagged` (0 when `flagged` is past the text):
/// back over digits, and spaces or dashes between two digits.
fn run_start(bytes: &[u8], flagged: usize) -> usize {
    if flagged >= bytes.len() {
        return 0;
    }
    let mut start = flagged;
    while start > 0 {
        let b = bytes[start - 1];
        let between = matches!(b, b' ' | b'-')
            && start >= 2
            && bytes[start - 2].is_ascii_digit()
            && bytes[start].is_ascii_digit();
        if !(b.is_ascii_digit() || between) {
            break;
        }
        start -= 1;
    }
    start
}

fn find_from(text: &str, from: usize, out: &mut Vec<(usize, usize)>) {
    cards_from(text, from, text.len(), |start, end| {
        out.push((start, end));
        false
    });
}

/// Calls `visit` with the range of every card number starting in `from..until`, in order,
/// until it returns true; returns whether it did.
fn cards_from(
    text: &str,
    from: usize,
    until: usize,
    mut visit: impl FnMut(usize, usize) -> bool,
) -> bool {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < until.min(bytes.len()) {
        if !bytes[i].is_ascii_digit() {
            i = next_digit(bytes, i + 1);
            continue;
        }
        let start = i;
        let glued_before = start > 0 && bytes[start - 1].is_ascii_alphanumeric();
        let mut digits = [0u8; 19];
        let mut count = 0;
        let mut separator = None;
        let mut end = i;
        let mut j = i;
        let mut too_long = false;
        while j < bytes.len() {
            let b = bytes[j];
            if b.is_ascii_digit() {
                if count == digits.len() {
                    too_long = true;
                    break;
                }
                digits[count] = b - b'0';
                count += 1;
                j += 1;
                end = j;
            } else if (b == b' ' || b == b'-')
                && separator.is_none_or(|s| s == b)
                && bytes.get(j + 1).is_some_and(u8::is_ascii_digit)
            {
                separator = Some(b);
                j += 1;
            } else {
                break;
            }
        }
        let glued_after = bytes.get(end).is_some_and(u8::is_ascii_alphanumeric);
        if !too_long
            && !glued_before
            && !glued_after
            && is_card(&digits[..count])
            && visit(start, end)
        {
            return true;
        }
        // Skip the rest of this digit run (and any digits glued to it).
        i = end.max(start + 1);
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    false
}

/// The offset of the first digit at or after `from` (`bytes.len()` if none), eight bytes at
/// a time: most of a line is not digits.
fn next_digit(bytes: &[u8], mut from: usize) -> usize {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    while let Some(word) = bytes.get(from..from + 8) {
        let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        // Bit 7 of each byte below 0x80 that is at least '0' and not at least ':' (exact per
        // byte: the additions never carry out of a byte).
        let low = x & LOW7;
        let digits = (low + ONES * u64::from(0x80 - b'0'))
            & !(low + ONES * u64::from(0x80 - b':'))
            & !x
            & HIGH;
        if digits != 0 {
            return from + (digits.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(u8::is_ascii_digit))
        .map_or(bytes.len(), |p| from + p)
}

/// Whether `text` may hold a card number: a cheap test that [`find`] would find nothing when
/// it says no. It runs on every log line, so it looks at 64 bytes at a time (bit masks, no
/// per-byte branches): a card lies inside one run of bytes that are digits or a single space
/// or dash between two digits, and that run holds at least 13 digits. Timestamps, ids and
/// hashes rarely have 13 digits in such a run, so the exact scan seldom follows.
pub fn may_contain(text: &str) -> bool {
    first_long_run(text).is_some()
}

/// The offset of a byte (the last in its block) of the first run [`may_contain`] flags.
fn first_long_run(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.len() < 13 {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { scan_avx2(bytes, |_| true) };
    }
    scan(bytes, masks_of, |_| true)
}

/// Appends to `out`, in ascending order, the offset of a byte (the last in its block) of every
/// run [`may_contain`] flags in `bytes`: the pre-check of many texts at once, each followed by
/// a byte that is neither a digit, a space nor a dash (so no run spans two of them). A run is
/// flagged when it is 25 bytes long or holds 13 digits, wherever the 64-byte blocks fall, so
/// the first offset inside a text lies in the run [`find_likely`] starts from on that text
/// alone. A run may be reported more than once.
pub fn flag_runs(bytes: &[u8], out: &mut Vec<usize>) {
    if bytes.len() < 13 {
        return;
    }
    let visit = |at| {
        out.push(at);
        false
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { scan_avx2(bytes, visit) };
        return;
    }
    scan(bytes, masks_of, visit);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_avx2(bytes: &[u8], visit: impl FnMut(usize) -> bool) -> Option<usize> {
    scan(
        bytes,
        |block| {
            // SAFETY: this closure only runs inside `scan_avx2`, on an AVX2 CPU.
            unsafe { masks_of_avx2(block) }
        },
        visit,
    )
}

/// The block loop of [`may_contain`], for one way of computing a block's masks: calls `visit`
/// with a byte of each flagged run, in order, until it returns true, and returns that offset.
#[inline(always)]
fn scan(
    bytes: &[u8],
    masks: impl Fn(&[u8; 64]) -> (u64, u64),
    mut visit: impl FnMut(usize) -> bool,
) -> Option<usize> {
    let block_count = bytes.len().div_ceil(64);
    // The blocks' masks in order, then zeros: whole blocks straight from the text, the last
    // partial one (if any) computed up front.
    let mut whole = bytes.chunks_exact(64);
    let mut last = (!whole.remainder().is_empty())
        .then(|| block_masks(bytes, bytes.len() - whole.remainder().len(), &masks));
    macro_rules! next_block {
        () => {
            match whole.next().and_then(|b| <&[u8; 64]>::try_from(b).ok()) {
                Some(block) => masks(block),
                None => last.take().unwrap_or_default(),
            }
        };
    }
    let (mut digits, mut separators) = next_block!();
    // The previous block's digit bit of its last byte, its run bytes and its digits.
    let mut digit_before_block = 0u64;
    let (mut previous_runs, mut previous_digits) = (0u64, 0u64);
    for block in 0..block_count {
        let (next_digits, next_separators) = next_block!();
        let digit_after = (digits >> 1) | (next_digits << 63);
        let digit_before = (digits << 1) | digit_before_block;
        let runs = digits | (separators & digit_after & digit_before);
        // A card's run is at least 13 bytes long. Only runs ending in this block are new (the
        // others were judged with the previous block): one that lies inside it has 13
        // consecutive bits in `runs`, one that started before continues the previous block's
        // last run. Both are rare — timestamps, long ids, cards — so the exact count of
        // digits is left to a cold function.
        let mut long = runs & (runs >> 1);
        long &= long >> 2;
        long &= long >> 4;
        long &= long >> 5;
        let crossing = runs & 1 != 0 && previous_runs.leading_ones() + runs.trailing_ones() >= 13;
        if long != 0 || crossing {
            let mut found = long_runs_with_13_digits(
                (previous_runs, previous_digits),
                (runs, digits),
                long,
                crossing,
            );
            while found != 0 {
                let at = block * 64 + found.trailing_zeros() as usize;
                if visit(at) {
                    return Some(at);
                }
                found &= found - 1;
            }
        }
        digit_before_block = digits >> 63;
        previous_runs = runs;
        previous_digits = digits;
        digits = next_digits;
        separators = next_separators;
    }
    None
}

/// The long runs ending in this block that hold 13 digits, as the bits of their last bytes in
/// the block: `long` marks where 13-byte runs of `runs` start inside the block, `crossing`
/// says the block's first run continues the previous block's last one. Separators are single
/// and between digits, so a run of 25 bytes or more always holds 13 digits.
#[cold]
fn long_runs_with_13_digits(
    (previous_runs, previous_digits): (u64, u64),
    (runs, digits): (u64, u64),
    mut long: u64,
    crossing: bool,
) -> u64 {
    let mut found = 0;
    if crossing {
        let before = previous_runs.leading_ones();
        let inside = runs.trailing_ones();
        let count = (previous_digits & !u64::MAX.checked_shr(before).unwrap_or(0)).count_ones()
            + (digits & low_bits(inside)).count_ones();
        if before + inside >= 25 || count >= 13 {
            found |= 1 << (inside - 1);
        }
        long &= !low_bits(inside);
    }
    while long != 0 {
        let start = long.trailing_zeros();
        let len = (runs >> start).trailing_ones();
        let run = low_bits(len) << start;
        if len >= 25 || (digits & run).count_ones() >= 13 {
            found |= 1 << (start + len - 1);
        }
        long &= !run;
    }
    found
}

/// A mask of the `n` low bits (`n` up to 64).
fn low_bits(n: u32) -> u64 {
    u64::MAX.checked_shr(64 - n).unwrap_or(0)
}

#[cfg(any(test, not(target_arch = "x86_64")))]
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
#[cfg(any(test, not(target_arch = "x86_64")))]
const HIGH: u64 = 0x8080_8080_8080_8080;

#[cfg(any(test, not(target_arch = "x86_64")))]
const fn splat(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

/// Bit masks (bit `i` = byte `at + i`) of the digits and of the spaces and dashes in the 64
/// bytes from `at`; bytes past the end count as neither.
#[inline(always)]
fn block_masks(bytes: &[u8], at: usize, masks: &impl Fn(&[u8; 64]) -> (u64, u64)) -> (u64, u64) {
    if let Some(block) = bytes
        .get(at..at + 64)
        .and_then(|b| <&[u8; 64]>::try_from(b).ok())
    {
        return masks(block);
    }
    let tail = bytes.len().saturating_sub(at);
    match bytes
        .len()
        .checked_sub(64)
        .and_then(|from| bytes.get(from..))
        .and_then(|b| <&[u8; 64]>::try_from(b).ok())
    {
        // The last 64 bytes, shifted so that bit 0 is byte `at`: no copy.
        Some(last) if tail > 0 => {
            let (d, s) = masks(last);
            (d >> (64 - tail), s >> (64 - tail))
        }
        _ => {
            let mut block = [0u8; 64];
            let rest = bytes.get(at..).unwrap_or_default();
            block[..rest.len()].copy_from_slice(rest);
            masks(&block)
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn masks_of_avx2(block: &[u8; 64]) -> (u64, u64) {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_or_si256,
        _mm256_set1_epi8, _mm256_sub_epi8,
    };
    let (mut digits, mut separators) = (0u64, 0u64);
    for (i, chunk) in block.chunks_exact(32).enumerate() {
        // SAFETY: the caller runs on an AVX2 CPU; the unaligned load reads the 32 bytes of
        // `chunk`.
        let (d, s) = unsafe {
            let v = _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>());
            let offset = _mm256_sub_epi8(v, _mm256_set1_epi8(b'0' as i8));
            let digit = _mm256_cmpeq_epi8(_mm256_min_epu8(offset, _mm256_set1_epi8(9)), offset);
            let separator = _mm256_or_si256(
                _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b' ' as i8)),
                _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'-' as i8)),
            );
            (movemask_avx2(digit), movemask_avx2(separator))
        };
        digits |= d << (i * 32);
        separators |= s << (i * 32);
    }
    (digits, separators)
}

#[cfg(target_arch = "x86_64")]
fn masks_of(block: &[u8; 64]) -> (u64, u64) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_or_si128, _mm_set1_epi8,
        _mm_sub_epi8,
    };
    let (mut digits, mut separators) = (0u64, 0u64);
    for (i, chunk) in block.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of the x86_64 baseline, and the unaligned load reads the 16
        // bytes of `chunk`.
        let (d, s) = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            // A digit is a byte whose distance from '0' is at most 9 (unsigned).
            let offset = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
            let digit = _mm_cmpeq_epi8(_mm_min_epu8(offset, _mm_set1_epi8(9)), offset);
            let separator = _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'-' as i8)),
            );
            (movemask_sse2(digit), movemask_sse2(separator))
        };
        digits |= d << (i * 16);
        separators |= s << (i * 16);
    }
    (digits, separators)
}

// `pmovmskb` through inline assembly, not the intrinsic: LLVM reads the intrinsic's result as
// a vector of 16/32 booleans, and the shifts of [`scan`] on the combined 64-bit masks then
// compile to byte-by-byte vector inserts (measured: 60 `vpinsrb` per block, 3× slower).

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn movemask_sse2(v: std::arch::x86_64::__m128i) -> u64 {
    // 64 bits: writing the 32-bit register clears the upper half, so no zero extension follows.
    let mask: u64;
    // SAFETY: `pmovmskb` only reads the register; SSE2 is part of the x86_64 baseline.
    unsafe {
        std::arch::asm!(
            "pmovmskb {mask:e}, {v}",
            v = in(xmm_reg) v,
            mask = lateout(reg) mask,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    mask
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn movemask_avx2(v: std::arch::x86_64::__m256i) -> u64 {
    // 64 bits: writing the 32-bit register clears the upper half, so no zero extension follows.
    let mask: u64;
    // SAFETY: `vpmovmskb` only reads the register; the caller guarantees AVX2.
    unsafe {
        std::arch::asm!(
            "vpmovmskb {mask:e}, {v}",
            v = in(ymm_reg) v,
            mask = lateout(reg) mask,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
fn masks_of(block: &[u8; 64]) -> (u64, u64) {
    masks_of_swar(block)
}

/// Portable version: eight bytes at a time in a `u64` (SWAR).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn masks_of_swar(block: &[u8; 64]) -> (u64, u64) {
    let (mut digits, mut separators) = (0u64, 0u64);
    for (i, word) in block.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        // Bit 7 of each byte: the byte (< 0x80) is at least '0' / at least ':'.
        let low = x & LOW7;
        let digit = (low + splat(0x80 - b'0')) & !(low + splat(0x80 - b':')) & !x & HIGH;
        let separator = zero_bytes(x ^ splat(b' ')) | zero_bytes(x ^ splat(b'-'));
        digits |= pack(digit) << (i * 8);
        separators |= pack(separator) << (i * 8);
    }
    (digits, separators)
}

/// Bit 7 set in each byte of `v` that is zero (exact for every byte value).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn zero_bytes(v: u64) -> u64 {
    !(((v & LOW7) + LOW7) | v) & HIGH
}

#[cfg(any(test, not(target_arch = "x86_64")))]
/// Gathers bit 7 of each byte into an 8-bit mask (bit `k` = byte `k`).
fn pack(high_bits: u64) -> u64 {
    (high_bits >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Whether `digits` (0–9 values) form a card number of a known network passing Luhn.
pub fn is_card(digits: &[u8]) -> bool {
    let len = digits.len();
    if !(13..=19).contains(&len) {
        return false;
    }
    let prefix = |n: usize| {
        digits[..n]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d))
    };
    let network_ok = match digits[0] {
        4 => matches!(len, 13 | 16 | 19), // Visa
        5 => (51..=55).contains(&prefix(2)) && len == 16 || prefix(2) == 50 && len >= 16, // Mastercard, Maestro
        2 => (2221..=2720).contains(&prefix(4)) && len == 16, // Mastercard 2-series
        3 => {
            let p2 = prefix(2);
            ((p2 == 34 || p2 == 37) && len == 15)                                 // Amex
                || ((3528..=3589).contains(&prefix(4)) && (16..=19).contains(&len)) // JCB
                || ((300..=305).contains(&prefix(3)) || p2 == 36 || p2 == 38) && (14..=19).contains(&len)
            // Diners
        }
        6 => {
            prefix(4) == 6011
                || prefix(2) == 65
                || (644..=649).contains(&prefix(3))
                || prefix(2) == 62
                || (prefix(2) == 67 && len >= 16)
        }
        _ => false,
    };
    network_ok && luhn(digits)
}

/// The Luhn (mod 10) check.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cards(text: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        find(text, &mut spans);
        spans.iter().map(|&(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn finds_valid_cards_in_every_grouping() {
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555555555554444",
            "5555-5555-5555-4444",
            "2223003122003222",
            "378282246310005",
            "3782 822463 10005",
            "6011111111111117",
            "6011 0009 9013 9424",
            "3530111333300000",
            "30569309025904",
            "4012888888881881",
            "6200000000000005",
        ] {
            assert_eq!(
                cards(&format!("paid with {card}, thanks")),
                [card],
                "{card}"
            );
        }
        assert_eq!(cards("card=4111111111111111&x=1"), ["4111111111111111"]);
    }

    #[test]
    fn look_alikes_survive() {
        for text in [
            "order 4111111111111112 shipped", // fails Luhn
            "epoch 1795320000123 ms",         // no card network starts with 1
            "id 9111111111111111",            // no network starts with 9
            "x41111111111111111",             // glued to a letter
            "41111111111111110000000",        // part of a longer number
            "4111 1111-1111 1111",            // mixed separators
            "2026-11-22 10:00:00.123",        // a timestamp
            "trace 1-5759e988-bd862e3fe1be46a994272793",
            "sha 4111111111111111abc",
        ] {
            assert!(cards(text).is_empty(), "{text}: {:?}", cards(text));
        }
    }

    #[test]
    fn simd_and_portable_masks_agree() {
        let mut block = [0u8; 64];
        for seed in 0..4096u32 {
            for (i, b) in block.iter_mut().enumerate() {
                *b = (seed.wrapping_mul(2_654_435_761).rotate_left(i as u32 % 32) >> 7) as u8
                    ^ (i as u8).wrapping_mul(37);
            }
            block[(seed % 64) as usize] = b"09 -/:"[(seed % 6) as usize];
            let expected = block
                .iter()
                .enumerate()
                .fold((0u64, 0u64), |(d, s), (i, &b)| {
                    (
                        d | u64::from(b.is_ascii_digit()) << i,
                        s | u64::from(b == b' ' || b == b'-') << i,
                    )
                });
            assert_eq!(masks_of(&block), expected);
            assert_eq!(masks_of_swar(&block), expected);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                assert_eq!(unsafe { masks_of_avx2(&block) }, expected);
            }
        }
    }

    #[test]
    fn pre_check_never_misses_a_card() {
        // Strings dense in digits and separators, across 64-byte block boundaries.
        let alphabet = b"0123456789 -  --a:4";
        let mut next = crate::mask::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let mut text = String::new();
        let mut spans = Vec::new();
        for _ in 0..200_000 {
            text.clear();
            let len = (next() % 300) as usize;
            for _ in 0..len {
                text.push(char::from(
                    alphabet[(next() % alphabet.len() as u64) as usize],
                ));
            }
            spans.clear();
            find(&text, &mut spans);
            assert!(spans.is_empty() || may_contain(&text), "{text:?}");
            // Every way of computing the masks gives the same answer.
            if text.len() >= 13 {
                let answer = may_contain(&text);
                assert_eq!(
                    scan(text.as_bytes(), masks_of, |_| true).is_some(),
                    answer,
                    "{text:?}"
                );
                assert_eq!(
                    scan(text.as_bytes(), masks_of_swar, |_| true).is_some(),
                    answer,
                    "{text:?}"
                );
                let mut likely = Vec::new();
                find_likely(&text, &mut likely);
                assert_eq!(likely, spans, "{text:?}");
            }
        }
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "3782-822463-10005",
        ] {
            for pad in 0..70 {
                let text = format!("{}{card}{}", "x".repeat(pad), "é".repeat(pad % 3));
                assert!(may_contain(&text), "{text}");
            }
        }
        for clean in [
            "2026-11-22 10:00:00.123",
            "id 1-5759e988-bd862e3fe1be46a994272793",
            "",
        ] {
            assert!(!may_contain(clean), "{clean}");
        }
    }

    #[test]
    fn flags_over_many_texts_find_what_each_text_alone_does() {
        // Texts dense in digits and separators, joined by `"` the way the payload scan joins
        // messages, so that runs and 64-byte blocks fall anywhere.
        let alphabet = b"0123456789 -  --a:4";
        let mut next = crate::mask::xorshift(0x2545_f491_4f6c_dd1du64);
        for _ in 0..2_000 {
            let texts: Vec<String> = (0..(next() % 12))
                .map(|_| {
                    let len = (next() % 160) as usize;
                    (0..len)
                        .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
                        .collect()
                })
                .collect();
            let mut joined = Vec::new();
            let mut starts = Vec::new();
            for t in &texts {
                starts.push(joined.len());
                joined.extend_from_slice(t.as_bytes());
                joined.push(b'"');
            }
            let mut flags = Vec::new();
            flag_runs(&joined, &mut flags);
            assert!(flags.windows(2).all(|w| w[0] <= w[1]), "{flags:?}");
            for (t, &start) in texts.iter().zip(&starts) {
                let (mut alone, mut via_flags) = (Vec::new(), Vec::new());
                find_likely(t, &mut alone);
                let first = flags
                    .iter()
                    .find(|&&f| (start..start + t.len()).contains(&f));
                assert_eq!(first.is_some(), may_contain(t), "{t:?}");
                if let Some(&f) = first {
                    find_from_flagged(t, f - start, &mut via_flags);
                }
                // The flagged runs alone tell whether the text holds a card.
                let mut checked_to = 0;
                let in_runs = flags
                    .iter()
                    .filter(|&&f| (start..start + t.len()).contains(&f))
                    .any(|&f| {
                        if f - start < checked_to {
                            return false;
                        }
                        let (found, end) = card_in_run(t, f - start);
                        checked_to = end;
                        found
                    });
                assert_eq!(in_runs, !alone.is_empty(), "{t:?}");
                assert_eq!(via_flags, alone, "{t:?}");
            }
        }
    }

    #[test]
    fn next_digit_finds_the_first_digit() {
        let text = "abcdefghij5klmnop7é9 z0";
        for from in 0..=text.len() {
            let want = text
                .bytes()
                .skip(from)
                .position(|b| b.is_ascii_digit())
                .map_or(text.len(), |p| from + p);
            assert_eq!(next_digit(text.as_bytes(), from), want, "{from}");
        }
        let all: Vec<u8> = (0..=255u8).collect();
        for from in 0..all.len() {
            let want = all[from..]
                .iter()
                .position(u8::is_ascii_digit)
                .map_or(all.len(), |p| from + p);
            assert_eq!(next_digit(&all, from), want, "{from}");
        }
    }

    #[test]
    fn luhn_check() {
        assert!(luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
        assert!(!luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]));
    }
}
