//! Independent evaluation corpus for the default masking engine (`log_forwarder::mask`).
//!
//! The fixtures were written from the requirements, not from the engine, so the
//! scores measure how well the engine generalises to real-world log lines:
//!
//! * `tests/fixtures/masking/secrets.jsonl`: one object per line,
//!   `{"category", "text", "secrets": [..], "keep": [..]?}`. Every listed secret
//!   must be absent from the masked output. The optional `keep` anchors are text
//!   next to a secret that should survive (key names, other query parameters, the
//!   user and host around a URL password); they are reported but not asserted.
//! * `tests/fixtures/masking/lookalikes.jsonl`: `{"category", "text"}`. Each text
//!   must come out byte-for-byte unchanged.
//!
//! Run `cargo test --test masking_corpus -- --nocapture` to see the full report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use log_forwarder::mask::{MaskConfig, Masker};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Share of listed secrets that must be masked.
const MIN_RECALL: f64 = 0.995;
/// Share of look-alike lines that must come out unchanged.
const MIN_PRECISION: f64 = 0.99;
/// Categories where a single leaked secret fails the test.
const HARD_CATEGORIES: &[&str] = &["pem_private_key", "aws_secret_key"];
/// Characters of input/output shown per failure.
const SHOW_CHARS: usize = 300;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretCase {
    category: String,
    text: String,
    secrets: Vec<String>,
    #[serde(default)]
    keep: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookalikeCase {
    category: String,
    text: String,
}

#[derive(Debug, Default)]
struct Tally {
    total: usize,
    failed: usize,
}

struct Failure<'a> {
    category: &'a str,
    input: &'a str,
    output: String,
    detail: String,
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/masking")
        .join(name)
}

fn load<T: DeserializeOwned>(name: &str) -> Vec<T> {
    let path = fixture(name);
    let raw = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    raw.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: invalid fixture line: {e}", name, i + 1))
        })
        .collect()
}

/// Truncates to `SHOW_CHARS` characters and escapes control characters.
fn show(s: &str) -> String {
    let mut cut: String = s.chars().take(SHOW_CHARS).collect();
    if s.chars().count() > SHOW_CHARS {
        cut.push_str(" …[truncated]");
    }
    format!("{cut:?}")
}

fn ratio(good: usize, total: usize) -> f64 {
    if total == 0 {
        1.0
    } else {
        good as f64 / total as f64
    }
}

fn write_table(report: &mut String, title: &str, unit: &str, tallies: &BTreeMap<&str, Tally>) {
    let _ = writeln!(report, "\n== {title} ==");
    let _ = writeln!(
        report,
        "{:<24} {:>8} {:>9}",
        "category",
        format!("{unit}s"),
        "failures"
    );
    let (mut total, mut failed) = (0, 0);
    for (category, t) in tallies {
        let mark = if t.failed > 0 { "  <--" } else { "" };
        let _ = writeln!(
            report,
            "{:<24} {:>8} {:>9}{mark}",
            category, t.total, t.failed
        );
        total += t.total;
        failed += t.failed;
    }
    let _ = writeln!(report, "{:<24} {:>8} {:>9}", "TOTAL", total, failed);
}

fn write_failures(report: &mut String, title: &str, failures: &[Failure<'_>]) {
    let _ = writeln!(report, "\n== {title}: {} ==", failures.len());
    for f in failures {
        let _ = writeln!(report, "[{}] {}", f.category, f.detail);
        let _ = writeln!(report, "    input:  {}", show(f.input));
        let _ = writeln!(report, "    output: {}", show(&f.output));
    }
}

#[test]
fn corpus_is_well_formed() {
    for (secrets, lookalikes) in [
        ("secrets.jsonl", "lookalikes.jsonl"),
        ("blind2-secrets.jsonl", "blind2-lookalikes.jsonl"),
        ("blind3-secrets.jsonl", "blind3-lookalikes.jsonl"),
        ("blind4-secrets.jsonl", "blind4-lookalikes.jsonl"),
        ("blind5-secrets.jsonl", "blind5-lookalikes.jsonl"),
        ("blind6-secrets.jsonl", "blind6-lookalikes.jsonl"),
        ("blind7-secrets.jsonl", "blind7-lookalikes.jsonl"),
    ] {
        well_formed(load(secrets), load(lookalikes));
    }
}

fn well_formed(secrets: Vec<SecretCase>, lookalikes: Vec<LookalikeCase>) {
    assert!(secrets.len() >= 250, "only {} secret lines", secrets.len());
    assert!(
        lookalikes.len() >= 200,
        "only {} look-alike lines",
        lookalikes.len()
    );
    for case in &secrets {
        assert!(!case.category.is_empty() && !case.secrets.is_empty());
        for secret in &case.secrets {
            assert!(
                !secret.is_empty() && case.text.contains(secret.as_str()),
                "[{}] secret {secret:?} does not occur in its text",
                case.category
            );
        }
        for anchor in &case.keep {
            assert!(
                case.text.contains(anchor.as_str()),
                "[{}] keep anchor {anchor:?} does not occur in its text",
                case.category
            );
        }
    }
    for case in &lookalikes {
        assert!(!case.category.is_empty() && !case.text.is_empty());
    }
}

#[test]
fn default_masker_scores_on_corpus() {
    evaluate("secrets.jsonl", "lookalikes.jsonl");
}

/// A second corpus, written blind later by another author (different shapes: Go `%+v`
/// structs, ECS `name`/`value` pairs, wire logs, PHP `print_r`, …).
#[test]
fn default_masker_scores_on_second_blind_corpus() {
    evaluate("blind2-secrets.jsonl", "blind2-lookalikes.jsonl");
}

/// A third blind corpus, weighted like a company's real traffic (frameworks, proxies, tools,
/// databases, brokers).
#[test]
fn default_masker_scores_on_third_blind_corpus() {
    evaluate("blind3-secrets.jsonl", "blind3-lookalikes.jsonl");
}

/// A fourth blind corpus, written from the requirements by a helper that never read the engine
/// or the other corpora (first contact: see the README's masking section).
#[test]
fn default_masker_scores_on_fourth_blind_corpus() {
    evaluate("blind4-secrets.jsonl", "blind4-lookalikes.jsonl");
}

/// A fifth blind corpus: runtime dumps (Java, Kotlin, Python, Ruby, Elixir, .NET, Rust, Go,
/// Node), SQL, infrastructure tools, protocol transcripts, CDN and AWS service logs.
#[test]
fn default_masker_scores_on_fifth_blind_corpus() {
    evaluate("blind5-secrets.jsonl", "blind5-lookalikes.jsonl");
}

/// A sixth blind corpus, the mainstream weighted by frequency: application stacks in their
/// default formats, AWS services, edge and CI logs, vendor tokens and hard-but-fair cases.
#[test]
fn default_masker_scores_on_sixth_blind_corpus() {
    evaluate("blind6-secrets.jsonl", "blind6-lookalikes.jsonl");
}

/// A seventh blind corpus, mostly look-alikes built around sensitive words (status messages,
/// auth libraries, test runners, placeholders, hashes) and secrets written in sentences,
/// shell history, chat-ops messages and support tickets.
///
/// Not yet at the 99.5 % target: it measured what the rules miss in running prose (a password
/// named several words before it, a user and password pair, passwords given to CLI tools,
/// keys in other languages — `non_english_keys`, 16 secrets). The floor keeps what was won;
/// raise it as the gaps close (see the README's Masking section).
#[test]
fn default_masker_scores_on_seventh_blind_corpus() {
    evaluate_against(
        "blind7-secrets.jsonl",
        "blind7-lookalikes.jsonl",
        0.91,
        MIN_PRECISION,
    );
}

fn evaluate(secrets_file: &str, lookalikes_file: &str) {
    evaluate_against(secrets_file, lookalikes_file, MIN_RECALL, MIN_PRECISION);
}

fn evaluate_against(
    secrets_file: &str,
    lookalikes_file: &str,
    min_recall: f64,
    min_precision: f64,
) {
    let secrets: Vec<SecretCase> = load(secrets_file);
    let lookalikes: Vec<LookalikeCase> = load(lookalikes_file);
    let masker = Masker::new(&MaskConfig::default()).expect("default masker");

    // ---- recall: every listed secret must be gone from the output
    let mut recall_by_category: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut leaks: Vec<Failure<'_>> = Vec::new();
    let mut hard_leaks: Vec<String> = Vec::new();
    let mut keep_by_category: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut collateral: Vec<Failure<'_>> = Vec::new();
    let (mut secrets_total, mut secrets_masked) = (0usize, 0usize);

    for case in &secrets {
        let out = masker.mask_text(&case.text);
        let out: &str = out.as_ref();

        let leaked: Vec<&str> = case
            .secrets
            .iter()
            .map(String::as_str)
            .filter(|secret| out.contains(secret))
            .collect();
        let tally = recall_by_category.entry(&case.category).or_default();
        tally.total += case.secrets.len();
        tally.failed += leaked.len();
        secrets_total += case.secrets.len();
        secrets_masked += case.secrets.len() - leaked.len();
        if !leaked.is_empty() {
            if HARD_CATEGORIES.contains(&case.category.as_str()) {
                hard_leaks.extend(
                    leaked
                        .iter()
                        .map(|s| format!("[{}] {}", case.category, show(s))),
                );
            }
            leaks.push(Failure {
                category: &case.category,
                input: &case.text,
                output: out.to_owned(),
                detail: format!(
                    "leaked {} of {}: {}",
                    leaked.len(),
                    case.secrets.len(),
                    leaked
                        .iter()
                        .map(|s| show(s))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }

        if !case.keep.is_empty() {
            let lost: Vec<&str> = case
                .keep
                .iter()
                .map(String::as_str)
                .filter(|anchor| !out.contains(anchor))
                .collect();
            let tally = keep_by_category.entry(&case.category).or_default();
            tally.total += case.keep.len();
            tally.failed += lost.len();
            if !lost.is_empty() {
                collateral.push(Failure {
                    category: &case.category,
                    input: &case.text,
                    output: out.to_owned(),
                    detail: format!(
                        "lost {} of {} anchors: {}",
                        lost.len(),
                        case.keep.len(),
                        lost.iter().map(|s| show(s)).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
    }

    // ---- precision: look-alikes must come out byte-for-byte unchanged
    let mut precision_by_category: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut altered: Vec<Failure<'_>> = Vec::new();
    let mut intact = 0usize;
    for case in &lookalikes {
        let out = masker.mask_text(&case.text);
        let out: &str = out.as_ref();
        let tally = precision_by_category.entry(&case.category).or_default();
        tally.total += 1;
        if out == case.text {
            intact += 1;
        } else {
            tally.failed += 1;
            altered.push(Failure {
                category: &case.category,
                input: &case.text,
                output: out.to_owned(),
                detail: "changed".to_owned(),
            });
        }
    }

    let recall = ratio(secrets_masked, secrets_total);
    let precision = ratio(intact, lookalikes.len());
    let keep_total: usize = keep_by_category.values().map(|t| t.total).sum();
    let keep_lost: usize = keep_by_category.values().map(|t| t.failed).sum();

    let mut report = String::new();
    write_table(
        &mut report,
        &format!("recall ({secrets_file})"),
        "secret",
        &recall_by_category,
    );
    write_table(
        &mut report,
        &format!("precision ({lookalikes_file})"),
        "line",
        &precision_by_category,
    );
    write_table(
        &mut report,
        "collateral damage: keep anchors next to secrets (informational)",
        "anchor",
        &keep_by_category,
    );
    write_failures(&mut report, "leaked secrets", &leaks);
    write_failures(&mut report, "altered look-alikes", &altered);
    write_failures(
        &mut report,
        "lost keep anchors (informational)",
        &collateral,
    );
    let _ = writeln!(
        report,
        "\nrecall    = {secrets_masked}/{secrets_total} = {recall:.4} (min {min_recall})"
    );
    let _ = writeln!(
        report,
        "precision = {intact}/{} = {precision:.4} (min {min_precision})",
        lookalikes.len()
    );
    let _ = writeln!(
        report,
        "keep      = {}/{keep_total} anchors preserved (informational)",
        keep_total - keep_lost
    );
    eprintln!("{report}");

    assert!(
        hard_leaks.is_empty(),
        "hard requirement violated, secrets leaked in {HARD_CATEGORIES:?}:\n{}",
        hard_leaks.join("\n")
    );
    assert!(
        recall >= min_recall,
        "recall {recall:.4} < {min_recall} ({} of {secrets_total} secrets leaked)",
        secrets_total - secrets_masked
    );
    assert!(
        precision >= min_precision,
        "precision {precision:.4} < {min_precision} ({} of {} look-alikes altered)",
        lookalikes.len() - intact,
        lookalikes.len()
    );
}
