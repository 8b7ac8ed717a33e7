//! One invocation: Kinesis records in, batch item failures out.
//!
//! The invariant: every log event ends in exactly one place — indexed once, dead-lettered with
//! a reason, or handed back to Lambda for retry. How the handler keeps it:
//!
//! 1. **Encode** every record (decode → documents → request bodies). Bodies are handed to
//!    delivery tasks as soon as they are full, so sending overlaps decoding. Records that cannot
//!    be decoded and events that cannot become documents become dead letters.
//! 2. **Deliver** with retries until the deadline minus the safety margin
//!    ([`crate::output::retry`]). Each document ends delivered, already present (a replay),
//!    rejected (→ dead letter) or unsettled.
//! 3. **Hand back.** Lambda retries a Kinesis batch from the *lowest* failed sequence number of
//!    each shard, so once a record is unsettled, every later record of its shard will be
//!    processed again anyway. Those records are all reported as failures, and their dead
//!    letters are *not* sent now (the retry will send them), which keeps dead letters from being
//!    written twice. Indexing twice cannot happen: documents are `create`d with their event id.
//! 4. **Dead-letter** the remaining letters in record order; if the queue cannot be written,
//!    the records from the first unsent letter on are handed back too.
//!
//! A problem with one record never fails the invocation; the invocation never reports success
//! while an event is unsettled.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::dlq::{DeadLetterQueue, Letter, Payload, Stage};
use crate::encoder::{Encoder, PendingLetter};
use crate::input::{KinesisEvent, KinesisEventRecord, Trigger};
use crate::mask::{MaskCounts, MaskError, Masker};
use crate::output::retry::{self, DeliveryStats, Outcome};
use crate::output::{Chunk, Destination};
use crate::redrive;
use crate::time;

/// Counts for the invocation summary (logged once per invocation, asserted by tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub records: usize,
    pub events: usize,
    pub delivered: usize,
    /// Documents the destination already had (a replayed batch).
    pub already_present: usize,
    /// Document sends repeated after transient failures.
    pub retried: usize,
    pub dead_lettered: usize,
    /// Events not settled in this invocation; their records go back to Lambda.
    pub failed_back: usize,
    /// Records reported as batch item failures.
    pub failed_records: usize,
    pub control_messages: usize,
    /// Documents shortened to the destination's size limit (`log.truncated`).
    pub truncated: usize,
    pub poison_records: usize,
    pub requests: usize,
    pub splits: usize,
    /// Values masked, per detector (never the values themselves).
    pub masked: MaskCounts,
    pub encode_ms: u64,
    pub total_ms: u64,
}

/// A direct CloudWatch Logs delivery that could not be settled: the invocation fails so that
/// CloudWatch Logs delivers the payload again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{events} events not settled before the deadline; CloudWatch Logs will retry the delivery")]
pub struct NotSettled {
    pub events: usize,
}

impl Summary {
    fn add_delivery(&mut self, stats: &DeliveryStats) {
        self.requests += stats.requests as usize;
        self.retried += stats.retried as usize;
        self.splits += stats.splits as usize;
    }
}

type Delivery = JoinHandle<(Arc<Chunk>, Vec<Outcome>, DeliveryStats)>;

/// The forwarder: configuration, destination and dead-letter queue, built once at cold start.
pub struct Forwarder<D: Destination> {
    config: Arc<Config>,
    destination: Arc<D>,
    dlq: DeadLetterQueue,
    encoder: Mutex<Encoder>,
    in_flight: Arc<Semaphore>,
}

impl<D: Destination> Forwarder<D> {
    /// Builds the forwarder; fails only when the masking rules do not compile.
    pub fn new(config: Config, destination: D, dlq: DeadLetterQueue) -> Result<Self, MaskError> {
        let masker = Arc::new(Masker::new(&config.mask)?);
        let encoder = Encoder::new(&config, dlq.max_bytes(), masker);
        Ok(Self {
            in_flight: Arc::new(Semaphore::new(config.output.max_concurrency)),
            config: Arc::new(config),
            destination: Arc::new(destination),
            dlq,
            encoder: Mutex::new(encoder),
        })
    }

    /// Processes one Kinesis event that must be settled by `deadline`.
    pub async fn handle(
        &self,
        event: &KinesisEvent,
        deadline: Instant,
    ) -> (KinesisEventResponse, Summary) {
        let started = Instant::now();
        let records = &event.records;
        let mut summary = Summary {
            records: records.len(),
            ..Summary::default()
        };

        // The margin keeps time to dead-letter and answer; on a short timeout it shrinks so
        // delivery still gets most of the time.
        let budget = deadline.saturating_duration_since(started);
        let margin = self.config.retry.deadline_margin.min(budget / 4);
        let delivery_deadline = deadline - margin;
        let dlq_deadline = deadline - margin / 3;

        let mut letters = Vec::new();
        let deliveries = self.encode(event, delivery_deadline, &mut letters, &mut summary);
        summary.encode_ms = started.elapsed().as_millis() as u64;

        // Unsettled records, by batch index.
        let mut unsettled = vec![false; records.len()];
        let mut unsettled_reason = None;
        for delivery in deliveries {
            let (chunk, outcomes, stats) = match delivery.await {
                Ok(done) => done,
                Err(e) => {
                    // Only a bug can get here; the records are retried rather than lost.
                    tracing::error!(error = %e, "delivery task failed");
                    unsettled.iter_mut().for_each(|u| *u = true);
                    continue;
                }
            };
            summary.add_delivery(&stats);
            for (i, outcome) in outcomes.into_iter().enumerate() {
                let record = chunk.items[i].record;
                match outcome {
                    Outcome::Delivered => summary.delivered += 1,
                    Outcome::AlreadyPresent => summary.already_present += 1,
                    Outcome::Unsettled(reason) => {
                        unsettled[record as usize] = true;
                        summary.failed_back += 1;
                        unsettled_reason.get_or_insert(reason);
                    }
                    Outcome::Rejected(rejection) => {
                        let source = records[record as usize].source();
                        let letter = Letter {
                            stage: Stage::Destination,
                            reason: &rejection.reason,
                            error_type: &rejection.error_type,
                            status: Some(rejection.status),
                            destination: Some(self.destination.name()),
                            index: rejection.index.as_deref(),
                            event_id: Some(chunk.id(i)),
                            source: &source,
                            payload: Payload::Document(chunk.document(i)),
                        };
                        letters.push(PendingLetter {
                            record,
                            body: letter.render(self.dlq.max_bytes(), time::now_millis()),
                        });
                    }
                }
            }
        }
        if let Some(reason) = &unsettled_reason {
            tracing::warn!(%reason, events = summary.failed_back, "events not delivered before the deadline; their records go back to Lambda");
        }

        // Dead letters of records that go back to Lambda anyway are sent by the retry.
        let mut handed_back = hand_back(event, &unsettled);
        letters.sort_by_key(|l| l.record);
        let (send, skip): (Vec<_>, Vec<_>) = letters
            .into_iter()
            .partition(|l| !handed_back[l.record as usize]);
        summary.failed_back += skip.len();
        let letter_records: Vec<u32> = send.iter().map(|l| l.record).collect();
        let bodies: Vec<String> = send.into_iter().map(|l| l.body).collect();
        let sent = if bodies.is_empty() {
            0
        } else {
            self.dlq.send(&bodies, dlq_deadline).await
        };
        summary.dead_lettered = sent;
        if sent < bodies.len() {
            summary.failed_back += bodies.len() - sent;
            for &record in &letter_records[sent..] {
                unsettled[record as usize] = true;
            }
            handed_back = hand_back(event, &unsettled);
        }

        let mut response = KinesisEventResponse::default();
        for (record, _) in handed_back.iter().enumerate().filter(|(_, h)| **h) {
            let mut failure = KinesisBatchItemFailure::default();
            failure.item_identifier = Some(records[record].kinesis.sequence_number.clone());
            response.batch_item_failures.push(failure);
        }
        summary.failed_records = response.batch_item_failures.len();
        summary.total_ms = started.elapsed().as_millis() as u64;
        (response, summary)
    }

    /// Handles an event from any of the function's triggers: Kinesis records, SQS messages
    /// from the dead-letter queue (redrive), or a CloudWatch Logs subscription delivered
    /// straight to Lambda (`region`: where the function runs, for its documents). The latter
    /// fails as a whole when anything is unsettled: CloudWatch Logs retries a failed invocation
    /// with the whole payload, and has no partial batch response.
    pub async fn handle_invocation(
        &self,
        event: &KinesisEvent,
        deadline: Instant,
        region: &str,
    ) -> (Result<KinesisEventResponse, NotSettled>, Summary) {
        match event.trigger() {
            Trigger::Kinesis => {
                let (response, summary) = self.handle(event, deadline).await;
                (Ok(response), summary)
            }
            Trigger::Sqs => {
                let (response, summary) = self.redrive(&event.records, deadline).await;
                (Ok(response), summary)
            }
            Trigger::CloudWatchLogs => {
                let Some(awslogs) = &event.awslogs else {
                    return (Ok(KinesisEventResponse::default()), Summary::default());
                };
                let single = KinesisEvent::from_awslogs(awslogs, region);
                let (response, summary) = self.handle(&single, deadline).await;
                // Dead letters of an unsettled payload were not sent (it is one record), so
                // the retry cannot write them twice.
                if response.batch_item_failures.is_empty() {
                    (Ok(response), summary)
                } else {
                    let events = summary.failed_back;
                    (Err(NotSettled { events }), summary)
                }
            }
        }
    }

    /// Sends the documents of dead letters (an SQS event from the dead-letter queue) again.
    /// Returns the ids of the messages that must stay in the queue: letters without a whole
    /// document, and documents refused again or not settled before `deadline`.
    pub async fn redrive(
        &self,
        messages: &[KinesisEventRecord],
        deadline: Instant,
    ) -> (KinesisEventResponse, Summary) {
        let started = Instant::now();
        let mut summary = Summary {
            records: messages.len(),
            ..Summary::default()
        };
        let budget = deadline.saturating_duration_since(started);
        let delivery_deadline = deadline - self.config.retry.deadline_margin.min(budget / 4);
        let (chunks, skipped) = redrive::build(
            messages,
            &*self.destination,
            self.config.output.max_request_bytes,
        );
        let mut stays = vec![false; messages.len()];
        for (i, skip) in skipped {
            stays[i] = true;
            summary.poison_records += 1;
            let source = redrive::message_source(&messages[i]);
            tracing::warn!(message_id = source.sequence_number, reason = ?skip, "dead letter cannot be redriven; it stays in the queue");
        }
        let deliveries: Vec<Delivery> = chunks
            .into_iter()
            .map(|chunk| self.spawn_delivery(chunk, delivery_deadline))
            .collect();
        for delivery in deliveries {
            let Ok((chunk, outcomes, stats)) = delivery.await else {
                stays.iter_mut().for_each(|s| *s = true);
                continue;
            };
            summary.add_delivery(&stats);
            for (i, outcome) in outcomes.into_iter().enumerate() {
                let message = chunk.items[i].record as usize;
                summary.events += 1;
                match outcome {
                    Outcome::Delivered => summary.delivered += 1,
                    Outcome::AlreadyPresent => summary.already_present += 1,
                    Outcome::Rejected(rejection) => {
                        stays[message] = true;
                        summary.failed_back += 1;
                        tracing::warn!(event_id = chunk.id(i), reason = %rejection.reason, "redriven document refused again; its dead letter stays in the queue");
                    }
                    Outcome::Unsettled(reason) => {
                        stays[message] = true;
                        summary.failed_back += 1;
                        tracing::debug!(event_id = chunk.id(i), %reason, "redrive not settled");
                    }
                }
            }
        }
        let mut response = KinesisEventResponse::default();
        for (message, _) in messages.iter().zip(&stays).filter(|(_, s)| **s) {
            let mut failure = KinesisBatchItemFailure::default();
            failure.item_identifier = message.message_id.clone();
            response.batch_item_failures.push(failure);
        }
        summary.failed_records = response.batch_item_failures.len();
        summary.total_ms = started.elapsed().as_millis() as u64;
        (response, summary)
    }

    /// Encodes every record, spawning a delivery task per full request body.
    fn encode(
        &self,
        event: &KinesisEvent,
        deadline: Instant,
        letters: &mut Vec<PendingLetter>,
        summary: &mut Summary,
    ) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        let mut encoder = self
            .encoder
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        encoder.encode(event, &*self.destination, summary, letters, |chunk| {
            deliveries.push(self.spawn_delivery(chunk, deadline));
        });
        summary.masked = encoder.take_mask_counts();
        deliveries
    }

    fn spawn_delivery(&self, chunk: Chunk, deadline: Instant) -> Delivery {
        let chunk = Arc::new(chunk);
        let destination = Arc::clone(&self.destination);
        let in_flight = Arc::clone(&self.in_flight);
        let config = Arc::clone(&self.config);
        tokio::spawn(async move {
            // The semaphore is never closed; if it were, sending unthrottled is still correct.
            let _permit = in_flight.acquire().await.ok();
            let (outcomes, stats) = retry::deliver(
                &*destination,
                &chunk,
                &config.retry,
                config.output.request_timeout,
                deadline,
            )
            .await;
            (chunk, outcomes, stats)
        })
    }
}

/// Records to report as failures: in each shard, every record from the first unsettled one on
/// (Lambda resumes a shard from its lowest reported sequence number).
fn hand_back(event: &KinesisEvent, unsettled: &[bool]) -> Vec<bool> {
    let mut failing: HashSet<&str> = HashSet::new();
    event
        .records
        .iter()
        .zip(unsettled)
        .map(|(record, &u)| {
            let shard = record.source().shard_id;
            if u {
                failing.insert(shard);
            }
            failing.contains(shard)
        })
        .collect()
}

/// Deadlines below this (2001-09-09 as epoch milliseconds) are durations, not instants.
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

/// The Lambda deadline (milliseconds since the epoch) as a tokio instant.
///
/// Lambda always sends an epoch instant. `cargo lambda watch` sends the function timeout
/// itself (e.g. `600000`); read literally, that deadline passed decades ago and every record
/// would be handed back untried, so a value that cannot be a current instant is taken as the
/// time left.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    let left = if deadline_ms < EPOCH_MS_FLOOR {
        deadline_ms
    } else {
        deadline_ms.saturating_sub(time::now_millis().max(0) as u64)
    };
    Instant::now() + Duration::from_millis(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(shards: &[&str]) -> KinesisEvent {
        let records: Vec<String> = shards
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    r#"{{"eventID":"{s}:{i}","eventSourceARN":"arn:aws:kinesis:us-east-1:1:stream/s","kinesis":{{"sequenceNumber":"{i}","data":""}}}}"#
                )
            })
            .collect();
        serde_json::from_str(&format!(r#"{{"Records":[{}]}}"#, records.join(","))).unwrap()
    }

    #[test]
    fn deadlines_are_epoch_instants_or_emulator_timeouts() {
        let now = Instant::now();
        let epoch = deadline_from_epoch_ms(time::now_millis() as u64 + 5_000);
        assert!(
            epoch > now + Duration::from_millis(4_000)
                && epoch <= now + Duration::from_millis(5_100)
        );
        let emulator = deadline_from_epoch_ms(600_000);
        assert!(emulator > now + Duration::from_secs(599));
        let passed = deadline_from_epoch_ms(time::now_millis() as u64 - 1_000);
        assert!(passed <= Instant::now());
    }

    #[test]
    fn hand_back_reports_everything_after_the_first_failure_of_each_shard() {
        let e = event(&["a", "a", "b", "a", "b", "b"]);
        let unsettled = [false, true, false, false, false, true];
        assert_eq!(
            hand_back(&e, &unsettled),
            [false, true, false, true, false, true]
        );
        assert_eq!(hand_back(&e, &[false; 6]), [false; 6]);
    }
}
