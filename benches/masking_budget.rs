//! The masking budget of issue 3: on a maximum-size batch, masking may add at most 30 % to the
//! pipeline's CPU time.
//!
//! Criterion (`benches/pipeline.rs`) times the masked and the unmasked pipeline in separate
//! runs, and on a shared VM those moved by up to ±10 % from build to build (code layout,
//! neighbours), more than the budget's margin. Here the two alternate pass by pass in one
//! process on the same workload, so both see the same machine, and each pass is timed by the
//! thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`): the budget is CPU time, and the wall clock
//! also counts the time the VM's neighbours hold the CPU (with another build running, wall-clock
//! ratios swung from +28 % to +42 % between runs while CPU-time ratios stayed within a point).
//! The ratio of the best passes is the figure the README reports.
//!
//! Run: `cargo bench --bench masking_budget` (about 15 s).

use std::hint::black_box;
use std::sync::Arc;

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

/// Passes of each pipeline per workload; the best and the median are reported.
const PASSES: usize = 21;

fn main() {
    let config = config();
    let DestinationConfig::Elasticsearch(es) = &config.destination else {
        unreachable!("the benchmark configures Elasticsearch")
    };
    let destination =
        Elasticsearch::new(es, &config.output, Authenticator::None).expect("destination");
    let masker = Masker::new(&config.mask).expect("default masking rules");
    let mut masked = Encoder::new(&config, config.dlq_max_message_bytes, Arc::new(masker));
    let mut unmasked = Encoder::new(
        &config,
        config.dlq_max_message_bytes,
        Arc::new(Masker::disabled()),
    );

    for (name, events_per_record) in [("max_cloudwatch", 50), ("max_records", 1)] {
        let workload = Workload::build(name, events_per_record);
        workload.describe();
        // One pass of parse + encode, the CPU one invocation costs; returns CPU milliseconds.
        let pass = |encoder: &mut Encoder| {
            let start = thread_cpu_ms();
            let event: KinesisEvent =
                serde_json::from_slice(black_box(&workload.json)).expect("event parses");
            let mut summary = Summary::default();
            let mut letters = Vec::new();
            encoder.encode(&event, &destination, &mut summary, &mut letters, |chunk| {
                black_box(chunk);
            });
            assert_eq!(summary.events, workload.events, "every event is encoded");
            thread_cpu_ms() - start
        };
        pass(&mut masked);
        pass(&mut unmasked);
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for _ in 0..PASSES {
            on.push(pass(&mut masked));
            off.push(pass(&mut unmasked));
        }
        on.sort_by(f64::total_cmp);
        off.sort_by(f64::total_cmp);
        let (best_on, best_off) = (on[0], off[0]);
        let (median_on, median_off) = (on[PASSES / 2], off[PASSES / 2]);
        println!(
            "{name}: masking on {best_on:.1} ms CPU (median {median_on:.1}), off {best_off:.1} ms \
             (median {median_off:.1}): masking adds {:+.1} % (medians {:+.1} %), budget +30 %",
            (best_on / best_off - 1.0) * 100.0,
            (median_on / median_off - 1.0) * 100.0,
        );
        // Neighbours that hold the CPU's caches and cores for most of the run inflate even the
        // best passes unevenly (measured: every pass 25 % slower, the ratio 4 points off).
        if median_off > best_off * 1.1 || median_on > best_on * 1.1 {
            println!(
                "{name}: medians are more than 10 % above the best passes: the machine was busy, \
                 run it again"
            );
        }
    }
}

/// The CPU time this thread has used, in milliseconds.
fn thread_cpu_ms() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on every
    // Linux this runs on (the call only fails for an invalid clock id or pointer).
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    now.tv_sec as f64 * 1e3 + now.tv_nsec as f64 / 1e6
}
