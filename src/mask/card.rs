//! Payment card numbers: a hand-written scan, because no literal announces them.
//!
//! A candidate is a run of 13–19 digits, optionally grouped by single spaces or dashes (one
//! kind of separator per number), not glued to other digits or letters. It is a card number
//! only when its prefix belongs to a card network (IIN ranges of Visa, Mastercard, Amex,
//! Discover, JCB, Diners, UnionPay, Maestro), its length fits that network and it passes the
//! Luhn check — so order numbers, epoch milliseconds and other long ids survive.

/// Byte ranges of card numbers in `text`, appended to `out`.
pub fn find(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
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
        if !too_long && !glued_before && !glued_after && is_card(&digits[..count]) {
            out.push((start, end));
        }
        // Skip the rest of this digit run (and any digits glued to it).
        i = end.max(start + 1);
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
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
    fn luhn_check() {
        assert!(luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
        assert!(!luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 4]));
    }
}
