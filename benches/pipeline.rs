//! The CPU-bound part of one invocation on maximum-size Lambda batches.
//!
//! Two workloads bound the space a real invocation can be in (both at Lambda's 6 MiB payload
//! limit, see ../shared/PERFORMANCE.md for the reference figures):
//! - `max_cloudwatch`: records of 50 log events — the most log events one invocation can carry,
//!   where per-event costs (inflate, payload JSON, document writing) dominate;
//! - `max_records`: one small record per log event — the most records one invocation can
//!   carry, where per-record costs (envelope, base64, inflater setup, record context) dominate.
//!   Lambda's 10,000-record batch maximum is never reached with CloudWatch Logs data: the
//!   record envelope alone is ~565 bytes, so 10,000 records leave ~60 bytes of base64 `data`
//!   each under 6 MiB, far less than even a one-event subscription payload takes (a few
//!   hundred bytes).
//!
//! The workload is built once, before any timing, by a deterministic generator (fixed-seed
//! xorshift), so runs are comparable across machines and commits. About 10 % of the messages
//! carry something secret-looking. Every stage runs twice: with the default masking rules and,
//! under names starting with `unmasked_`, with masking off — the baseline the masking budget
//! (at most +30 % on a max-size batch) is measured against.
//!
//! Run: `cargo bench --bench pipeline` (add `-- --quick` for a shorter run).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use log_forwarder::config::DestinationConfig;
use log_forwarder::encoder::Encoder;
use log_forwarder::input::KinesisEvent;
use log_forwarder::mask::Masker;
use log_forwarder::output::auth::Authenticator;
use log_forwarder::output::elasticsearch::Elasticsearch;
use log_forwarder::Summary;

#[path = "support/workload.rs"]
mod workload;
use workload::{config, Workload};

// ---------------------------------------------------------------------------------------------
// Benchmarks

fn bench_workload(c: &mut Criterion, workload: &Workload) {
    let config = config();
    let DestinationConfig::Elasticsearch(es) = &config.destination else {
        unreachable!("the benchmark configures Elasticsearch")
    };
    let destination =
        Elasticsearch::new(es, &config.output, Authenticator::None).expect("destination");
    let masker = std::sync::Arc::new(Masker::new(&config.mask).expect("default masking rules"));
    let mut encoder = Encoder::new(&config, config.dlq_max_message_bytes, masker);
    // The same pipeline with masking off: the baseline the masking budget (issue 3: at most
    // +30 %) is measured against. Its names start with `unmasked_` so a filter such as
    // `max_cloudwatch/parse_and_encode` selects only the masked variant.
    let mut unmasked = Encoder::new(
        &config,
        config.dlq_max_message_bytes,
        std::sync::Arc::new(Masker::disabled()),
    );
    let mut letters = Vec::new();

    // One untimed pass that must account for every generated event: a benchmark of a pipeline
    // that dead-letters everything would otherwise look very fast.
    let event: KinesisEvent = serde_json::from_slice(&workload.json).expect("event parses");
    assert_eq!(event.records.len(), workload.records);
    let mut summary = Summary::default();
    let (mut documents, mut body_bytes, mut chunks) = (0, 0, 0);
    encoder.encode(&event, &destination, &mut summary, &mut letters, |chunk| {
        documents += chunk.items.len();
        body_bytes += chunk.body.len();
        chunks += 1;
    });
    assert_eq!(summary.events, workload.events, "{}", workload.name);
    assert_eq!(documents, workload.events, "{}", workload.name);
    assert_eq!(summary.poison_records, 0, "{}", workload.name);
    assert!(letters.is_empty(), "unexpected dead letters: {letters:?}");
    workload.describe();
    eprintln!(
        "workload {}: _bulk bodies {} bytes ({:.1} MB) in {} requests",
        workload.name,
        body_bytes,
        body_bytes as f64 / 1e6,
        chunks
    );

    let mut group = c.benchmark_group(workload.name);
    group.sample_size(10);
    group.throughput(Throughput::Bytes(workload.json.len() as u64));

    group.bench_function("parse_event", |b| {
        b.iter(|| serde_json::from_slice::<KinesisEvent>(black_box(&workload.json)).unwrap())
    });

    for (prefix, encoder) in [("", &mut encoder), ("unmasked_", &mut unmasked)] {
        group.bench_function(format!("{prefix}encode"), |b| {
            b.iter(|| {
                letters.clear();
                let mut summary = Summary::default();
                encoder.encode(
                    black_box(&event),
                    &destination,
                    &mut summary,
                    &mut letters,
                    |chunk| {
                        black_box(chunk);
                    },
                );
                summary
            })
        });

        group.bench_function(format!("{prefix}parse_and_encode"), |b| {
            b.iter(|| {
                letters.clear();
                let event: KinesisEvent =
                    serde_json::from_slice(black_box(&workload.json)).unwrap();
                let mut summary = Summary::default();
                encoder.encode(&event, &destination, &mut summary, &mut letters, |chunk| {
                    black_box(chunk);
                });
                summary
            })
        });
    }

    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let max_cloudwatch = Workload::build("max_cloudwatch", 50);
    let max_records = Workload::build("max_records", 1);
    bench_workload(c, &max_cloudwatch);
    bench_workload(c, &max_records);
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
