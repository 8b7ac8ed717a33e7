//! Elasticsearch / OpenSearch `_bulk`.
//!
//! Every document is sent with the `create` action and `_id` = its event id, so a replayed
//! batch cannot index anything twice: the second `create` of an id answers 409, which counts
//! as delivered. (`index` would silently overwrite, and an auto-generated id would duplicate.)
//!
//! Response classification, per item: 2xx delivered; 409 already present; 429 and 5xx retried;
//! anything else rejected for good (dead-lettered with the item's error type and reason). For
//! the whole request: 413 splits; 429, 5xx, 408, timeouts and connection errors retry; 401/403
//! (and 404, a wrong endpoint) are outages — the data is fine, so it goes back to Lambda rather
//! than to the dead-letter queue; any other 4xx means something in the body is malformed and
//! the request is split to isolate it. Before a 401/403 becomes an outage, the credentials are
//! read again once ([`Authenticator::refresh`]) and the request repeated if they changed.
//!
//! Nothing here checks which product answers (no "product check" header test), so OpenSearch,
//! Amazon OpenSearch Service/Serverless and Elasticsearch all work.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use serde::Deserialize;

use super::auth::Authenticator;
use super::http::{self, body_summary, transport_error};
use super::index::IndexTemplate;
use super::{Destination, ItemVerdict, Rejection, RequestVerdict, Response};
use crate::config::{Compression, ElasticsearchConfig, OutputConfig};
use crate::document::push_str;
use crate::time;

/// Errors building the Elasticsearch client.
#[derive(Debug, thiserror::Error)]
pub enum ElasticsearchError {
    #[error(transparent)]
    Client(#[from] http::ClientError),
    #[error("cannot derive the _bulk URL from ES_ENDPOINT: {0}")]
    Url(String),
}

/// The `_bulk` destination.
pub struct Elasticsearch {
    client: reqwest::Client,
    bulk_url: reqwest::Url,
    index: IndexTemplate,
    compression: Compression,
    document_ids: bool,
    auth: Authenticator,
    /// An outage was logged at error level and nothing succeeded since: log the next ones
    /// quietly.
    outage_logged: AtomicBool,
    /// Action line prefix `{"create":{"_index":"…","_id":` of the last day seen, so the index
    /// name is rendered once per day rather than once per event.
    action_cache: Mutex<(i64, Vec<u8>)>,
}

impl Elasticsearch {
    pub fn new(
        config: &ElasticsearchConfig,
        output: &OutputConfig,
        auth: Authenticator,
    ) -> Result<Self, ElasticsearchError> {
        let client = http::client(output.ca_bundle.as_deref())?;
        let mut bulk_url = config.endpoint.clone();
        bulk_url
            .path_segments_mut()
            .map_err(|()| ElasticsearchError::Url("the URL cannot have a path".to_owned()))?
            .pop_if_empty()
            .push("_bulk");
        Ok(Self {
            client,
            bulk_url,
            index: config.index.clone(),
            compression: config.compression,
            document_ids: config.document_ids,
            auth,
            outage_logged: AtomicBool::new(false),
            action_cache: Mutex::new((i64::MIN, Vec::new())),
        })
    }

    /// The URL bulk requests go to.
    pub fn bulk_url(&self) -> &reqwest::Url {
        &self.bulk_url
    }

    fn encode_body(&self, body: Bytes) -> (Bytes, bool) {
        match self.compression {
            Compression::None => (body, false),
            // Cannot fail with a bound-sized buffer; send uncompressed rather than fail.
            Compression::Gzip => http::gzip(&body).map_or((body, false), |b| (b, true)),
        }
    }

    /// One `_bulk` exchange: status and body, or a transport error.
    async fn exchange(
        &self,
        body: &Bytes,
        gzipped: bool,
        timeout: Duration,
    ) -> Result<(u16, Bytes), RequestVerdict> {
        let mut content: Vec<(&str, &str)> = vec![("content-type", "application/x-ndjson")];
        if gzipped {
            content.push(("content-encoding", "gzip"));
        }
        let auth = self
            .auth
            .headers("POST", &self.bulk_url, &content, body)
            .await
            .map_err(|e| RequestVerdict::Outage(format!("cannot authenticate the request: {e}")))?;
        let mut request = self
            .client
            .post(self.bulk_url.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            )
            .timeout(timeout)
            .body(body.clone());
        if gzipped {
            request = request.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        for (name, value) in auth {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| RequestVerdict::Retry(transport_error(e)))?;
        let status = response.status().as_u16();
        let text = response
            .bytes()
            .await
            .map_err(|e| RequestVerdict::Retry(transport_error(e)))?;
        Ok((status, text))
    }
}

impl Destination for Elasticsearch {
    fn name(&self) -> &'static str {
        "elasticsearch"
    }

    fn write_item_header(&self, out: &mut Vec<u8>, event_ms: i64, id: &[u8]) {
        let day = if self.index.is_dated() {
            time::day_number(event_ms)
        } else {
            0
        };
        // A poisoned lock only means another thread panicked mid-update; the cache is rebuilt.
        let mut cache = self
            .action_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.0 != day || cache.1.is_empty() {
            let mut name = Vec::new();
            self.index.render(event_ms, &mut name);
            let prefix = &mut cache.1;
            prefix.clear();
            prefix.extend_from_slice(br#"{"create":{"_index":"#);
            push_str(prefix, &String::from_utf8_lossy(&name));
            if self.document_ids {
                prefix.extend_from_slice(br#","_id":"#);
            }
            cache.0 = day;
        }
        out.extend_from_slice(&cache.1);
        if self.document_ids {
            out.extend_from_slice(id);
        }
        out.extend_from_slice(b"}}\n");
    }

    async fn send(&self, body: Bytes, items: usize, timeout: Duration) -> Response {
        let started = tokio::time::Instant::now();
        let (body, gzipped) = self.encode_body(body);
        let mut refreshed = false;
        loop {
            let left = timeout.saturating_sub(started.elapsed());
            let (status, text) = match self.exchange(&body, gzipped, left).await {
                Ok(exchanged) => exchanged,
                Err(verdict) => return Response::Request(verdict),
            };
            if matches!(status, 401 | 403) && !refreshed {
                refreshed = true;
                if self.auth.refresh().await {
                    continue;
                }
            }
            let response = classify(status, &text, items);
            match &response {
                Response::Request(RequestVerdict::Outage(reason)) => {
                    if !self.outage_logged.swap(true, Ordering::Relaxed) {
                        tracing::error!(
                            auth = self.auth.kind(),
                            %reason,
                            "the destination refuses every request; records go back to Lambda \
                             until this is fixed"
                        );
                    }
                }
                _ => self.outage_logged.store(false, Ordering::Relaxed),
            }
            return response;
        }
    }
}

#[derive(Deserialize)]
struct BulkResponse<'a> {
    #[serde(borrow)]
    items: Vec<BulkItem<'a>>,
}

#[derive(Deserialize)]
struct BulkItem<'a> {
    #[serde(borrow, alias = "index", alias = "update", alias = "delete")]
    create: ItemResult<'a>,
}

#[derive(Deserialize)]
struct ItemResult<'a> {
    #[serde(borrow, default, rename = "_index")]
    index: Option<Cow<'a, str>>,
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Turns a `_bulk` HTTP status and body into verdicts for `items` documents.
pub fn classify(status: u16, body: &[u8], items: usize) -> Response {
    match status {
        200..=299 => {}
        413 => return Response::Request(RequestVerdict::TooLarge),
        408 | 429 | 500..=599 => {
            return Response::Request(RequestVerdict::Retry(format!(
                "HTTP {status}: {}",
                body_summary(body)
            )))
        }
        401 | 403 | 404 | 405 => {
            return Response::Request(RequestVerdict::Outage(format!(
                "HTTP {status} from the destination: {} (check ES_ENDPOINT and credentials)",
                body_summary(body)
            )))
        }
        _ => {
            let (error_type, reason) = error_fields(body);
            return Response::Request(RequestVerdict::Isolate(Rejection {
                status,
                error_type,
                reason,
                index: None,
            }));
        }
    }
    let parsed: BulkResponse<'_> = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => {
            return Response::Request(RequestVerdict::Retry(format!(
                "unreadable _bulk response ({e}) for {items} documents"
            )))
        }
    };
    Response::Items(
        parsed
            .items
            .into_iter()
            .map(|item| classify_item(item.create))
            .collect(),
    )
}

fn classify_item(item: ItemResult<'_>) -> ItemVerdict {
    match item.status {
        200..=299 => ItemVerdict::Delivered,
        409 => ItemVerdict::AlreadyPresent,
        429 | 500..=599 => ItemVerdict::Retry(format!("item status {}", item.status)),
        status => {
            let (error_type, reason) = item
                .error
                .as_ref()
                .map(error_value_fields)
                .unwrap_or_else(|| ("unknown".to_owned(), format!("item status {status}")));
            ItemVerdict::Rejected(Rejection {
                status,
                error_type,
                reason,
                index: item.index.map(Cow::into_owned),
            })
        }
    }
}

/// `(type, reason)` of an Elasticsearch error object, with the root cause appended.
fn error_value_fields(error: &serde_json::Value) -> (String, String) {
    match error {
        serde_json::Value::String(s) => ("error".to_owned(), s.clone()),
        v => {
            let error_type = v["type"].as_str().unwrap_or("unknown").to_owned();
            let mut reason = v["reason"].as_str().unwrap_or_default().to_owned();
            if let Some(cause) = v["caused_by"]["reason"].as_str() {
                if !reason.is_empty() {
                    reason.push_str(": ");
                }
                reason.push_str(cause);
            }
            (error_type, reason)
        }
    }
}

fn error_fields(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.get("error").is_some() => error_value_fields(&v["error"]),
        _ => ("http_error".to_owned(), body_summary(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DestinationConfig};

    fn es(index: &str) -> Elasticsearch {
        let config = Config::from_lookup(|name| match name {
            "ES_ENDPOINT" => Some("https://search.example.com/prefix/".to_owned()),
            "DLQ_QUEUE_URL" => Some("https://sqs.example.com/1/q".to_owned()),
            "ES_INDEX" => Some(index.to_owned()),
            _ => None,
        })
        .unwrap();
        let DestinationConfig::Elasticsearch(es) = &config.destination else {
            panic!("elasticsearch expected")
        };
        Elasticsearch::new(es, &config.output, Authenticator::None).unwrap()
    }

    #[test]
    fn bulk_url_keeps_the_endpoint_path() {
        assert_eq!(
            es("logs").bulk_url().as_str(),
            "https://search.example.com/prefix/_bulk"
        );
    }

    #[test]
    fn action_lines_use_create_with_the_event_id_and_dated_index() {
        let e = es("logs-%Y.%m.%d");
        let mut out = Vec::new();
        e.write_item_header(&mut out, 1_795_391_999_999, br#""42""#);
        e.write_item_header(&mut out, 1_795_392_000_000, br#""43""#);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"create\":{\"_index\":\"logs-2026.11.22\",\"_id\":\"42\"}}\n\
             {\"create\":{\"_index\":\"logs-2026.11.23\",\"_id\":\"43\"}}\n"
        );
    }

    #[test]
    fn item_statuses_are_classified() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"create":{"_index":"i","_id":"1","status":201}},
            {"create":{"_index":"i","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"create":{"_index":"i","_id":"3","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"_index":"i","_id":"4","status":503,"error":{"type":"unavailable_shards_exception","reason":"x"}}},
            {"create":{"_index":"i","_id":"5","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [json.a]","caused_by":{"type":"illegal_argument_exception","reason":"not an object"}}}},
            {"index":{"_index":"i","_id":"6","status":200}}]}"#;
        let Response::Items(v) = classify(200, body, 6) else {
            panic!("expected items")
        };
        assert_eq!(v[0], ItemVerdict::Delivered);
        assert_eq!(v[1], ItemVerdict::AlreadyPresent);
        assert!(matches!(v[2], ItemVerdict::Retry(_)));
        assert!(matches!(v[3], ItemVerdict::Retry(_)));
        assert_eq!(
            v[4],
            ItemVerdict::Rejected(Rejection {
                status: 400,
                error_type: "mapper_parsing_exception".into(),
                reason: "failed to parse field [json.a]: not an object".into(),
                index: Some("i".into()),
            })
        );
        assert_eq!(v[5], ItemVerdict::Delivered);
    }

    #[test]
    fn request_statuses_are_classified() {
        let r = |status, body: &str| classify(status, body.as_bytes(), 2);
        assert_eq!(r(413, ""), Response::Request(RequestVerdict::TooLarge));
        assert!(
            matches!(r(429, "slow down"), Response::Request(RequestVerdict::Retry(m)) if m.contains("429"))
        );
        assert!(matches!(
            r(502, ""),
            Response::Request(RequestVerdict::Retry(_))
        ));
        assert!(matches!(
            r(401, ""),
            Response::Request(RequestVerdict::Outage(_))
        ));
        assert!(matches!(
            r(403, ""),
            Response::Request(RequestVerdict::Outage(_))
        ));
        assert!(matches!(
            r(400, r#"{"error":{"type":"illegal_argument_exception","reason":"Malformed action/metadata line [1]"},"status":400}"#),
            Response::Request(RequestVerdict::Isolate(Rejection { status: 400, ref error_type, .. })) if error_type == "illegal_argument_exception"
        ));
        assert!(matches!(
            r(200, "<html>"),
            Response::Request(RequestVerdict::Retry(_))
        ));
    }
}
