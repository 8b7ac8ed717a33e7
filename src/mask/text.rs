//! Sensitive keys in free text: `password=…`, `"token": "…"`, `api_key='…'`,
//! `?access_token=…&page=2`, `Authorization: Bearer …`, `Cookie: …`, `:secret => "…"`,
//! `{\"password\":\"…\"}` (JSON escaped inside a string), `<password>…</password>`,
//! `--password …`.
//!
//! The scan starts from the prefilter's hits on key stems, widens each hit to the whole key
//! token, asks [`KeyRules`] whether it is sensitive, then reads a separator and one value.
//! Every step is a bounded forward scan, so the whole pass is linear in the text.

use super::keys::{KeyClass, KeyRules};
use super::Span;

/// How a replacement must be wrapped to keep the surrounding syntax valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    None,
    /// An unquoted JSON value (`"password": 1234`): the marker becomes a JSON string.
    Quote,
    /// The same inside JSON escaped in a string (`\"password\": 1234`).
    EscapedQuote,
}

fn is_key_byte(b: u8) -> bool {
    // A table: keys around stem hits are widened byte by byte on every line with a hit.
    KEY_BYTES[usize::from(b)]
}

/// ASCII letters, digits, `_`, `-` and `.`.
static KEY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.';
        b += 1;
    }
    table
};

/// Values that are not secrets even under a sensitive key.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || super::marker_len(v) == Some(v.len())
        || ["null", "none", "nil", "undefined", "true", "false", "-"]
            .iter()
            .any(|p| v.eq_ignore_ascii_case(p))
        || v.bytes().all(|b| b == b'*' || b == b'x' || b == b'X')
        || v.eq_ignore_ascii_case("[redacted]")
        || v.eq_ignore_ascii_case("<redacted>")
        || v.eq_ignore_ascii_case("redacted")
        || v.eq_ignore_ascii_case("[filtered]")
}

/// Schemes whose credential is a single token.
const TOKEN_SCHEMES: &[&str] = &["Bearer", "Basic", "Token", "ApiKey", "OAuth"];

/// Header names whose whole value (to the end of the line) is the secret.
fn header_to_line_end(key: &str) -> bool {
    [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ]
    .iter()
    .any(|h| key.eq_ignore_ascii_case(h))
}

/// A quote at `at`, possibly escaped by backslashes: `(length with backslashes, quote)`.
fn quote_at(bytes: &[u8], at: usize) -> Option<(usize, u8)> {
    let mut i = at;
    while bytes.get(i) == Some(&b'\\') && i - at < 16 {
        i += 1;
    }
    match bytes.get(i) {
        Some(&q @ (b'"' | b'\'')) => Some((i - at + 1, q)),
        _ => None,
    }
}

/// Authorization schemes kept in front of the masked credential.
const SCHEMES: &[&str] = &[
    "Bearer",
    "Basic",
    "Digest",
    "Token",
    "ApiKey",
    "Negotiate",
    "NTLM",
    "AWS4-HMAC-SHA256",
    "HMAC-SHA256",
    "OAuth",
    "SharedKey",
];

/// The key token around byte offset `at` (a prefilter hit inside it), and where it ends.
pub fn key_around(text: &str, at: usize) -> (&str, usize) {
    let bytes = text.as_bytes();
    let mut ks = at.min(bytes.len());
    while ks > 0 && is_key_byte(bytes[ks - 1]) {
        ks -= 1;
    }
    let mut ke = at.min(bytes.len());
    while ke < bytes.len() && is_key_byte(bytes[ke]) {
        ke += 1;
    }
    while ks < ke && !bytes[ks].is_ascii_alphanumeric() && bytes[ks] != b'_' {
        ks += 1;
    }
    (&text[ks..ke], ke)
}

/// Finds `key <sep> value` spans for keys around `hits` (byte offsets of key-stem matches).
pub fn key_value_spans(text: &str, rules: &KeyRules, hits: &[usize], spans: &mut Vec<Span>) {
    let bytes = text.as_bytes();
    // Everything before this offset has been read as a key or a value: hits there are
    // skipped, which keeps the pass linear on inputs like `password=password=…`.
    let mut last_key_end = 0;
    for &hit in hits {
        if hit < last_key_end {
            continue;
        }
        let mut ks = hit;
        while ks > 0 && is_key_byte(bytes[ks - 1]) {
            ks -= 1;
        }
        let mut ke = hit;
        while ke < bytes.len() && is_key_byte(bytes[ke]) {
            ke += 1;
        }
        last_key_end = ke;
        // Keys do not start with separators (`-` of `--password`, `.` of a path).
        while ks < ke && !bytes[ks].is_ascii_alphanumeric() && bytes[ks] != b'_' {
            ks += 1;
        }
        let key = &text[ks..ke];
        let Some(class) = rules.classify(key) else {
            continue;
        };
        let span = value_after_key(text, ks, ke, class);
        last_key_end = last_key_end.max(span.map_or(ke, |s| s.end));
        spans.extend(span);
    }
}

fn value_after_key(text: &str, ks: usize, ke: usize, class: KeyClass) -> Option<Span> {
    let bytes = text.as_bytes();
    let before = |n: usize| ks.checked_sub(n).map(|i| &bytes[i..ks]);
    let mut p = ke;

    // XML element: <password>value</password>
    if before(1) == Some(b"<") && bytes.get(p) == Some(&b'>') {
        let start = p + 1;
        let end = text[start..].find('<').map_or(text.len(), |i| start + i);
        return span(text, start, end, class, Wrap::None);
    }

    // Closing quote of a quoted key, however deeply escaped (`"`, `\"`, `\\\"`, …).
    let key_quote = match quote_at(bytes, p) {
        Some((len, q)) if ks >= len && bytes[ks - len..ks] == bytes[p..p + len] => {
            p += len;
            match (len, q) {
                (1, b'"') => Some(Wrap::Quote),
                (2, b'"') => Some(Wrap::EscapedQuote),
                _ => None,
            }
        }
        _ => None,
    };
    let spaces_start = p;
    while matches!(bytes.get(p), Some(b' ') | Some(b'\t')) {
        p += 1;
    }
    let had_space = p > spaces_start;
    // `…:secret:prod/db` is a colon-delimited identifier (an ARN, a URN), not `key: value`.
    if before(1) == Some(b":") && bytes.get(p) == Some(&b':') {
        return None;
    }
    // Separator; a bare space only before a quoted value (`client-secret "…"`) or after a
    // command-line flag (`--password …`).
    if text[p..].starts_with("=>") || text[p..].starts_with(":=") {
        p += 2;
    } else if matches!(bytes.get(p), Some(b'=') | Some(b':')) {
        p += 1;
    } else if !(had_space && (before(2) == Some(b"--") || quote_at(bytes, p).is_some())) {
        return None;
    }
    while matches!(bytes.get(p), Some(b' ') | Some(b'\t')) {
        p += 1;
    }
    let rest = &text[p..];

    // Quoted values: closed by the same quote, escaped to the same depth.
    if let Some((len, q)) = quote_at(bytes, p) {
        let start = p + len;
        let end = if len == 1 {
            closing_quote(bytes, start, q)
        } else {
            text[start..]
                .find(&rest[..len])
                .map_or(text.len(), |i| start + i)
        };
        return scheme_aware(text, start, end, class, Wrap::None);
    }
    let wrap = key_quote.unwrap_or(Wrap::None);
    // A structured value (`"credentials": {…}`): the whole of it.
    if matches!(bytes.get(p), Some(b'{') | Some(b'[')) {
        let end = balanced_end(bytes, p);
        return span(text, p, end, class, wrap);
    }
    // `Authorization: Bearer <token>`: the scheme stays, the credential is one token.
    if class.0 == "authorization" {
        if let Some(scheme) = TOKEN_SCHEMES.iter().find(|s| starts_with_word(rest, s)) {
            let start = p + scheme.len() + 1;
            let end = text[start..]
                .find(|c: char| {
                    c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '}' | ']' | '\\')
                })
                .map_or(text.len(), |i| start + i);
            return span(text, start, end, class, Wrap::None);
        }
    }
    // Header values that hold spaces (cookies, Digest, SigV4) run to the end of the line — or
    // of the field, in tab-separated logs (CloudFront, Lambda): a header value has no tabs.
    let to_line_end = header_to_line_end(&text[ks..ke]);
    let end = if to_line_end {
        text[p..]
            .find(['\n', '\r', '"', '\t'])
            .map_or(text.len(), |i| p + i)
    } else {
        text[p..]
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '&' | ',' | ';' | ')' | ']' | '}' | '"' | '\'' | '<' | '\\'
                    )
            })
            .map_or(text.len(), |i| p + i)
    };
    let end = trim_end(text, p, end);
    if to_line_end {
        return scheme_aware(text, p, end, class, Wrap::None);
    }
    span(text, p, end, class, wrap)
}

/// Whether `text` starts with `word` (ASCII case-insensitive) followed by a space. Compares
/// bytes: slicing the `str` could cut a multi-byte character.
fn starts_with_word(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() > word.len()
        && bytes[..word.len()].eq_ignore_ascii_case(word.as_bytes())
        && bytes[word.len()] == b' '
}

/// Keeps an authorization scheme (`Bearer`, `Basic`, …) readable in front of the credential.
fn scheme_aware(text: &str, start: usize, end: usize, class: KeyClass, wrap: Wrap) -> Option<Span> {
    let mut start = start;
    if class.0 == "authorization" {
        let value = &text[start..end];
        if let Some(scheme) = SCHEMES.iter().find(|s| starts_with_word(value, s)) {
            start += scheme.len() + 1;
        }
    }
    span(text, start, end, class, wrap)
}

fn span(text: &str, start: usize, end: usize, class: KeyClass, wrap: Wrap) -> Option<Span> {
    if start >= end || is_placeholder(&text[start..end]) {
        return None;
    }
    Some(Span {
        start,
        end,
        name: class.0,
        wrap,
    })
}

fn trim_end(text: &str, start: usize, mut end: usize) -> usize {
    while end > start && text.as_bytes()[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    end
}

/// Index of the quote closing a string opened before `start` (backslash escapes skipped).
fn closing_quote(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// End (exclusive) of the bracketed value starting at `start`, strings respected.
pub fn balanced_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            b'"' => {
                i = closing_quote(bytes, i + 1, b'"');
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}
