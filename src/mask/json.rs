//! Masking a JSON document without re-serializing it.
//!
//! A single forward scan over the text, with a stack of open containers: a value under a
//! sensitive key is replaced whole (string, number, object, array) by a JSON string marker;
//! every other string is masked as text (so a token inside `"msg":"login with Bearer …"` or
//! JSON escaped inside a string is still found). Everything else — whitespace, key order,
//! number formatting — is copied byte for byte, so the output is valid JSON whenever the input
//! is.

use super::keys::KeyClass;
use super::text::{balanced_end, is_placeholder};
use super::{card, Found, Hits, KeyMemo, MaskCounts, Masker};
use crate::document::{push_str, unescape_json_string};

#[derive(Clone, Copy)]
struct Frame {
    object: bool,
    expect_key: bool,
    /// A naming key of this object (`name`, `key`, …) held a sensitive name: the object's
    /// `value` member is masked as that class (`{"name": "DB_PASSWORD", "value": "…"}`).
    named: Option<KeyClass>,
}

/// Masks the JSON document `json` into `out`. Returns whether anything was masked (when
/// false, `out` holds an exact copy). `known` holds the document's literal hits when they were
/// found before ([`super::PayloadScan::unescaped_hits`]); `None` searches the document.
pub fn mask_json(
    masker: &Masker,
    json: &str,
    out: &mut String,
    counts: &mut MaskCounts,
    known: Option<Hits<'_>>,
) -> bool {
    if !masker.enabled() {
        out.clear();
        out.push_str(json);
        return false;
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => mask_json_with(masker, json, out, counts, &mut scratch, known),
        Err(_) => mask_json_with(masker, json, out, counts, &mut Scratch::default(), known),
    })
}

/// The working buffers of [`mask_json`], kept per thread.
#[derive(Default)]
struct Scratch {
    stack: Vec<Frame>,
    unescaped: String,
    masked: String,
    bytes_out: Vec<u8>,
    hits: Vec<usize>,
    /// The known hits of one string value, at offsets in the string.
    string_hits: Vec<(usize, Found)>,
    keys: KeyMemo,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new(Scratch {
            stack: Vec::new(),
            unescaped: String::new(),
            masked: String::new(),
            bytes_out: Vec::new(),
            hits: Vec::new(),
            string_hits: Vec::new(),
            keys: KeyMemo::new(),
        })
    };
}

fn mask_json_with(
    masker: &Masker,
    json: &str,
    out: &mut String,
    counts: &mut MaskCounts,
    scratch: &mut Scratch,
    known: Option<Hits<'_>>,
) -> bool {
    let Scratch {
        stack,
        unescaped,
        masked,
        bytes_out,
        hits,
        string_hits: sub_hits,
        keys,
    } = scratch;
    stack.clear();
    hits.clear();
    let bytes = json.as_bytes();
    let mut pending: Option<KeyClass> = None;
    // The last key read names a setting (`name`, `key`, …): its string value is classified.
    let mut naming = false;
    let mut changed = false;
    let mut changed_text = false;
    let mut copied = 0; // bytes of `json` already copied to `out`
    let mut i = 0;
    // Literal hits in the whole document: a string value without one (and without a card
    // candidate) cannot change, so it is not searched again on its own.
    let prescanned = match known {
        Some(known) => {
            hits.extend(known.hits.iter().map(|&(at, _)| at));
            true
        }
        None => masker.literal_hits(json, hits),
    };
    let mut next_hit = 0;

    // Replaces json[start..end] with a marker for `secret`, copying what precedes it first.
    let mut splice = |out: &mut String,
                      copied: &mut usize,
                      (start, end): (usize, usize),
                      name: &'static str,
                      secret: &str,
                      counts: &mut MaskCounts| {
        out.push_str(&json[*copied..start]);
        masker.push_marker(out, name, secret, true, counts);
        *copied = end;
        changed = true;
    };

    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' if pending.is_some() => {
                let end = balanced_end(bytes, i);
                let class = pending.take().map(|k| k.0).unwrap_or("secret");
                splice(out, &mut copied, (i, end), class, &json[i..end], counts);
                i = end;
                continue;
            }
            b'{' => stack.push(Frame {
                object: true,
                expect_key: true,
                named: None,
            }),
            b'[' => stack.push(Frame {
                object: false,
                expect_key: false,
                named: None,
            }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.expect_key = top.object;
                }
            }
            b'"' => {
                let (end, escaped) = string_end(bytes, i);
                // An unterminated string (invalid input) runs to the end of the text.
                let closed = end > i + 1 && bytes[end - 1] == b'"';
                let inner = &json[i + 1..if closed { end - 1 } else { end }];
                let is_key = stack.last().is_some_and(|f| f.object && f.expect_key);
                while hits.get(next_hit).is_some_and(|&h| h <= i) {
                    next_hit += 1;
                }
                // Every sensitive key name holds a key stem, and the hits hold every stem: a
                // string without a hit names nothing sensitive (the decision to mask this
                // document rests on the same fact).
                let has_hit = !prescanned || hits.get(next_hit).is_some_and(|&h| h < end);
                if is_key {
                    let key = if escaped {
                        unescaped.clear();
                        unescape_json_string(inner, unescaped);
                        unescaped.as_str()
                    } else {
                        inner
                    };
                    pending = if has_hit || escaped {
                        keys.classify(masker, key)
                    } else {
                        None
                    };
                    naming = false;
                    if let Some(top) = stack.last_mut() {
                        top.expect_key = false;
                        if pending.is_none() {
                            match super::text::named_role(key.as_bytes()) {
                                Some(super::text::Role::Name) => naming = true,
                                Some(super::text::Role::Value) => pending = top.named,
                                None => {}
                            }
                        }
                    }
                } else {
                    unescaped.clear();
                    let text = if escaped && unescape_json_string(inner, unescaped) {
                        unescaped.as_str()
                    } else {
                        inner
                    };
                    if std::mem::take(&mut naming) && (has_hit || escaped) {
                        if let (Some(top), Some(class)) =
                            (stack.last_mut(), keys.classify(masker, text))
                        {
                            top.named = Some(class);
                        }
                    }
                    if let Some(class) = pending.take() {
                        if !is_placeholder(text) {
                            splice(out, &mut copied, (i, end), class.0, text, counts);
                        }
                    } else {
                        masked.clear();
                        let searched = has_hit
                            || known.is_none_or(|k| k.cards) && card::may_contain(text)
                            || escaped && may_hide_literal(inner);
                        if searched
                            && masker.mask_text_with_hits(
                                text,
                                masked,
                                counts,
                                // An unescaped string's hits are the document's, shifted.
                                known
                                    .filter(|_| !escaped)
                                    .map(|k| k.within(i + 1, i + 1 + inner.len(), sub_hits)),
                            )
                        {
                            // The string keeps its place, re-escaped around the markers.
                            out.push_str(&json[copied..i]);
                            bytes_out.clear();
                            push_str(bytes_out, masked);
                            out.push_str(&String::from_utf8_lossy(bytes_out));
                            copied = end;
                            changed_text = true;
                        }
                    }
                }
                i = end;
                continue;
            }
            b if b == b'-' || b.is_ascii_alphanumeric() => {
                let mut end = i;
                while end < bytes.len()
                    && !matches!(
                        bytes[end],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
                    )
                {
                    end += 1;
                }
                let token = &json[i..end];
                if let Some(class) = pending.take() {
                    if !is_placeholder(token) {
                        splice(out, &mut copied, (i, end), class.0, token, counts);
                    }
                } else if token.len() >= 13 && masker.is_card_number(token) {
                    splice(out, &mut copied, (i, end), "card_number", token, counts);
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let changed = changed || changed_text;
    if changed {
        out.push_str(&json[copied..]);
    } else {
        out.clear();
        out.push_str(json);
    }
    changed
}

/// Whether the escaped string `inner` may hold a literal its escaped form does not show:
/// `\u0041KIA` is `AKIA`, `https:\/\/` is `https://`.
fn may_hide_literal(inner: &str) -> bool {
    let bytes = inner.as_bytes();
    memchr::memchr_iter(b'\\', bytes).any(|i| matches!(bytes.get(i + 1), Some(b'u' | b'/')))
}

/// End (exclusive, after the closing quote) of the string starting at `start`, and whether
/// the string holds an escape.
///
/// Eight bytes at a time: keys and most values are shorter than 32 bytes, where a `memchr2`
/// call cost more than the scan itself.
fn string_end(bytes: &[u8], start: usize) -> (usize, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Bit 7 of the lowest zero byte of `v` is exact (higher ones may be borrow artefacts).
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut escaped = false;
    let mut i = start + 1;
    loop {
        let at = match bytes.get(i..i + 8) {
            Some(word) => {
                let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                let found = zero_bytes(x ^ (ONES * u64::from(b'"')))
                    | zero_bytes(x ^ (ONES * u64::from(b'\\')));
                if found == 0 {
                    i += 8;
                    continue;
                }
                i + (found.trailing_zeros() / 8) as usize
            }
            None => match bytes
                .get(i..)
                .and_then(|rest| rest.iter().position(|&b| b == b'"' || b == b'\\'))
            {
                Some(p) => i + p,
                // An unterminated string (invalid input) runs to the end of the text.
                None => return (bytes.len(), escaped),
            },
        };
        if bytes[at] == b'"' {
            return (at + 1, escaped);
        }
        escaped = true;
        i = at + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::string_end;

    /// The string's end the plain way: byte by byte, an escape skipping the byte after it.
    fn reference(bytes: &[u8], start: usize) -> (usize, bool) {
        let (mut i, mut escaped) = (start + 1, false);
        while i < bytes.len() {
            match bytes[i] {
                b'"' => return (i + 1, escaped),
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        (bytes.len(), escaped)
    }

    #[test]
    fn string_end_finds_the_closing_quote_past_escapes() {
        let mut next = crate::mask::xorshift(0x2545_f491_4f6c_dd1d);
        for length in 1..80 {
            for _ in 0..300 {
                let mut text: Vec<u8> = (0..length)
                    .map(|_| b"ab\"\\\\xyzw\xc3\xa9"[(next() % 11) as usize])
                    .collect();
                text[0] = b'"';
                assert_eq!(string_end(&text, 0), reference(&text, 0), "{text:?}");
            }
        }
    }
}
