//! PEM private key blocks, found by hand in one forward pass.
//!
//! A regex with a lazy `[\s\S]*?` up to the END line rescans the rest of the text for every
//! BEGIN that has no END — quadratic on a log full of truncated keys. Here the next `-----END`
//! is searched once and the answer reused for every BEGIN before it; a BEGIN with no END within
//! reach (a key cut off by a log line limit) masks the base64 body that follows it.

/// Longest body we expect between BEGIN and END (an 8192-bit RSA key is ~6.5 KB).
const MAX_BODY: usize = 16 * 1024;

/// Byte ranges of private key blocks in `text`, appended to `out`.
pub fn find(text: &str, out: &mut Vec<(usize, usize)>) {
    let mut from = 0;
    // Offset of the next "-----END" at or after some position, or None when there is none.
    let mut next_end: Option<(usize, Option<usize>)> = None;
    while let Some(i) = text[from..].find("-----BEGIN") {
        let begin = from + i;
        let after_begin = begin + "-----BEGIN".len();
        let Some((label_len, body_start)) = header(text, after_begin) else {
            from = after_begin;
            continue;
        };
        let label = &text[after_begin..after_begin + label_len];
        if !label.contains("PRIVATE KEY") {
            from = body_start;
            continue;
        }
        let end = match next_end {
            Some((searched_from, found))
                if found.is_none_or(|e| e >= body_start) && searched_from <= body_start =>
            {
                found
            }
            _ => {
                let found = text[body_start..].find("-----END").map(|j| body_start + j);
                next_end = Some((body_start, found));
                found
            }
        };
        let stop = match end.filter(|&e| e - body_start <= MAX_BODY) {
            Some(e) => {
                header(text, e + "-----END".len()).map_or(e + "-----END".len(), |(_, after)| after)
            }
            None => body_end(text, body_start),
        };
        out.push((begin, stop));
        from = stop.max(after_begin);
    }
}

/// After `-----BEGIN`/`-----END`: the label (` RSA PRIVATE KEY`) up to the closing `-----`.
/// Returns (label length, offset after the closing dashes).
fn header(text: &str, at: usize) -> Option<(usize, usize)> {
    let window = &text.as_bytes()[at..(at + 64).min(text.len())];
    let close = window.windows(5).position(|w| w == b"-----")?;
    let label = &window[..close];
    label
        .iter()
        .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ')
        .then_some((close, at + close + 5))
}

/// End of a truncated key's body: base64, whitespace and escaped newlines.
fn body_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let limit = (start + MAX_BODY).min(bytes.len());
    let mut i = start;
    while i < limit {
        let b = bytes[i];
        if b.is_ascii_alphanumeric()
            || matches!(b, b'+' | b'/' | b'=' | b'\n' | b'\r' | b' ' | b'\t' | b'\\')
        {
            i += 1;
        } else {
            break;
        }
    }
    // Do not swallow trailing whitespace.
    while i > start && bytes[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find(text, &mut out);
        out.iter().map(|&(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn whole_blocks_and_truncated_ones() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\nab+/=\n-----END RSA PRIVATE KEY-----";
        assert_eq!(blocks(&format!("a {key} b")), [key]);
        let escaped = "-----BEGIN PRIVATE KEY-----\\nMIIEv\\n-----END PRIVATE KEY-----\\n";
        assert_eq!(
            blocks(escaped),
            ["-----BEGIN PRIVATE KEY-----\\nMIIEv\\n-----END PRIVATE KEY-----"]
        );
        assert_eq!(
            blocks("cut: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n\"}"),
            ["-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE"]
        );
        assert!(blocks("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----").is_empty());
        assert!(blocks("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----").is_empty());
    }
}
