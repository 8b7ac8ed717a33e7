//! log-forwarder: ships logs from Amazon Kinesis Data Streams to Elasticsearch/OpenSearch.
//!
//! ```text
//! KinesisEvent ─▶ input (base64 → gzip → CloudWatch Logs payload)
//!              ─▶ document (one ECS JSON document per log event)
//!              ─▶ output (request bodies ≤ ES_BULK_MAX_BYTES, sent while decoding continues;
//!                         retry / split / isolate until the deadline)
//!              ─▶ dlq (what was rejected for good, with the reason)
//!              ─▶ batch item failures (what could not be settled: Lambda retries it)
//! ```
//! The invariant every module serves: each log event ends in exactly one place — indexed once
//! (documents are `create`d with deterministic ids, so replays are no-ops), dead-lettered with a
//! reason, or handed back to Lambda. Stages are plain types testable without a network; I/O
//! lives at the edges ([`output`], [`dlq`]).
//!
//! | module | role |
//! |---|---|
//! | [`config`] | environment variables → validated [`config::Config`] |
//! | [`input`] | the Kinesis event view; one file per record format |
//! | [`document`] | a log event → its ECS document, written into the request buffer |
//! | [`encoder`] | records → request bodies + dead letters (the CPU-bound part, no I/O) |
//! | [`output`] | the [`output::Destination`] trait, request bodies, retry machinery, Elasticsearch |
//! | [`dlq`] | dead letters on SQS |
//! | [`handler`] | one invocation: the delivery semantics above |
//! | [`logging`] | structured JSON logs |

pub mod config;
pub mod dlq;
pub mod document;
pub mod encoder;
pub mod handler;
pub mod ids;
pub mod input;
pub mod logging;
pub mod mask;
pub mod output;
pub mod redrive;
pub mod secrets;
pub mod time;
pub mod truncate;

pub use config::Config;
pub use handler::{Forwarder, Summary};
