//! A log event → its ECS JSON document, written straight into the request buffer.
//!
//! Layout of every document (one line, no whitespace):
//! ```json
//! {"@timestamp":"2026-11-22T03:57:08.123Z","message":"…",
//!  "event":{"id":"…","ingested":"…"},
//!  "aws":{"cloudwatch":{"log_group":"…","log_stream":"…"},
//!         "kinesis":{"name":"…","shard_id":"…","sequence_number":"…"}},
//!  "cloud":{"provider":"aws","account":{"id":"…"},"region":"…"},
//!  "json":{…the message's own fields, when the message is a JSON object…}}
//! ```
//! Why this shape:
//! - the fields of a JSON message go under one object field (default `json`) instead of the
//!   document root, so an application that logs `{"message":{…}}` or `{"@timestamp":"…"}` can
//!   never cause a mapping conflict with (or overwrite) the fields the forwarder owns;
//! - everything constant for a record (the `aws` and `cloud` objects) is rendered once per
//!   record into [`RecordContext`] and copied per event;
//! - the message is copied as the JSON string token the payload carried, escapes included, so
//!   the most expensive field is never unescaped and re-escaped.

use std::sync::Arc;

use serde::de::IgnoredAny;

use crate::input::apache::ApacheFormat;
use crate::input::cloudfront::CloudFrontFormat;
use crate::input::{LogEvent, Payload, RecordSource};
use crate::mask::{MaskCounts, Masker, PayloadScan};
use crate::time;

/// Why an event cannot become a document. The event is dead-lettered with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("event timestamp {0} ms is outside the years 0000-9999")]
    TimestampOutOfRange(i64),
}

/// The fields shared by every event of one record, pre-rendered.
#[derive(Debug, Default)]
pub struct RecordContext {
    tail: Vec<u8>,
    /// For a `/aws/lambda/<name>` log group: `,"lambda":{"function":{"name":"<name>"}`, the
    /// start of the `aws.lambda` object that platform lines add fields to…
    lambda: Vec<u8>,
    /// …inserted at this offset of `tail` (where the `aws` object closes).
    aws_end: usize,
}

impl RecordContext {
    /// Renders the `aws` and `cloud` objects for events of `payload` from `source`.
    pub fn set(&mut self, source: &RecordSource<'_>, payload: &Payload<'_>) {
        let t = &mut self.tail;
        t.clear();
        t.extend_from_slice(br#""aws":{"cloudwatch":{"log_group":"#);
        push_str(t, &payload.log_group);
        t.extend_from_slice(br#","log_stream":"#);
        push_str(t, &payload.log_stream);
        t.push(b'}');
        // A subscription delivered straight to Lambda has no stream.
        if !source.stream_arn.is_empty() {
            t.push(b',');
            push_kinesis(t, source);
        }
        self.aws_end = t.len();
        self.lambda.clear();
        if let Some(name) = crate::input::lambda::function_name(&payload.log_group) {
            self.lambda
                .extend_from_slice(br#","lambda":{"function":{"name":"#);
            push_str(&mut self.lambda, name);
            self.lambda.push(b'}');
        }
        push_cloud(t, &payload.owner, source.region);
    }

    /// Renders the `aws` and `cloud` objects for lines of producer text from `source` (no
    /// CloudWatch Logs metadata; the account is the stream's).
    pub fn set_for_text(&mut self, source: &RecordSource<'_>) {
        self.lambda.clear();
        let t = &mut self.tail;
        t.clear();
        t.extend_from_slice(br#""aws":{"#);
        push_kinesis(t, source);
        self.aws_end = t.len();
        push_cloud(t, source.account_id(), source.region);
    }
}

/// `"kinesis":{…}`: where the record sits in the stream.
fn push_kinesis(t: &mut Vec<u8>, source: &RecordSource<'_>) {
    t.extend_from_slice(br#""kinesis":{"name":"#);
    push_str(t, source.stream_name);
    t.extend_from_slice(br#","shard_id":"#);
    push_str(t, source.shard_id);
    t.extend_from_slice(br#","sequence_number":"#);
    push_str(t, source.sequence_number);
    if let Some(sub) = source.sub_sequence_number {
        t.extend_from_slice(br#","sub_sequence_number":"#);
        t.extend_from_slice(sub.to_string().as_bytes());
    }
    t.push(b'}');
}

/// Closes the `aws` object and writes `cloud`.
fn push_cloud(t: &mut Vec<u8>, account: &str, region: &str) {
    t.extend_from_slice(br#"},"cloud":{"provider":"aws","account":{"id":"#);
    push_str(t, account);
    t.extend_from_slice(br#"},"region":"#);
    push_str(t, region);
    t.push(b'}');
}

/// Writes documents; holds the masker, the per-invocation fields and reusable scratch buffers.
pub struct DocumentWriter {
    /// `,"json":` for the configured field, or `None` when JSON parsing is off.
    json_key: Option<Vec<u8>>,
    /// `"ingested":"…"` for this invocation.
    ingested: Vec<u8>,
    masker: Arc<Masker>,
    /// What was masked since the last [`DocumentWriter::take_counts`].
    counts: MaskCounts,
    scratch: String,
    masked: String,
    /// The unescaped message of a possible Lambda platform line.
    platform: String,
    /// Prefilter hits of the current CloudWatch Logs payload ([`Self::begin_payload`]).
    scan: PayloadScan,
}

impl DocumentWriter {
    pub fn new(json_field: Option<&str>, masker: Arc<Masker>) -> Self {
        let json_key = json_field.map(|f| {
            let mut k = b",".to_vec();
            push_str(&mut k, f);
            k.push(b':');
            k
        });
        let mut w = Self {
            json_key,
            ingested: Vec::new(),
            masker,
            counts: MaskCounts::default(),
            scratch: String::new(),
            masked: String::new(),
            platform: String::new(),
            scan: PayloadScan::default(),
        };
        w.set_ingested(time::now_millis());
        w
    }

    /// The masking counts so far, resetting them.
    pub fn take_counts(&mut self) -> MaskCounts {
        std::mem::take(&mut self.counts)
    }

    /// Masks free text (for dead letters that carry text rather than a document).
    pub fn mask_text(&mut self, text: &str) -> String {
        self.masked.clear();
        if self
            .masker
            .mask_text_into(text, &mut self.masked, &mut self.counts)
        {
            self.masked.clone()
        } else {
            text.to_owned()
        }
    }

    /// Prepares for the events of one CloudWatch Logs payload: its messages are searched for
    /// the masking prefilter's literals at once, rather than one by one. Call it before
    /// writing the payload's events.
    pub fn begin_payload(&mut self, payload: &Payload<'_>) {
        let messages = payload
            .log_events
            .iter()
            .map(|event| message_inner(event.message.get()));
        self.masker.scan_messages(messages, &mut self.scan);
    }

    /// Sets `event.ingested` (processing time) for the documents of one invocation.
    pub fn set_ingested(&mut self, now_ms: i64) {
        self.ingested.clear();
        self.ingested.extend_from_slice(br#""ingested":""#);
        time::push_rfc3339_millis(&mut self.ingested, now_ms);
        self.ingested.push(b'"');
    }

    /// Appends the document for `event` to `out`. On error nothing is appended.
    pub fn write(
        &mut self,
        out: &mut Vec<u8>,
        ctx: &RecordContext,
        event: &LogEvent<'_>,
    ) -> Result<(), DocumentError> {
        if !time::in_range(event.timestamp) {
            return Err(DocumentError::TimestampOutOfRange(event.timestamp));
        }
        let raw = event.message.get();
        let inner = message_inner(raw);
        out.extend_from_slice(br#"{"@timestamp":""#);
        time::push_rfc3339_millis(out, event.timestamp);
        out.extend_from_slice(br#"","message":"#);
        let masking = self.masker.must_mask_escaped_in(inner, &mut self.scan);
        let json_text = if masking {
            self.write_masked_message(out, raw, inner)
        } else {
            out.extend_from_slice(raw.as_bytes());
            self.json_key.is_some() && json_object_text(raw, &mut self.scratch)
        };
        out.extend_from_slice(br#","event":{"id":"#);
        push_id(out, event);
        out.push(b',');
        out.extend_from_slice(&self.ingested);
        out.extend_from_slice(b"},");
        if ctx.lambda.is_empty() {
            out.extend_from_slice(&ctx.tail);
        } else {
            // `aws.lambda`: the function, and the fields of a platform line (START, REPORT, …).
            let (aws, rest) = ctx.tail.split_at(ctx.aws_end.min(ctx.tail.len()));
            out.extend_from_slice(aws);
            out.extend_from_slice(&ctx.lambda);
            if may_be_platform_line(inner) {
                // Fields come from the masked text, like every field derived from a message.
                let text = if masking && !self.masked.is_empty() {
                    self.masked.as_str()
                } else {
                    self.platform.clear();
                    if unescape_json_string(inner, &mut self.platform) {
                        self.platform.as_str()
                    } else {
                        ""
                    }
                };
                crate::input::lambda::write_platform_fields(text, out);
            }
            out.push(b'}');
            out.extend_from_slice(rest);
        }
        if let (Some(key), true) = (&self.json_key, json_text) {
            out.extend_from_slice(key);
            // After masking, `masked` holds the object; otherwise `scratch` does.
            let object = if masking && !self.masked.is_empty() {
                &self.masked
            } else {
                &self.scratch
            };
            minify_into(object.as_bytes(), out);
        }
        out.push(b'}');
        Ok(())
    }

    /// Writes the masked message (a JSON string) and returns whether it is a JSON object,
    /// leaving the object's masked text in `masked` (or, when nothing was masked, in
    /// `scratch` with `masked` empty).
    fn write_masked_message(&mut self, out: &mut Vec<u8>, raw: &str, inner: &str) -> bool {
        self.scratch.clear();
        self.masked.clear();
        let unescaped = unescape_json_string(inner, &mut self.scratch);
        if !unescaped {
            // A lone surrogate escape: mask the escaped text itself (markers need no escaping).
            self.scratch.clear();
            self.scratch.push_str(inner);
        }
        let object = unescaped && is_json_object(&self.scratch);
        // The payload scan's hits of this message stand for a search of the unescaped text.
        let hits = self.scan.unescaped_hits().filter(|_| unescaped);
        let changed = if object {
            self.masker
                .mask_json_with_hits(&self.scratch, &mut self.masked, &mut self.counts, hits)
        } else {
            self.masker
                .mask_text_with_hits(&self.scratch, &mut self.masked, &mut self.counts, hits)
        };
        if !changed {
            self.masked.clear();
            out.extend_from_slice(raw.as_bytes());
        } else if unescaped {
            push_masked_str(out, inner, &self.scratch, &self.masked);
        } else {
            out.push(b'"');
            out.extend_from_slice(self.masked.as_bytes());
            out.push(b'"');
        }
        object
    }
}

/// The escaped content of the JSON string token `raw` (empty if it is not one).
fn message_inner(raw: &str) -> &str {
    raw.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_default()
}

/// A cheap test on the escaped message for what [`crate::input::lambda`] may recognise:
/// platform lines start with an upper-case word (`START`, `REPORT`, `INIT_START`, …), a
/// timestamp (`… Task timed out after …`) or `{` (the JSON log format's `platform.*` records).
/// Application lines that pass are rejected by the parser itself.
fn may_be_platform_line(inner: &str) -> bool {
    match inner.as_bytes().first() {
        Some(b'S' | b'E' | b'R' | b'I' | b'T') => true,
        Some(b'0'..=b'9') => {
            let head = inner.get(..inner.len().min(128)).unwrap_or(inner);
            memchr::memmem::find(head.as_bytes(), b"Task timed out").is_some()
        }
        Some(b'{') => memchr::memmem::find(inner.as_bytes(), b"platform.").is_some(),
        _ => false,
    }
}

/// What a line of producer text is, once read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Json,
    CloudFront,
    Apache,
    Text,
}

/// The parsers for lines of producer text, built once from the configuration.
pub struct LineParsers {
    cloudfront: CloudFrontFormat,
    apache: ApacheFormat,
    /// `RECORD_FORMAT` other than `auto`: every line is read as this (falling back to text
    /// when a line does not parse).
    forced: Option<LineKind>,
    /// The format-specific members of the line being written.
    fields: Vec<u8>,
}

impl LineParsers {
    pub fn new(cloudfront: CloudFrontFormat, forced: Option<LineKind>) -> Self {
        Self {
            cloudfront,
            apache: ApacheFormat::new(),
            forced,
            fields: Vec::new(),
        }
    }
}

impl DocumentWriter {
    /// Writes the document for one line of producer text (not CloudWatch Logs) into `out`,
    /// with event id `id` (a JSON string literal). The line is masked first and its format read
    /// from the masked text, so parsed fields can never hold what the message does not.
    /// Returns the event time (from the line, else `default_ms`) and what the line was.
    pub fn write_line(
        &mut self,
        out: &mut Vec<u8>,
        ctx: &RecordContext,
        id: &[u8],
        line: &str,
        default_ms: i64,
        parsers: &mut LineParsers,
    ) -> (i64, LineKind) {
        let json = matches!(parsers.forced, None | Some(LineKind::Json))
            && crate::input::jsonlines::looks_like_object(line)
            && is_json_object(line);
        self.masked.clear();
        let masked = self.masker.might_match(line)
            && if json {
                self.masker
                    .mask_json_into(line, &mut self.masked, &mut self.counts)
            } else {
                self.masker
                    .mask_text_into(line, &mut self.masked, &mut self.counts)
            };
        let text = if masked { self.masked.as_str() } else { line };
        parsers.fields.clear();
        let (event_ms, kind) = if json {
            (crate::input::jsonlines::event_time(text), LineKind::Json)
        } else {
            let try_cloudfront = match parsers.forced {
                None => parsers.cloudfront.matches(text),
                forced => forced == Some(LineKind::CloudFront),
            };
            let parsed = if try_cloudfront {
                parsers
                    .cloudfront
                    .write_fields(text, &mut parsers.fields)
                    .ok()
                    .map(|ms| (ms, LineKind::CloudFront))
            } else if matches!(parsers.forced, None | Some(LineKind::Apache)) {
                parsers
                    .apache
                    .write_fields(text, &mut parsers.fields)
                    .ok()
                    .map(|ms| (ms, LineKind::Apache))
            } else {
                None
            };
            parsed.unwrap_or_else(|| {
                parsers.fields.clear();
                (None, LineKind::Text)
            })
        };
        let event_ms = event_ms
            .filter(|&ms| time::in_range(ms))
            .unwrap_or(default_ms);
        out.extend_from_slice(br#"{"@timestamp":""#);
        time::push_rfc3339_millis(out, event_ms);
        out.extend_from_slice(br#"","message":"#);
        push_str(out, text.trim_end_matches(['\r', '\n']));
        out.extend_from_slice(br#","event":{"id":"#);
        out.extend_from_slice(id);
        out.push(b',');
        out.extend_from_slice(&self.ingested);
        out.extend_from_slice(b"},");
        out.extend_from_slice(&ctx.tail);
        out.extend_from_slice(&parsers.fields);
        if let (Some(key), LineKind::Json) = (&self.json_key, kind) {
            out.extend_from_slice(key);
            minify_into(text.as_bytes(), out);
        }
        out.push(b'}');
        (event_ms, kind)
    }
}

/// Appends the event id as a JSON string (ids sent as numbers are quoted).
pub fn push_id(out: &mut Vec<u8>, event: &LogEvent<'_>) {
    if event.id_is_number() {
        out.push(b'"');
        out.extend_from_slice(event.id.get().as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(event.id.get().as_bytes());
    }
}

/// Appends `s` as a JSON string literal.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// If the JSON string token `raw` holds a JSON object, leaves the object's text (unescaped
/// from the string) in `scratch` and returns true.
fn json_object_text(raw: &str, scratch: &mut String) -> bool {
    let Some(inner) = raw.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return false;
    };
    // Cheap test on the escaped text first: most messages are not JSON objects.
    let trimmed = trim_escaped_whitespace(inner);
    if !(trimmed.starts_with('{') && trimmed.ends_with('}')) {
        return false;
    }
    scratch.clear();
    unescape_json_string(trimmed, scratch) && is_json_object(scratch)
}

/// Whether `text` is one valid JSON object (surrounding whitespace allowed).
fn is_json_object(text: &str) -> bool {
    let trimmed = text.trim();
    if !(trimmed.starts_with('{') && trimmed.ends_with('}')) {
        return false;
    }
    if serde_json::from_str::<IgnoredAny>(text).is_err() {
        return false;
    }
    // Skipping strings does not check `\u` surrogate pairs; a lone surrogate would make the
    // document invalid for strict parsers, so check the (rare) objects that escape one.
    if text.contains("\\ud") || text.contains("\\uD") {
        return serde_json::from_str::<serde_json::Value>(text).is_ok();
    }
    true
}

fn trim_escaped_whitespace(mut s: &str) -> &str {
    const WS: [&str; 4] = ["\\n", "\\r", "\\t", " "];
    'start: loop {
        for w in WS {
            if let Some(rest) = s.strip_prefix(w) {
                s = rest;
                continue 'start;
            }
        }
        break;
    }
    'end: loop {
        for w in WS {
            // A trailing `\\n` is an escaped backslash followed by `n`, not a newline.
            if let Some(rest) = s.strip_suffix(w) {
                if w.starts_with('\\') && rest.ends_with('\\') {
                    break 'end;
                }
                s = rest;
                continue 'end;
            }
        }
        break;
    }
    s
}

/// Writes `masked` as a JSON string, as [`push_str`] does, where `masked` is `text` with
/// some parts replaced and `text` is the content of the JSON string `escaped` (still escaped).
///
/// Only the part between the first and the last difference is escaped again; the text around
/// it is copied from `escaped` when that is what [`push_str`] would write for it. Masked lines
/// are a few markers in long, escape-dense text (a JSON document in a string), and escaping
/// them byte by byte cost more than masking them.
fn push_masked_str(out: &mut Vec<u8>, escaped: &str, text: &str, masked: &str) {
    let (t, m) = (text.as_bytes(), masked.as_bytes());
    let mut prefix = common_prefix(t, m);
    while !masked.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let mut suffix = common_suffix(&t[prefix..], &m[prefix..]);
    while !masked.is_char_boundary(m.len() - suffix) {
        suffix -= 1;
    }
    let head = escaped_len(&t[..prefix]);
    let tail = escaped_len(&t[t.len() - suffix..]);
    // Without raw control characters (valid JSON has none), each character takes at least as
    // many bytes in `escaped` as `escaped_len` counts for it (more for `\/` and `\u…`), and
    // as many only when they are the bytes `push_str` writes: equal totals prove the copied
    // parts right.
    let same = head + escaped_len(&t[prefix..t.len() - suffix]) + tail == escaped.len()
        && !has_control(escaped.as_bytes());
    match (
        escaped.as_bytes().get(..head),
        escaped
            .len()
            .checked_sub(tail)
            .and_then(|at| escaped.as_bytes().get(at..)),
        masked.get(prefix..m.len() - suffix),
    ) {
        (Some(head), Some(tail), Some(middle)) if same => {
            out.push(b'"');
            out.extend_from_slice(head);
            // The middle escaped without its quotes.
            let start = out.len();
            push_str(out, middle);
            let end = out.len() - 1;
            out.copy_within(start + 1..end, start);
            out.truncate(end - 1);
            out.extend_from_slice(tail);
            out.push(b'"');
        }
        _ => push_str(out, masked),
    }
}

/// The length of the longest common prefix of `a` and `b`, eight bytes at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while let (Some(x), Some(y)) = (a.get(i..i + 8), b.get(i..i + 8)) {
        let (x, y) = (
            u64::from_le_bytes(x.try_into().unwrap_or_default()),
            u64::from_le_bytes(y.try_into().unwrap_or_default()),
        );
        if x != y {
            return i + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// The length of the longest common suffix of `a` and `b`, eight bytes at a time.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut i = n;
    while i >= 8 {
        let (x, y) = (
            u64::from_le_bytes(a[i - 8..i].try_into().unwrap_or_default()),
            u64::from_le_bytes(b[i - 8..i].try_into().unwrap_or_default()),
        );
        if x != y {
            return n - i + ((x ^ y).leading_zeros() / 8) as usize;
        }
        i -= 8;
    }
    while i > 0 && a[i - 1] == b[i - 1] {
        i -= 1;
    }
    n - i
}

/// The length of `text` written in a JSON string by [`push_str`], for text whose control
/// characters all have a two-character escape (`\n`, `\t`, …): one more byte for each `"`,
/// `\` and control character.
fn escaped_len(text: &[u8]) -> usize {
    // Counted per 128 bytes in a `u8`, without branches: the loop compiles to vector compares.
    let mut extra = 0;
    for chunk in text.chunks(128) {
        let mut n = 0u8;
        for &b in chunk {
            n += u8::from(b == b'"') | u8::from(b == b'\\') | u8::from(b < 0x20);
        }
        extra += usize::from(n);
    }
    text.len() + extra
}

/// Whether `bytes` holds a control character (without branches, like [`escaped_len`]).
fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |any, &b| any | u8::from(b < 0x20)) != 0
}

/// Unescapes the content of a JSON string (without its quotes) into `out`. Returns false on an
/// invalid escape or a lone surrogate.
pub fn unescape_json_string(s: &str, out: &mut String) -> bool {
    let mut rest = s;
    // A byte scan, not `str::find`: escapes are dense (every few dozen bytes) and the
    // searcher's per-call setup costs more than the scan.
    while let Some(pos) = rest.bytes().position(|b| b == b'\\') {
        out.push_str(&rest[..pos]);
        let bytes = rest.as_bytes();
        let Some(&kind) = bytes.get(pos + 1) else {
            return false;
        };
        let mut consumed = 2;
        match kind {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let Some(hi) = hex4(rest, pos + 2) else {
                    return false;
                };
                consumed = 6;
                let c = if (0xD800..0xDC00).contains(&hi) {
                    let lo = (rest.get(pos + 6..pos + 8) == Some("\\u"))
                        .then(|| hex4(rest, pos + 8))
                        .flatten();
                    match lo {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            consumed = 12;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        }
                        _ => None,
                    }
                } else {
                    char::from_u32(hi)
                };
                match c {
                    Some(c) => out.push(c),
                    None => return false,
                }
            }
            _ => return false,
        }
        rest = &rest[pos + consumed..];
    }
    out.push_str(rest);
    true
}

fn hex4(s: &str, at: usize) -> Option<u32> {
    let digits = s.get(at..at + 4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// Copies valid JSON text to `out` without the whitespace between tokens, so a pretty-printed
/// object fits on one NDJSON line.
pub fn minify_into(json: &[u8], out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    let mut run_start = 0;
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            out.extend_from_slice(&json[run_start..i]);
            run_start = i + 1;
        }
    }
    out.extend_from_slice(&json[run_start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::cloudwatch;
    use crate::mask::MaskConfig;
    use serde_json::Value;

    const SOURCE: RecordSource<'static> = RecordSource {
        stream_arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/logs",
        stream_name: "logs",
        shard_id: "shardId-000000000000",
        sequence_number: "49590338271490256608559692538361571095921575989136588898",
        partition_key: "pk",
        region: "eu-west-1",
        approximate_arrival_ms: None,
        sub_sequence_number: None,
    };

    fn documents(payload_json: &str, json_field: Option<&str>) -> Vec<Value> {
        let payload = cloudwatch::parse(payload_json.as_bytes()).unwrap();
        let mut ctx = RecordContext::default();
        ctx.set(&SOURCE, &payload);
        let mut w = DocumentWriter::new(json_field, default_masker());
        w.set_ingested(1_795_320_001_000);
        w.begin_payload(&payload);
        payload
            .log_events
            .iter()
            .map(|e| {
                let mut out = Vec::new();
                w.write(&mut out, &ctx, e).unwrap();
                assert!(!out.contains(&b'\n'), "document spans lines");
                serde_json::from_slice(&out).unwrap()
            })
            .collect()
    }

    fn default_masker() -> Arc<Masker> {
        Arc::new(Masker::new(&MaskConfig::default()).unwrap())
    }

    fn payload(events: &str) -> String {
        format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/f","logStream":"s","logEvents":[{events}]}}"#
        )
    }

    #[test]
    fn document_has_ecs_fields_from_event_and_record() {
        let docs = documents(
            &payload(
                r#"{"id":"3753637920885340968354153009304037528321958704347673395","timestamp":1795320000123,"message":"hello \"world\"\n"}"#,
            ),
            Some("json"),
        );
        let d = &docs[0];
        assert_eq!(d["@timestamp"], "2026-11-22T04:00:00.123Z");
        assert_eq!(d["message"], "hello \"world\"\n");
        assert_eq!(
            d["event"]["id"],
            "3753637920885340968354153009304037528321958704347673395"
        );
        assert_eq!(d["event"]["ingested"], "2026-11-22T04:00:01.000Z");
        assert_eq!(d["aws"]["cloudwatch"]["log_group"], "/aws/lambda/f");
        assert_eq!(d["aws"]["cloudwatch"]["log_stream"], "s");
        assert_eq!(d["aws"]["kinesis"]["name"], "logs");
        assert_eq!(d["aws"]["kinesis"]["shard_id"], "shardId-000000000000");
        assert_eq!(
            d["aws"]["kinesis"]["sequence_number"],
            SOURCE.sequence_number
        );
        assert_eq!(d["cloud"]["provider"], "aws");
        assert_eq!(d["cloud"]["account"]["id"], "123456789012");
        assert_eq!(d["cloud"]["region"], "eu-west-1");
        assert!(d.get("json").is_none());
    }

    #[test]
    fn secrets_are_masked_in_the_message_and_its_json_fields() {
        let docs = documents(
            &payload(
                r#"{"id":"1","timestamp":0,"message":"login ok password=hunter2 user=bob"},
                   {"id":"2","timestamp":0,"message":"{\"user\":\"bob\",\"auth\":{\"token\":\"abc\"},\"note\":\"key AKIAIOSFODNN7EXAMPLE\"}"},
                   {"id":"3","timestamp":0,"message":"tab\there \"quoted\" token=s3cr3t\n"}"#,
            ),
            Some("json"),
        );
        assert_eq!(
            docs[0]["message"],
            "login ok password=[MASKED:password] user=bob"
        );
        assert_eq!(
            docs[1]["message"],
            r#"{"user":"bob","auth":"[MASKED:authorization]","note":"key [MASKED:aws_access_key]"}"#
        );
        assert_eq!(docs[1]["json"]["auth"], "[MASKED:authorization]");
        assert_eq!(docs[1]["json"]["note"], "key [MASKED:aws_access_key]");
        assert_eq!(
            docs[2]["message"],
            "tab\there \"quoted\" token=[MASKED:token]\n"
        );
        for d in &docs {
            let text = d.to_string();
            assert!(
                !text.contains("hunter2")
                    && !text.contains("AKIAIOSFODNN7EXAMPLE")
                    && !text.contains("s3cr3t")
            );
        }
    }

    #[test]
    fn escapes_that_hide_a_literal_send_the_message_the_slow_way() {
        // `\/` and `\u` hide `://` and `AKIA` from a search of the escaped text.
        let docs = documents(
            &payload(
                r#"{"id":"1","timestamp":0,"message":"db https:\/\/deploy:Zq7hunter2@db.internal\/app"},
                   {"id":"2","timestamp":0,"message":"{\"url\":\"https:\\/\\/deploy:Zq7hunter2@db\"}"},
                   {"id":"3","timestamp":0,"message":"key \u0041KIAIOSFODNN7EXAMPLE"}"#,
            ),
            Some("json"),
        );
        assert_eq!(
            docs[0]["message"],
            "db https://deploy:[MASKED:url_password]@db.internal/app"
        );
        assert_eq!(
            docs[1]["json"]["url"],
            "https://deploy:[MASKED:url_password]@db"
        );
        assert_eq!(docs[2]["message"], "key [MASKED:aws_access_key]");
        for d in &docs {
            let text = d.to_string();
            assert!(
                !text.contains("Zq7hunter2") && !text.contains("IOSFODNN7"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_payload_scan_decides_like_a_search_of_each_message() {
        let messages = [
            r#"login ok password=hunter2 user=bob"#,
            r#"{\"user\":\"bob\",\"auth\":{\"token\":\"abc\"}}"#,
            r#"GET /index.html 200 authorized"#,
            r#"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"#,
            r#"paid with 4111 1111 1111 1111"#,
            r#"plain line, nothing to see"#,
            r#"x-api-key: 9f2c4e7a1b3d5f6081a2c3e4f5061728"#,
            r#"{\"level\":\"info\",\"msg\":\"cache key refreshed\"}"#,
            r#"url https:\/\/user:pw1234@example.com"#,
            r#"SK0123456789abcdef0123456789abcdef twilio"#,
            r#"GET https://example.com/orders?page=2 200 (user@example.com)"#,
            r#"fetch https://svc:pw9876@api.example.com/x"#,
            // Escapes before and inside hits: the slow path reads the payload's hits, moved
            // left one byte per escape before them.
            r#"\tquoted \"x\" then password=hunter2\n"#,
            r#"path C:\\temp\\npm_ \\\\ then token: Zq7abcdef12345\n"#,
            r#"\npm_0123456789abcdef0123456789abcdef0123 at a newline"#,
            r#"{\"msg\":\"line\\nwith Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln\",\"password\":\"p\"}"#,
            r#"{\"a\":\"x\\\"y\",\"inner\":\"{\\\"secret\\\":\\\"v4lue\\\"}\",\"t\":\"AKIAIOSFODNN7EXAMPLE\"}"#,
        ];
        let events: Vec<String> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| format!(r#"{{"id":"{i}","timestamp":0,"message":"{m}"}}"#))
            .collect();
        let (scanned, scanned_counts) = write_with_and_without_payload_scan(&events);
        assert_eq!(scanned_counts.total(), 14, "{scanned_counts:?}");
        assert!(scanned.contains("https://example.com/orders?page=2 200 (user@example.com)"));
        assert!(scanned.contains("https://svc:[MASKED:url_password]@api.example.com/x"));
    }

    /// Writes the documents of a payload holding `events` (JSON objects) with the payload scan
    /// and without it, asserts both give the same documents and counts, and returns them.
    fn write_with_and_without_payload_scan(events: &[String]) -> (String, MaskCounts) {
        let json = payload(&events.join(","));
        let payload = cloudwatch::parse(json.as_bytes()).unwrap();
        let mut ctx = RecordContext::default();
        ctx.set(&SOURCE, &payload);
        let write_all = |scan: bool| {
            let mut w = DocumentWriter::new(Some("json"), default_masker());
            w.set_ingested(1_795_320_001_000);
            if scan {
                w.begin_payload(&payload);
            }
            let mut out = Vec::new();
            for e in &payload.log_events {
                w.write(&mut out, &ctx, e).unwrap();
                out.push(b'\n');
            }
            (String::from_utf8(out).unwrap(), w.take_counts())
        };
        let (scanned, scanned_counts) = write_all(true);
        let (alone, alone_counts) = write_all(false);
        assert_eq!(scanned, alone);
        assert_eq!(scanned_counts, alone_counts);
        (scanned, scanned_counts)
    }

    /// Every text of the masking corpora, in payloads of 40 events: the documents written with
    /// the payload scan (its hits reused by the slow path) are those written without it.
    #[test]
    fn the_payload_scan_masks_the_corpora_like_a_search_of_each_message() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/masking");
        let mut texts = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let case: Value = serde_json::from_str(line).unwrap();
                texts.push(case["text"].as_str().unwrap().to_owned());
            }
        }
        assert!(texts.len() > 1500, "{}", texts.len());
        let mut masked = 0;
        for group in texts.chunks(40) {
            let events: Vec<String> = group
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let message = serde_json::to_string(t).unwrap();
                    format!(r#"{{"id":"{i}","timestamp":0,"message":{message}}}"#)
                })
                .collect();
            masked += write_with_and_without_payload_scan(&events).1.total();
        }
        assert!(masked > 1000, "{masked}");
    }

    #[test]
    fn masked_strings_are_written_as_push_str_writes_them() {
        let texts = [
            "password=hunter2 and more text after it",
            "{\"user\":\"bob\",\n\t\"token\":\"abc\"}\r\n",
            "é😀 secret ünïcödé at both ends é😀",
            "a\\b \\\" quote \u{8}\u{c} controls",
            "",
            "x",
        ];
        let replacements = ["[MASKED:password]", "\"[MASKED:token]\"", "é", "", "\\\""];
        let mut random = crate::mask::xorshift(0x9e37_79b9_7f4a_7c15);
        let mut next = |n: usize| (random() % (n as u64 + 1)) as usize;
        for text in texts {
            let mut escaped = Vec::new();
            push_str(&mut escaped, text);
            let escaped = std::str::from_utf8(&escaped[1..escaped.len() - 1]).unwrap();
            for _ in 0..300 {
                // Replace up to three ranges (at char boundaries) of `text`.
                let mut masked = String::new();
                let mut at = 0;
                for _ in 0..next(3) {
                    let mut start = at + next(text.len() - at);
                    while !text.is_char_boundary(start) {
                        start -= 1;
                    }
                    let mut end = start + next(text.len() - start);
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    masked.push_str(&text[at..start]);
                    masked.push_str(replacements[next(replacements.len() - 1)]);
                    at = end.max(start);
                }
                masked.push_str(&text[at..]);
                let (mut want, mut got) = (Vec::new(), Vec::new());
                push_str(&mut want, &masked);
                push_masked_str(&mut got, escaped, text, &masked);
                assert_eq!(got, want, "{text:?} -> {masked:?}");
            }
        }
        // Escapes `push_str` does not write, and raw control characters (not valid JSON), are
        // never copied.
        for (escaped, text) in [
            (
                "https:\\/\\/u:pw@h \\u0041KIA tail",
                "https://u:pw@h AKIA tail",
            ),
            ("a\tbu c", "a\tbu c"),
            ("\\/ a\tb", "/ a\tb"),
        ] {
            let masked = text.replace('u', "[MASKED:x]");
            let (mut want, mut got) = (Vec::new(), Vec::new());
            push_str(&mut want, &masked);
            push_masked_str(&mut got, escaped, text, &masked);
            assert_eq!(got, want, "{escaped:?}");
        }
    }

    #[test]
    fn numeric_ids_become_strings() {
        let docs = documents(&payload(r#"{"id":7,"timestamp":0,"message":"m"}"#), None);
        assert_eq!(docs[0]["event"]["id"], "7");
    }

    #[test]
    fn json_messages_are_parsed_under_their_own_field() {
        let msg = r#"{\n  \"level\": \"info\",\n  \"message\": {\"nested\": [1, 2]},\n  \"@timestamp\": \"x\", \"s\": \"a \\\"q\\\" \\u00e9 \\ud83d\\ude00\"\n}\n"#;
        let docs = documents(
            &payload(&format!(r#"{{"id":"1","timestamp":0,"message":"{msg}"}}"#)),
            Some("json"),
        );
        let d = &docs[0];
        assert_eq!(d["json"]["level"], "info");
        assert_eq!(d["json"]["message"]["nested"][1], 2);
        assert_eq!(d["json"]["s"], "a \"q\" é 😀");
        // Reserved fields are untouched by the message's own fields.
        assert_eq!(d["@timestamp"], "1970-01-01T00:00:00.000Z");
        assert!(d["message"].as_str().unwrap().starts_with("{\n"));
    }

    #[test]
    fn json_field_can_be_renamed_or_disabled() {
        let events = r#"{"id":"1","timestamp":0,"message":"{\"a\":1}"}"#;
        assert_eq!(documents(&payload(events), Some("app"))[0]["app"]["a"], 1);
        assert!(documents(&payload(events), None)[0].get("json").is_none());
    }

    #[test]
    fn non_objects_and_broken_json_stay_plain_messages() {
        for msg in [
            r#"[1,2]"#,
            r#"{not json}"#,
            r#"{\"a\":1} trailing"#,
            r#"{\"a\":\"\\ud800\"}"#,
            r#"START RequestId: 1 Version: $LATEST"#,
            r#"{\"a\":1}\\n"#,
        ] {
            let docs = documents(
                &payload(&format!(r#"{{"id":"1","timestamp":0,"message":"{msg}"}}"#)),
                Some("json"),
            );
            assert!(docs[0].get("json").is_none(), "{msg}");
        }
    }

    #[test]
    fn out_of_range_timestamps_are_errors_and_write_nothing() {
        let text = payload(r#"{"id":"1","timestamp":253402300800000,"message":"m"}"#);
        let payload = cloudwatch::parse(text.as_bytes()).unwrap();
        let ctx = RecordContext::default();
        let mut out = b"prefix".to_vec();
        let err = DocumentWriter::new(None, default_masker())
            .write(&mut out, &ctx, &payload.log_events[0])
            .unwrap_err();
        assert_eq!(err, DocumentError::TimestampOutOfRange(253_402_300_800_000));
        assert_eq!(out, b"prefix");
    }

    #[test]
    fn minify_keeps_strings_intact() {
        let mut out = Vec::new();
        minify_into(br#"{ "a b" : [ 1 , "x\" y" ] ,"c":{ } }"#, &mut out);
        assert_eq!(out, br#"{"a b":[1,"x\" y"],"c":{}}"#);
    }

    #[test]
    fn unescape_handles_every_escape() {
        let mut out = String::new();
        assert!(unescape_json_string(
            r#"a\"b\\c\/d\be\ff\ng\rh\ti\u0041\ud83d\ude00"#,
            &mut out
        ));
        assert_eq!(out, "a\"b\\c/d\u{8}e\u{c}f\ng\rh\tiA😀");
        for bad in [r#"\x"#, r#"\u12"#, r#"\ud800"#, r#"\ud800\u0041"#, "\\"] {
            out.clear();
            assert!(!unescape_json_string(bad, &mut out), "{bad}");
        }
    }
}

#[cfg(test)]
mod lambda_tests {
    use super::*;
    use crate::input::cloudwatch;
    use crate::mask::MaskConfig;
    use serde_json::{json, Value};

    #[test]
    fn lambda_log_groups_get_the_function_and_platform_fields() {
        let payload = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/orders","logStream":"s","logEvents":[
            {"id":"1","timestamp":1,"message":"START RequestId: 8f5c2a1e-3b4d-4e6f-9a0b-7c1d2e3f4a5b Version: $LATEST\n"},
            {"id":"2","timestamp":2,"message":"REPORT RequestId: 8f5c2a1e-3b4d-4e6f-9a0b-7c1d2e3f4a5b\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 150.09 ms\t\n"},
            {"id":"3","timestamp":3,"message":"2026-11-22T10:00:00.000Z\t8f5c2a1e\tINFO\tSTART of my own job"},
            {"id":"4","timestamp":4,"message":"{\"time\":\"2026-11-22T10:00:00.000Z\",\"type\":\"platform.report\",\"record\":{\"requestId\":\"r-9\",\"metrics\":{\"durationMs\":5.5,\"billedDurationMs\":6,\"memorySizeMB\":128,\"maxMemoryUsedMB\":60}}}"}]}"#;
        let payload = cloudwatch::parse(payload.as_bytes()).unwrap();
        let source = crate::input::RecordSource {
            stream_arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/s",
            stream_name: "s",
            shard_id: "shardId-0",
            sequence_number: "1",
            partition_key: "p",
            region: "eu-west-1",
            approximate_arrival_ms: None,
            sub_sequence_number: None,
        };
        let mut ctx = RecordContext::default();
        ctx.set(&source, &payload);
        let mut w = DocumentWriter::new(
            Some("json"),
            Arc::new(Masker::new(&MaskConfig::default()).unwrap()),
        );
        let docs: Vec<Value> = payload
            .log_events
            .iter()
            .map(|e| {
                let mut out = Vec::new();
                w.write(&mut out, &ctx, e).unwrap();
                serde_json::from_slice(&out).unwrap()
            })
            .collect();
        assert_eq!(
            docs[0]["aws"]["lambda"],
            json!({"function": {"name": "orders"}, "platform_event": "start",
                   "request_id": "8f5c2a1e-3b4d-4e6f-9a0b-7c1d2e3f4a5b", "version": "$LATEST"})
        );
        let report = &docs[1]["aws"]["lambda"];
        assert_eq!(report["duration_ms"], 102.25);
        assert_eq!(report["billed_duration_ms"], 103);
        assert_eq!(report["max_memory_used_mb"], 70);
        assert_eq!(report["init_duration_ms"], 150.09);
        // An application line: only the function.
        assert_eq!(
            docs[2]["aws"]["lambda"],
            json!({"function": {"name": "orders"}})
        );
        assert_eq!(docs[3]["aws"]["lambda"]["request_id"], "r-9");
        assert_eq!(docs[3]["aws"]["lambda"]["duration_ms"], 5.5);
        assert_eq!(docs[3]["json"]["type"], "platform.report");
        // The rest of `aws` is intact.
        assert_eq!(docs[1]["aws"]["kinesis"]["name"], "s");
        assert_eq!(
            docs[1]["aws"]["cloudwatch"]["log_group"],
            "/aws/lambda/orders"
        );
    }
}
