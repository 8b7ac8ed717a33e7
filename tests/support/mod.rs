//! Test support: real servers, the fault proxy, fixture builders and a harness that runs the
//! real handler against them.
#![allow(dead_code)] // each test binary uses a different part of the support code

pub mod logzio;
pub mod proxy;
pub mod servers;
pub mod sigv4;

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Duration;

use base64::Engine as _;
use log_forwarder::config::DestinationConfig;
use log_forwarder::dlq::DeadLetterQueue;
use log_forwarder::input::KinesisEvent;
use log_forwarder::output::auth::Authenticator;
use log_forwarder::output::elasticsearch::Elasticsearch;
use log_forwarder::{Config, Forwarder, Summary};
use serde_json::{json, Value};

use proxy::FaultProxy;

pub const STREAM_ARN: &str = "arn:aws:kinesis:eu-west-1:123456789012:stream/app-logs";
pub const SHARD: &str = "shardId-000000000003";

/// gzip with a real encoder.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// One log event for a fixture.
#[derive(Debug, Clone)]
pub struct Ev {
    pub id: String,
    pub timestamp: i64,
    pub message: String,
}

/// `n` events with ids `<prefix>-<i>` (AWS-style long digit strings in real life; any string
/// is a valid id) at `base_ms + i`.
pub fn events(prefix: &str, n: usize, base_ms: i64) -> Vec<Ev> {
    (0..n)
        .map(|i| Ev {
            id: format!("{prefix}-{i:04}"),
            timestamp: base_ms + i as i64,
            message: format!("{prefix} line {i}: GET /orders/{i} 200 \"ok\"\t12ms"),
        })
        .collect()
}

/// A gzip CloudWatch Logs `DATA_MESSAGE` payload.
pub fn cloudwatch_payload(log_group: &str, events: &[Ev]) -> Vec<u8> {
    let payload = json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": log_group,
        "logStream": "2026/11/22/[$LATEST]0123456789abcdef",
        "subscriptionFilters": ["log-forwarder"],
        "logEvents": events.iter().map(|e| json!({
            "id": e.id, "timestamp": e.timestamp, "message": e.message
        })).collect::<Vec<_>>(),
    });
    gzip(&serde_json::to_vec(&payload).expect("json"))
}

/// A gzip CloudWatch Logs `CONTROL_MESSAGE` payload.
pub fn control_payload() -> Vec<u8> {
    gzip(
        br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1795320000000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#,
    )
}

/// Sequence number of the `i`-th record of a fixture batch (Kinesis-like, increasing).
pub fn sequence_number(i: usize) -> String {
    format!(
        "4959033827149025660855969253836157109592157598913658{:04}",
        i
    )
}

/// A Lambda Kinesis event whose records carry `data` (raw bytes, base64-encoded here).
pub fn kinesis_event(datas: &[Vec<u8>]) -> KinesisEvent {
    let records: Vec<Value> = datas
        .iter()
        .enumerate()
        .map(|(i, data)| record_json(i, &base64::engine::general_purpose::STANDARD.encode(data)))
        .collect();
    event_from_records(records)
}

/// The JSON of one Lambda Kinesis record with base64 `data`.
pub fn record_json(i: usize, data_base64: &str) -> Value {
    let seq = sequence_number(i);
    json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": format!("pk-{i}"),
            "sequenceNumber": seq,
            "data": data_base64,
            "approximateArrivalTimestamp": 1795320000.5,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("{SHARD}:{seq}"),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/log-forwarder",
        "awsRegion": "eu-west-1",
        "eventSourceARN": STREAM_ARN,
    })
}

pub fn event_from_records(records: Vec<Value>) -> KinesisEvent {
    serde_json::from_value(json!({ "Records": records })).expect("valid Kinesis event")
}

/// Sequence numbers reported as batch item failures.
pub fn failed_sequence_numbers(
    response: &aws_lambda_events::event::streams::KinesisEventResponse,
) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect()
}

/// The real forwarder wired to osmem (behind the fault proxy) and moto's SQS.
pub struct Harness {
    pub forwarder: Forwarder<Elasticsearch>,
    pub proxy: FaultProxy,
    /// Index prefix owned by this test.
    pub index: String,
    pub queue_url: String,
    pub sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
}

impl Harness {
    /// A harness for test `name` (used for the index and queue names) with extra
    /// configuration variables on top of fast-retry test defaults.
    pub async fn new(name: &str, vars: &[(&str, &str)]) -> Self {
        let proxy = FaultProxy::start(servers::osmem_url()).await;
        let sdk = servers::aws_config().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("dlq-{name}"))
            .send()
            .await
            .expect("create DLQ in moto")
            .queue_url
            .expect("queue url");
        let index = format!("t-{name}");
        let config = test_config(
            &[
                ("ES_ENDPOINT", proxy.url.clone()),
                ("ES_INDEX", format!("{index}-%Y.%m.%d")),
                ("DLQ_QUEUE_URL", queue_url.clone()),
            ],
            vars,
        );
        let dlq = DeadLetterQueue::new(
            sqs.clone(),
            config.dlq_queue_url.clone(),
            config.dlq_max_message_bytes,
            config.retry.clone(),
        );
        let DestinationConfig::Elasticsearch(es) = &config.destination else {
            panic!("the harness drives Elasticsearch")
        };
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        let auth = Authenticator::new(&es.auth, Some(&ssm), sdk.credentials_provider())
            .await
            .expect("authenticator");
        let destination = Elasticsearch::new(es, &config.output, auth).expect("client");
        Self {
            forwarder: Forwarder::new(config, destination, dlq).expect("forwarder"),
            proxy,
            index,
            queue_url,
            sqs,
            http: reqwest::Client::new(),
        }
    }

    /// Runs one invocation with `budget` until the Lambda deadline.
    pub async fn invoke(&self, event: &KinesisEvent, budget: Duration) -> (Vec<String>, Summary) {
        let deadline = tokio::time::Instant::now() + budget;
        let (response, summary) = self.forwarder.handle(event, deadline).await;
        (failed_sequence_numbers(&response), summary)
    }

    /// Documents in this test's indices (straight from osmem, not through the proxy).
    pub async fn count(&self) -> u64 {
        let url = format!("{}/{}-*/_count", servers::osmem_url(), self.index);
        let v = self.get_json(&url).await;
        v["count"].as_u64().unwrap_or(0)
    }

    /// Every document in this test's indices as `(index, id, source)`.
    pub async fn documents(&self) -> Vec<(String, String, Value)> {
        let url = format!(
            "{}/{}-*/_search?size=10000",
            servers::osmem_url(),
            self.index
        );
        let v = self.get_json(&url).await;
        let mut docs: Vec<_> = v["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|h| {
                (
                    h["_index"].as_str().unwrap_or_default().to_owned(),
                    h["_id"].as_str().unwrap_or_default().to_owned(),
                    h["_source"].clone(),
                )
            })
            .collect();
        docs.sort_by(|a, b| a.1.cmp(&b.1));
        docs
    }

    async fn get_json(&self, url: &str) -> Value {
        let body = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }

    /// Drains the dead-letter queue.
    pub async fn dead_letters(&self) -> Vec<Value> {
        drain_queue(&self.sqs, &self.queue_url).await
    }
}

/// A configuration from `base` and `vars` (which win) on top of fast-retry test defaults.
pub fn test_config(base: &[(&str, String)], vars: &[(&str, &str)]) -> Config {
    let mut map: HashMap<String, String> = [
        ("RETRY_BASE_MS", "10"),
        ("RETRY_MAX_BACKOFF_MS", "40"),
        ("REQUEST_TIMEOUT_MS", "1500"),
        ("DEADLINE_MARGIN_MS", "300"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in base {
        map.insert((*k).to_owned(), v.clone());
    }
    for (k, v) in vars {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|k| map.get(k).cloned()).expect("test configuration")
}

/// Creates a queue in moto and returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue in moto")
        .queue_url
        .expect("queue url")
}

/// Stores a SecureString in moto's SSM.
pub async fn put_secure_string(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter()
        .name(name)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(value)
        .overwrite(true)
        .send()
        .await
        .expect("put parameter into moto");
}

/// Receives and deletes every message of a queue, parsed as JSON dead letters.
pub async fn drain_queue(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<Value> {
    let mut letters = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive from DLQ");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return letters;
        }
        for m in messages {
            let body = m.body.unwrap_or_default();
            letters.push(serde_json::from_str(&body).expect("dead letter is JSON"));
            if let Some(handle) = m.receipt_handle {
                let _ = sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
    }
}
