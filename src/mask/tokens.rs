//! Hand-written finders for the token shapes that reach the slow path most often: JWTs,
//! `Bearer` credentials and AWS access key ids.
//!
//! Each finds exactly the spans its detector's regex (in [`super::detectors`]) would, with the
//! detector's `validate` applied. The regex engine needs a forward and a reverse DFA pass
//! over every match, and a third pass to resolve a capture group: ~0.7 µs for a 170-byte JWT,
//! ~1.2 µs for a `Bearer` header. These shapes are fixed sequences of byte classes with
//! only one way to match at a given start, so one forward walk settles each candidate
//! (~0.1 µs). The test module checks every finder against its regex on generated texts.

use std::sync::LazyLock;

use memchr::memmem;

/// An ASCII word byte, as `(?-u:\b)` sees it.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `(?-u:\b)` holds before `bytes[at]`, a word byte.
fn boundary_before(bytes: &[u8], at: usize) -> bool {
    at == 0 || !is_word(bytes[at - 1])
}

/// The end of the run of bytes from `from` that satisfy `class`.
fn run_end(bytes: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| !class(b)))
        .map_or(bytes.len(), |p| from + p)
}

/// `[A-Za-z0-9_-]`, the base64url alphabet of a JWT's segments.
fn base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

static EYJ: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("eyJ"));

/// JWTs: `(?-u:\b)(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{0,})`.
pub fn jwt(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut from = 0;
    for at in EYJ.find_iter(bytes) {
        if at < from || !boundary_before(bytes, at) {
            continue;
        }
        if let Some(end) = jwt_at(bytes, at) {
            out.push((at, end));
            from = end;
        }
    }
}

/// The end of the JWT starting at `at` (which holds `eyJ`), if one does. Each segment takes
/// its whole run of base64url bytes: `.` is not one of them, so no shorter run could be
/// followed by the `.` the pattern needs next.
fn jwt_at(bytes: &[u8], at: usize) -> Option<usize> {
    let header = at + 3;
    let header_end = run_end(bytes, header, base64url);
    if header_end - header < 8 || bytes.get(header_end) != Some(&b'.') {
        return None;
    }
    let payload = header_end + 1;
    if !bytes.get(payload..)?.starts_with(b"eyJ") {
        return None;
    }
    let payload_end = run_end(bytes, payload + 3, base64url);
    if payload_end - (payload + 3) < 8 || bytes.get(payload_end) != Some(&b'.') {
        return None;
    }
    Some(run_end(bytes, payload_end + 1, base64url))
}

/// `[A-Za-z0-9\-._~+/]`, the characters of an RFC 6750 bearer token.
fn token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// `Bearer` credentials: group 1 of
/// `(?-u:\b)(?:Bearer|bearer|BEARER)\s+([A-Za-z0-9\-._~+/]{8,}=*)(?:[^A-Za-z0-9\-._~+/=\[]|$)`
/// where [`super::detectors::credential_like`] accepts it.
pub fn bearer(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = bytes
        .get(at..)
        .and_then(|rest| memchr::memchr2(b'B', b'b', rest))
    {
        let start = at + found;
        at = start + 1;
        let word = bytes.get(start..start + 6).unwrap_or_default();
        if !matches!(word, b"Bearer" | b"bearer" | b"BEARER") || !boundary_before(bytes, start) {
            continue;
        }
        // `\s+` is Unicode White_Space, as `char::is_whitespace`.
        let spaces = start + 6;
        let token = spaces
            + text
                .get(spaces..)
                .unwrap_or_default()
                .char_indices()
                .find(|&(_, c)| !c.is_whitespace())
                .map_or(text.len() - spaces, |(i, _)| i);
        if token == spaces {
            continue;
        }
        let token_end = run_end(bytes, token, token68);
        if token_end - token < 8 {
            continue;
        }
        // Whole runs again: a shorter token or fewer `=` would be followed by a byte the
        // closing class refuses.
        let padded_end = run_end(bytes, token_end, |b| b == b'=');
        let closing = match text.get(padded_end..).and_then(|rest| rest.chars().next()) {
            None => 0,
            Some(c) if c.is_ascii() && (token68(c as u8) || c == '=' || c == '[') => continue,
            Some(c) => c.len_utf8(),
        };
        if super::detectors::credential_like(&text[token..padded_end]) {
            out.push((token, padded_end));
        }
        // The regex goes on after the whole match, closing character included.
        at = padded_end + closing;
    }
}

/// AWS access key ids: `(?-u:\b)((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?-u:\b)`.
pub fn aws_access_key(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(found) = bytes.get(at..).and_then(|rest| memchr::memchr(b'A', rest)) {
        let start = at + found;
        at = start + 1;
        let prefix = bytes.get(start..start + 4).unwrap_or_default();
        if !matches!(prefix, b"AKIA" | b"ASIA" | b"ABIA" | b"ACCA")
            || !boundary_before(bytes, start)
        {
            continue;
        }
        let end = start + 20;
        let Some(id) = bytes.get(start + 4..end) else {
            // Too close to the end for 16 more characters (and so for any later candidate).
            return;
        };
        let upper_or_digit = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit();
        if id.iter().all(upper_or_digit) && bytes.get(end).is_none_or(|&b| !is_word(b)) {
            out.push((start, end));
            at = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::detectors::SECRETS;

    /// The spans the detector's regex and `validate` give, as `Masker::mask_text_with` takes
    /// them from a regex.
    fn regex_spans(
        regex: &regex::Regex,
        validate: Option<fn(&str) -> bool>,
        text: &str,
    ) -> Vec<(usize, usize)> {
        regex
            .captures_iter(text)
            .filter_map(|caps| caps.get(1).or_else(|| caps.get(0)))
            .filter(|m| validate.is_none_or(|v| v(m.as_str())))
            .map(|m| (m.start(), m.end()))
            .collect()
    }

    fn finder_spans(finder: super::super::detectors::Finder, text: &str) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        finder(text, &mut found);
        found
    }

    /// Texts made of the pieces a finder's grammar turns on, glued at random.
    fn texts(pieces: &[&str], count: usize) -> Vec<String> {
        let mut next = crate::mask::xorshift(0x9e37_79b9_7f4a_7c15);
        (0..count)
            .map(|_| {
                let parts = 1 + next() % 12;
                (0..parts)
                    .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    fn assert_same(name: &str, finder: super::super::detectors::Finder, pieces: &[&str]) {
        let spec = SECRETS
            .iter()
            .find(|s| s.name == name)
            .expect("detector exists");
        let regex = regex::Regex::new(spec.pattern).expect("pattern compiles");
        for text in texts(pieces, 20_000) {
            assert_eq!(
                finder_spans(finder, &text),
                regex_spans(&regex, spec.validate, &text),
                "{name} on {text:?}"
            );
        }
    }

    #[test]
    fn the_jwt_finder_finds_what_the_regex_finds() {
        assert_same(
            "jwt",
            jwt,
            &[
                "eyJ",
                "eyJhbGciOi",
                "abcdEFGH",
                "1234",
                "_-",
                ".",
                "..",
                " ",
                "x",
                "é",
                "\n",
                "eyJzdWIiOiJ1",
                "sig_-9",
                "=",
                "\"",
            ],
        );
    }

    #[test]
    fn the_bearer_finder_finds_what_the_regex_finds() {
        assert_same(
            "bearer_token",
            bearer,
            &[
                "Bearer",
                "bearer",
                "BEARER",
                "BeArEr",
                " ",
                "\t",
                "\u{a0}",
                "\u{2003}",
                "abcd",
                "ABCDEFGH",
                "1234",
                "-._~+/",
                "=",
                "==",
                "[",
                "[MASKED:jwt]",
                "\"",
                "é",
                "x",
                ":",
                "\n",
                "token",
                "Bearerx",
            ],
        );
    }

    #[test]
    fn the_aws_access_key_finder_finds_what_the_regex_finds() {
        assert_same(
            "aws_access_key",
            aws_access_key,
            &[
                "AKIA", "ASIA", "ABIA", "ACCA", "AKI", "A", "IOSFODNN", "7EXAMPLE", "EXAMPLE",
                "0123", "x", "_", " ", "-", "é", "=", "Z",
            ],
        );
    }

    #[test]
    fn finders_find_the_usual_shapes() {
        let jwt_text = "token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig-_x rest";
        assert_eq!(finder_spans(jwt, jwt_text), vec![(6, 61)]);
        let header = "Authorization: Bearer abcDEF123456789xyz\n";
        assert_eq!(finder_spans(bearer, header), vec![(22, 40)]);
        // Too short and all letters: a word, not a token.
        assert_eq!(finder_spans(bearer, "Bearer expired"), vec![]);
        let key = "key AKIAIOSFODNN7EXAMPLE.";
        assert_eq!(finder_spans(aws_access_key, key), vec![(4, 24)]);
        assert_eq!(
            finder_spans(aws_access_key, "AKIAIOSFODNN7EXAMPLEX"),
            vec![]
        );
    }
}
