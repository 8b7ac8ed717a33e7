//! log-forwarder: ships logs from Amazon Kinesis Data Streams (or a CloudWatch Logs
//! subscription, or its own dead-letter queue) to Elasticsearch/OpenSearch or Logz.io.
//!
//! ```text
//! event ─▶ input (base64 → KPL user records → gzip/zlib → CloudWatch Logs payload or text)
//!       ─▶ document (one masked ECS JSON document per log event or line; ids from ids)
//!       ─▶ output (request bodies ≤ MAX_REQUEST_BYTES, sent while decoding continues;
//!                  retry / split / isolate until the deadline; Elasticsearch or Logz.io)
//!       ─▶ dlq (what was rejected for good, with the reason; redrive sends it again)
//!       ─▶ batch item failures (what could not be settled: Lambda retries it)
//! ```
//! The invariant every module serves: each log event ends in exactly one place — indexed once
//! (documents are `create`d with deterministic ids, so replays are no-ops), dead-lettered with a
//! reason, or handed back to Lambda. Stages are plain types testable without a network; I/O
//! lives at the edges ([`output`], [`dlq`], [`secrets`]).
//!
//! | module | role |
//! |---|---|
//! | [`config`] | environment variables → validated [`config::Config`] |
//! | [`input`] | the event view (Kinesis, SQS, direct CloudWatch Logs); one file per record format |
//! | [`mask`] | the masking engine: key rules, value detectors, replacement |
//! | [`document`] | a log event or line → its ECS document, written into the request buffer |
//! | [`ids`] | deterministic ids for lines without a CloudWatch event id |
//! | [`encoder`] | records → request bodies + dead letters (the CPU-bound part, no I/O) |
//! | [`truncate`] | documents shortened to a destination's size limit |
//! | [`output`] | the [`output::Destination`] trait, retry machinery, Elasticsearch, Logz.io, auth |
//! | [`dlq`] | dead letters on SQS |
//! | [`redrive`] | dead letters sent again from the queue |
//! | [`secrets`] | SSM SecureStrings, cached and re-read after a 401/403 |
//! | [`handler`] | one invocation of any trigger: the delivery semantics above |
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
