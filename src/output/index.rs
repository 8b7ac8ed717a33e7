//! Index names from a template with `%Y`, `%m`, `%d` placeholders.
//!
//! The date always comes from the event time in UTC, never from processing time, so a replayed
//! or delayed batch lands in the same index as the first attempt (which is what makes the
//! `create` + deterministic `_id` idempotence hold across midnight). A name without
//! placeholders is used as is (a data stream or a single index).

use crate::time;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Year,
    Month,
    Day,
}

/// A parsed, validated index name template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexTemplate {
    parts: Vec<Part>,
    dated: bool,
}

/// Characters Elasticsearch forbids in index names.
const FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

impl IndexTemplate {
    /// Parses and validates a template; the error says what is wrong.
    pub fn parse(template: &str) -> Result<Self, String> {
        let template = template.trim();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let part = match chars.next() {
                Some('Y') => Part::Year,
                Some('m') => Part::Month,
                Some('d') => Part::Day,
                Some('%') => {
                    literal.push('%');
                    continue;
                }
                Some(other) => {
                    return Err(format!(
                        "unsupported placeholder %{other}: only %Y, %m, %d (UTC event date) and %% are supported"
                    ))
                }
                None => return Err("ends with a lone %".to_owned()),
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        let dated = parts.iter().any(|p| !matches!(p, Part::Literal(_)));
        let index = Self { parts, dated };
        index.validate()?;
        Ok(index)
    }

    fn validate(&self) -> Result<(), String> {
        // Validate a rendered example: placeholders only ever produce digits.
        let mut sample = Vec::new();
        self.render(0, &mut sample);
        let sample = String::from_utf8_lossy(&sample);
        if sample.is_empty() {
            return Err("is empty: expected an index name such as logs-%Y.%m.%d".to_owned());
        }
        if sample.len() > 255 {
            return Err("is longer than 255 bytes".to_owned());
        }
        if sample.chars().any(|c| c.is_uppercase()) {
            return Err("must be lowercase (an Elasticsearch rule for index names)".to_owned());
        }
        if let Some(c) = sample
            .chars()
            .find(|c| FORBIDDEN.contains(c) || c.is_control())
        {
            return Err(format!("contains {c:?}, which index names may not contain"));
        }
        if sample.starts_with(['-', '_', '+']) || sample == "." || sample == ".." {
            return Err("may not start with -, _ or + nor be . or ..".to_owned());
        }
        Ok(())
    }

    /// Whether the name depends on the event date.
    pub fn is_dated(&self) -> bool {
        self.dated
    }

    /// Appends the index name for an event at `event_ms` (milliseconds since the epoch).
    pub fn render(&self, event_ms: i64, out: &mut Vec<u8>) {
        let date = self
            .dated
            .then(|| time::date_from_days(time::day_number(event_ms)));
        for part in &self.parts {
            match (part, date) {
                (Part::Literal(s), _) => out.extend_from_slice(s.as_bytes()),
                (Part::Year, Some(d)) => time::push_year(out, d),
                (Part::Month, Some(d)) => time::push_two(out, d.month),
                (Part::Day, Some(d)) => time::push_two(out, d.day),
                (_, None) => {}
            }
        }
    }

    /// The index name for an event at `event_ms`, as a string.
    pub fn name_for(&self, event_ms: i64) -> String {
        let mut out = Vec::new();
        self.render(event_ms, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_placeholders_from_the_event_date_in_utc() {
        let t = IndexTemplate::parse("logs-%Y.%m.%d").unwrap();
        assert!(t.is_dated());
        // 2026-11-22T23:59:59.999Z and one millisecond later.
        assert_eq!(t.name_for(1_795_391_999_999), "logs-2026.11.22");
        assert_eq!(t.name_for(1_795_392_000_000), "logs-2026.11.23");
        let t = IndexTemplate::parse("app-%Y%m").unwrap();
        assert_eq!(t.name_for(0), "app-197001");
    }

    #[test]
    fn names_without_placeholders_are_used_as_is() {
        let t = IndexTemplate::parse("logs-aws-cloudwatch").unwrap();
        assert!(!t.is_dated());
        assert_eq!(t.name_for(0), "logs-aws-cloudwatch");
        assert_eq!(t.name_for(1_795_392_000_000), "logs-aws-cloudwatch");
        let t = IndexTemplate::parse("rate-100%%-%Y").unwrap();
        assert_eq!(t.name_for(0), "rate-100%-1970");
    }

    #[test]
    fn invalid_templates_say_why() {
        for (t, why) in [
            ("", "empty"),
            ("Logs", "lowercase"),
            ("logs/%Y", "'/'"),
            ("logs %Y", "' '"),
            ("_logs", "may not start"),
            ("logs-%H", "%H"),
            ("logs-%", "lone %"),
        ] {
            let e = IndexTemplate::parse(t).unwrap_err();
            assert!(e.contains(why), "{t:?}: {e}");
        }
    }
}
