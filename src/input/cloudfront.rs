//! CloudFront real-time log lines → ECS fields.
//!
//! A real-time log record is one tab-separated line with no header and no field names: the
//! meaning of each column comes only from the distribution's real-time log configuration. So a
//! [`CloudFrontFormat`] is built once from that field list and then maps columns by position;
//! a line with a different number of columns is rejected instead of guessed at, because
//! shifting every value one column over would silently index garbage under the right names.
//!
//! Detection has to be cheap and strict because every record on a mixed stream is offered to
//! this parser: the column count is checked first (a plain-text or JSON line fails on that
//! alone), then the `timestamp` column, when configured, must be epoch seconds. Nothing is
//! written to `out` unless the line is accepted.
//!
//! Mapping choices:
//! - Fields with an ECS home go there (`source`, `server`, `client.geo`, `http`, `url`, `tls`,
//!   `user_agent`, `network.type`); everything else goes under one `cloudfront` object with
//!   the AWS name in snake_case, so nothing CloudFront sends is dropped.
//! - `cs-host` (the `Host` header the viewer sent, per the real-time log reference) is
//!   `url.domain`; `x-host-header` (the distribution's domain name) stays under `cloudfront`
//!   and is used for `url.domain` only when `cs-host` is not configured. (The two names mean the
//!   opposite in *standard* logs; this follows the real-time log reference.)
//! - CloudFront URL-encodes header values. `cs-user-agent`, `cs-referer`, `cs-cookie`,
//!   `cs-headers`, `cs-header-names`, `cs-accept` and `cs-accept-encoding` are percent-decoded
//!   once so they read like the headers that were sent. `cs-uri-stem` and `cs-uri-query` are
//!   kept as logged: decoding a URL would merge `%2F` with `/` and `%26` with `&`.
//! - A value's JSON type never depends on the line: a numeric field that does not parse goes
//!   as a string under `cloudfront.unparsed.<name>` instead of its usual key, so one odd value
//!   cannot cause an Elasticsearch mapping conflict that rejects the document.
//! - `sc-status` `000` (the viewer left before a response) is status code `0`.
//! - Durations (`time-taken`, `time-to-first-byte`, `origin-fbl`, `origin-lbl`) stay in
//!   seconds, as CloudFront logs them, under `cloudfront`: `event.duration` belongs to the
//!   forwarder's own `event` object.

use super::members::{close, key, open, write_str};
use std::net::IpAddr;

use thiserror::Error;

/// How a field's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Mapped to ECS by [`CloudFrontFormat::write_fields`] itself (with its own fallback).
    Ecs,
    /// `cloudfront.<name>` string, as logged.
    Text,
    /// `cloudfront.<name>` string, percent-decoded.
    Encoded,
    /// `cloudfront.<name>` non-negative integer.
    Integer,
    /// `cloudfront.<name>` non-negative decimal number (seconds, rates).
    Decimal,
    /// `cloudfront.<name>` boolean (`true`/`false`).
    Boolean,
}

/// Every real-time log field, in the order of AWS's field reference
/// (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/real-time-logs.html>,
/// "Fields"), which is also the order CloudFront writes them in.
const FIELDS: [(&str, Kind); 71] = [
    ("timestamp", Kind::Ecs),
    ("c-ip", Kind::Ecs),
    ("s-ip", Kind::Ecs),
    ("time-to-first-byte", Kind::Decimal),
    ("sc-status", Kind::Ecs),
    ("sc-bytes", Kind::Ecs),
    ("cs-method", Kind::Ecs),
    ("cs-protocol", Kind::Ecs),
    ("cs-host", Kind::Ecs),
    ("cs-uri-stem", Kind::Ecs),
    ("cs-bytes", Kind::Ecs),
    ("x-edge-location", Kind::Text),
    ("x-edge-request-id", Kind::Ecs),
    ("x-host-header", Kind::Text),
    ("time-taken", Kind::Decimal),
    ("cs-protocol-version", Kind::Ecs),
    ("c-ip-version", Kind::Ecs),
    ("cs-user-agent", Kind::Ecs),
    ("cs-referer", Kind::Ecs),
    ("cs-cookie", Kind::Encoded),
    ("cs-uri-query", Kind::Ecs),
    ("x-edge-response-result-type", Kind::Text),
    ("x-forwarded-for", Kind::Text),
    ("ssl-protocol", Kind::Ecs),
    ("ssl-cipher", Kind::Ecs),
    ("x-edge-result-type", Kind::Text),
    ("fle-encrypted-fields", Kind::Integer),
    ("fle-status", Kind::Text),
    ("sc-content-type", Kind::Ecs),
    ("sc-content-len", Kind::Integer),
    ("sc-range-start", Kind::Integer),
    ("sc-range-end", Kind::Integer),
    ("c-port", Kind::Ecs),
    ("x-edge-detailed-result-type", Kind::Text),
    ("c-country", Kind::Ecs),
    ("cs-accept-encoding", Kind::Encoded),
    ("cs-accept", Kind::Encoded),
    ("cache-behavior-path-pattern", Kind::Text),
    ("cs-headers", Kind::Encoded),
    ("cs-header-names", Kind::Encoded),
    ("cs-headers-count", Kind::Integer),
    ("primary-distribution-id", Kind::Text),
    ("primary-distribution-dns-name", Kind::Text),
    ("origin-fbl", Kind::Decimal),
    ("origin-lbl", Kind::Decimal),
    ("asn", Kind::Ecs),
    ("cmcd-encoded-bitrate", Kind::Integer),
    ("cmcd-buffer-length", Kind::Integer),
    ("cmcd-buffer-starvation", Kind::Boolean),
    ("cmcd-content-id", Kind::Text),
    ("cmcd-object-duration", Kind::Integer),
    ("cmcd-deadline", Kind::Integer),
    ("cmcd-measured-throughput", Kind::Integer),
    ("cmcd-next-object-request", Kind::Text),
    ("cmcd-next-range-request", Kind::Text),
    ("cmcd-object-type", Kind::Text),
    ("cmcd-playback-rate", Kind::Decimal),
    ("cmcd-requested-maximum-throughput", Kind::Integer),
    ("cmcd-streaming-format", Kind::Text),
    ("cmcd-session-id", Kind::Text),
    ("cmcd-stream-type", Kind::Text),
    ("cmcd-startup", Kind::Boolean),
    ("cmcd-top-bitrate", Kind::Integer),
    ("cmcd-version", Kind::Integer),
    ("r-host", Kind::Text),
    ("sr-reason", Kind::Text),
    ("x-edge-mqcs", Kind::Text),
    ("distribution-tenant-id", Kind::Text),
    ("connection-id", Kind::Text),
    ("viewer-request-log-data", Kind::Text),
    ("viewer-response-log-data", Kind::Text),
];

const N: usize = FIELDS.len();

// Positions in `FIELDS` of the fields mapped to ECS (checked by a test).
const TIMESTAMP: usize = 0;
const C_IP: usize = 1;
const S_IP: usize = 2;
const SC_STATUS: usize = 4;
const SC_BYTES: usize = 5;
const CS_METHOD: usize = 6;
const CS_PROTOCOL: usize = 7;
const CS_HOST: usize = 8;
const CS_URI_STEM: usize = 9;
const CS_BYTES: usize = 10;
const X_EDGE_REQUEST_ID: usize = 12;
const X_HOST_HEADER: usize = 13;
const CS_PROTOCOL_VERSION: usize = 15;
const C_IP_VERSION: usize = 16;
const CS_USER_AGENT: usize = 17;
const CS_REFERER: usize = 18;
const CS_URI_QUERY: usize = 20;
const SSL_PROTOCOL: usize = 23;
const SSL_CIPHER: usize = 24;
const SC_CONTENT_TYPE: usize = 28;
const C_PORT: usize = 32;
const C_COUNTRY: usize = 34;
const ASN: usize = 45;

/// ECS integer fields whose unparsable values go to `cloudfront.unparsed`.
const ECS_INTEGERS: [usize; 5] = [SC_STATUS, SC_BYTES, CS_BYTES, C_PORT, ASN];

/// A field list that cannot describe a real-time log configuration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("the CloudFront field list is empty")]
    Empty,
    #[error("unknown CloudFront real-time log field `{0}`")]
    UnknownField(String),
    #[error("CloudFront real-time log field `{0}` is listed more than once")]
    DuplicateField(String),
}

/// Why a line is not a CloudFront real-time log record of the configured shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("expected {expected} tab-separated fields, found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("the timestamp field is not epoch seconds")]
    Timestamp,
}

/// The column layout of one real-time log configuration, plus a reusable decode buffer.
#[derive(Debug, Clone)]
pub struct CloudFrontFormat {
    /// Position in [`FIELDS`] of each column, in line order.
    columns: Vec<usize>,
    /// Column holding `timestamp`, when configured.
    timestamp_column: Option<usize>,
    /// Percent-decoding and URL assembly; reused across lines.
    scratch: Vec<u8>,
}

impl CloudFrontFormat {
    /// A format whose columns are `fields`, in that order. Names are AWS's (`c-ip`,
    /// `time-taken`, …), matched ignoring ASCII case and surrounding whitespace.
    pub fn new(fields: &[&str]) -> Result<Self, ConfigError> {
        let mut columns = Vec::with_capacity(fields.len());
        for raw in fields {
            let name = raw.trim();
            let Some(index) = FIELDS
                .iter()
                .position(|(known, _)| known.eq_ignore_ascii_case(name))
            else {
                return Err(ConfigError::UnknownField(name.to_owned()));
            };
            if columns.contains(&index) {
                return Err(ConfigError::DuplicateField(name.to_owned()));
            }
            columns.push(index);
        }
        if columns.is_empty() {
            return Err(ConfigError::Empty);
        }
        let timestamp_column = columns.iter().position(|&c| c == TIMESTAMP);
        Ok(Self {
            columns,
            timestamp_column,
            scratch: Vec::new(),
        })
    }

    /// Like [`new`](Self::new) but with the columns put in AWS's documented order, for a field
    /// list copied from a `CreateRealtimeLogConfig` request: AWS documents that records carry
    /// the fields in its reference order, and that API *responses* list them in delivery order.
    pub fn new_in_aws_order(fields: &[&str]) -> Result<Self, ConfigError> {
        let mut format = Self::new(fields)?;
        format.columns.sort_unstable();
        format.timestamp_column = format.columns.iter().position(|&c| c == TIMESTAMP);
        Ok(format)
    }

    /// A format from a comma- and/or whitespace-separated list, as in an environment variable.
    pub fn from_list(list: &str) -> Result<Self, ConfigError> {
        let names: Vec<&str> = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        Self::new(&names)
    }

    /// Every field AWS documents, in AWS's order: what a configuration with all fields selected
    /// delivers.
    pub fn aws_default() -> Self {
        Self {
            columns: (0..N).collect(),
            timestamp_column: Some(0),
            scratch: Vec::new(),
        }
    }

    /// All field names AWS documents, in AWS's order.
    pub fn aws_field_names() -> impl Iterator<Item = &'static str> {
        FIELDS.iter().map(|(name, _)| *name)
    }

    /// Number of tab-separated columns a line must have.
    pub fn field_count(&self) -> usize {
        self.columns.len()
    }

    /// Cheap detection: exactly [`field_count`](Self::field_count) columns and, when
    /// configured, a `timestamp` column in epoch seconds.
    pub fn matches(&self, line: &str) -> bool {
        let line = trim_eol(line);
        let found = line.bytes().filter(|&b| b == b'\t').count() + 1;
        if found != self.columns.len() {
            return false;
        }
        match self.timestamp_column {
            Some(column) => line
                .split('\t')
                .nth(column)
                .and_then(parse_epoch_ms)
                .is_some(),
            None => true,
        }
    }

    /// Appends `,"key":value` members (each preceded by a comma) for the fields of `line` to
    /// `out`, and returns the event time in epoch milliseconds when the line has a
    /// `timestamp` column. On `Err`, `out` is left unchanged.
    pub fn write_fields(
        &mut self,
        line: &str,
        out: &mut Vec<u8>,
    ) -> Result<Option<i64>, ParseError> {
        let line = trim_eol(line);
        let mut slots: [&str; N] = [""; N];
        let mut found = 0usize;
        for value in line.split('\t') {
            if let Some(slot) = self.columns.get(found).and_then(|&i| slots.get_mut(i)) {
                *slot = value;
            }
            found += 1;
        }
        if found != self.columns.len() {
            return Err(ParseError::FieldCount {
                expected: self.columns.len(),
                found,
            });
        }
        let time = match self.timestamp_column {
            Some(_) => Some(parse_epoch_ms(slots[TIMESTAMP]).ok_or(ParseError::Timestamp)?),
            None => None,
        };
        let get = |i: usize| slots.get(i).copied().filter(|v| !v.is_empty() && *v != "-");
        let scratch = &mut self.scratch;

        // http
        let http = open(out, ROOT, "http");
        let request = open(out, http.body, "request");
        if let Some(v) = get(CS_METHOD) {
            key(out, request.body, "method");
            write_str(out, v);
        }
        integer(out, request.body, "bytes", get(CS_BYTES));
        if let Some(v) = get(X_EDGE_REQUEST_ID) {
            key(out, request.body, "id");
            write_str(out, v);
        }
        if let Some(v) = get(CS_REFERER) {
            key(out, request.body, "referrer");
            write_decoded(out, scratch, v);
        }
        close(out, request);
        if let Some(v) = get(CS_PROTOCOL_VERSION) {
            key(out, http.body, "version");
            write_str(out, v.strip_prefix("HTTP/").unwrap_or(v));
        }
        let response = open(out, http.body, "response");
        integer(out, response.body, "status_code", get(SC_STATUS));
        integer(out, response.body, "bytes", get(SC_BYTES));
        if let Some(v) = get(SC_CONTENT_TYPE) {
            key(out, response.body, "mime_type");
            write_str(out, v);
        }
        close(out, response);
        close(out, http);

        // url
        let url = open(out, ROOT, "url");
        let stem = get(CS_URI_STEM);
        let (path, stem_query) = match stem.map(|s| s.split_once('?')) {
            Some(Some((p, q))) => (Some(p), Some(q).filter(|q| !q.is_empty())),
            Some(None) => (stem, None),
            None => (None, None),
        };
        let query = get(CS_URI_QUERY).or(stem_query);
        if let Some(p) = path {
            key(out, url.body, "original");
            match (stem_query, query) {
                (None, Some(q)) => {
                    scratch.clear();
                    scratch.extend_from_slice(p.as_bytes());
                    scratch.push(b'?');
                    scratch.extend_from_slice(q.as_bytes());
                    write_bytes(out, scratch);
                }
                _ => write_str(out, stem.unwrap_or(p)),
            }
        }
        if let Some(v) = get(CS_PROTOCOL) {
            key(out, url.body, "scheme");
            write_str(out, v);
        }
        if let Some(v) = get(CS_HOST).or_else(|| {
            // Only when cs-host is not configured: then the distribution's name is the best
            // domain we have. A configured but absent cs-host stays absent.
            (!self.columns.contains(&CS_HOST))
                .then(|| get(X_HOST_HEADER))
                .flatten()
        }) {
            key(out, url.body, "domain");
            write_str(out, v);
        }
        if let Some(p) = path.filter(|p| !p.is_empty()) {
            key(out, url.body, "path");
            write_str(out, p);
        }
        if let Some(q) = query {
            key(out, url.body, "query");
            write_str(out, q);
        }
        close(out, url);

        // source, server, client
        let source = open(out, ROOT, "source");
        address(out, source.body, get(C_IP));
        integer(out, source.body, "port", get(C_PORT));
        if parse_u64(get(ASN)).is_some() {
            let as_ = open(out, source.body, "as");
            integer(out, as_.body, "number", get(ASN));
            close(out, as_);
        }
        close(out, source);
        let server = open(out, ROOT, "server");
        address(out, server.body, get(S_IP));
        close(out, server);
        if let Some(v) = get(C_COUNTRY) {
            key(out, ROOT, "client");
            out.extend_from_slice(b"{\"geo\":{\"country_iso_code\":");
            write_str(out, v);
            out.extend_from_slice(b"}}");
        }

        // network, tls, user_agent
        let ip_version = get(C_IP_VERSION).and_then(network_type);
        if let Some(t) = ip_version {
            key(out, ROOT, "network");
            out.extend_from_slice(b"{\"type\":");
            write_str(out, t);
            out.push(b'}');
        }
        let tls_version = get(SSL_PROTOCOL).and_then(tls_version);
        let tls = open(out, ROOT, "tls");
        if let Some((protocol, version)) = tls_version {
            key(out, tls.body, "version_protocol");
            write_str(out, protocol);
            key(out, tls.body, "version");
            write_str(out, version);
        }
        if let Some(v) = get(SSL_CIPHER) {
            key(out, tls.body, "cipher");
            write_str(out, v);
        }
        close(out, tls);
        if let Some(v) = get(CS_USER_AGENT) {
            key(out, ROOT, "user_agent");
            out.extend_from_slice(b"{\"original\":");
            write_decoded(out, scratch, v);
            out.push(b'}');
        }

        // cloudfront: everything without an ECS home, then what failed to parse.
        let cf = open(out, ROOT, "cloudfront");
        let mut unparsed = false;
        for &i in &self.columns {
            let (Some(value), Some(&(name, kind))) = (get(i), FIELDS.get(i)) else {
                continue;
            };
            match kind {
                Kind::Ecs => {
                    let fallback = match i {
                        C_IP_VERSION => ip_version.is_none(),
                        SSL_PROTOCOL => tls_version.is_none(),
                        _ => {
                            unparsed |=
                                ECS_INTEGERS.contains(&i) && parse_u64(Some(value)).is_none();
                            false
                        }
                    };
                    if fallback {
                        snake_key(out, cf.body, name);
                        write_str(out, value);
                    }
                }
                Kind::Text => {
                    snake_key(out, cf.body, name);
                    write_str(out, value);
                }
                Kind::Encoded => {
                    snake_key(out, cf.body, name);
                    write_decoded(out, scratch, value);
                }
                Kind::Integer => match parse_u64(Some(value)) {
                    Some(n) => {
                        snake_key(out, cf.body, name);
                        let _ = serde_json::to_writer(&mut *out, &n);
                    }
                    None => unparsed = true,
                },
                Kind::Decimal | Kind::Boolean => {
                    if typed_ok(kind, value) {
                        snake_key(out, cf.body, name);
                        out.extend_from_slice(value.as_bytes());
                    } else {
                        unparsed = true;
                    }
                }
            }
        }
        if unparsed {
            let raw = open(out, cf.body, "unparsed");
            for &i in &self.columns {
                let (Some(value), Some(&(name, kind))) = (get(i), FIELDS.get(i)) else {
                    continue;
                };
                let bad = match kind {
                    Kind::Ecs => ECS_INTEGERS.contains(&i) && parse_u64(Some(value)).is_none(),
                    Kind::Integer | Kind::Decimal | Kind::Boolean => !typed_ok(kind, value),
                    Kind::Text | Kind::Encoded => false,
                };
                if bad {
                    snake_key(out, raw.body, name);
                    write_str(out, value);
                }
            }
            close(out, raw);
        }
        close(out, cf);
        Ok(time)
    }
}

/// Drops one trailing `\n` or `\r\n`: records usually end with a newline.
fn trim_eol(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// `1606937617.253` (epoch seconds, optional fraction) → milliseconds. Digits beyond the
/// millisecond are truncated.
fn parse_epoch_ms(s: &str) -> Option<i64> {
    let (secs, frac) = match s.split_once('.') {
        Some((secs, frac)) => (secs, Some(frac)),
        None => (s, None),
    };
    if secs.is_empty() || secs.len() > 12 || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut ms = secs.parse::<i64>().ok()?.checked_mul(1000)?;
    if let Some(frac) = frac {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut scale = 100;
        for b in frac.bytes().take(3) {
            ms += i64::from(b - b'0') * scale;
            scale /= 10;
        }
    }
    Some(ms)
}

/// A non-negative integer written only with ASCII digits (no sign, no spaces).
fn parse_u64(s: Option<&str>) -> Option<u64> {
    let s = s?;
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whether `s` is a non-negative JSON number without exponent: `0`, `12`, `0.082`.
fn is_decimal(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let int_ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && (int.len() == 1 || !int.starts_with('0'));
    let frac_ok = frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    int_ok && frac_ok && s.len() <= 32
}

/// Whether `value` is a valid value of `kind` (decimals and booleans are then written
/// verbatim, integers re-formatted).
fn typed_ok(kind: Kind, value: &str) -> bool {
    match kind {
        Kind::Integer => parse_u64(Some(value)).is_some(),
        Kind::Decimal => is_decimal(value),
        Kind::Boolean => value == "true" || value == "false",
        Kind::Ecs | Kind::Text | Kind::Encoded => false,
    }
}

/// `IPv4`/`IPv6` → ECS `network.type` values.
fn network_type(v: &str) -> Option<&'static str> {
    if v.eq_ignore_ascii_case("ipv4") {
        Some("ipv4")
    } else if v.eq_ignore_ascii_case("ipv6") {
        Some("ipv6")
    } else {
        None
    }
}

/// `TLSv1.2` → (`tls`, `1.2`); `TLSv1` → (`tls`, `1.0`); `SSLv3` → (`ssl`, `3.0`).
fn tls_version(v: &str) -> Option<(&'static str, &str)> {
    let (protocol, version) = if let Some(rest) = v.strip_prefix("TLSv") {
        ("tls", rest)
    } else if let Some(rest) = v.strip_prefix("SSLv") {
        ("ssl", rest)
    } else {
        return None;
    };
    match version {
        "1" => Some((protocol, "1.0")),
        "2" => Some((protocol, "2.0")),
        "3" => Some((protocol, "3.0")),
        _ if is_decimal(version) => Some((protocol, version)),
        _ => None,
    }
}

// --- JSON writing -------------------------------------------------------------------------

/// Parent marker for document-root members: they always need a leading comma.
const ROOT: usize = usize::MAX;

/// Like [`key`] with `-` in the AWS field name written as `_`.
fn snake_key(out: &mut Vec<u8>, parent: usize, name: &str) {
    if out.len() != parent {
        out.push(b',');
    }
    out.push(b'"');
    out.extend(name.bytes().map(|b| if b == b'-' { b'_' } else { b }));
    out.extend_from_slice(b"\":");
}

/// A JSON string from bytes that may not be UTF-8 (invalid sequences become U+FFFD).
fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => write_str(out, s),
        Err(_) => write_str(out, &String::from_utf8_lossy(bytes)),
    }
}

/// A JSON string of `s` with `%XX` escapes decoded once; a `%` not followed by two hex
/// digits is kept as is.
fn write_decoded(out: &mut Vec<u8>, scratch: &mut Vec<u8>, s: &str) {
    if !s.contains('%') {
        write_str(out, s);
        return;
    }
    scratch.clear();
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex_value(h).zip(hex_value(l)),
            _ => None,
        };
        match hex {
            Some((h, l)) => {
                scratch.push(h << 4 | l);
                i += 3;
            }
            None => {
                scratch.push(b);
                i += 1;
            }
        }
    }
    write_bytes(out, scratch);
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `"name":<n>` when `value` is a non-negative integer; nothing otherwise (the caller records
/// the raw text under `cloudfront.unparsed`).
fn integer(out: &mut Vec<u8>, parent: usize, name: &str, value: Option<&str>) {
    if let Some(n) = parse_u64(value) {
        key(out, parent, name);
        let _ = serde_json::to_writer(&mut *out, &n);
    }
}

/// `"address"` always, `"ip"` too when the value is an IP address (an `ip` mapping rejects
/// anything else).
fn address(out: &mut Vec<u8>, parent: usize, value: Option<&str>) {
    if let Some(v) = value {
        key(out, parent, "address");
        write_str(out, v);
        if v.parse::<IpAddr>().is_ok() {
            key(out, parent, "ip");
            write_str(out, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The members `write_fields` appended, as one JSON object (without the `x` anchor).
    fn members(out: &[u8]) -> Value {
        let mut doc = b"{\"x\":0".to_vec();
        doc.extend_from_slice(out);
        doc.push(b'}');
        let mut value: Value = serde_json::from_slice(&doc)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&doc)));
        value.as_object_mut().unwrap().remove("x");
        value
    }

    fn parse(format: &mut CloudFrontFormat, line: &str) -> (Option<i64>, Value) {
        let mut out = Vec::new();
        let time = format
            .write_fields(line, &mut out)
            .unwrap_or_else(|e| panic!("{e}: {line}"));
        (time, members(&out))
    }

    /// A line for the full AWS field list from `(field, value)` pairs; others are `-`.
    fn full_line(values: &[(&str, &str)]) -> String {
        CloudFrontFormat::aws_field_names()
            .map(|name| {
                values
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or("-", |(_, v)| *v)
            })
            .collect::<Vec<_>>()
            .join("\t")
    }

    fn sample_https() -> String {
        full_line(&[
            ("timestamp", "1606937617.253"),
            ("c-ip", "203.0.113.7"),
            ("s-ip", "198.51.100.10"),
            ("time-to-first-byte", "0.002"),
            ("sc-status", "200"),
            ("sc-bytes", "1024"),
            ("cs-method", "GET"),
            ("cs-protocol", "https"),
            ("cs-host", "www.example.com"),
            ("cs-uri-stem", "/images/cat.jpg"),
            ("cs-bytes", "412"),
            ("x-edge-location", "FRA56-P1"),
            (
                "x-edge-request-id",
                "a4mpWk3Ykj2nyKzVwGCAfHtuMH7CGqlhVVp5TErOTnlj6gPVXXrDmA==",
            ),
            ("x-host-header", "d111111abcdef8.cloudfront.net"),
            ("time-taken", "0.082"),
            ("cs-protocol-version", "HTTP/2.0"),
            ("c-ip-version", "IPv4"),
            (
                "cs-user-agent",
                "Mozilla/5.0%20(Macintosh;%20Intel%20Mac%20OS%20X%2010_15_7)%20Firefox/133.0",
            ),
            ("cs-referer", "https://www.example.com/index.html"),
            ("cs-cookie", "session%3D[MASKED:cookie]"),
            ("cs-uri-query", "size=large&token=[MASKED:token]"),
            ("x-edge-response-result-type", "Hit"),
            ("ssl-protocol", "TLSv1.3"),
            ("ssl-cipher", "TLS_AES_128_GCM_SHA256"),
            ("x-edge-result-type", "Hit"),
            ("sc-content-type", "image/jpeg"),
            ("sc-content-len", "612"),
            ("c-port", "4433"),
            ("x-edge-detailed-result-type", "Hit"),
            ("c-country", "DE"),
            ("cs-accept-encoding", "gzip,%20br"),
            ("cs-accept", "image/avif,image/webp,*/*"),
            ("cache-behavior-path-pattern", "/images/*"),
            ("cs-headers-count", "9"),
            ("origin-fbl", "0.031"),
            ("origin-lbl", "0.040"),
            ("asn", "3320"),
            ("cmcd-buffer-starvation", "false"),
        ])
    }

    #[test]
    fn field_table_positions() {
        let at = |i: usize| FIELDS[i].0;
        assert_eq!(at(TIMESTAMP), "timestamp");
        assert_eq!(at(C_IP), "c-ip");
        assert_eq!(at(S_IP), "s-ip");
        assert_eq!(at(SC_STATUS), "sc-status");
        assert_eq!(at(SC_BYTES), "sc-bytes");
        assert_eq!(at(CS_METHOD), "cs-method");
        assert_eq!(at(CS_PROTOCOL), "cs-protocol");
        assert_eq!(at(CS_HOST), "cs-host");
        assert_eq!(at(CS_URI_STEM), "cs-uri-stem");
        assert_eq!(at(CS_BYTES), "cs-bytes");
        assert_eq!(at(X_EDGE_REQUEST_ID), "x-edge-request-id");
        assert_eq!(at(X_HOST_HEADER), "x-host-header");
        assert_eq!(at(CS_PROTOCOL_VERSION), "cs-protocol-version");
        assert_eq!(at(C_IP_VERSION), "c-ip-version");
        assert_eq!(at(CS_USER_AGENT), "cs-user-agent");
        assert_eq!(at(CS_REFERER), "cs-referer");
        assert_eq!(at(CS_URI_QUERY), "cs-uri-query");
        assert_eq!(at(SSL_PROTOCOL), "ssl-protocol");
        assert_eq!(at(SSL_CIPHER), "ssl-cipher");
        assert_eq!(at(SC_CONTENT_TYPE), "sc-content-type");
        assert_eq!(at(C_PORT), "c-port");
        assert_eq!(at(C_COUNTRY), "c-country");
        assert_eq!(at(ASN), "asn");
        // The first 40 of AWS's original reference keep their relative order.
        let original = [
            "timestamp",
            "c-ip",
            "time-to-first-byte",
            "sc-status",
            "sc-bytes",
            "cs-method",
            "cs-protocol",
            "cs-host",
            "cs-uri-stem",
            "cs-bytes",
            "x-edge-location",
            "x-edge-request-id",
            "x-host-header",
            "time-taken",
            "cs-protocol-version",
            "c-ip-version",
            "cs-user-agent",
            "cs-referer",
            "cs-cookie",
            "cs-uri-query",
            "x-edge-response-result-type",
            "x-forwarded-for",
            "ssl-protocol",
            "ssl-cipher",
            "x-edge-result-type",
            "fle-encrypted-fields",
            "fle-status",
            "sc-content-type",
            "sc-content-len",
            "sc-range-start",
            "sc-range-end",
            "c-port",
            "x-edge-detailed-result-type",
            "c-country",
            "cs-accept-encoding",
            "cs-accept",
            "cache-behavior-path-pattern",
            "cs-headers",
            "cs-header-names",
            "cs-headers-count",
        ];
        let ours: Vec<&str> = CloudFrontFormat::aws_field_names()
            .filter(|n| original.contains(n))
            .collect();
        assert_eq!(ours, original);
        assert_eq!(CloudFrontFormat::aws_default().field_count(), 71);
    }

    #[test]
    fn full_https_line() {
        let mut f = CloudFrontFormat::aws_default();
        let line = sample_https();
        assert!(f.matches(&line));
        let (time, v) = parse(&mut f, &format!("{line}\n"));
        assert_eq!(time, Some(1_606_937_617_253));
        assert_eq!(
            v,
            json!({
                "http": {
                    "request": {
                        "method": "GET",
                        "bytes": 412,
                        "id": "a4mpWk3Ykj2nyKzVwGCAfHtuMH7CGqlhVVp5TErOTnlj6gPVXXrDmA==",
                        "referrer": "https://www.example.com/index.html"
                    },
                    "version": "2.0",
                    "response": {"status_code": 200, "bytes": 1024, "mime_type": "image/jpeg"}
                },
                "url": {
                    "original": "/images/cat.jpg?size=large&token=[MASKED:token]",
                    "scheme": "https",
                    "domain": "www.example.com",
                    "path": "/images/cat.jpg",
                    "query": "size=large&token=[MASKED:token]"
                },
                "source": {"address": "203.0.113.7", "ip": "203.0.113.7", "port": 4433,
                           "as": {"number": 3320}},
                "server": {"address": "198.51.100.10", "ip": "198.51.100.10"},
                "client": {"geo": {"country_iso_code": "DE"}},
                "network": {"type": "ipv4"},
                "tls": {"version_protocol": "tls", "version": "1.3",
                        "cipher": "TLS_AES_128_GCM_SHA256"},
                "user_agent": {"original":
                    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Firefox/133.0"},
                "cloudfront": {
                    "time_to_first_byte": 0.002,
                    "x_edge_location": "FRA56-P1",
                    "x_host_header": "d111111abcdef8.cloudfront.net",
                    "time_taken": 0.082,
                    "cs_cookie": "session=[MASKED:cookie]",
                    "x_edge_response_result_type": "Hit",
                    "x_edge_result_type": "Hit",
                    "sc_content_len": 612,
                    "x_edge_detailed_result_type": "Hit",
                    "cs_accept_encoding": "gzip, br",
                    "cs_accept": "image/avif,image/webp,*/*",
                    "cache_behavior_path_pattern": "/images/*",
                    "cs_headers_count": 9,
                    "origin_fbl": 0.031,
                    "origin_lbl": 0.040,
                    "cmcd_buffer_starvation": false
                }
            })
        );
    }

    #[test]
    fn table() {
        // (field values on the full AWS list, expected time, expected members)
        type Case<'a> = (Vec<(&'a str, &'a str)>, Option<i64>, Value);
        let cases: Vec<Case> = vec![
            // IPv6 viewer, error from origin, HTTP/1.1, no query, UA with %20, XFF.
            (
                vec![
                    ("timestamp", "1732269600.5"),
                    ("c-ip", "2001:db8:85a3::8a2e:370:7334"),
                    ("sc-status", "502"),
                    ("sc-bytes", "915"),
                    ("cs-method", "POST"),
                    ("cs-protocol", "https"),
                    ("cs-host", "api.example.com"),
                    ("cs-uri-stem", "/v1/orders"),
                    ("time-taken", "30.001"),
                    ("cs-protocol-version", "HTTP/1.1"),
                    ("c-ip-version", "IPv6"),
                    ("cs-user-agent", "curl/8.5.0%20(x86_64-pc-linux-gnu)"),
                    ("x-forwarded-for", "192.0.2.183"),
                    ("x-edge-result-type", "Error"),
                    ("x-edge-detailed-result-type", "OriginConnectError"),
                    ("c-port", "51334"),
                ],
                Some(1_732_269_600_500),
                json!({
                    "http": {"request": {"method": "POST"}, "version": "1.1",
                             "response": {"status_code": 502, "bytes": 915}},
                    "url": {"original": "/v1/orders", "scheme": "https",
                            "domain": "api.example.com", "path": "/v1/orders"},
                    "source": {"address": "2001:db8:85a3::8a2e:370:7334",
                               "ip": "2001:db8:85a3::8a2e:370:7334", "port": 51334},
                    "network": {"type": "ipv6"},
                    "user_agent": {"original": "curl/8.5.0 (x86_64-pc-linux-gnu)"},
                    "cloudfront": {"time_taken": 30.001, "x_forwarded_for": "192.0.2.183",
                                   "x_edge_result_type": "Error",
                                   "x_edge_detailed_result_type": "OriginConnectError"}
                }),
            ),
            // Viewer gave up (000), no fraction in the timestamp, odd numeric values.
            (
                vec![
                    ("timestamp", "1606937617"),
                    ("c-ip", "192.0.2.1"),
                    ("sc-status", "000"),
                    ("sc-bytes", "n/a"),
                    ("c-port", "-1"),
                    ("time-taken", "1e3"),
                    ("sc-range-start", "007"),
                    ("sc-range-end", "18446744073709551616"),
                    ("cmcd-startup", "1"),
                    ("ssl-protocol", "QUICv1"),
                    ("c-ip-version", "IPv5"),
                ],
                Some(1_606_937_617_000),
                json!({
                    "http": {"response": {"status_code": 0}},
                    "source": {"address": "192.0.2.1", "ip": "192.0.2.1"},
                    "cloudfront": {
                        "c_ip_version": "IPv5",
                        "ssl_protocol": "QUICv1",
                        "sc_range_start": 7,
                        "unparsed": {"sc_bytes": "n/a", "time_taken": "1e3",
                                     "sc_range_end": "18446744073709551616", "c_port": "-1",
                                     "cmcd_startup": "1"}
                    }
                }),
            ),
            // Query inside cs-uri-stem (older real-time logs), referer and escapes, cs-headers.
            (
                vec![
                    ("timestamp", "1606937617.2539"),
                    ("cs-uri-stem", "/search?q=%22cats%22"),
                    ("cs-referer", "https://example.com/?a=%22b%22"),
                    ("cs-headers", "Host:www.example.com%0AUser-Agent:x%0A"),
                    ("x-host-header", "d111111abcdef8.cloudfront.net"),
                    ("ssl-protocol", "TLSv1"),
                    ("cmcd-playback-rate", "1.5"),
                    ("cmcd-session-id", "6e2fb550-c457-11e9-bb97-0800200c9a66"),
                    ("sr-reason", "Primary"),
                ],
                Some(1_606_937_617_253),
                json!({
                    "http": {"request": {"referrer": "https://example.com/?a=\"b\""}},
                    "url": {"original": "/search?q=%22cats%22", "path": "/search",
                            "query": "q=%22cats%22"},
                    "tls": {"version_protocol": "tls", "version": "1.0"},
                    "cloudfront": {
                        "x_host_header": "d111111abcdef8.cloudfront.net",
                        "cs_headers": "Host:www.example.com\nUser-Agent:x\n",
                        "cmcd_playback_rate": 1.5,
                        "cmcd_session_id": "6e2fb550-c457-11e9-bb97-0800200c9a66",
                        "sr_reason": "Primary"
                    }
                }),
            ),
            // Everything absent except the timestamp.
            (
                vec![("timestamp", "1606937617.253")],
                Some(1_606_937_617_253),
                json!({}),
            ),
            // Non-IP c-ip, invalid percent escapes and invalid UTF-8 after decoding.
            (
                vec![
                    ("timestamp", "1606937617.253"),
                    ("c-ip", "unknown"),
                    ("cs-user-agent", "100%25%20sure%zz%"),
                    ("cs-cookie", "a=%ff"),
                ],
                Some(1_606_937_617_253),
                json!({
                    "source": {"address": "unknown"},
                    "user_agent": {"original": "100% sure%zz%"},
                    "cloudfront": {"cs_cookie": "a=\u{fffd}"}
                }),
            ),
        ];
        let mut f = CloudFrontFormat::aws_default();
        for (values, time, expected) in cases {
            let line = full_line(&values);
            assert!(f.matches(&line), "{line}");
            assert_eq!(parse(&mut f, &line), (time, expected), "{line}");
        }
    }

    #[test]
    fn custom_five_fields() {
        let mut f = CloudFrontFormat::new(&[
            "timestamp",
            "c-ip",
            "sc-status",
            "cs-uri-stem",
            "time-taken",
        ])
        .unwrap();
        assert_eq!(f.field_count(), 5);
        let line = "1700000000.001\t198.51.100.23\t304\t/app.js\t0.004";
        assert!(f.matches(line));
        let (time, v) = parse(&mut f, line);
        assert_eq!(time, Some(1_700_000_000_001));
        assert_eq!(
            v,
            json!({
                "http": {"response": {"status_code": 304}},
                "url": {"original": "/app.js", "path": "/app.js"},
                "source": {"address": "198.51.100.23", "ip": "198.51.100.23"},
                "cloudfront": {"time_taken": 0.004}
            })
        );
        // Order is the configured one: the same fields in another order are other columns.
        let mut g = CloudFrontFormat::new(&[
            "c-ip",
            "timestamp",
            "sc-status",
            "cs-uri-stem",
            "time-taken",
        ])
        .unwrap();
        assert!(!g.matches(line));
        assert_eq!(
            g.write_fields(line, &mut Vec::new()),
            Err(ParseError::Timestamp)
        );
        // ...unless put in AWS's order explicitly.
        let h = CloudFrontFormat::new_in_aws_order(&[
            "cs-uri-stem",
            "time-taken",
            "sc-status",
            "c-ip",
            "timestamp",
        ])
        .unwrap();
        assert!(h.matches(line));
        let mut h = h;
        assert_eq!(parse(&mut h, line), parse(&mut f, line));
        // A list without timestamp has no event time.
        let mut n = CloudFrontFormat::from_list("c-ip, sc-status\tcs-method").unwrap();
        let (time, v) = parse(&mut n, "192.0.2.9\t404\tGET");
        assert_eq!(time, None);
        assert_eq!(v["http"]["response"]["status_code"], 404);
        // Without cs-host, the distribution's domain is the best url.domain there is.
        let mut d = CloudFrontFormat::from_list("timestamp x-host-header").unwrap();
        let (_, v) = parse(&mut d, "1606937617.253\td111111abcdef8.cloudfront.net");
        assert_eq!(
            v,
            json!({"url": {"domain": "d111111abcdef8.cloudfront.net"},
                   "cloudfront": {"x_host_header": "d111111abcdef8.cloudfront.net"}})
        );
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            CloudFrontFormat::new(&["timestamp", "c-ipp"]).unwrap_err(),
            ConfigError::UnknownField("c-ipp".into())
        );
        assert!(CloudFrontFormat::new(&["timestamp", "c-ipp"])
            .unwrap_err()
            .to_string()
            .contains("`c-ipp`"));
        assert_eq!(
            CloudFrontFormat::new(&["timestamp", "c-ip", "TIMESTAMP"]).unwrap_err(),
            ConfigError::DuplicateField("TIMESTAMP".into())
        );
        assert_eq!(CloudFrontFormat::new(&[]).unwrap_err(), ConfigError::Empty);
        assert_eq!(
            CloudFrontFormat::from_list(" , ").unwrap_err(),
            ConfigError::Empty
        );
        let all: Vec<&str> = CloudFrontFormat::aws_field_names().collect();
        assert_eq!(
            CloudFrontFormat::new(&all).unwrap().columns,
            (0..N).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rejects_other_formats_and_leaves_out_untouched() {
        let mut f = CloudFrontFormat::aws_default();
        let five = CloudFrontFormat::new(&[
            "timestamp",
            "c-ip",
            "sc-status",
            "cs-uri-stem",
            "time-taken",
        ])
        .unwrap();
        let full = sample_https();
        let short = full.rsplit_once('\t').unwrap().0.to_owned();
        let lines = [
            "plain text log line",
            "",
            "{\"level\":\"info\",\"msg\":\"hello\"}",
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /a.gif HTTP/1.0\" 200 2326",
            "<134>Oct 11 22:14:15 host app[1]: 127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 -",
            "START RequestId: 8f5a Version: $LATEST",
            &short,
            &format!("{full}\textra"),
        ];
        for line in lines {
            assert!(!f.matches(line), "{line}");
            let mut out = b"keep".to_vec();
            assert!(f.write_fields(line, &mut out).is_err(), "{line}");
            assert_eq!(out, b"keep");
        }
        assert_eq!(
            f.write_fields(&short, &mut Vec::new()),
            Err(ParseError::FieldCount {
                expected: 71,
                found: 70
            })
        );
        // Five tab-separated columns whose first is not a timestamp.
        for line in [
            "a\tb\tc\td\te",
            "1606937617.\tb\tc\td\te",
            "+1606937617\tb\tc\td\te",
            "-\tb\tc\td\te",
        ] {
            assert!(!five.matches(line), "{line}");
        }
    }

    #[test]
    fn epoch_parsing() {
        assert_eq!(parse_epoch_ms("0"), Some(0));
        assert_eq!(parse_epoch_ms("1606937617.2"), Some(1_606_937_617_200));
        assert_eq!(parse_epoch_ms("1606937617.25"), Some(1_606_937_617_250));
        assert_eq!(parse_epoch_ms("1606937617.253999"), Some(1_606_937_617_253));
        for bad in ["", ".5", "1.", "1.2.3", "-1", "1e9", "9999999999999", " 1"] {
            assert_eq!(parse_epoch_ms(bad), None, "{bad}");
        }
    }

    /// Deterministic xorshift64.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn mutations_never_panic_and_always_emit_valid_json() {
        let mut full = CloudFrontFormat::aws_default();
        let mut five = CloudFrontFormat::new(&[
            "timestamp",
            "c-ip",
            "sc-status",
            "cs-uri-stem",
            "time-taken",
        ])
        .unwrap();
        let samples = [
            sample_https(),
            full_line(&[
                ("timestamp", "1606937617"),
                ("c-ip", "2001:db8::1"),
                ("cs-user-agent", "a%20b%"),
            ]),
            "1700000000.001\t198.51.100.23\t304\t/app.js\t0.004".to_owned(),
        ];
        let alphabet: &[&str] = &[
            "\t", "-", "%", "%2", "%20", "%ff", "\"", "\\", ".", "0", "9", "é", "\u{0}", "\n", "?",
            " ",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut accepted = 0;
        for _ in 0..10_000 {
            let mut bytes = samples[rng.below(samples.len())].clone().into_bytes();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(4) {
                    0 => {
                        if let Some(b) = bytes.get_mut(at) {
                            *b = rng.next() as u8;
                        }
                    }
                    1 => {
                        let end = (at + rng.below(8)).min(bytes.len());
                        bytes.drain(at.min(end)..end);
                    }
                    2 => {
                        let ins = alphabet[rng.below(alphabet.len())].as_bytes();
                        bytes.splice(at..at, ins.iter().copied());
                    }
                    _ => {
                        // Replace a whole column with a random token.
                        let ins = alphabet[rng.below(alphabet.len())].repeat(rng.below(3));
                        let start = bytes[..at]
                            .iter()
                            .rposition(|&b| b == b'\t')
                            .map_or(0, |p| p + 1);
                        let end = bytes[at..]
                            .iter()
                            .position(|&b| b == b'\t')
                            .map_or(bytes.len(), |p| at + p);
                        bytes.splice(start..end, ins.bytes());
                    }
                }
            }
            let line = String::from_utf8_lossy(&bytes);
            for format in [&mut full, &mut five] {
                let mut out = Vec::new();
                let matched = format.matches(&line);
                match format.write_fields(&line, &mut out) {
                    Ok(_) => {
                        assert!(matched, "{line:?}");
                        members(&out);
                        accepted += 1;
                    }
                    Err(_) => {
                        assert!(!matched, "{line:?}");
                        assert!(out.is_empty());
                    }
                }
            }
        }
        assert!(
            accepted > 1000,
            "only {accepted} mutated lines were accepted"
        );
    }
}
