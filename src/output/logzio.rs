//! The Logz.io bulk HTTP listener.
//!
//! A request is `POST <listener>/?token=…&type=…` with newline-delimited JSON documents,
//! gzip-compressed. The listener takes at most 10 MB per request (before compression, enforced
//! by `MAX_REQUEST_BYTES`) and 500,000 bytes per line (documents are truncated to fit before
//! they are framed — see [`crate::truncate`] — never dropped).
//!
//! Answers: 200 = every line accepted. 400 carries counts (`malformedLines`, `oversizedLines`,
//! …) but not *which* lines; the request is split and the halves resent until a line refused on
//! its own is dead-lettered. 401/403 = the token is wrong: read it again from SSM once, repeat
//! the request if it changed, otherwise an outage (records go back to Lambda; nothing is
//! dead-lettered). 413 = split. 429, 5xx, timeouts = retry with backoff.
//!
//! Logz.io has no document ids, so what is resent can be indexed twice: requests whose outcome
//! is unknown (timeouts, resets, 5xx after the listener may have read the body) and the
//! accepted lines of a 400 answer, which are resent in the halves. Nothing else is ever resent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use serde::Deserialize;

use super::http::{self, body_summary, transport_error};
use super::{Destination, Rejection, RequestVerdict, Response};
use crate::config::{LogzioConfig, OutputConfig, LOGZIO_MAX_LINE_BYTES};
use crate::secrets::CachedSecret;

/// Errors building the Logz.io client.
#[derive(Debug, thiserror::Error)]
pub enum LogzioError {
    #[error(transparent)]
    Client(#[from] http::ClientError),
}

/// The Logz.io destination.
pub struct Logzio {
    client: reqwest::Client,
    listener_url: reqwest::Url,
    log_type: String,
    token: CachedSecret,
    outage_logged: AtomicBool,
}

impl std::fmt::Debug for Logzio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logzio")
            .field("listener_url", &self.listener_url.as_str())
            .field("log_type", &self.log_type)
            .finish_non_exhaustive()
    }
}

impl Logzio {
    pub fn new(
        config: &LogzioConfig,
        output: &OutputConfig,
        token: CachedSecret,
    ) -> Result<Self, LogzioError> {
        Ok(Self {
            client: http::client(output.ca_bundle.as_deref())?,
            listener_url: config.listener_url.clone(),
            log_type: config.log_type.clone(),
            token,
            outage_logged: AtomicBool::new(false),
        })
    }

    /// The request URL with the current token. Never logged.
    fn url(&self) -> reqwest::Url {
        let mut url = self.listener_url.clone();
        url.query_pairs_mut()
            .append_pair("token", self.token.get().expose())
            .append_pair("type", &self.log_type);
        url
    }

    async fn exchange(&self, body: &Bytes, timeout: Duration) -> Result<(u16, Bytes), String> {
        let response = self
            .client
            .post(self.url())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(CONTENT_ENCODING, HeaderValue::from_static("gzip"))
            .timeout(timeout)
            .body(body.clone())
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        let text = response.bytes().await.map_err(transport_error)?;
        Ok((status, text))
    }
}

impl Destination for Logzio {
    fn name(&self) -> &'static str {
        "logzio"
    }

    /// Lines need no framing.
    fn write_item_header(&self, _out: &mut Vec<u8>, _event_ms: i64, _id: &[u8]) {}

    fn max_document_bytes(&self) -> Option<usize> {
        // The listener counts the line without its newline.
        Some(LOGZIO_MAX_LINE_BYTES)
    }

    async fn send(&self, body: Bytes, items: usize, timeout: Duration) -> Response {
        let started = tokio::time::Instant::now();
        let Some(body) = http::gzip(&body) else {
            return Response::Request(RequestVerdict::Retry("cannot compress the body".into()));
        };
        let mut refreshed = false;
        loop {
            let left = timeout.saturating_sub(started.elapsed());
            let (status, text) = match self.exchange(&body, left).await {
                Ok(exchanged) => exchanged,
                Err(reason) => return Response::Request(RequestVerdict::Retry(reason)),
            };
            if matches!(status, 401 | 403) && !refreshed {
                refreshed = true;
                if self.token.refresh().await {
                    continue;
                }
            }
            let verdict = classify(status, &text, items);
            match &verdict {
                RequestVerdict::Outage(reason) => {
                    if !self.outage_logged.swap(true, Ordering::Relaxed) {
                        tracing::error!(
                            %reason,
                            "Logz.io refuses every request; records go back to Lambda until \
                             this is fixed"
                        );
                    }
                }
                _ => self.outage_logged.store(false, Ordering::Relaxed),
            }
            return Response::Request(verdict);
        }
    }
}

/// The listener's 400 body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineCounts {
    #[serde(default)]
    malformed_lines: u64,
    #[serde(default)]
    oversized_lines: u64,
    #[serde(default)]
    empty_log_lines: u64,
    #[serde(default)]
    successful_lines: u64,
}

/// Turns a listener answer into the verdict for a request of `items` lines.
pub fn classify(status: u16, body: &[u8], items: usize) -> RequestVerdict {
    match status {
        200..=299 => RequestVerdict::Delivered,
        413 => RequestVerdict::TooLarge,
        408 | 429 | 500..=599 => {
            RequestVerdict::Retry(format!("HTTP {status}: {}", body_summary(body)))
        }
        401 | 403 => RequestVerdict::Outage(format!(
            "HTTP {status} from the Logz.io listener: the token is not accepted (check the \
             SSM parameter named by LOGZIO_TOKEN_PARAMETER and the listener region in \
             LOGZIO_LISTENER_URL)"
        )),
        404 | 405 => RequestVerdict::Outage(format!(
            "HTTP {status} from the Logz.io listener (check LOGZIO_LISTENER_URL)"
        )),
        _ => {
            let counts: LineCounts = serde_json::from_slice(body).unwrap_or_default();
            let (error_type, what) = if counts.oversized_lines > 0 {
                ("oversized_line", "too large")
            } else if counts.empty_log_lines > 0 && counts.malformed_lines == 0 {
                ("empty_line", "empty")
            } else {
                ("malformed_line", "malformed")
            };
            let reason = if status == 400 && counts.malformed_lines + counts.oversized_lines > 0 {
                format!(
                    "the Logz.io listener refused the line as {what} ({} of {items} lines in \
                     the request refused: malformedLines={}, oversizedLines={}, \
                     emptyLogLines={}, successfulLines={})",
                    counts.malformed_lines + counts.oversized_lines + counts.empty_log_lines,
                    counts.malformed_lines,
                    counts.oversized_lines,
                    counts.empty_log_lines,
                    counts.successful_lines
                )
            } else {
                format!(
                    "HTTP {status} from the Logz.io listener: {}",
                    body_summary(body)
                )
            };
            RequestVerdict::Isolate(Rejection {
                status,
                error_type: error_type.to_owned(),
                reason,
                index: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_answers_are_classified() {
        assert_eq!(classify(200, b"", 3), RequestVerdict::Delivered);
        assert_eq!(classify(413, b"", 3), RequestVerdict::TooLarge);
        assert!(matches!(classify(429, b"", 3), RequestVerdict::Retry(_)));
        assert!(matches!(classify(503, b"", 3), RequestVerdict::Retry(_)));
        assert!(
            matches!(classify(401, b"", 3), RequestVerdict::Outage(m) if m.contains("LOGZIO_TOKEN_PARAMETER"))
        );
        assert!(matches!(classify(403, b"", 3), RequestVerdict::Outage(_)));
        let v = classify(
            400,
            br#"{"malformedLines":1,"successfulLines":2,"oversizedLines":0,"emptyLogLines":0}"#,
            3,
        );
        let RequestVerdict::Isolate(r) = v else {
            panic!("expected isolate, got {v:?}")
        };
        assert_eq!(r.status, 400);
        assert_eq!(r.error_type, "malformed_line");
        assert!(r.reason.contains("malformedLines=1"), "{}", r.reason);
        let RequestVerdict::Isolate(r) = classify(400, br#"{"oversizedLines":1}"#, 1) else {
            panic!("expected isolate")
        };
        assert_eq!(r.error_type, "oversized_line");
    }
}
