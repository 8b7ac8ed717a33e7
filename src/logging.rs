//! Structured JSON logs on stdout, which Lambda ships to CloudWatch Logs.
//!
//! Message contents are never logged at `info` or above: the forwarder's own log group may be
//! less protected than the logs it forwards.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber with `level` (a `tracing` filter directive validated by
/// [`crate::Config`]). Calling it twice is harmless.
pub fn init(level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .try_init();
}

/// `{"password":3,"jwt":1}`: what was masked, per detector.
fn masked_counts(counts: &crate::mask::MaskCounts) -> String {
    serde_json::to_string(&counts.0).unwrap_or_default()
}

/// Logs the one summary line of an invocation.
pub fn summary(request_id: &str, s: &crate::Summary) {
    tracing::info!(
        request_id,
        records = s.records,
        events = s.events,
        delivered = s.delivered,
        already_present = s.already_present,
        retried = s.retried,
        dead_lettered = s.dead_lettered,
        failed_back = s.failed_back,
        failed_records = s.failed_records,
        control_messages = s.control_messages,
        poison_records = s.poison_records,
        truncated = s.truncated,
        requests = s.requests,
        splits = s.splits,
        masked = %masked_counts(&s.masked),
        encode_ms = s.encode_ms,
        total_ms = s.total_ms,
        "invocation summary"
    );
}
