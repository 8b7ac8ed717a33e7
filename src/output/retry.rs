//! Delivery of one chunk: retries, splits, isolation and the deadline.
//!
//! The loop works on sets of item indices. A response settles some items (delivered, already
//! present, rejected) and sends the rest round again: transient failures after an exponential
//! backoff with full jitter, 413s and "something in here is bad" answers split in halves at
//! once. Nothing is retried past `deadline` (the Lambda deadline minus the safety margin) or
//! past `max_attempts`; what is left then is [`Outcome::Unsettled`] and goes back to Lambda as a
//! batch item failure. Re-sending is safe because every document has a deterministic id.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::{Chunk, Destination, ItemVerdict, Rejection, RequestVerdict, Response};
use crate::config::RetryPolicy;

/// The final fate of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    AlreadyPresent,
    Rejected(Rejection),
    /// Neither delivered nor rejected before the deadline or the attempt limit.
    Unsettled(String),
}

/// Counters for the invocation summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryStats {
    pub requests: u32,
    /// Documents sent again after a transient failure.
    pub retried: u32,
    /// Requests split because of a 413 or to isolate a bad document.
    pub splits: u32,
    /// Requests refused as an outage (credentials, endpoint).
    pub outages: u32,
}

/// Shortest request timeout worth attempting; below it the items are left unsettled.
const MIN_REQUEST_TIME: Duration = Duration::from_millis(50);

/// Exponential backoff with full jitter: uniform in `[0, min(max, base · 2^(attempt-1))]`.
pub fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let ceiling = policy
        .base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(policy.max_backoff);
    let ms = ceiling.as_millis() as u64;
    Duration::from_millis(fastrand::u64(0..=ms))
}

struct Work {
    items: Vec<u32>,
    /// Transient failures so far for these items.
    attempt: u32,
}

/// Delivers every item of `chunk`, returning one outcome per item (in item order).
pub async fn deliver<D: Destination>(
    destination: &D,
    chunk: &Chunk,
    policy: &RetryPolicy,
    request_timeout: Duration,
    deadline: Instant,
) -> (Vec<Outcome>, DeliveryStats) {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; chunk.items.len()];
    let mut stats = DeliveryStats::default();
    let mut queue = VecDeque::from([Work {
        items: (0..chunk.items.len() as u32).collect(),
        attempt: 0,
    }]);

    while let Some(work) = queue.pop_front() {
        if work.attempt > 0 {
            if work.attempt >= policy.max_attempts {
                settle_all(
                    &mut outcomes,
                    &work.items,
                    Outcome::Unsettled(format!(
                        "gave up after {} attempts (RETRY_MAX_ATTEMPTS)",
                        work.attempt
                    )),
                );
                continue;
            }
            let pause = backoff(policy, work.attempt);
            if Instant::now() + pause + MIN_REQUEST_TIME >= deadline {
                settle_all(
                    &mut outcomes,
                    &work.items,
                    Outcome::Unsettled("retries stopped before the Lambda deadline".to_owned()),
                );
                continue;
            }
            tokio::time::sleep(pause).await;
            stats.retried += work.items.len() as u32;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left < MIN_REQUEST_TIME {
            settle_all(
                &mut outcomes,
                &work.items,
                Outcome::Unsettled("no time left before the Lambda deadline".to_owned()),
            );
            continue;
        }
        let body = chunk.body_for(&work.items);
        stats.requests += 1;
        let response = destination
            .send(body, work.items.len(), request_timeout.min(left))
            .await;
        match response {
            Response::Items(verdicts) if verdicts.len() == work.items.len() => {
                let mut again = Vec::new();
                for (&item, verdict) in work.items.iter().zip(verdicts) {
                    let outcome = match verdict {
                        ItemVerdict::Delivered => Outcome::Delivered,
                        ItemVerdict::AlreadyPresent => Outcome::AlreadyPresent,
                        ItemVerdict::Rejected(r) => Outcome::Rejected(r),
                        ItemVerdict::Retry(_) => {
                            again.push(item);
                            continue;
                        }
                    };
                    outcomes[item as usize] = Some(outcome);
                }
                if !again.is_empty() {
                    queue.push_back(Work {
                        items: again,
                        attempt: work.attempt + 1,
                    });
                }
            }
            Response::Items(verdicts) => {
                tracing::warn!(
                    destination = destination.name(),
                    sent = work.items.len(),
                    answered = verdicts.len(),
                    "response item count does not match the request; sending again"
                );
                queue.push_back(Work {
                    attempt: work.attempt + 1,
                    ..work
                });
            }
            Response::Request(RequestVerdict::Delivered) => {
                settle_all(&mut outcomes, &work.items, Outcome::Delivered);
            }
            Response::Request(RequestVerdict::Retry(reason)) => {
                tracing::debug!(destination = destination.name(), %reason, "request will be retried");
                queue.push_back(Work {
                    attempt: work.attempt + 1,
                    ..work
                });
            }
            Response::Request(RequestVerdict::TooLarge) if work.items.len() == 1 => {
                settle_all(
                    &mut outcomes,
                    &work.items,
                    Outcome::Rejected(Rejection {
                        status: 413,
                        error_type: "request_too_large".to_owned(),
                        reason: format!(
                            "the destination refuses a request holding only this document ({} bytes)",
                            chunk.document(work.items[0] as usize).len()
                        ),
                        index: None,
                    }),
                );
            }
            Response::Request(RequestVerdict::Isolate(rejection)) if work.items.len() == 1 => {
                settle_all(&mut outcomes, &work.items, Outcome::Rejected(rejection));
            }
            Response::Request(RequestVerdict::TooLarge | RequestVerdict::Isolate(_)) => {
                stats.splits += 1;
                let mut first = work.items;
                let second = first.split_off(first.len() / 2);
                // Halves go first: they are the same documents, no backoff needed.
                queue.push_front(Work {
                    items: second,
                    attempt: work.attempt,
                });
                queue.push_front(Work {
                    items: first,
                    attempt: work.attempt,
                });
            }
            Response::Request(RequestVerdict::Outage(reason)) => {
                stats.outages += 1;
                settle_all(&mut outcomes, &work.items, Outcome::Unsettled(reason));
            }
        }
    }

    let outcomes = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Outcome::Unsettled("not attempted".to_owned())))
        .collect();
    (outcomes, stats)
}

fn settle_all(outcomes: &mut [Option<Outcome>], items: &[u32], outcome: Outcome) {
    for &i in items {
        outcomes[i as usize] = Some(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::ChunkBuilder;
    use std::sync::Mutex;

    /// A destination that answers from a script and records what it was sent. (The real
    /// destinations are tested against real servers in tests/.)
    type Answer = Box<dyn Fn(&[u8]) -> Response + Send>;

    struct Scripted {
        answers: Mutex<VecDeque<Answer>>,
        bodies: Mutex<Vec<String>>,
    }

    impl Scripted {
        fn new(answers: Vec<Answer>) -> Self {
            Self {
                answers: Mutex::new(answers.into()),
                bodies: Mutex::new(Vec::new()),
            }
        }
    }

    impl Destination for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn write_item_header(&self, _: &mut Vec<u8>, _: i64, _: &[u8]) {}
        async fn send(&self, body: bytes::Bytes, _: usize, _: Duration) -> Response {
            self.bodies
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let answer = self.answers.lock().unwrap().pop_front();
            match answer {
                Some(f) => f(&body),
                None => Response::Request(RequestVerdict::Retry("script exhausted".into())),
            }
        }
    }

    fn chunk(docs: &[&str]) -> Chunk {
        let mut b = ChunkBuilder::new(1 << 20);
        for (i, d) in docs.iter().enumerate() {
            b.begin(i as u32, &i.to_string());
            b.document().extend_from_slice(d.as_bytes());
            assert!(b.finish().is_none());
        }
        b.take().unwrap()
    }

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            max_attempts,
            deadline_margin: Duration::ZERO,
        }
    }

    fn rejection(reason: &str) -> Rejection {
        Rejection {
            status: 400,
            error_type: "bad".into(),
            reason: reason.into(),
            index: None,
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[tokio::test]
    async fn item_retries_resend_only_the_retried_items() {
        let d = Scripted::new(vec![
            Box::new(|_| {
                Response::Items(vec![
                    ItemVerdict::Delivered,
                    ItemVerdict::Retry("429".into()),
                    ItemVerdict::Rejected(rejection("mapping")),
                    ItemVerdict::AlreadyPresent,
                ])
            }),
            Box::new(|_| Response::Request(RequestVerdict::Retry("503".into()))),
            Box::new(|_| Response::Items(vec![ItemVerdict::Delivered])),
        ]);
        let c = chunk(&["a", "b", "c", "d"]);
        let (out, stats) = deliver(&d, &c, &policy(5), Duration::from_secs(1), far()).await;
        assert_eq!(
            out,
            [
                Outcome::Delivered,
                Outcome::Delivered,
                Outcome::Rejected(rejection("mapping")),
                Outcome::AlreadyPresent
            ]
        );
        assert_eq!(*d.bodies.lock().unwrap(), ["a\nb\nc\nd\n", "b\n", "b\n"]);
        assert_eq!(stats.requests, 3);
        assert_eq!(stats.retried, 2);
    }

    #[tokio::test]
    async fn too_large_splits_until_single_documents_are_rejected() {
        // Any request containing "big" is too large.
        let answer = |body: &[u8]| {
            if String::from_utf8_lossy(body).contains("big") {
                Response::Request(RequestVerdict::TooLarge)
            } else {
                Response::Request(RequestVerdict::Delivered)
            }
        };
        let d = Scripted::new((0..10).map(|_| Box::new(answer) as _).collect());
        let c = chunk(&["a", "big", "c", "d"]);
        let (out, stats) = deliver(&d, &c, &policy(5), Duration::from_secs(1), far()).await;
        assert_eq!(out[0], Outcome::Delivered);
        assert!(matches!(&out[1], Outcome::Rejected(r) if r.status == 413));
        assert_eq!(out[2], Outcome::Delivered);
        assert_eq!(out[3], Outcome::Delivered);
        assert_eq!(
            *d.bodies.lock().unwrap(),
            ["a\nbig\nc\nd\n", "a\nbig\n", "a\n", "big\n", "c\nd\n"]
        );
        assert_eq!(stats.splits, 2);
    }

    #[tokio::test]
    async fn isolation_finds_the_bad_document() {
        let answer = |body: &[u8]| {
            if String::from_utf8_lossy(body).contains("bad") {
                Response::Request(RequestVerdict::Isolate(rejection("malformed")))
            } else {
                Response::Request(RequestVerdict::Delivered)
            }
        };
        let d = Scripted::new((0..10).map(|_| Box::new(answer) as _).collect());
        let c = chunk(&["a", "b", "bad", "d"]);
        let (out, _) = deliver(&d, &c, &policy(5), Duration::from_secs(1), far()).await;
        assert_eq!(out[2], Outcome::Rejected(rejection("malformed")));
        assert!(out
            .iter()
            .enumerate()
            .all(|(i, o)| i == 2 || *o == Outcome::Delivered));
    }

    #[tokio::test]
    async fn attempts_and_deadline_bound_the_retries() {
        let d = Scripted::new(vec![]);
        let c = chunk(&["a"]);
        let (out, stats) = deliver(&d, &c, &policy(3), Duration::from_secs(1), far()).await;
        assert!(matches!(&out[0], Outcome::Unsettled(r) if r.contains("3 attempts")));
        assert_eq!(stats.requests, 3);

        let d = Scripted::new(vec![]);
        let mut p = policy(1000);
        p.base = Duration::from_millis(50);
        p.max_backoff = Duration::from_millis(50);
        let started = Instant::now();
        let deadline = started + Duration::from_millis(400);
        let (out, _) = deliver(&d, &c, &p, Duration::from_secs(1), deadline).await;
        assert!(matches!(&out[0], Outcome::Unsettled(r) if r.contains("deadline")));
        assert!(Instant::now() <= deadline, "retried past the deadline");
    }

    #[tokio::test]
    async fn outages_leave_items_unsettled_without_retrying() {
        let d = Scripted::new(vec![Box::new(|_| {
            Response::Request(RequestVerdict::Outage("401 Unauthorized".into()))
        })]);
        let c = chunk(&["a", "b"]);
        let (out, stats) = deliver(&d, &c, &policy(5), Duration::from_secs(1), far()).await;
        assert_eq!(out, vec![Outcome::Unsettled("401 Unauthorized".into()); 2]);
        assert_eq!(stats.requests, 1);
        assert_eq!(stats.outages, 1);
    }

    #[test]
    fn backoff_is_bounded_by_the_exponential_ceiling() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_attempts: 10,
            deadline_margin: Duration::ZERO,
        };
        for attempt in 1..12 {
            let ceiling = (100u64 << (attempt - 1)).min(1000);
            for _ in 0..50 {
                assert!(backoff(&p, attempt) <= Duration::from_millis(ceiling));
            }
        }
    }
}
