//! Sensitive keys in free text: `password=…`, `"token": "…"`, `api_key='…'`,
//! `?access_token=…&page=2`, `Authorization: Bearer …`, `Cookie: …`, `:secret => "…"`,
//! `{\"password\":\"…\"}` (JSON escaped inside a string), `<password>…</password>`,
//! `--password …`.
//!
//! The scan starts from the prefilter's hits on key stems, widens each hit to the whole key
//! token, asks [`KeyRules`](super::keys::KeyRules) whether it is sensitive, then reads a separator and one value.
//! Every step is a bounded forward scan, so the whole pass is linear in the text.

use super::keys::KeyClass;
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
        || reference(v)
        || tiny_number(v)
        || super::marker_len(v) == Some(v.len())
        || [
            "null",
            "none",
            "nil",
            "undefined",
            "true",
            "false",
            "yes",
            "no",
            "-",
        ]
        .iter()
        .any(|p| v.eq_ignore_ascii_case(p))
        || v.bytes().all(|b| b == b'*' || b == b'x' || b == b'X')
        || [
            "[redacted]",
            "<redacted>",
            "redacted",
            "[filtered]",
            "[masked]",
            "[hidden]",
            "<hidden>",
            "(hidden)",
            "[secret]",
            "[sensitive]",
            "<sensitive>",
        ]
        .iter()
        .any(|p| v.eq_ignore_ascii_case(p))
        || TYPE_NAMES.contains(&v)
}

/// Where a value is named rather than given: template and shell interpolation (`${DB_PASS}`,
/// `${{ secrets.X }}`, `{{ .Values.apiKey }}`, `$TOKEN`, `$(cat …)`), SQL bind parameters
/// (`$1`), placeholders to fill in (`<your-password>`, `YOUR_API_KEY_HERE`), references in
/// code and configuration (`var.db_password`, `os.environ[…]`, `process.env.X`), and names
/// of environment variables (`STRIPE_SECRET_KEY`).
fn reference(v: &str) -> bool {
    let b = v.as_bytes();
    let shell_name = |rest: &[u8]| {
        !rest.is_empty()
            && rest
                .iter()
                .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
    };
    // Template bodies hold names, dots, spaces and braces, never quotes or commas.
    let template = |open: &str| {
        v.strip_prefix(open).is_some_and(|body| {
            body.bytes().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, b'_' | b'.' | b':' | b'-' | b' ' | b'{' | b'}' | b'|')
            })
        })
    };
    template("${")
        || template("{{")
        || v.starts_with("$(")
        || b.first() == Some(&b'$')
            && (shell_name(&b[1..]) || b[1..].iter().all(u8::is_ascii_digit))
        || b.first() == Some(&b'<')
            && b.last() == Some(&b'>')
            && b[1..b.len() - 1]
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b' '))
        || v.starts_with("YOUR_")
        || v.ends_with("_HERE")
        || [
            "var.",
            "local.",
            "os.environ",
            "os.getenv(",
            "process.env.",
            "ENV[",
            "System.getenv(",
        ]
        .iter()
        .any(|r| v.starts_with(r))
        || upper_snake(b)
}

/// One or two digits: a field number (`password = 2;` in a `.proto`), a GPIO pin, a count —
/// no password, PIN or code is that short.
fn tiny_number(v: &str) -> bool {
    (1..=2).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit())
}

/// Type names in schemas and code (`password: String!`, `password: string;`).
const TYPE_NAMES: &[&str] = &[
    "string",
    "String",
    "String!",
    "str",
    "Str",
    "int",
    "Int",
    "Int!",
    "number",
    "boolean",
    "Boolean",
    "bool",
    "bytes",
    "[]byte",
    "ID",
    "ID!",
    "text",
    "varchar",
    "object",
    "any",
    "SecretStr",
    "SecureString",
    "Secret",
];

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
///
/// Values read without a separator (`secret ce742195…`) go to `weak`: the caller adds them
/// after the detectors' spans, so a detector that finds the same value names it
/// (`token ghp_…` is a `github_token`).
pub fn key_value_spans(
    text: &str,
    mut classify: impl FnMut(&str) -> Option<KeyClass>,
    hits: &[usize],
    spans: &mut Vec<Span>,
    weak: &mut Vec<Span>,
) {
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
        // A key glued to a marker (`[MASKED:github_token]-access-token:`) was glued to the
        // secret a first pass masked, and read with it then: reading it alone now would make
        // a second pass mask what the first left.
        if ends_with_marker(&bytes[..ks]) {
            continue;
        }
        // Keys do not start with separators (`-` of `--password`, `.` of a path).
        while ks < ke && !bytes[ks].is_ascii_alphanumeric() && bytes[ks] != b'_' {
            ks += 1;
        }
        // A quoted name of a few words (`"Secret Key": …`, `'API Key' => …`) is one key.
        if let Some((start, end)) = quoted_words(bytes, ks, ke) {
            if let Some(class) = classify(&text[start..end]) {
                if let Some(span) = value_after_key(text, start, end, class) {
                    spans.push(span);
                    last_key_end = last_key_end.max(span.end);
                    continue;
                }
            }
        }
        let key = &text[ks..ke];
        // `API key: …`, `Secret key …`: a word that names nothing alone may with the word
        // before it.
        let (ks, class) = match classify(key) {
            Some(class) => (ks, class),
            None => match word_before(bytes, ks) {
                Some(ws) => match classify(&text[ws..ke]) {
                    Some(class) => (ws, class),
                    None => continue,
                },
                None => continue,
            },
        };
        let span =
            value_after_key(text, ks, ke, class).or_else(|| value_of_named(text, ks, ke, class));
        let span = match span {
            // A placeholder or a marker was read as the value: nothing to mask, and no other
            // reading of the key either (a second pass must read what the first did).
            Some(span) if span.name == UNMASKED => Some(span),
            Some(span) => {
                spans.push(span);
                match changed_value(text, span, class) {
                    Some(new) if new.name != UNMASKED => {
                        spans.push(new);
                        Some(new)
                    }
                    _ => Some(span),
                }
            }
            None => {
                // A weak value may lose to a detector's span, so keys inside it are still
                // read (`cvv ghp_…{password,<<"…"`).
                weak.extend(bare_value(text, ks, ke, class).filter(|s| s.name != UNMASKED));
                None
            }
        };
        last_key_end = last_key_end.max(span.map_or(ke, |s| s.end));
    }
}

/// Where the word before the key starting at `ks` starts, when a single space separates them
/// (`API key`): letters and digits, 2 to 32 of them.
fn word_before(bytes: &[u8], ks: usize) -> Option<usize> {
    let end = ks.checked_sub(1).filter(|&i| bytes[i] == b' ')?;
    let mut start = end;
    while start > 0 && is_key_byte(bytes[start - 1]) && end - start < 32 {
        start -= 1;
    }
    while start < end && !bytes[start].is_ascii_alphanumeric() {
        start += 1;
    }
    let whole = start == 0 || !is_key_byte(bytes[start - 1]);
    (whole && end - start >= 2).then_some(start)
}

/// The words around the key `bytes[ks..ke]` when it is one of two to four words separated by
/// single spaces and quoted together (`"Secret Key"`, `'API Key'`): the quoted text's bounds.
fn quoted_words(bytes: &[u8], ks: usize, ke: usize) -> Option<(usize, usize)> {
    const MAX_WORDS: usize = 4;
    const MAX_LEN: usize = 64;
    let (mut start, mut end, mut words) = (ks, ke, 1);
    while words < MAX_WORDS
        && start >= 2
        && bytes[start - 1] == b' '
        && is_key_byte(bytes[start - 2])
    {
        start -= 1;
        while start > 0 && is_key_byte(bytes[start - 1]) && ke - start < MAX_LEN {
            start -= 1;
        }
        words += 1;
    }
    while words < MAX_WORDS
        && bytes.get(end) == Some(&b' ')
        && bytes.get(end + 1).is_some_and(|&b| is_key_byte(b))
    {
        end += 1;
        while end < bytes.len() && is_key_byte(bytes[end]) && end - start < MAX_LEN {
            end += 1;
        }
        words += 1;
    }
    let quote = *bytes.get(start.checked_sub(1)?)?;
    let quoted = matches!(quote, b'"' | b'\'') && bytes.get(end) == Some(&quote);
    (words > 1 && quoted && end - start <= MAX_LEN).then_some((start, end))
}

/// Whether a double-quoted Kubernetes object name starts at `at`: lower-case letters, digits,
/// `-` and `.`, with at least one `-` or `.` between alphanumerics (`tls-certs`, `db.creds`).
fn quoted_object_name(bytes: &[u8], at: usize) -> bool {
    let Some(&quote @ (b'"' | b'\'')) = bytes.get(at) else {
        return false;
    };
    let name = &bytes[at + 1..];
    let len = name
        .iter()
        .take_while(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
        })
        .count();
    let name_ok = (3..=253).contains(&len)
        && (name[0].is_ascii_alphanumeric() || name[0] == b'_')
        && name[len - 1].is_ascii_alphanumeric()
        && name[..len].iter().any(|b| matches!(b, b'-' | b'.' | b'_'));
    name_ok && name.get(len) == Some(&quote)
}

fn value_after_key(text: &str, ks: usize, ke: usize, class: KeyClass) -> Option<Span> {
    let bytes = text.as_bytes();
    let before = |n: usize| ks.checked_sub(n).map(|i| &bytes[i..ks]);
    let mut p = ke;
    // A URL's user (`https://x-access-token:ghs_…@github.com`): the URL detectors mask the
    // password and keep the host.
    if before(3) == Some(b"://") {
        return None;
    }

    // XML element: `<password>value</password>`, `<wsse:Password Type="…">value</…>`.
    if let Some(start) = xml_element_content(bytes, ks, ke) {
        let end = text[start..].find('<').map_or(text.len(), |i| start + i);
        // An element is closed (`<password>…</password>`); `<your-password>` alone is a
        // placeholder in a sentence.
        return if bytes[end..].starts_with(b"</") {
            span(text, start, end, class, Wrap::None)
        } else {
            None
        };
    }
    // PHP `print_r`: `[password] => value`.
    if before(1) == Some(b"[") && bytes.get(p) == Some(&b']') {
        p += 1;
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
    // A quoted name first in a pair (`["token", "…"]`, `('password', '…')`: Rails binds,
    // Python tuples): the value is the quoted string after the comma.
    let quoted_key = p > ke;
    let pair = if quoted_key {
        pair_value(bytes, ks - (p - ke), p)
    } else {
        tuple_value(bytes, ks, p)
    };
    if let Some(value_at) = pair {
        // `["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]` lists constants.
        if upper_snake(&bytes[ks..ke]) && upper_snake(quoted_prefix(bytes, value_at)) {
            return None;
        }
        p = value_at;
    }
    let spaces_start = p;
    while matches!(bytes.get(p), Some(b' ') | Some(b'\t')) {
        p += 1;
    }
    let had_space = p > spaces_start;
    if had_space && &text[ks..ke] == "AUTH" {
        return redis_auth_arguments(text, p, class);
    }
    if p == ke + 1 && &text[ks..ke] == "PASS" {
        return protocol_pass(text, p, class);
    }
    // Go's `--- PASS: TestLogin`, Rust paths `auth::tests`, composite values `key=auth:email`.
    if before(4) == Some(b"--- ")
        || bytes[p..].starts_with(b"::")
        || before(1) == Some(b"=") && bytes.get(p) == Some(&b':') && bytes.get(p + 1) != Some(&b' ')
    {
        return None;
    }
    // `…:secret:prod/db` is a colon-delimited identifier (an ARN, a URN), not `key: value`.
    if before(1) == Some(b":") && bytes.get(p) == Some(&b':') {
        return None;
    }
    // Separator; a bare space only before a quoted value (`client-secret "…"`) or after a
    // command-line flag (`--password …`).
    // `%3D`: a query string inside a URL-encoded parameter (`redirect_uri=…%3Ftoken%3D…`).
    let mut encoded = false;
    let mut colon = false;
    let mut flag = false;
    if pair.is_some() {
        // Already at the value.
    } else if text[p..].starts_with("=>") || text[p..].starts_with(":=") {
        p += 2;
    } else if matches!(bytes.get(p), Some(b'=') | Some(b':')) {
        colon = bytes[p] == b':';
        p += 1;
    } else if !had_space && (bytes[p..].starts_with(b"%3D") || bytes[p..].starts_with(b"%3d")) {
        p += 3;
        encoded = true;
    } else if !(had_space && (before(2) == Some(b"--") || quote_at(bytes, p).is_some())) {
        return None;
    } else if before(2) == Some(b"--") {
        flag = true;
    } else if matches!(&text[ks..ke], "secret" | "secrets" | "cookie")
        && quoted_object_name(bytes, p)
    {
        // Kubernetes names a Secret object that way: `secret "tls-certs" not found`.
        return None;
    }
    let separator_end = p;
    let to_line_end = header_to_line_end(&text[ks..ke]);
    while matches!(bytes.get(p), Some(b' ') | Some(b'\t')) {
        p += 1;
    }
    if bytes.get(p) == Some(&b'N') && bytes.get(p + 1) == Some(&b'\'') {
        // T-SQL's Unicode string literal: `PASSWORD = N'…'`.
        p += 1;
    }
    if HIDDEN_VALUES
        .iter()
        .any(|h| bytes[p..].starts_with(h.as_bytes()))
    {
        return None;
    }
    // `Invalid token: signature verification failed`, `password: incorrect for user 42`,
    // `Using --password via the CLI is insecure`: a sentence goes on after the key, no value
    // was given. A quoted key and an unquoted word with more after it (`volume "app-secrets"
    // : secret "x" not found`) is not JSON's `"key": value` either.
    let scheme = SCHEMES.iter().any(|s| starts_with_word(&text[p..], s));
    if !scheme
        && (colon || bytes.get(separator_end - 1) == Some(&b'=') || to_line_end)
        && status_word(bytes, p)
    {
        return None;
    }
    if !to_line_end
        && !scheme
        && ((colon && p > separator_end || flag) && prose_follows(bytes, p)
            || colon && p > separator_end && nested_pair(bytes, p)
            || quoted_key && pair.is_none() && word_then_space(bytes, p))
    {
        return None;
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
            let mut start = p + scheme.len() + 1;
            // `Token token="…"` (Rails): the credential is the parameter's value.
            let param = if *scheme == "Token" { 32 } else { 0 };
            let param = bytes[start..]
                .iter()
                .take(param)
                .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_')
                .count();
            if param > 0 && bytes.get(start + param) == Some(&b'=') {
                start += param + 1;
                while matches!(bytes.get(start), Some(b'"' | b'\'' | b'\\')) {
                    start += 1;
                }
            }
            let end = value_end(text, start, stops(b",;\"'}]\\"));
            return span(text, start, end, class, Wrap::None);
        }
    }
    // Header values that hold spaces (cookies, Digest, SigV4) run to the end of the line — or
    // of the field, in tab-separated logs (CloudFront, Lambda): a header value has no tabs.
    let end = if to_line_end {
        text[p..]
            .find(['\n', '\r', '"', '\t'])
            .map_or(text.len(), |i| p + i)
    } else {
        value_end(text, p, stops(b"&,;)]}\"'<\\"))
    };
    let end = if encoded {
        encoded_value_end(bytes, p, end)
    } else {
        end
    };
    let end = trim_end(text, p, end);
    if to_line_end {
        return scheme_aware(text, p, end, class, Wrap::None);
    }
    span(text, p, end, class, wrap)
}

/// Whether the words at `at` are a sentence or a name rather than a value: a lower-case or
/// capitalised word followed by a lower-case word that is not a key (`signature verification
/// failed`, `Successfully rotating …`, `expired at …`), a CamelCase identifier followed by more
/// (`botocore.auth: CanonicalRequest hash: …`), or one of the words that say a value is
/// absent or wrong (`token: missing`). Passwords that are plain words followed by prose are
/// the price; a lower-case value followed by `key:`/`key=` (`token: abc user: bob`) is still
/// a value.
fn prose_follows(bytes: &[u8], at: usize) -> bool {
    let lower = |from: usize| {
        bytes
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count()
    };
    // A lower-case word of two letters or more that does not go on into a key (`user:`,
    // `user_id`, `v2`, `userId`).
    let word_not_key = |from: usize| {
        let len = lower(from);
        len >= 2
            && !matches!(
                bytes.get(from + len),
                Some(b':' | b'=' | b'_' | b'-' | b'.' | b'0'..=b'9' | b'A'..=b'Z')
            )
    };
    let capital = bytes.get(at).is_some_and(u8::is_ascii_uppercase);
    let mut end = at + usize::from(capital);
    let first = lower(end);
    if first < 2 {
        return false;
    }
    end += first;
    let mut humps = 1;
    while capital && bytes.get(end).is_some_and(u8::is_ascii_uppercase) && lower(end + 1) >= 2 {
        end += 1 + lower(end + 1);
        humps += 1;
    }
    match bytes.get(end) {
        // `token: caducado, solicite uno nuevo`: a list of words goes on.
        Some(b',') if bytes.get(end + 1) == Some(&b' ') => word_not_key(end + 2),
        Some(b' ') if humps > 1 => true,
        // A marker may stand for a word of the sentence (a second pass sees it).
        Some(b' ') if bytes[end + 1..].starts_with(super::MARKER_PREFIX.as_bytes()) => true,
        Some(b' ') => word_not_key(end + 1),
        _ => false,
    }
}

/// Whether `bytes` ends with a well-formed marker.
pub(super) fn ends_with_marker(bytes: &[u8]) -> bool {
    // Also a marker that replaced a whole unquoted JSON value, quoted: `"[MASKED:…]"` (the
    // same quote on both sides).
    let quote: &[u8] = if bytes.ends_with(b"\\\"") {
        b"\\\""
    } else if bytes.ends_with(b"\"") {
        b"\""
    } else {
        b""
    };
    let bytes = &bytes[..bytes.len() - quote.len()];
    if bytes.last() != Some(&b']') {
        return false;
    }
    let from = bytes.len().saturating_sub(64);
    let window = &bytes[from..];
    memchr::memmem::rfind(window, super::MARKER_PREFIX.as_bytes()).is_some_and(|at| {
        std::str::from_utf8(&window[at..])
            .is_ok_and(|marker| super::marker_len(marker) == Some(marker.len()))
            && bytes[..from + at].ends_with(quote)
    })
}

/// Whether `text` holds a well-formed marker.
pub(super) fn holds_marker(text: &str) -> bool {
    memchr::memmem::find_iter(text.as_bytes(), super::MARKER_PREFIX.as_bytes())
        .any(|at| super::marker_len(&text[at..]).is_some())
}

/// Whether a lower-case `name=` starts at `at`: `jwt: algorithm=RS256 issuer=…` reports
/// settings, it gives no value for `jwt`.
fn nested_pair(bytes: &[u8], at: usize) -> bool {
    let rest = bytes.get(at..).unwrap_or_default();
    let len = rest
        .iter()
        .take(32)
        .take_while(|b| b.is_ascii_lowercase() || **b == b'_')
        .count();
    len >= 2 && rest.get(len) == Some(&b'=') && rest.get(len + 1).is_some_and(|&b| b != b'=')
}

/// Whether a word of letters, then a space, starts at `at`.
fn word_then_space(bytes: &[u8], at: usize) -> bool {
    let rest = bytes.get(at..).unwrap_or_default();
    let len = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    len >= 2 && rest.get(len) == Some(&b' ')
}

/// An upper-case constant with underscores: `ALLOW_USER_SRP_AUTH`, `DB_PASSWORD`.
fn upper_snake(word: &[u8]) -> bool {
    word.first().is_some_and(u8::is_ascii_uppercase)
        && word.contains(&b'_')
        && word
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The text inside the quotes that open at `at`, up to 64 bytes.
fn quoted_prefix(bytes: &[u8], at: usize) -> &[u8] {
    let start = (at + 1).min(bytes.len());
    let end = bytes[start..]
        .iter()
        .take(64)
        .position(|&b| b == bytes[at])
        .map_or(start, |i| start + i);
    &bytes[start..end]
}

/// What tools print in place of a value they do not show (Terraform plans).
/// `(sensitive` covers Terraform's `(sensitive value)` and `(sensitive)`.
const HIDDEN_VALUES: &[&str] = &["(sensitive", "(known after apply)"];

/// Terraform's plan shows a changed value as `"old" -> "new"`: the new one is the key's too.
/// `old` is the first value's span (ending at its closing quote).
fn changed_value(text: &str, old: Span, class: KeyClass) -> Option<Span> {
    // An old value holding a marker is a second pass's view of a span the first pass did not
    // end at a quote (or one that lost to another rule's).
    if holds_marker(&text[old.start..old.end]) {
        return None;
    }
    let end = old.end;
    let bytes = text.as_bytes();
    let quote = *bytes.get(end)?;
    let open = end + 5;
    if !matches!(quote, b'"' | b'\'')
        || bytes.get(end + 1..open) != Some(b" -> ")
        || bytes.get(open) != Some(&quote)
    {
        return None;
    }
    let close = closing_quote(bytes, open + 1, quote);
    if bytes.get(close) != Some(&quote) {
        return None;
    }
    span(text, open + 1, close, class, Wrap::None)
}

/// An Erlang tuple `{password, <<"…">>}` or `{password, "…"}`: where the value's opening
/// quote is, when the unquoted key at `ks..ke` opens one.
fn tuple_value(bytes: &[u8], ks: usize, ke: usize) -> Option<usize> {
    if ks == 0 || bytes[ks - 1] != b'{' || bytes.get(ke) != Some(&b',') {
        return None;
    }
    let mut p = ke + 1;
    while bytes.get(p) == Some(&b' ') {
        p += 1;
    }
    if bytes[p..].starts_with(b"<<\"") {
        p += 2;
    }
    (bytes.get(p) == Some(&b'"')).then_some(p)
}

/// FTP and POP3 `PASS <password>`: one space, then one word that ends the line or the quoted
/// command (`*cmd* 'PASS …'`). Test runners' `PASS  src/app.test.js (5 s)` has more.
fn protocol_pass(text: &str, p: usize, class: KeyClass) -> Option<Span> {
    let end = value_end(text, p, stops(b" \t\r\n'\""));
    match text.as_bytes().get(end) {
        None | Some(b'\r' | b'\n' | b'\'' | b'"') => span(text, p, end, class, Wrap::None),
        _ => None,
    }
}

/// Words that report on a value instead of giving it (`token: missing`, `Token: expired
/// (exp=…)`, `auth=ok`, `Authorization: denied for role reader`, `access_token:
/// invalid_grant`, `sealed-secrets: Updated SealedSecret …`).
const STATUS_WORDS: &[&str] = &[
    "missing",
    "invalid",
    "valid",
    "expired",
    "expiring",
    "required",
    "optional",
    "incorrect",
    "revoked",
    "empty",
    "unset",
    "set",
    "not",
    "none",
    "wrong",
    "absent",
    "mismatch",
    "present",
    "provided",
    "rejected",
    "accepted",
    "denied",
    "granted",
    "blank",
    "malformed",
    "unknown",
    "ok",
    "enabled",
    "disabled",
    "pending",
    "unchanged",
    "changed",
    "updated",
    "created",
    "deleted",
    "synced",
    "skipped",
    "loaded",
    "verified",
    "failed",
    "refreshed",
    "rotated",
    "cached",
    "redacted",
    "hidden",
    "masked",
    "omitted",
    "truncated",
    "locked",
    "active",
    "inactive",
    "unavailable",
    "successfully",
    "unauthorized",
    "forbidden",
    "access",
];

/// Whether the value at `at` is a status word (any case; the first part of a snake_case
/// code like `invalid_grant`), ended by a blank, the end, or `.,;()=` (`Ok@*m…` is a
/// password).
fn status_word(bytes: &[u8], at: usize) -> bool {
    let rest = bytes.get(at..).unwrap_or_default();
    let len = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let mut end = len;
    while rest.get(end) == Some(&b'_') {
        end += 1 + rest[end + 1..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
    }
    len >= 2
        && matches!(
            rest.get(end),
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b'.' | b',' | b';' | b'(' | b')' | b'=')
        )
        && STATUS_WORDS
            .iter()
            .any(|w| w.as_bytes().eq_ignore_ascii_case(&rest[..len]))
}

/// Where the content of an XML element named by the key at `ks..ke` starts: `<password>`,
/// `<wsse:Password Type="…">` (a namespace prefix, attributes on one line).
fn xml_element_content(bytes: &[u8], ks: usize, ke: usize) -> Option<usize> {
    let mut open = ks.checked_sub(1)?;
    if bytes[open] == b':' {
        // A namespace prefix: `<wsse:`.
        while open > 0 && is_key_byte(bytes[open - 1]) && ks - open < 64 {
            open -= 1;
        }
        open = open.checked_sub(1)?;
    }
    if bytes[open] != b'<' {
        return None;
    }
    match bytes.get(ke)? {
        b'>' => Some(ke + 1),
        b' ' => {
            let tag = &bytes[ke..bytes.len().min(ke + 512)];
            let close = tag.iter().position(|&b| matches!(b, b'>' | b'<' | b'\n'))?;
            (tag[close] == b'>' && tag[close - 1] != b'/').then_some(ke + close + 1)
        }
        _ => None,
    }
}

/// The value of a name/value pair whose quoted name opens at `open` and is closed before
/// `after`: `["token", "…"]` — a `[` or `(` before the name, a comma and a quoted value after.
/// Returns where the value's opening quote is.
fn pair_value(bytes: &[u8], open: usize, after: usize) -> Option<usize> {
    let mut b = open;
    while b > 0 && bytes[b - 1] == b' ' {
        b -= 1;
    }
    if !matches!(b.checked_sub(1).map(|i| bytes[i]), Some(b'[' | b'(')) {
        return None;
    }
    if bytes.get(after) != Some(&b',') {
        return None;
    }
    let mut p = after + 1;
    while bytes.get(p) == Some(&b' ') {
        p += 1;
    }
    // A pair holds two: `['github-token', 'path', 'fail-on-error']` lists names.
    let (_, quote) = quote_at(bytes, p)?;
    let mut close = closing_quote(bytes, p + 1, quote) + 1;
    while bytes.get(close) == Some(&b' ') {
        close += 1;
    }
    matches!(bytes.get(close), Some(b']' | b')') | None).then_some(p)
}

/// Names given as the value of a naming key, with the secret under a `value` key that
/// follows: `{"name": "DB_PASSWORD", "value": "…"}` (ECS and Kubernetes environments, WAF
/// and HAR headers), `- name: X_TOKEN` / `value: …` (YAML), `<add key="ApiSecret"
/// value="…"/>` (.NET settings), `ParameterKey`/`ParameterValue` (CloudFormation).
fn value_of_named(text: &str, ks: usize, ke: usize, class: KeyClass) -> Option<Span> {
    let bytes = text.as_bytes();
    // Back over a path the name may end (`"Name": "/prod/db/password"`), the name's opening
    // quote (escaped or not), the separator and the naming key.
    let mut b = ks;
    while b > 0
        && (is_key_byte(bytes[b - 1]) || matches!(bytes[b - 1], b'/' | b':'))
        && ks - b < 128
    {
        b -= 1;
    }
    let ks = b;
    while b > 0 && matches!(bytes[b - 1], b'"' | b'\'' | b'\\') && ks - b < 8 {
        b -= 1;
    }
    while b > 0 && matches!(bytes[b - 1], b' ' | b'\t') {
        b -= 1;
    }
    if !matches!(b.checked_sub(1).map(|i| bytes[i]), Some(b':' | b'=')) {
        return None;
    }
    b -= 1;
    while b > 0 && matches!(bytes[b - 1], b' ' | b'\t' | b'"' | b'\'' | b'\\') && ks - b < 24 {
        b -= 1;
    }
    let name_end = b;
    while b > 0 && bytes[b - 1].is_ascii_alphabetic() && name_end - b < 16 {
        b -= 1;
    }
    if named_role(&bytes[b..name_end]) != Some(Role::Name) {
        return None;
    }
    // Forward to the `value` key of the same object or element.
    let window = &bytes[ke..bytes.len().min(ke + 160)];
    let mut i = 0;
    while i < window.len() {
        let c = window[i];
        if matches!(c, b'{' | b'}' | b'>' | b'<') {
            return None;
        }
        if c.is_ascii_alphabetic() && (i == 0 || !is_key_byte(window[i - 1])) {
            let len = window[i..]
                .iter()
                .take_while(|&&b| b.is_ascii_alphabetic())
                .count();
            let word = &window[i..i + len];
            let after = window.get(i + len).copied();
            if !after.is_some_and(is_key_byte) {
                match named_role(word) {
                    Some(Role::Value) => return value_after_key(text, ke + i, ke + i + len, class),
                    Some(Role::Name) => return None,
                    None => {}
                }
            }
            i += len;
            continue;
        }
        i += 1;
    }
    None
}

/// What a key is in a name/value pair (`value_of_named`, and the JSON walker's objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Name,
    Value,
}

/// Whether `key` names a setting (`name`, `Key`, `ParameterKey`, …) or holds its value
/// (`value`, `ParameterValue`).
pub fn named_role(key: &[u8]) -> Option<Role> {
    let is = |list: &[&str]| list.iter().any(|k| key.eq_ignore_ascii_case(k.as_bytes()));
    if is(NAMING_KEYS) {
        Some(Role::Name)
    } else if is(VALUE_KEYS) {
        Some(Role::Value)
    } else {
        None
    }
}

/// Keys whose value names a setting, header or parameter (see [`value_of_named`]).
const NAMING_KEYS: &[&str] = &["name", "key", "parameterkey", "parametername", "header"];
/// Keys holding the value of the named setting.
const VALUE_KEYS: &[&str] = &["value", "parametervalue"];

/// A value after the key and a space, with no separator or quote: `… secret ce742195ad50…`.
/// Only a value that looks like a credential counts — never a word
/// (`secret rotation completed`, `password reset email sent`).
fn bare_value(text: &str, ks: usize, ke: usize, class: KeyClass) -> Option<Span> {
    let bytes = text.as_bytes();
    let mut p = ke;
    while matches!(bytes.get(p), Some(b' ') | Some(b'\t')) {
        p += 1;
    }
    // `<cvv attr>`: an XML tag's name and an attribute, not a key and its value.
    if p == ke
        || ks >= 2 && &bytes[ks - 2..ks] == b"--"
        || ks >= 1 && bytes[ks - 1] == b'<'
        || quote_at(bytes, p).is_some()
    {
        return None;
    }
    // A sentence may join the name and the value: `the new password is Xk9#mP2q`, `reset
    // password to Summer2024!`. Only a password-shaped value counts after these words.
    // A few words may come between (`the password for role app_rw was set to Spring!7580`,
    // `rotated password of service user x -> ope@1xwfgu2tLSp`): the joining words are looked
    // for up to 64 bytes on, within the clause.
    let value_end_at =
        |at: usize| trim_end_punctuation(text, at, value_end(text, at, stops(b",;)]}\"'<\\|")));
    let mut end = value_end_at(p);
    let joined = JOINING_WORDS
        .iter()
        .find(|w| bytes[p..].starts_with(w.as_bytes()))
        .map(|w| p + w.len())
        .or_else(|| {
            (!password_shaped(&text[p..end]))
                .then(|| joined_later(bytes, p))
                .flatten()
        });
    if let Some(at) = joined {
        p = at;
        end = value_end_at(p);
    }
    let value = &text[p..end];
    if joined.is_some() {
        return if password_shaped(value) || passphrase(value) {
            span(text, p, end, class, Wrap::None)
        } else {
            None
        };
    }
    // `DB creds billing/Dragon2025$`, `default creds admin:harbor-nimbus-ember70`: a user name
    // and its password; the password is masked.
    if class.0 == "credentials" {
        if let Some(sep) = value.find(['/', ':']) {
            let (user, password) = (&value[..sep], &value[sep + 1..]);
            let user_ok = !user.is_empty()
                && user
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'));
            if user_ok && (password_shaped(password) || passphrase(password)) {
                return span(text, p + sep + 1, end, class, Wrap::None);
            }
        }
    }
    // A card's verification code after its name: `cvv 123`, `CVC 4821`.
    let card_code = || {
        ["cvv", "cvc", "cvv2", "cvc2"]
            .iter()
            .any(|k| bytes[ks..ke].eq_ignore_ascii_case(k.as_bytes()))
            && (3..=4).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_digit())
    };
    if bare_credential(value) || password_shaped(value) || card_code() {
        span(text, p, end, class, Wrap::None)
    } else {
        None
    }
}

/// Redis `AUTH [user] password` (MONITOR output, redis-cli): every argument, to the end of
/// the line.
fn redis_auth_arguments(text: &str, p: usize, class: KeyClass) -> Option<Span> {
    let end = text[p..].find(['\n', '\r']).map_or(text.len(), |i| p + i);
    // `AUTH failed: WRONGPASS …` reports on a command.
    let first = text[p..end].split(' ').next().unwrap_or_default();
    if first.ends_with(':') {
        return None;
    }
    span(text, p, trim_end(text, p, end), class, Wrap::None)
}

/// Where a URL-encoded value ends: at an encoded `&`, `#`, space or quote (`%26`, `%23`,
/// `%20`, `%22`), or at `end`.
fn encoded_value_end(bytes: &[u8], start: usize, end: usize) -> usize {
    let value = &bytes[start..end];
    memchr::memchr_iter(b'%', value)
        .find(|&i| {
            matches!(
                value.get(i + 1..i + 3),
                Some(b"26" | b"23" | b"20" | b"22" | b"2C" | b"2c" | b"3B" | b"3b")
            )
        })
        .map_or(end, |i| start + i)
}

/// Trailing `.`, `:`, `!` or `?` ends a sentence, not a credential.
fn trim_end_punctuation(text: &str, start: usize, mut end: usize) -> usize {
    while end > start && matches!(text.as_bytes()[end - 1], b'.' | b':' | b'!' | b'?') {
        end -= 1;
    }
    end
}

/// Whether a value written after a key name and a space, with no separator, is a credential:
/// 10 bytes or more mixing letters and digits, not a UUID, path, URL, ARN or email address.
/// Words, numbers and identifiers of other kinds are left alone.
fn bare_credential(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() >= 10
        && b.iter().any(u8::is_ascii_digit)
        && b.iter().any(u8::is_ascii_alphabetic)
        && shape_may_be_secret(b)
}

/// Not a path, URL, ARN, email address, call or UUID.
fn shape_may_be_secret(b: &[u8]) -> bool {
    let email = memchr::memchr(b'@', b).is_some_and(|at| b[at..].contains(&b'.'));
    !b.iter()
        .any(|c| matches!(c, b'/' | b':' | b'=' | b'(' | b'['))
        && !email
        && !is_uuid(b)
}

/// Words that join a secret's name to its value in a sentence.
const JOINING_WORDS: &[&str] = &[
    "is now ", "is: ", "is ", "are ", "was ", "set to ", "to ", "-> ",
];

/// Where the value starts when a joining word comes a few words after the name: the first
/// ` is `, ` to ` or ` -> ` within 64 bytes, before the clause ends (`.`, `,`, `;`, a quote,
/// a line break).
fn joined_later(bytes: &[u8], from: usize) -> Option<usize> {
    let window = &bytes[from..bytes.len().min(from + 64)];
    // A full stop ends the clause, a dot inside a name (`db-1.internal`) does not.
    let clause = (0..window.len())
        .find(|&i| match window[i] {
            b'.' => window.get(i + 1).is_none_or(|&b| b == b' '),
            b',' | b';' | b'"' | b'\n' | b'\r' | b'(' | b')' => true,
            _ => false,
        })
        .unwrap_or(window.len());
    let clause = &window[..clause];
    [&b" is now "[..], b" is ", b" are ", b" to ", b" -> "]
        .iter()
        .find_map(|w| memchr::memmem::find(clause, w).map(|i| from + i + w.len()))
}

/// A password as people choose them (`P@ssw0rd1`, `Summer2024!`, `Xk9#mP2q`): 8 to 64 bytes
/// mixing three kinds or more of lower case, upper case, digits and symbols other than the
/// separators identifiers use (`-`, `_`, `.`), so `user1234`, `orders-api-v2` or `v1.2.3`
/// are not; no path, URL, email address or UUID.
fn password_shaped(value: &str) -> bool {
    let b = value.as_bytes();
    if !(8..=64).contains(&b.len()) || !shape_may_be_secret(b) {
        return false;
    }
    let has = |kind: fn(&u8) -> bool| usize::from(b.iter().any(kind));
    has(u8::is_ascii_lowercase)
        + has(u8::is_ascii_uppercase)
        + has(u8::is_ascii_digit)
        + has(|c| c.is_ascii_punctuation() && !matches!(c, b'-' | b'_' | b'.'))
        >= 3
}

/// Three words or more joined by `-`, ending in digits: `copper-walnut-nimbus53`.
fn passphrase(value: &str) -> bool {
    let words = value.trim_end_matches(|c: char| c.is_ascii_digit());
    words.len() < value.len()
        && words.split('-').count() >= 3
        && words
            .split('-')
            .all(|w| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
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

/// The name of a span that was read as a key's value but holds nothing to mask (a
/// placeholder, a marker): [`key_value_spans`] keeps it out of the spans.
const UNMASKED: &str = "";

fn span(text: &str, start: usize, end: usize, class: KeyClass, wrap: Wrap) -> Option<Span> {
    if end < start + class.min_value_len() {
        return None;
    }
    let name = if is_placeholder(&text[start..end]) {
        UNMASKED
    } else {
        class.0
    };
    Some(Span {
        start,
        end,
        name,
        wrap,
    })
}

fn trim_end(text: &str, start: usize, mut end: usize) -> usize {
    while end > start && text.as_bytes()[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    end
}

/// A set of ASCII bytes, as a bit mask.
const fn stops(bytes: &[u8]) -> u128 {
    let mut mask = 0u128;
    let mut i = 0;
    while i < bytes.len() {
        mask |= 1 << bytes[i];
        i += 1;
    }
    mask
}

/// Where a value starting at `from` ends: the first character that is whitespace (Unicode, as
/// `char::is_whitespace`) or one of the ASCII `stops`, else the end of `text`. Byte by byte,
/// decoding only non-ASCII characters (`str::find` with a closure decoded every one).
fn value_end(text: &str, from: usize, stops: u128) -> usize {
    const ASCII_WHITESPACE: u128 = 0x1_0000_3e00; // \t \n \x0b \x0c \r and space
    let bytes = text.as_bytes();
    let mut i = from;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii() {
            if (ASCII_WHITESPACE | stops) >> b & 1 != 0 {
                return i;
            }
            i += 1;
        } else {
            let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
                return i;
            };
            if c.is_whitespace() {
                return i;
            }
            i += c.len_utf8();
        }
    }
    bytes.len()
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

#[cfg(test)]
mod value_end_tests {
    use super::{stops, value_end};

    #[test]
    fn value_end_stops_where_str_find_does() {
        let pieces = [
            "a", "Z", "9", "=", ",", ";", "&", "\"", "'", "\\", "|", " ", "\t", "\u{b}", "\u{c}",
            "\r", "\n", "\u{1c}", "\u{85}", "\u{a0}", "\u{2003}", "\u{3000}", "é", "€", "𝄞",
        ];
        let stop_sets: [&[u8]; 3] = [b",;\"'}]\\", b"&,;)]}\"'<\\", b""];
        let mut next = crate::mask::xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let length = next() % 9;
            let text: String = (0..length)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            for set in stop_sets {
                let expected = text
                    .find(|c: char| c.is_whitespace() || c.is_ascii() && set.contains(&(c as u8)))
                    .unwrap_or(text.len());
                assert_eq!(
                    value_end(&text, 0, stops(set)),
                    expected,
                    "{text:?} {set:?}"
                );
            }
        }
    }
}
