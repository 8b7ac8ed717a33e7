//! AWS Lambda platform log lines → `aws.lambda.*` fields.
//!
//! # Why
//!
//! Every Lambda function writes, besides its own output, a few lines per invocation that the
//! Lambda *platform* produces: `START`, `END`, `REPORT` (duration, billed duration, memory size,
//! max memory used, init duration on cold starts), `INIT_START`, `INIT_REPORT`, SnapStart's
//! `RESTORE_START`/`RESTORE_REPORT`, the timeout line `… Task timed out after 3.00 seconds`, and
//! with advanced logging controls (`LogFormat: JSON`) the equivalent `platform.*` JSON records.
//! As plain `message` text these numbers cannot be charted; as typed fields they answer "how
//! long do my functions run, how close to their memory limit are they, how often do they cold
//! start or time out" straight from the log index, with no CloudWatch metric filters.
//!
//! The forwarder writes `"aws":{…,"lambda":{"function":{"name":…}` itself (the name comes from
//! the log group, see [`function_name`]); [`write_platform_fields`] appends the remaining members.
//!
//! # Formats (as documented by AWS, and as seen in real logs)
//!
//! Text format (the default), one CloudWatch event per line, parts separated by tabs:
//!
//! ```text
//! START RequestId: 8f5c… Version: $LATEST
//! END RequestId: 8f5c…
//! REPORT RequestId: 8f5c…\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 150.09 ms\t
//!        (+ "\nXRAY TraceId: 1-… SegmentId: … Sampled: true" when traced,
//!         + "Status: error\tError Type: Runtime.ExitError" / "Status: timeout" on newer runtimes,
//!         + "Restore Duration: … ms\tBilled Restore Duration: … ms" with SnapStart)
//! INIT_START Runtime Version: nodejs:20.v13\tRuntime Version ARN: arn:aws:lambda:…
//! INIT_REPORT Init Duration: 10006.25 ms\tPhase: init\tStatus: timeout
//! RESTORE_START Runtime Version: java:11.v21\tRuntime Version ARN: arn:aws:lambda:…
//! RESTORE_REPORT Restore Duration: 571.67 ms
//! EXTENSION\tName: my-extension\tState: Ready\tEvents: [INVOKE,SHUTDOWN]
//! TELEMETRY\tName: my-extension\tState: Subscribed\tTypes: [Platform]
//! 2026-11-22T10:00:03.123Z 8f5c… Task timed out after 3.00 seconds
//! RequestId: 8f5c… Error: Runtime exited with error: exit status 1\nRuntime.ExitError
//! ```
//!
//! Parts are read as `Key: value [unit]` pairs: a key is the words up to a word ending in `:`,
//! a value is one word, optionally followed by a unit word (`ms`, `MB`). Tabs and newlines end a
//! pair; spaces also separate pairs (the `XRAY` part uses spaces, and so do copies of these lines
//! pasted through consoles). Unknown keys are skipped, so parts AWS adds later do no harm.
//! A duration is only written when its unit is `ms`, a memory size only when it is `MB`.
//!
//! JSON format: `{"time":"…","type":"platform.report","record":{"requestId":"…","metrics":
//! {"durationMs":…,"billedDurationMs":…,"memorySizeMB":…,"maxMemoryUsedMB":…,"initDurationMs":…,
//! "restoreDurationMs":…,"billedRestoreDurationMs":…},"status":"success","errorType":…,
//! "tracing":{"type":"X-Amzn-Trace-Id","value":"Root=…;Parent=…;Sampled=1"}}}` and the other
//! `platform.*` types of the Lambda Telemetry API event schema (`initStart`, `initRuntimeDone`,
//! `initReport`, `start`, `runtimeDone`, `restoreStart`, `restoreRuntimeDone`, `restoreReport`,
//! `extension`, `telemetrySubscription`, `logsDropped`). Any other `platform.<camelCase>` type
//! is still recognised (`platform_event` = its snake_case name, plus the common fields), so new
//! AWS event types are tagged rather than lost. The object must start with `time` then `type`
//! (or with `type`), as Lambda writes it, and have a `time` string and a `record` object; an
//! application logging `{"type":"platform.x"}` or `{"time":…,"level":…}` is not a platform
//! record. Invalid JSON (or duplicate keys) is never a platform record.
//!
//! # Fields written
//!
//! `platform_event` always (`start`, `end`, `report`, `init_start`, `init_report`,
//! `init_runtime_done`, `runtime_done`, `restore_start`, `restore_report`,
//! `restore_runtime_done`, `extension`, `telemetry_subscription`, `logs_dropped`, `timeout`,
//! `error`, …); and when present: `request_id`, `version`, `duration_ms`, `billed_duration_ms`,
//! `memory_size_mb`, `max_memory_used_mb`, `init_duration_ms`, `restore_duration_ms`,
//! `billed_restore_duration_ms`, `runtime_duration_ms` and `produced_bytes` (JSON
//! `runtimeDone` metrics — kept apart from `duration_ms` so averages over `duration_ms` only
//! see `REPORT`s), `runtime_version`, `runtime_version_arn`, `initialization_type`, `phase`,
//! `status`, `error_type`, `timed_out` (`true` for the timeout line and for any `status`
//! `timeout`), `timed_out_after_s` (the seconds of the timeout line), `xray_trace_id`,
//! `xray_segment_id`, `xray_sampled`, `extension_name`, `extension_state`, `dropped_bytes`,
//! `dropped_records`, `dropped_reason`.
//!
//! Numbers are copied as they were written (`102.25` stays `102.25`) after checking that they
//! are valid, finite JSON numbers; anything else is left out rather than written as a string,
//! so a numeric mapping in the index can never be broken by one odd line. Each member is written
//! at most once (Elasticsearch rejects documents with duplicate keys).
//!
//! # Cost
//!
//! This runs for every message of every `/aws/lambda/*` log group, and nearly all of them are
//! application lines. The decision "not a platform line" costs a few byte comparisons and never
//! allocates: the first byte selects the candidates, then an exact prefix decides
//! (`START RequestId: `, `REPORT RequestId: `, `INIT_REPORT Init Duration: `, …); a line
//! starting with a digit must end in ` seconds` before its first two words are looked at; a line
//! starting with `{` must start like `{"time":"…","type":"platform.` (or `{"type":"platform.`)
//! — which Lambda's records do and `{"timestamp":…`/`{"level":…` application logs do not.
//! Only platform lines are parsed: text lines by splitting on whitespace, JSON records with
//! `serde_json` into borrowed structs (numbers kept as raw text).

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The function name from a log group `/aws/lambda/<name>`; None for other groups.
///
/// Lambda@Edge replicas log to `/aws/lambda/<region>.<name>` (function names cannot contain a
/// dot), so the `<region>.` part is removed.
pub fn function_name(log_group: &str) -> Option<&str> {
    let rest = log_group.strip_prefix("/aws/lambda/")?;
    let name = match rest.rsplit_once('.') {
        Some((_region, name)) => name,
        None => rest,
    };
    if name.is_empty() || name.contains('/') {
        None
    } else {
        Some(name)
    }
}

/// When `message` is a platform line (text or JSON format), appends the members of the
/// `aws.lambda` object — without braces, each preceded by a comma, e.g.
/// `,"request_id":"8f5c…","duration_ms":102.25,"billed_duration_ms":103,"memory_size_mb":128,"max_memory_used_mb":70,"init_duration_ms":150.09,"platform_event":"report"` —
/// to `out` and returns true. Returns false (and writes nothing) for any other message.
pub fn write_platform_fields(message: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut w = Writer { out, seen: 0 };
    let recognised = match message.as_bytes().first() {
        Some(b'{') => json_record(message, &mut w),
        Some(b'0'..=b'9') => timeout_line(message, &mut w),
        Some(b'S') => text_line(message, S_KINDS, &mut w),
        Some(b'E') => text_line(message, E_KINDS, &mut w),
        Some(b'R') if message.starts_with("RequestId: ") => error_line(message, &mut w),
        Some(b'R') => text_line(message, R_KINDS, &mut w),
        Some(b'I') => text_line(message, I_KINDS, &mut w),
        Some(b'T') => text_line(message, T_KINDS, &mut w),
        _ => false,
    };
    if !recognised {
        out.truncate(start);
    }
    recognised
}

// ---------------------------------------------------------------------------------------------
// Output

/// The members this module writes. The discriminant is the bit in [`Writer::seen`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum F {
    RequestId,
    Version,
    DurationMs,
    BilledDurationMs,
    MemorySizeMb,
    MaxMemoryUsedMb,
    InitDurationMs,
    RestoreDurationMs,
    BilledRestoreDurationMs,
    RuntimeDurationMs,
    ProducedBytes,
    RuntimeVersion,
    RuntimeVersionArn,
    InitializationType,
    Phase,
    Status,
    ErrorType,
    TimedOut,
    TimedOutAfterS,
    XrayTraceId,
    XraySegmentId,
    XraySampled,
    ExtensionName,
    ExtensionState,
    DroppedBytes,
    DroppedRecords,
    DroppedReason,
    PlatformEvent,
}

impl F {
    fn name(self) -> &'static str {
        match self {
            F::RequestId => "request_id",
            F::Version => "version",
            F::DurationMs => "duration_ms",
            F::BilledDurationMs => "billed_duration_ms",
            F::MemorySizeMb => "memory_size_mb",
            F::MaxMemoryUsedMb => "max_memory_used_mb",
            F::InitDurationMs => "init_duration_ms",
            F::RestoreDurationMs => "restore_duration_ms",
            F::BilledRestoreDurationMs => "billed_restore_duration_ms",
            F::RuntimeDurationMs => "runtime_duration_ms",
            F::ProducedBytes => "produced_bytes",
            F::RuntimeVersion => "runtime_version",
            F::RuntimeVersionArn => "runtime_version_arn",
            F::InitializationType => "initialization_type",
            F::Phase => "phase",
            F::Status => "status",
            F::ErrorType => "error_type",
            F::TimedOut => "timed_out",
            F::TimedOutAfterS => "timed_out_after_s",
            F::XrayTraceId => "xray_trace_id",
            F::XraySegmentId => "xray_segment_id",
            F::XraySampled => "xray_sampled",
            F::ExtensionName => "extension_name",
            F::ExtensionState => "extension_state",
            F::DroppedBytes => "dropped_bytes",
            F::DroppedRecords => "dropped_records",
            F::DroppedReason => "dropped_reason",
            F::PlatformEvent => "platform_event",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// Appends members, each at most once.
struct Writer<'o> {
    out: &'o mut Vec<u8>,
    seen: u32,
}

impl Writer<'_> {
    fn has(&self, f: F) -> bool {
        self.seen & f.bit() != 0
    }

    /// Writes `,"name":` and marks the member written; false when it already was.
    fn key(&mut self, f: F) -> bool {
        if self.has(f) {
            return false;
        }
        self.seen |= f.bit();
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(f.name().as_bytes());
        self.out.extend_from_slice(b"\":");
        true
    }

    fn str(&mut self, f: F, value: &str) {
        if value.is_empty() || self.has(f) {
            return;
        }
        let mark = self.out.len();
        self.key(f);
        if serde_json::to_writer(&mut *self.out, value).is_err() {
            // Not expected for a str into a Vec; never leave half a member behind.
            self.out.truncate(mark);
            self.seen &= !f.bit();
        }
        if f == F::Status && value == "timeout" {
            self.bool(F::TimedOut, true);
        }
    }

    /// Writes `value` verbatim when it is a valid, finite JSON number.
    fn num(&mut self, f: F, value: &str) {
        if is_json_number(value) && self.key(f) {
            self.out.extend_from_slice(value.as_bytes());
        }
    }

    fn bool(&mut self, f: F, value: bool) {
        if self.key(f) {
            self.out
                .extend_from_slice(if value { b"true" } else { b"false" });
        }
    }
}

/// JSON number grammar (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`), at most 32
/// characters, and finite as a double — what an index can store in a numeric field.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() > 32 {
        return false;
    }
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len() && s.parse::<f64>().is_ok_and(f64::is_finite)
}

// ---------------------------------------------------------------------------------------------
// Text format

/// A text platform line: the bytes it starts with (its first word, a separator and the key of
/// its first pair), the member that pair must have produced, and its event name.
struct TextKind {
    prefix: &'static str,
    required: F,
    event: &'static str,
}

const fn kind(prefix: &'static str, required: F, event: &'static str) -> TextKind {
    TextKind {
        prefix,
        required,
        event,
    }
}

const S_KINDS: &[TextKind] = &[kind("START RequestId: ", F::RequestId, "start")];
const E_KINDS: &[TextKind] = &[
    kind("END RequestId: ", F::RequestId, "end"),
    kind("EXTENSION\tName: ", F::ExtensionName, "extension"),
    kind("EXTENSION Name: ", F::ExtensionName, "extension"),
];
const R_KINDS: &[TextKind] = &[
    kind("REPORT RequestId: ", F::RequestId, "report"),
    kind(
        "RESTORE_START Runtime Version: ",
        F::RuntimeVersion,
        "restore_start",
    ),
    kind(
        "RESTORE_REPORT Restore Duration: ",
        F::RestoreDurationMs,
        "restore_report",
    ),
];
const I_KINDS: &[TextKind] = &[
    kind(
        "INIT_START Runtime Version: ",
        F::RuntimeVersion,
        "init_start",
    ),
    kind(
        "INIT_REPORT Init Duration: ",
        F::InitDurationMs,
        "init_report",
    ),
];
const T_KINDS: &[TextKind] = &[
    kind(
        "TELEMETRY\tName: ",
        F::ExtensionName,
        "telemetry_subscription",
    ),
    kind(
        "TELEMETRY Name: ",
        F::ExtensionName,
        "telemetry_subscription",
    ),
];

/// `kinds`: the text kinds whose first word starts with the message's first byte. Anything that
/// does not start with one of their exact prefixes ("START processing", "REPORTING:", "END of
/// batch", "INFO …") is an application line, decided by comparing a few bytes.
fn text_line(message: &str, kinds: &[TextKind], w: &mut Writer) -> bool {
    let Some(kind) = kinds
        .iter()
        .find(|k| message.as_bytes().starts_with(k.prefix.as_bytes()))
    else {
        return false;
    };
    // The pairs start at the key, after the first word and its separator.
    let word_len = kind.prefix.find([' ', '\t']).unwrap_or_default();
    let Some(body) = message.get(word_len + 1..) else {
        return false;
    };
    let extension = kind.required == F::ExtensionName;
    pairs(body, |key, value, unit| {
        text_pair(w, key, value, unit, extension)
    });
    if !w.has(kind.required) {
        return false;
    }
    w.str(F::PlatformEvent, kind.event);
    true
}

/// Writes the member for one `Key: value unit` pair of a text line; unknown keys are skipped.
fn text_pair(w: &mut Writer, key: &str, value: &str, unit: &str, extension: bool) {
    match (key, unit) {
        ("RequestId", _) => w.str(F::RequestId, value),
        ("Version", _) => w.str(F::Version, value),
        ("Duration", "ms") => w.num(F::DurationMs, value),
        ("Billed Duration", "ms") => w.num(F::BilledDurationMs, value),
        ("Memory Size", "MB") => w.num(F::MemorySizeMb, value),
        ("Max Memory Used", "MB") => w.num(F::MaxMemoryUsedMb, value),
        ("Init Duration", "ms") => w.num(F::InitDurationMs, value),
        ("Restore Duration", "ms") => w.num(F::RestoreDurationMs, value),
        ("Billed Restore Duration", "ms") => w.num(F::BilledRestoreDurationMs, value),
        ("Runtime Version", _) => w.str(F::RuntimeVersion, value),
        ("Runtime Version ARN", _) => w.str(F::RuntimeVersionArn, value),
        ("Phase", _) => w.str(F::Phase, value),
        ("Status", _) => w.str(F::Status, value),
        ("Error Type", _) => w.str(F::ErrorType, value),
        ("XRAY TraceId", _) => w.str(F::XrayTraceId, value),
        ("SegmentId", _) => w.str(F::XraySegmentId, value),
        ("Sampled", _) => match value {
            "true" => w.bool(F::XraySampled, true),
            "false" => w.bool(F::XraySampled, false),
            _ => {}
        },
        ("Name", _) if extension => w.str(F::ExtensionName, value),
        ("State", _) if extension => w.str(F::ExtensionState, value),
        _ => {}
    }
}

/// Calls `f(key, value, unit)` for each `Key: value [unit]` pair of `text` (unit may be "").
///
/// Tabs, newlines and carriage returns end a pair; within a part, a key is the words up to a
/// word that ends in `:`, the value the next word, the unit the word after it when that is a
/// known unit. Words that belong to no complete pair are ignored.
fn pairs<'t>(text: &'t str, mut f: impl FnMut(&'t str, &'t str, &'t str)) {
    for part in text.split(['\t', '\n', '\r']) {
        let mut words = Words { s: part, pos: 0 }.peekable();
        let mut key_from: Option<usize> = None;
        while let Some((from, word)) = words.next() {
            let key_start = *key_from.get_or_insert(from);
            let Some(word_key_end) = word.len().checked_sub(1) else {
                continue;
            };
            if !word.ends_with(':') {
                continue;
            }
            key_from = None;
            let Some(key) = part.get(key_start..from + word_key_end) else {
                continue;
            };
            let Some((_, value)) = words.next() else {
                break;
            };
            let unit = match words.peek() {
                Some(&(_, u @ ("ms" | "MB"))) => {
                    words.next();
                    u
                }
                _ => "",
            };
            f(key, value, unit);
        }
    }
}

/// Words separated by spaces, with their byte offsets.
struct Words<'s> {
    s: &'s str,
    pos: usize,
}

impl<'s> Iterator for Words<'s> {
    type Item = (usize, &'s str);

    fn next(&mut self) -> Option<(usize, &'s str)> {
        let bytes = self.s.as_bytes();
        while bytes.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        if self.pos >= bytes.len() {
            return None;
        }
        let from = self.pos;
        while bytes.get(self.pos).is_some_and(|&b| b != b' ') {
            self.pos += 1;
        }
        // Both ends sit next to an ASCII space or at an end of the string: char boundaries.
        self.s.get(from..self.pos).map(|word| (from, word))
    }
}

/// Splits off the first word when it ends, at a space or tab, within `max` bytes: the search
/// never runs through a long application line.
fn first_word(s: &str, max: usize) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let head = bytes.get(..=max).unwrap_or(bytes);
    let at = head.iter().position(|&b| b == b' ' || b == b'\t')?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// `2026-11-22T10:00:03.123Z 8f5c… Task timed out after 3.00 seconds` (space or tab separated).
fn timeout_line(message: &str, w: &mut Writer) -> bool {
    // Most lines starting with a digit are application lines `<time>\t<id>\tINFO\t…`: their
    // end tells them apart without looking at the rest.
    if !message.trim_end().ends_with(" seconds") {
        return false;
    }
    // A timestamp: a four-digit year and a dash, and short.
    let Some((time, rest)) = first_word(message, 40) else {
        return false;
    };
    let t = time.as_bytes();
    let year = t.get(..4).unwrap_or_default();
    if year.len() < 4 || !year.iter().all(u8::is_ascii_digit) || t.get(4) != Some(&b'-') {
        return false;
    }
    let Some((request_id, rest)) = first_word(rest, 64) else {
        return false;
    };
    let Some(seconds) = rest.strip_prefix("Task timed out after ") else {
        return false;
    };
    if request_id.is_empty() {
        return false;
    }
    w.str(F::RequestId, request_id);
    if let Some((number, unit)) = seconds.trim_end().split_once(' ') {
        if unit == "seconds" {
            w.num(F::TimedOutAfterS, number);
        }
    }
    w.bool(F::TimedOut, true);
    w.str(F::PlatformEvent, "timeout");
    true
}

/// `RequestId: <id> Error: Runtime exited with error: exit status 1\nRuntime.ExitError` and
/// `RequestId: <id> Process exited before completing request`.
fn error_line(message: &str, w: &mut Writer) -> bool {
    let Some(rest) = message.strip_prefix("RequestId: ") else {
        return false;
    };
    let Some((request_id, text)) = first_word(rest, 64) else {
        return false;
    };
    if request_id.is_empty() || !(text.starts_with("Error: ") || text.starts_with("Process exited"))
    {
        return false;
    }
    w.str(F::RequestId, request_id);
    // The error type, when given, is the last line: `Runtime.ExitError`, `Runtime.OutOfMemory`.
    if let Some((_, last)) = text.trim_end().rsplit_once('\n') {
        let last = last.trim();
        let looks_like_type = last.len() <= 64
            && last.contains('.')
            && last
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
        if looks_like_type {
            w.str(F::ErrorType, last);
        }
    }
    w.str(F::PlatformEvent, "error");
    true
}

// ---------------------------------------------------------------------------------------------
// JSON format

/// Whether `bytes` starts like a platform record, `{"time":"…","type":"platform.` (what Lambda
/// writes) or `{"type":"platform.`, whitespace allowed around the punctuation, the time at most
/// 64 bytes. Application JSON logs (`{"timestamp":…`, `{"level":…`, `{"time":…,"level":…`) fail
/// within their first few bytes, before any parsing.
fn platform_json_shape(bytes: &[u8]) -> bool {
    let mut c = Cursor { b: bytes, i: 0 };
    if !c.eat(b"{") {
        return false;
    }
    if c.eat(b"\"time\"") {
        if !(c.eat(b":") && c.eat(b"\"")) {
            return false;
        }
        // The time value: no quote or backslash inside, at most 64 bytes.
        let value = c.b.get(c.i..).unwrap_or_default();
        let value = value.get(..65).unwrap_or(value);
        let Some(end) = value.iter().position(|&b| b == b'"' || b == b'\\') else {
            return false;
        };
        if value.get(end) != Some(&b'"') {
            return false;
        }
        c.i += end + 1;
        if !c.eat(b",") {
            return false;
        }
    }
    c.eat(b"\"type\"") && c.eat(b":") && c.eat(b"\"platform.")
}

/// Matches byte strings after optional JSON whitespace.
struct Cursor<'b> {
    b: &'b [u8],
    i: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, s: &[u8]) -> bool {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
        let rest = self.b.get(self.i..).unwrap_or_default();
        if rest.starts_with(s) {
            self.i += s.len();
            true
        } else {
            false
        }
    }
}

type Raw<'a> = Option<&'a RawValue>;

#[derive(Deserialize)]
struct JsonEvent<'a> {
    #[serde(borrow)]
    time: Raw<'a>,
    #[serde(borrow, rename = "type")]
    kind: Raw<'a>,
    #[serde(borrow)]
    record: Raw<'a>,
}

/// Every field is raw so that a field of an unexpected type is skipped, not fatal.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRecord<'a> {
    #[serde(borrow)]
    request_id: Raw<'a>,
    #[serde(borrow)]
    version: Raw<'a>,
    #[serde(borrow)]
    function_version: Raw<'a>,
    #[serde(borrow)]
    runtime_version: Raw<'a>,
    #[serde(borrow)]
    runtime_version_arn: Raw<'a>,
    #[serde(borrow)]
    initialization_type: Raw<'a>,
    #[serde(borrow)]
    phase: Raw<'a>,
    #[serde(borrow)]
    status: Raw<'a>,
    #[serde(borrow)]
    error_type: Raw<'a>,
    #[serde(borrow)]
    metrics: Raw<'a>,
    #[serde(borrow)]
    tracing: Raw<'a>,
    #[serde(borrow)]
    name: Raw<'a>,
    #[serde(borrow)]
    state: Raw<'a>,
    #[serde(borrow)]
    dropped_bytes: Raw<'a>,
    #[serde(borrow)]
    dropped_records: Raw<'a>,
    #[serde(borrow)]
    reason: Raw<'a>,
}

#[derive(Deserialize)]
struct JsonMetrics<'a> {
    #[serde(borrow, rename = "durationMs")]
    duration_ms: Raw<'a>,
    #[serde(borrow, rename = "billedDurationMs")]
    billed_duration_ms: Raw<'a>,
    #[serde(borrow, rename = "memorySizeMB")]
    memory_size_mb: Raw<'a>,
    #[serde(borrow, rename = "maxMemoryUsedMB")]
    max_memory_used_mb: Raw<'a>,
    #[serde(borrow, rename = "initDurationMs")]
    init_duration_ms: Raw<'a>,
    #[serde(borrow, rename = "restoreDurationMs")]
    restore_duration_ms: Raw<'a>,
    #[serde(borrow, rename = "billedRestoreDurationMs")]
    billed_restore_duration_ms: Raw<'a>,
    #[serde(borrow, rename = "producedBytes")]
    produced_bytes: Raw<'a>,
}

#[derive(Deserialize)]
struct JsonTracing<'a> {
    #[serde(borrow)]
    value: Raw<'a>,
}

/// The string in a raw JSON value; None for any other type.
fn raw_str<'a>(raw: Raw<'a>) -> Option<Cow<'a, str>> {
    let raw = raw?;
    if !raw.get().starts_with('"') {
        return None;
    }
    serde_json::from_str::<Cow<'a, str>>(raw.get()).ok()
}

/// The text of a raw JSON value when it is a number.
fn raw_num(raw: Raw<'_>) -> &str {
    raw.map_or("", RawValue::get)
}

fn raw_object<'a, T: Deserialize<'a>>(raw: Raw<'a>) -> Option<T> {
    let raw = raw?;
    if !raw.get().starts_with('{') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

fn json_record(message: &str, w: &mut Writer) -> bool {
    if !platform_json_shape(message.as_bytes()) {
        return false;
    }
    let Ok(event) = serde_json::from_str::<JsonEvent>(message) else {
        return false;
    };
    let Some(kind) = raw_str(event.kind) else {
        return false;
    };
    let Some(camel) = kind.strip_prefix("platform.") else {
        return false;
    };
    if camel.is_empty()
        || camel.len() > 48
        || !camel.bytes().all(|b| b.is_ascii_alphanumeric())
        || raw_str(event.time).is_none()
    {
        return false;
    }
    let Some(record) = raw_object::<JsonRecord>(event.record) else {
        return false;
    };

    let s = |raw| raw_str(raw).unwrap_or_default();
    w.str(F::RequestId, &s(record.request_id));
    w.str(F::Version, &s(record.version));
    w.str(F::Version, &s(record.function_version));
    w.str(F::RuntimeVersion, &s(record.runtime_version));
    w.str(F::RuntimeVersionArn, &s(record.runtime_version_arn));
    w.str(F::InitializationType, &s(record.initialization_type));
    w.str(F::Phase, &s(record.phase));
    w.str(F::Status, &s(record.status));
    w.str(F::ErrorType, &s(record.error_type));

    if let Some(m) = raw_object::<JsonMetrics>(record.metrics) {
        match camel {
            "report" => {
                w.num(F::DurationMs, raw_num(m.duration_ms));
                w.num(F::BilledDurationMs, raw_num(m.billed_duration_ms));
                w.num(F::MemorySizeMb, raw_num(m.memory_size_mb));
                w.num(F::MaxMemoryUsedMb, raw_num(m.max_memory_used_mb));
                w.num(F::InitDurationMs, raw_num(m.init_duration_ms));
                w.num(F::RestoreDurationMs, raw_num(m.restore_duration_ms));
                w.num(
                    F::BilledRestoreDurationMs,
                    raw_num(m.billed_restore_duration_ms),
                );
            }
            "initReport" => w.num(F::InitDurationMs, raw_num(m.duration_ms)),
            "restoreReport" => w.num(F::RestoreDurationMs, raw_num(m.duration_ms)),
            "runtimeDone" => {
                w.num(F::RuntimeDurationMs, raw_num(m.duration_ms));
                w.num(F::ProducedBytes, raw_num(m.produced_bytes));
            }
            _ => {}
        }
    }

    if let Some(tracing) = raw_object::<JsonTracing>(record.tracing) {
        // "Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=1"
        for part in s(tracing.value).split(';') {
            match part.trim().split_once('=') {
                Some(("Root", id)) => w.str(F::XrayTraceId, id),
                Some(("Sampled", "1")) => w.bool(F::XraySampled, true),
                Some(("Sampled", "0")) => w.bool(F::XraySampled, false),
                _ => {}
            }
        }
    }

    match camel {
        "extension" | "telemetrySubscription" => {
            w.str(F::ExtensionName, &s(record.name));
            w.str(F::ExtensionState, &s(record.state));
        }
        "logsDropped" => {
            w.num(F::DroppedBytes, raw_num(record.dropped_bytes));
            w.num(F::DroppedRecords, raw_num(record.dropped_records));
            w.str(F::DroppedReason, &s(record.reason));
        }
        _ => {}
    }

    // platform.initStart → "init_start"
    let mut event_name = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            event_name.push('_');
            event_name.push(c.to_ascii_lowercase());
        } else {
            event_name.push(c);
        }
    }
    w.str(F::PlatformEvent, &event_name);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde_json::{json, Value};
    use std::collections::BTreeMap;
    use std::fmt;

    /// A JSON object that refuses duplicate keys (as Elasticsearch does).
    struct NoDuplicates(BTreeMap<String, Value>);

    impl<'de> Deserialize<'de> for NoDuplicates {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = NoDuplicates;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<NoDuplicates, A::Error> {
                    let mut out = BTreeMap::new();
                    while let Some((k, v)) = map.next_entry::<String, Value>()? {
                        if out.insert(k.clone(), v).is_some() {
                            return Err(serde::de::Error::custom(format!("duplicate key {k}")));
                        }
                    }
                    Ok(NoDuplicates(out))
                }
            }
            d.deserialize_map(V)
        }
    }

    /// Runs the function and returns the written members as a JSON object (None: not platform).
    fn fields(message: &str) -> Option<Value> {
        let mut out = b"prefix".to_vec();
        let recognised = write_platform_fields(message, &mut out);
        assert!(out.starts_with(b"prefix"), "existing output kept");
        if !recognised {
            assert_eq!(out, b"prefix", "nothing written for {message:?}");
            return None;
        }
        let written = out.get(6..).unwrap_or_default();
        assert!(
            written.starts_with(b",\""),
            "starts with a comma: {written:?}"
        );
        let mut doc = b"{\"x\":0".to_vec();
        doc.extend_from_slice(written);
        doc.push(b'}');
        let parsed: NoDuplicates = serde_json::from_slice(&doc)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&doc)));
        let mut map = parsed.0;
        map.remove("x");
        Some(Value::Object(map.into_iter().collect()))
    }

    fn raw(message: &str) -> String {
        let mut out = Vec::new();
        write_platform_fields(message, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    const ID: &str = "8f5c2a1e-0b7d-4c1a-9e3f-2d6b8a4c0e91";

    #[test]
    fn text_lines() {
        let cases: Vec<(String, Value)> = vec![
            (
                format!("START RequestId: {ID} Version: $LATEST\n"),
                json!({"request_id": ID, "version": "$LATEST", "platform_event": "start"}),
            ),
            (
                format!("START RequestId: {ID} Version: 12"),
                json!({"request_id": ID, "version": "12", "platform_event": "start"}),
            ),
            (
                format!("END RequestId: {ID}\n"),
                json!({"request_id": ID, "platform_event": "end"}),
            ),
            // warm invocation
            (
                format!("REPORT RequestId: {ID}\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\t\n"),
                json!({"request_id": ID, "duration_ms": 102.25, "billed_duration_ms": 103,
                       "memory_size_mb": 128, "max_memory_used_mb": 70, "platform_event": "report"}),
            ),
            // cold start
            (
                format!("REPORT RequestId: {ID}\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 150.09 ms\t"),
                json!({"request_id": ID, "duration_ms": 102.25, "billed_duration_ms": 103,
                       "memory_size_mb": 128, "max_memory_used_mb": 70, "init_duration_ms": 150.09,
                       "platform_event": "report"}),
            ),
            // old runtimes: a space before the tab after Billed Duration
            (
                format!("REPORT RequestId: {ID}\tDuration: 99.90 ms\tBilled Duration: 100 ms \tMemory Size: 128 MB\tMax Memory Used: 33 MB\t\n"),
                json!({"request_id": ID, "duration_ms": 99.90, "billed_duration_ms": 100,
                       "memory_size_mb": 128, "max_memory_used_mb": 33, "platform_event": "report"}),
            ),
            // X-Ray
            (
                format!("REPORT RequestId: {ID}\tDuration: 201.67 ms\tBilled Duration: 202 ms\tMemory Size: 2048 MB\tMax Memory Used: 81 MB\tInit Duration: 480.25 ms\t\nXRAY TraceId: 1-61c86fa4-59b3c6d959653c527fd10966\tSegmentId: 107ea78a5750a811\tSampled: true\t\n"),
                json!({"request_id": ID, "duration_ms": 201.67, "billed_duration_ms": 202,
                       "memory_size_mb": 2048, "max_memory_used_mb": 81, "init_duration_ms": 480.25,
                       "xray_trace_id": "1-61c86fa4-59b3c6d959653c527fd10966",
                       "xray_segment_id": "107ea78a5750a811", "xray_sampled": true,
                       "platform_event": "report"}),
            ),
            // X-Ray part separated by spaces only
            (
                format!("REPORT RequestId: {ID}\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\t\nXRAY TraceId: 1-abc SegmentId: def Sampled: false"),
                json!({"request_id": ID, "duration_ms": 2.00, "billed_duration_ms": 2,
                       "memory_size_mb": 128, "max_memory_used_mb": 40,
                       "xray_trace_id": "1-abc", "xray_segment_id": "def", "xray_sampled": false,
                       "platform_event": "report"}),
            ),
            // SnapStart
            (
                format!("REPORT RequestId: {ID}\tDuration: 147.16 ms\tBilled Duration: 201 ms\tMemory Size: 512 MB\tMax Memory Used: 91 MB\tRestore Duration: 500.80 ms\tBilled Restore Duration: 53 ms\t"),
                json!({"request_id": ID, "duration_ms": 147.16, "billed_duration_ms": 201,
                       "memory_size_mb": 512, "max_memory_used_mb": 91,
                       "restore_duration_ms": 500.80, "billed_restore_duration_ms": 53,
                       "platform_event": "report"}),
            ),
            // newer runtimes: status and error type
            (
                format!("REPORT RequestId: {ID}\tDuration: 11.48 ms\tBilled Duration: 12 ms\tMemory Size: 128 MB\tMax Memory Used: 10 MB\tStatus: error\tError Type: Runtime.InvalidEntrypoint"),
                json!({"request_id": ID, "duration_ms": 11.48, "billed_duration_ms": 12,
                       "memory_size_mb": 128, "max_memory_used_mb": 10, "status": "error",
                       "error_type": "Runtime.InvalidEntrypoint", "platform_event": "report"}),
            ),
            (
                format!("REPORT RequestId: {ID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB\tStatus: timeout"),
                json!({"request_id": ID, "duration_ms": 3000.00, "billed_duration_ms": 3000,
                       "memory_size_mb": 128, "max_memory_used_mb": 60, "status": "timeout",
                       "timed_out": true, "platform_event": "report"}),
            ),
            // unknown extra parts, a unit we do not know, an invalid number, a repeated key
            (
                format!("REPORT RequestId: {ID}\tDuration: 5.5 ms\tShiny New Thing: 42 widgets\tBilled Duration: 6 s\tMemory Size: lots MB\tMax Memory Used: 9 MB\tDuration: 7 ms\tFoo: bar baz\t"),
                json!({"request_id": ID, "duration_ms": 5.5, "max_memory_used_mb": 9,
                       "platform_event": "report"}),
            ),
            // pasted with spaces instead of tabs
            (
                format!("REPORT RequestId: {ID} Duration: 1.5 ms Billed Duration: 2 ms Memory Size: 128 MB Max Memory Used: 30 MB"),
                json!({"request_id": ID, "duration_ms": 1.5, "billed_duration_ms": 2,
                       "memory_size_mb": 128, "max_memory_used_mb": 30, "platform_event": "report"}),
            ),
            (
                "INIT_START Runtime Version: nodejs:20.v13\tRuntime Version ARN: arn:aws:lambda:eu-west-1::runtime:0a25e3e7a1cc9ce404bc435eeb2ad358d8fa64338e618d0c224fe509403583ca\n".to_string(),
                json!({"runtime_version": "nodejs:20.v13",
                       "runtime_version_arn": "arn:aws:lambda:eu-west-1::runtime:0a25e3e7a1cc9ce404bc435eeb2ad358d8fa64338e618d0c224fe509403583ca",
                       "platform_event": "init_start"}),
            ),
            (
                "INIT_REPORT Init Duration: 10006.25 ms\tPhase: init\tStatus: timeout".to_string(),
                json!({"init_duration_ms": 10006.25, "phase": "init", "status": "timeout",
                       "timed_out": true, "platform_event": "init_report"}),
            ),
            (
                "INIT_REPORT Init Duration: 1666.62 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ExitError".to_string(),
                json!({"init_duration_ms": 1666.62, "phase": "invoke", "status": "error",
                       "error_type": "Runtime.ExitError", "platform_event": "init_report"}),
            ),
            (
                "RESTORE_START Runtime Version: java:11.v21\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:abc".to_string(),
                json!({"runtime_version": "java:11.v21",
                       "runtime_version_arn": "arn:aws:lambda:us-east-1::runtime:abc",
                       "platform_event": "restore_start"}),
            ),
            (
                "RESTORE_REPORT Restore Duration: 571.67 ms".to_string(),
                json!({"restore_duration_ms": 571.67, "platform_event": "restore_report"}),
            ),
            (
                "EXTENSION\tName: my-extension\tState: Ready\tEvents: [INVOKE,SHUTDOWN]".to_string(),
                json!({"extension_name": "my-extension", "extension_state": "Ready",
                       "platform_event": "extension"}),
            ),
            (
                "TELEMETRY\tName: my-extension\tState: Subscribed\tTypes: [Platform, Function]".to_string(),
                json!({"extension_name": "my-extension", "extension_state": "Subscribed",
                       "platform_event": "telemetry_subscription"}),
            ),
            (
                format!("2026-11-22T10:00:03.123Z {ID} Task timed out after 3.00 seconds\n\n"),
                json!({"request_id": ID, "timed_out": true, "timed_out_after_s": 3.00,
                       "platform_event": "timeout"}),
            ),
            (
                format!("2026-11-22T10:00:03.123Z\t{ID}\tTask timed out after 31.01 seconds"),
                json!({"request_id": ID, "timed_out": true, "timed_out_after_s": 31.01,
                       "platform_event": "timeout"}),
            ),
            (
                format!("RequestId: {ID} Error: Runtime exited with error: exit status 1\nRuntime.ExitError"),
                json!({"request_id": ID, "error_type": "Runtime.ExitError", "platform_event": "error"}),
            ),
            (
                format!("RequestId: {ID} Process exited before completing request\n"),
                json!({"request_id": ID, "platform_event": "error"}),
            ),
        ];
        for (message, want) in cases {
            assert_eq!(fields(&message), Some(want), "{message:?}");
        }
    }

    #[test]
    fn numbers_are_written_as_they_were() {
        let out = raw(&format!(
            "REPORT RequestId: {ID}\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 150.09 ms\t"
        ));
        assert_eq!(
            out,
            format!(",\"request_id\":\"{ID}\",\"duration_ms\":102.25,\"billed_duration_ms\":103,\"memory_size_mb\":128,\"max_memory_used_mb\":70,\"init_duration_ms\":150.09,\"platform_event\":\"report\"")
        );
        assert!(raw(&format!(
            "2026-11-22T10:00:03.123Z {ID} Task timed out after 3.00 seconds"
        ))
        .contains("\"timed_out_after_s\":3.00"));
        let out = raw(
            r#"{"time":"2026-11-22T10:00:00.123Z","type":"platform.report","record":{"requestId":"r","metrics":{"durationMs": 2599.0 ,"billedDurationMs":2600,"memorySizeMB":128,"maxMemoryUsedMB":94}}}"#,
        );
        assert!(out.contains("\"duration_ms\":2599.0,"), "{out}");
    }

    #[test]
    fn json_records() {
        let cases: Vec<(&str, Value)> = vec![
            (
                r#"{"time":"2026-11-22T10:00:00.123Z","type":"platform.report","record":{"requestId":"8f5c","metrics":{"durationMs":102.25,"billedDurationMs":103,"memorySizeMB":128,"maxMemoryUsedMB":70,"initDurationMs":150.09},"status":"success"}}"#,
                json!({"request_id": "8f5c", "duration_ms": 102.25, "billed_duration_ms": 103,
                       "memory_size_mb": 128, "max_memory_used_mb": 70, "init_duration_ms": 150.09,
                       "status": "success", "platform_event": "report"}),
            ),
            (
                r#"{"time":"2024-02-09T08:42:44.080Z","type":"platform.report","record":{"requestId":"d661","status":"success","metrics":{"durationMs": 147.156,"billedDurationMs": 201, "memorySizeMB": 512,"maxMemoryUsedMB": 91,"restoreDurationMs": 500.795,"billedRestoreDurationMs": 53 }}}"#,
                json!({"request_id": "d661", "duration_ms": 147.156, "billed_duration_ms": 201,
                       "memory_size_mb": 512, "max_memory_used_mb": 91,
                       "restore_duration_ms": 500.795, "billed_restore_duration_ms": 53,
                       "status": "success", "platform_event": "report"}),
            ),
            (
                r#"{"time":"2022-10-12T00:04:50.000Z","type":"platform.report","record":{"requestId":"b1","status":"timeout","errorType":"Sandbox.Timedout","metrics":{"durationMs":3000.0,"billedDurationMs":3000,"memorySizeMB":128,"maxMemoryUsedMB":60},"tracing":{"spanId":"54565fb41ac79632","type":"X-Amzn-Trace-Id","value":"Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=1"}}}"#,
                json!({"request_id": "b1", "duration_ms": 3000.0, "billed_duration_ms": 3000,
                       "memory_size_mb": 128, "max_memory_used_mb": 60, "status": "timeout",
                       "timed_out": true, "error_type": "Sandbox.Timedout",
                       "xray_trace_id": "1-62e900b2-710d76f009d6e7785905449a", "xray_sampled": true,
                       "platform_event": "report"}),
            ),
            (
                r#"{"time":"2022-10-12T00:00:15.064Z","type":"platform.start","record":{"requestId":"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","version":"$LATEST","tracing":{"spanId":"54565fb41ac79632","type":"X-Amzn-Trace-Id","value":"Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=0"}}}"#,
                json!({"request_id": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa", "version": "$LATEST",
                       "xray_trace_id": "1-62e900b2-710d76f009d6e7785905449a", "xray_sampled": false,
                       "platform_event": "start"}),
            ),
            (
                r#"{"time":"2022-10-21T14:05:05.764Z","type":"platform.runtimeDone","record":{"requestId":"4599","status":"success","spans":[{"name":"responseLatency","start":"2022-10-21T14:05:03.165Z","durationMs":2598.0}],"metrics":{"durationMs":2599.0,"producedBytes":8}}}"#,
                json!({"request_id": "4599", "status": "success", "runtime_duration_ms": 2599.0,
                       "produced_bytes": 8, "platform_event": "runtime_done"}),
            ),
            (
                r#"{"time":"2022-10-12T00:00:15.064Z","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init","runtimeVersion":"nodejs:20.v13","runtimeVersionArn":"arn:aws:lambda:eu-west-1::runtime:abc","functionName":"orders","functionVersion":"$LATEST"}}"#,
                json!({"initialization_type": "on-demand", "phase": "init",
                       "runtime_version": "nodejs:20.v13",
                       "runtime_version_arn": "arn:aws:lambda:eu-west-1::runtime:abc",
                       "version": "$LATEST", "platform_event": "init_start"}),
            ),
            (
                r#"{"time":"2022-10-12T00:00:16.000Z","type":"platform.initRuntimeDone","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ImportModuleError"}}"#,
                json!({"initialization_type": "on-demand", "phase": "init", "status": "error",
                       "error_type": "Runtime.ImportModuleError", "platform_event": "init_runtime_done"}),
            ),
            (
                r#"{"time":"2022-10-12T00:01:15.000Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"success","metrics":{"durationMs":125.33}}}"#,
                json!({"initialization_type": "on-demand", "phase": "init", "status": "success",
                       "init_duration_ms": 125.33, "platform_event": "init_report"}),
            ),
            (
                r#"{"time":"2022-10-12T00:00:15.000Z","type":"platform.restoreStart","record":{"runtimeVersion":"java:17.v20","runtimeVersionArn":"arn:x"}}"#,
                json!({"runtime_version": "java:17.v20", "runtime_version_arn": "arn:x",
                       "platform_event": "restore_start"}),
            ),
            (
                r#"{"time":"2022-10-12T00:00:16.000Z","type":"platform.restoreRuntimeDone","record":{"status":"success"}}"#,
                json!({"status": "success", "platform_event": "restore_runtime_done"}),
            ),
            (
                r#"{"time":"2022-10-12T00:00:16.000Z","type":"platform.restoreReport","record":{"status":"success","metrics":{"durationMs":120.5}}}"#,
                json!({"status": "success", "restore_duration_ms": 120.5,
                       "platform_event": "restore_report"}),
            ),
            (
                r#"{"time":"2022-10-12T00:02:15.000Z","type":"platform.extension","record":{"events":["INVOKE","SHUTDOWN"],"name":"my-telemetry-extension","state":"Ready"}}"#,
                json!({"extension_name": "my-telemetry-extension", "extension_state": "Ready",
                       "platform_event": "extension"}),
            ),
            (
                r#"{"time":"2022-10-12T00:02:35.000Z","type":"platform.telemetrySubscription","record":{"name":"my-telemetry-extension","state":"Subscribed","types":["platform","function"]}}"#,
                json!({"extension_name": "my-telemetry-extension", "extension_state": "Subscribed",
                       "platform_event": "telemetry_subscription"}),
            ),
            (
                r#"{"time":"2022-10-12T00:02:35.000Z","type":"platform.logsDropped","record":{"droppedBytes":12345,"droppedRecords":123,"reason":"Consumer seems to have fallen behind as it has not acknowledged receipt of logs."}}"#,
                json!({"dropped_bytes": 12345, "dropped_records": 123,
                       "dropped_reason": "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.",
                       "platform_event": "logs_dropped"}),
            ),
            // whitespace around the punctuation, and `type` before `time`
            (
                r#"{ "time": "2022-10-12T00:00:15.064Z", "type": "platform.start", "record": { "requestId": "6d68", "version": "$LATEST" } }"#,
                json!({"request_id": "6d68", "version": "$LATEST", "platform_event": "start"}),
            ),
            (
                r#"{"type":"platform.start","time":"2022-10-12T00:00:15.064Z","record":{"requestId":"6d68"}}"#,
                json!({"request_id": "6d68", "platform_event": "start"}),
            ),
            // a type AWS adds later: tagged, common fields kept
            (
                r#"{"time":"2026-11-22T10:00:00.000Z","type":"platform.invokeSummary","record":{"status":"success","metrics":{"durationMs":1}}}"#,
                json!({"status": "success", "platform_event": "invoke_summary"}),
            ),
            // fields of an unexpected type are skipped, escapes decoded and re-escaped
            (
                r#"{"time":"2026-11-22T10:00:00.000Z","type":"platform.report","record":{"requestId":"a\"b\u00e9","version":7,"status":null,"metrics":{"durationMs":"12","billedDurationMs":1e999,"memorySizeMB":128,"maxMemoryUsedMB":null}}}"#,
                json!({"request_id": "a\"b\u{e9}", "memory_size_mb": 128, "platform_event": "report"}),
            ),
        ];
        for (message, want) in cases {
            assert_eq!(fields(message), Some(want), "{message}");
        }
    }

    #[test]
    fn not_platform_lines() {
        let id_line =
            format!("2026-11-22T10:00:03.123Z\t{ID}\tINFO\tTask timed out after 3 seconds? no");
        let not = [
            "",
            "START processing batch",
            "START RequestId:",
            "START RequestId: ",
            "STARTRequestId: x",
            "END of batch",
            "END RequestId:x",
            "REPORTING: done",
            "REPORT generated in 3 ms",
            "REPORT RequestId:",
            "INIT_START",
            "INIT_STARTED Runtime Version: x",
            "INIT_REPORT Init Duration: soon",
            "INIT_REPORT Phase: init",
            "RESTORE_REPORT Restore Duration: 5 s",
            "EXTENSION loaded",
            "TELEMETRY Name:",
            "RequestId: abc was processed",
            "RequestId:abc Error: x",
            "2026-11-22T10:00:03.123Z\t8f5c\tINFO\tHello",
            "2026-11-22 Task timed out after 3 seconds",
            "12345 is a number",
            &id_line,
            r#"{"type":"platform.report"}"#,
            r#"{"time":"2026-11-22T10:00:00Z","type":"platform.report"}"#,
            r#"{"time":"2026-11-22T10:00:00Z","type":"platform.report","record":"text"}"#,
            r#"{"time":1,"type":"platform.report","record":{}}"#,
            r#"{"time":"2026-11-22T10:00:00Z","type":"platform.","record":{}}"#,
            r#"{"time":"2026-11-22T10:00:00Z","type":"platform.re port","record":{}}"#,
            r#"{"time":"2026-11-22T10:00:00Z","type":"function","record":"hello"}"#,
            r#"{"time":"2026-11-22T10:00:00Z","type":"platform.report","record":{},"#,
            r#"{"timestamp":"2026-11-22T10:00:00.123Z","level":"INFO","requestId":"8f5c","message":"hello"}"#,
            r#"{"level":"info","type":"order","msg":"platform.report queued"}"#,
            r#"{"time":"2026-11-22T10:00:00.123Z","level":"INFO","msg":"hello"}"#,
            r#"{"time":"2026-11-22T10:00:00Z","level":"INFO","type":"platform.start","record":{}}"#,
            r#"{"time":"2026-11-22T10:00:00Z","type":"platform.start","record":{"requestId":"x"},"time":"again"}"#,
            r#"{"time":"2026-11-22T10:00:00Z\"","type":"platform.start","record":{}}"#,
            r#"{"time":"2026-11-22T10:00:00Z","type":"platform.start","record":{"requestId":"x"}} trailing"#,
            "2026-11-22T10:00:03.123Z\t8f5c\tINFO\tdone in 3 seconds",
            r#"{"level":"info","type":"platform.deploy","msg":"no time, no record"}"#,
            "{not json \"platform.report\"",
            "Hello, World!",
            "\tSTART RequestId: x",
        ];
        for message in not {
            assert_eq!(fields(message), None, "{message:?}");
        }
    }

    #[test]
    fn function_names() {
        let cases = [
            ("/aws/lambda/orders", Some("orders")),
            ("/aws/lambda/my-fn_2", Some("my-fn_2")),
            ("/aws/lambda/us-east-1.edge-fn", Some("edge-fn")),
            ("/aws/lambda/", None),
            ("/aws/lambda/a/b", None),
            ("/aws/lambda/us-east-1.", None),
            ("/aws/lambda", None),
            ("/aws/lambda-insights", None),
            ("/ecs/x", None),
            ("", None),
        ];
        for (group, want) in cases {
            assert_eq!(function_name(group), want, "{group}");
        }
    }

    #[test]
    fn json_numbers() {
        for ok in [
            "0", "-0", "1", "102.25", "3.00", "1e3", "1E+3", "2.5e-3", "-7",
        ] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "",
            "-",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "NaN",
            "inf",
            "1e999",
            "0x10",
            "1,5",
            " 1",
            "123456789012345678901234567890123",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    /// Deterministic mutations of the samples: never a panic, and every `true` leaves valid,
    /// duplicate-free JSON members (checked by `fields`).
    #[test]
    fn mutations_never_panic() {
        let samples: Vec<String> = vec![
            format!("START RequestId: {ID} Version: $LATEST\n"),
            format!("END RequestId: {ID}"),
            format!("REPORT RequestId: {ID}\tDuration: 201.67 ms\tBilled Duration: 202 ms\tMemory Size: 2048 MB\tMax Memory Used: 81 MB\tInit Duration: 480.25 ms\t\nXRAY TraceId: 1-61c86fa4-59b3c6d959653c527fd10966\tSegmentId: 107ea78a5750a811\tSampled: true\t\n"),
            format!("REPORT RequestId: {ID}\tDuration: 147.16 ms\tBilled Duration: 201 ms\tMemory Size: 512 MB\tMax Memory Used: 91 MB\tRestore Duration: 500.80 ms\tBilled Restore Duration: 53 ms\tStatus: timeout\tError Type: Sandbox.Timedout"),
            "INIT_START Runtime Version: nodejs:20.v13\tRuntime Version ARN: arn:aws:lambda:eu-west-1::runtime:abc".into(),
            "INIT_REPORT Init Duration: 10006.25 ms\tPhase: init\tStatus: timeout".into(),
            "RESTORE_REPORT Restore Duration: 571.67 ms".into(),
            "EXTENSION\tName: my-extension\tState: Ready\tEvents: [INVOKE,SHUTDOWN]".into(),
            format!("2026-11-22T10:00:03.123Z {ID} Task timed out after 3.00 seconds"),
            format!("RequestId: {ID} Error: Runtime exited with error: exit status 1\nRuntime.ExitError"),
            r#"{"time":"2026-11-22T10:00:00.123Z","type":"platform.report","record":{"requestId":"8f5c","metrics":{"durationMs":102.25,"billedDurationMs":103,"memorySizeMB":128,"maxMemoryUsedMB":70,"initDurationMs":150.09},"status":"success","tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-62e9;Parent=0e;Sampled=1"}}}"#.into(),
            r#"{"time":"2022-10-12T00:02:35.000Z","type":"platform.logsDropped","record":{"droppedBytes":12345,"droppedRecords":123,"reason":"r\u00e9"}}"#.into(),
            "Ünïcödé REPORT RequestId: é\tDuration: 1 ms".into(),
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b" \t\n:.{}\"\\,-0123456789eEmsMBRequestIdDuration\xc3\xa9\xff";
        let mut recognised = 0;
        for round in 0..10_000 {
            let sample = &samples[round % samples.len()];
            let mut bytes = sample.as_bytes().to_vec();
            for _ in 0..=(next() % 4) {
                let len = bytes.len().max(1);
                let at = (next() as usize) % len;
                let byte = alphabet[(next() as usize) % alphabet.len()];
                match next() % 5 {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at.min(bytes.len()), byte),
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    3 => bytes.truncate(at),
                    _ => {
                        let end = (at + 1 + (next() as usize) % 16).min(bytes.len());
                        let copy = bytes.get(at..end).unwrap_or_default().to_vec();
                        let to = (next() as usize) % (bytes.len() + 1);
                        bytes.splice(to..to, copy);
                    }
                }
            }
            let message = String::from_utf8_lossy(&bytes);
            if fields(&message).is_some() {
                recognised += 1;
            }
        }
        assert!(
            recognised > 1_000,
            "mutations still exercise the parsers: {recognised}"
        );
    }
}
