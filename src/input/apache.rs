//! Apache/NCSA common and combined log lines → ECS fields.
//!
//! `%h %l %u %t "%r" %>s %b` (common) and `… "%{Referer}i" "%{User-agent}i"` (combined) are
//! the defaults of Apache, Fastly and Fluentd's `format apache2`, so one parser covers most web
//! servers that write to a stream. Lines often arrive behind a syslog header (Fastly's syslog
//! framing, rsyslog forwarding), which carries the only record of which host and process
//! wrote the line; the header is parsed rather than skipped so that context is kept:
//! RFC 3164 (`<134>Oct 11 22:14:15 host tag[123]: `, with or without `<PRI>`, also with an ISO
//! timestamp as Fastly sends it) and RFC 5424 (`<134>1 2026-11-22T10:00:00.123Z host app - - - `).
//!
//! The parser is a hand-written scanner because it runs on every line the earlier formats did
//! not claim: a non-matching line is usually rejected within its first few bytes (no `[` where
//! the timestamp must start), and an accepted line costs no allocation unless a quoted field
//! contains an escape. The shape is checked strictly up to the size field (bracketed
//! timestamp, quoted request, three-digit status, digits or `-`), so prose and JSON lines are not
//! mistaken for access logs; anything after the combined fields (`%D`, a virtual host, …) is
//! tolerated and left in the document's `message`.
//!
//! Quoted fields: Apache writes `"` and `\` inside them as `\"` and `\\`; those two escapes are
//! decoded. Other escapes (`\xhh`, `\n`) are kept as written: they mostly come from scanners
//! sending binary garbage, where the escaped text is more useful than U+FFFD. A closing quote
//! must be followed by a space or the end of the line, so servers that do not escape quotes
//! (a `"` inside a user agent) still parse. A request that is not `METHOD TARGET PROTOCOL`
//! (scanner garbage, a TLS handshake on the plain-HTTP port) is kept whole in `url.original`;
//! `"-"` is absent like every other `-` field.
//!
//! The event time is `%t` with its offset applied; the syslog header's own timestamp is ignored
//! (RFC 3164 has no year, and `%t` is when the request was received).

use super::members::{close, key, open, write_str};
use std::net::IpAddr;

use thiserror::Error;

/// Why a line is not an Apache/NCSA access log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("line ends before the {0}")]
    Truncated(&'static str),
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// Parses Apache/NCSA access log lines; holds buffers reused across lines for unescaping.
#[derive(Debug, Clone, Default)]
pub struct ApacheFormat {
    /// The unescaped request line, split after unescaping.
    request: Vec<u8>,
    /// Any other unescaped quoted field, one at a time.
    scratch: Vec<u8>,
}

/// The syslog header's identity fields.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Syslog<'a> {
    host: Option<&'a str>,
    app: Option<&'a str>,
    procid: Option<&'a str>,
}

/// One access log line, borrowed from the input; quoted fields still escaped.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    syslog: Syslog<'a>,
    client: &'a str,
    ident: &'a str,
    user: &'a str,
    time_ms: i64,
    request: &'a str,
    status: u16,
    bytes: Option<u64>,
    referer: Option<&'a str>,
    agent: Option<&'a str>,
}

impl ApacheFormat {
    /// A parser with empty buffers; they grow to the longest escaped field seen and stay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `line` is an access log line (with or without a syslog header).
    pub fn matches(&self, line: &str) -> bool {
        parse_line(line).is_ok()
    }

    /// Appends `,"key":value` members (each preceded by a comma) for the fields of `line` to
    /// `out`, and returns the event time (`%t`) in epoch milliseconds. On `Err`, `out` is left
    /// unchanged.
    pub fn write_fields(
        &mut self,
        line: &str,
        out: &mut Vec<u8>,
    ) -> Result<Option<i64>, ParseError> {
        let l = parse_line(line)?;
        let scratch = &mut self.scratch;
        let request = unescape(&mut self.request, l.request);
        let parts = split_request(request);
        let target = parts.map(|(_, t, _)| t);

        // http
        let http = open(out, ROOT, "http");
        let req = open(out, http.body, "request");
        if let Some((method, _, _)) = parts {
            key(out, req.body, "method");
            write_str(out, method);
        }
        if let Some(r) = l.referer.filter(|r| present(r)) {
            key(out, req.body, "referrer");
            write_str(out, unescape(scratch, r));
        }
        close(out, req);
        if let Some((_, _, Some(version))) = parts {
            key(out, http.body, "version");
            write_str(out, version);
        }
        key(out, http.body, "response");
        out.extend_from_slice(b"{\"status_code\":");
        let _ = serde_json::to_writer(&mut *out, &l.status);
        if let Some(bytes) = l.bytes {
            out.extend_from_slice(b",\"body\":{\"bytes\":");
            let _ = serde_json::to_writer(&mut *out, &bytes);
            out.push(b'}');
        }
        out.push(b'}');
        close(out, http);

        // url
        if present(request) {
            let url = open(out, ROOT, "url");
            key(out, url.body, "original");
            write_str(out, target.unwrap_or(request));
            if let Some(t) = target {
                write_url_parts(out, url.body, t);
            }
            close(out, url);
        }

        // source, user, user_agent
        key(out, ROOT, "source");
        out.extend_from_slice(b"{\"address\":");
        write_str(out, l.client);
        if l.client.parse::<IpAddr>().is_ok() {
            out.extend_from_slice(b",\"ip\":");
            write_str(out, l.client);
        }
        out.push(b'}');
        if present(l.user) {
            key(out, ROOT, "user");
            out.extend_from_slice(b"{\"name\":");
            write_str(out, l.user);
            out.push(b'}');
        }
        if let Some(a) = l.agent.filter(|a| present(a)) {
            key(out, ROOT, "user_agent");
            out.extend_from_slice(b"{\"original\":");
            write_str(out, unescape(scratch, a));
            out.push(b'}');
        }

        // host, process (syslog header)
        if let Some(h) = l.syslog.host.filter(|h| present(h)) {
            key(out, ROOT, "host");
            out.extend_from_slice(b"{\"hostname\":");
            write_str(out, h);
            out.push(b'}');
        }
        let pid = l
            .syslog
            .procid
            .filter(|p| present(p))
            .map(|p| (p, p.parse::<u32>().ok()));
        let process = open(out, ROOT, "process");
        if let Some(app) = l.syslog.app.filter(|a| present(a)) {
            key(out, process.body, "name");
            write_str(out, app);
        }
        if let Some((_, Some(n))) = pid {
            key(out, process.body, "pid");
            let _ = serde_json::to_writer(&mut *out, &n);
        }
        close(out, process);

        // apache: what has no ECS field.
        let apache = open(out, ROOT, "apache");
        if present(l.ident) {
            key(out, apache.body, "ident");
            write_str(out, l.ident);
        }
        if let Some((p, None)) = pid {
            key(out, apache.body, "syslog_procid");
            write_str(out, p);
        }
        close(out, apache);
        Ok(Some(l.time_ms))
    }
}

/// `-` (and the empty string) mean "not logged".
fn present(s: &str) -> bool {
    !s.is_empty() && s != "-"
}

// --- Scanning ------------------------------------------------------------------------------

fn parse_line(line: &str) -> Result<Line<'_>, ParseError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (syslog, rest) = match syslog_header(line) {
        Some((syslog, rest)) => (syslog, rest),
        None => (Syslog::default(), line),
    };
    let (client, rest) = token(rest, "client address")?;
    let (ident, rest) = token(rest, "ident")?;
    let (user, rest) = token(rest, "user")?;
    let inner = rest
        .strip_prefix('[')
        .ok_or(ParseError::Malformed("timestamp"))?;
    let (time, rest) = inner
        .split_once(']')
        .ok_or(ParseError::Truncated("timestamp"))?;
    let time_ms = parse_clf_time(time).ok_or(ParseError::Malformed("timestamp"))?;
    let rest = rest
        .strip_prefix(' ')
        .ok_or(ParseError::Truncated("request line"))?;
    let (request, rest) = quoted(rest).ok_or(ParseError::Malformed("request line"))?;
    let rest = rest
        .strip_prefix(' ')
        .ok_or(ParseError::Truncated("status code"))?;
    let (status, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if status.len() != 3 || !status.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Malformed("status code"));
    }
    let status = status
        .parse()
        .map_err(|_| ParseError::Malformed("status code"))?;
    if rest.is_empty() {
        return Err(ParseError::Truncated("response size"));
    }
    let (size, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let bytes = match size {
        "-" => None,
        s if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) => Some(
            s.parse()
                .map_err(|_| ParseError::Malformed("response size"))?,
        ),
        _ => return Err(ParseError::Malformed("response size")),
    };
    // Combined: two more quoted fields. Anything else after the size is tolerated.
    let (referer, agent) = match quoted(rest) {
        Some((referer, rest)) => {
            let agent = rest.strip_prefix(' ').and_then(quoted).map(|(a, _)| a);
            (Some(referer), agent)
        }
        None => (None, None),
    };
    Ok(Line {
        syslog,
        client,
        ident,
        user,
        time_ms,
        request,
        status,
        bytes,
        referer,
        agent,
    })
}

/// A space-terminated token of printable characters (no quotes or brackets: those would
/// mean the line has another shape).
fn token<'a>(s: &'a str, what: &'static str) -> Result<(&'a str, &'a str), ParseError> {
    let (tok, rest) = s.split_once(' ').ok_or(ParseError::Truncated(what))?;
    if tok.is_empty()
        || tok
            .bytes()
            .any(|b| b < 0x20 || b == 0x7f || b == b'"' || b == b'[')
    {
        return Err(ParseError::Malformed(what));
    }
    Ok((tok, rest))
}

/// A `"…"` field: its raw inside (escapes intact) and what follows the closing quote. A quote
/// closes the field only when followed by a space or the end of the line.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('"')?;
    let bytes = body.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' if matches!(bytes.get(i + 1), None | Some(b' ')) => {
                return Some((body.get(..i)?, body.get(i + 1..)?));
            }
            _ => i += 1,
        }
    }
    None
}

/// `s` with `\"` and `\\` decoded, borrowed when there is nothing to decode.
fn unescape<'a>(buf: &'a mut Vec<u8>, s: &'a str) -> &'a str {
    if !s.contains('\\') {
        return s;
    }
    buf.clear();
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match (b, bytes.get(i + 1)) {
            (b'\\', Some(&next @ (b'"' | b'\\'))) => {
                buf.push(next);
                i += 2;
            }
            _ => {
                buf.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII sequences were replaced by ASCII bytes, so the result is still UTF-8.
    std::str::from_utf8(buf).unwrap_or(s)
}

/// `METHOD TARGET PROTOCOL` (or `METHOD TARGET`, HTTP/0.9) → (method, target, version).
fn split_request(r: &str) -> Option<(&str, &str, Option<&str>)> {
    let (method, rest) = r.split_once(' ')?;
    let method_ok = (1..=24).contains(&method.len())
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_');
    if !method_ok || rest.is_empty() {
        return None;
    }
    if let Some((target, protocol)) = rest.rsplit_once(' ') {
        let version = protocol.strip_prefix("HTTP/")?;
        let version_ok = !version.is_empty()
            && version.len() <= 8
            && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        (version_ok && !target.is_empty() && !target.starts_with(' ')).then_some((
            method,
            target,
            Some(version),
        ))
    } else {
        Some((method, rest, None))
    }
}

/// `url.scheme`/`domain`/`port` (absolute targets) and `path`/`query`/`fragment`.
fn write_url_parts(out: &mut Vec<u8>, parent: usize, target: &str) {
    let has_prefix = |p: &str| {
        target
            .get(..p.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(p))
    };
    let scheme = if has_prefix("http://") {
        Some("http")
    } else if has_prefix("https://") {
        Some("https")
    } else {
        None
    };
    let path_and_more = match scheme {
        Some(scheme) => {
            let Some(after) = target.get(scheme.len() + 3..) else {
                return;
            };
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            let (authority, rest) = after.split_at(end);
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let (host, port) = split_host_port(host_port);
            key(out, parent, "scheme");
            write_str(out, scheme);
            if !host.is_empty() {
                key(out, parent, "domain");
                write_str(out, host);
            }
            if let Some(p) = port {
                key(out, parent, "port");
                let _ = serde_json::to_writer(&mut *out, &p);
            }
            rest
        }
        None if target.starts_with('/') => target,
        None => return,
    };
    let (before_fragment, fragment) = match path_and_more.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (path_and_more, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_fragment, None),
    };
    if !path.is_empty() {
        key(out, parent, "path");
        write_str(out, path);
    }
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        key(out, parent, "query");
        write_str(out, q);
    }
    if let Some(f) = fragment.filter(|f| !f.is_empty()) {
        key(out, parent, "fragment");
        write_str(out, f);
    }
}

/// `example.com:8080` → (`example.com`, 8080); `[2001:db8::1]:443` → (`2001:db8::1`, 443).
fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(v6) = s.strip_prefix('[') {
        return match v6.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (s, None),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (host, port.parse().ok()),
        _ => (s, None),
    }
}

// --- Syslog header -------------------------------------------------------------------------

/// The syslog header's fields and the message after it, or `None` when `line` has no header.
fn syslog_header(line: &str) -> Option<(Syslog<'_>, &str)> {
    let (has_pri, rest) = match line.strip_prefix('<') {
        Some(after) => {
            let (pri, rest) = after.split_once('>')?;
            let ok = (1..=3).contains(&pri.len())
                && pri.bytes().all(|b| b.is_ascii_digit())
                && pri.parse::<u8>().is_ok_and(|p| p <= 191);
            if !ok {
                return None;
            }
            (true, rest)
        }
        None => (false, line),
    };
    if has_pri {
        // RFC 5424: `1 ` after the PRI.
        if let Some((version, after)) = rest.split_once(' ') {
            if (1..=2).contains(&version.len()) && version.bytes().all(|b| b.is_ascii_digit()) {
                return rfc5424(after);
            }
        }
        // Fastly and others: an RFC 3339 timestamp in an otherwise RFC 3164 header.
        if rest.len() > 5
            && rest.bytes().take(4).all(|b| b.is_ascii_digit())
            && rest.get(4..5) == Some("-")
        {
            let (_, after) = rest.split_once(' ')?;
            return rfc3164_identity(after);
        }
    }
    rfc3164_identity(bsd_timestamp(rest)?)
}

/// `Oct 11 22:14:15 ` (day space-padded or not, optional fraction) → the rest.
fn bsd_timestamp(s: &str) -> Option<&str> {
    let month = s.get(..3)?;
    month_number(month)?;
    let rest = s.get(3..)?.strip_prefix(' ')?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let (day, rest) = rest.split_once(' ')?;
    let day_ok = (1..=2).contains(&day.len()) && day.bytes().all(|b| b.is_ascii_digit());
    let (time, rest) = rest.split_once(' ')?;
    let hms = time.split_once('.').map_or(time, |(t, _)| t);
    let b = hms.as_bytes();
    let time_ok = b.len() == 8
        && b.iter().enumerate().all(|(i, c)| {
            if i == 2 || i == 5 {
                *c == b':'
            } else {
                c.is_ascii_digit()
            }
        });
    (day_ok && time_ok).then_some(rest)
}

/// `host tag[pid]: msg`, `tag[pid]: msg` or `host msg`.
fn rfc3164_identity(s: &str) -> Option<(Syslog<'_>, &str)> {
    let (first, rest) = s.split_once(' ')?;
    if let Some(tag) = first.strip_suffix(':') {
        let (app, procid) = split_tag(tag)?;
        return Some((
            Syslog {
                host: None,
                app: Some(app),
                procid,
            },
            rest,
        ));
    }
    let host = Some(first);
    match rest.split_once(' ') {
        Some((second, msg)) if second.ends_with(':') => {
            let (app, procid) = split_tag(second.strip_suffix(':')?)?;
            Some((
                Syslog {
                    host,
                    app: Some(app),
                    procid,
                },
                msg,
            ))
        }
        _ => Some((
            Syslog {
                host,
                app: None,
                procid: None,
            },
            rest,
        )),
    }
}

/// `tag[123]` → (`tag`, `123`); `tag` → (`tag`, none).
fn split_tag(tag: &str) -> Option<(&str, Option<&str>)> {
    let (app, procid) = match tag.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((app, pid)) => (app, Some(pid)),
        None => (tag, None),
    };
    let ok = !app.is_empty() && !app.contains(['[', ']', '"']);
    ok.then_some((app, procid))
}

/// After `<PRI>1 `: `TIMESTAMP HOST APP PROCID MSGID SD [MSG]`.
fn rfc5424(s: &str) -> Option<(Syslog<'_>, &str)> {
    let (_timestamp, s) = s.split_once(' ')?;
    let (host, s) = s.split_once(' ')?;
    let (app, s) = s.split_once(' ')?;
    let (procid, s) = s.split_once(' ')?;
    let (_msgid, s) = s.split_once(' ')?;
    let rest = skip_structured_data(s)?;
    let msg = rest.strip_prefix(' ').unwrap_or(rest);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    Some((
        Syslog {
            host: Some(host),
            app: Some(app),
            procid: Some(procid),
        },
        msg,
    ))
}

/// Skips `-` or one or more `[id k="v" …]` elements (`\]`, `\"`, `\\` escaped in values).
fn skip_structured_data(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix('-') {
        return Some(rest);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    while bytes.get(i) == Some(&b'[') {
        let mut in_value = false;
        i += 1;
        loop {
            match bytes.get(i)? {
                b'\\' if in_value => i += 2,
                b'"' => {
                    in_value = !in_value;
                    i += 1;
                }
                b']' if !in_value => {
                    i += 1;
                    break;
                }
                _ => i += 1,
            }
        }
    }
    if i == 0 {
        return None;
    }
    s.get(i..)
}

// --- Time ----------------------------------------------------------------------------------

fn month_number(m: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|&n| n == m).map(|i| i as u32 + 1)
}

fn digits(s: Option<&str>) -> Option<u32> {
    let s = s?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `10/Oct/2000:13:55:36 -0700` (optionally `13:55:36.123`) → epoch milliseconds (UTC).
fn parse_clf_time(s: &str) -> Option<i64> {
    let (local, offset) = s.split_once(' ')?;
    let day = digits(local.get(0..2))?;
    let month = month_number(local.get(3..6)?)?;
    let year = i64::from(digits(local.get(7..11))?);
    let hour = digits(local.get(12..14))?;
    let minute = digits(local.get(15..17))?;
    let second = digits(local.get(18..20))?;
    let separators = [(2, "/"), (6, "/"), (11, ":"), (14, ":"), (17, ":")];
    if separators
        .iter()
        .any(|&(i, c)| local.get(i..i + 1) != Some(c))
    {
        return None;
    }
    let millis = match local.get(20..) {
        Some("") => 0,
        Some(frac) => {
            let f = frac.strip_prefix('.')?;
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            f.bytes()
                .chain(std::iter::repeat(b'0'))
                .take(3)
                .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'))
        }
        None => return None,
    };
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let sign = match offset.get(..1)? {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    if offset.len() != 5 {
        return None;
    }
    let off_h = digits(offset.get(1..3))?;
    let off_m = digits(offset.get(3..5))?;
    if off_h > 23 || off_m > 59 {
        return None;
    }
    let offset_secs = sign * i64::from(off_h * 3600 + off_m * 60);
    let secs = crate::time::days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset_secs;
    Some(secs * 1000 + millis)
}

// --- JSON writing -------------------------------------------------------------------------

/// Parent marker for document-root members: they always need a leading comma.
const ROOT: usize = usize::MAX;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn members(out: &[u8]) -> Value {
        let mut doc = b"{\"x\":0".to_vec();
        doc.extend_from_slice(out);
        doc.push(b'}');
        let mut value: Value = serde_json::from_slice(&doc)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&doc)));
        value.as_object_mut().unwrap().remove("x");
        value
    }

    fn parse(line: &str) -> (Option<i64>, Value) {
        let mut out = Vec::new();
        let time = ApacheFormat::new()
            .write_fields(line, &mut out)
            .unwrap_or_else(|e| panic!("{e}: {line}"));
        (time, members(&out))
    }

    /// 2000-10-10T20:55:36Z, the moment of Apache's documentation example.
    const APACHE_DOC_MS: i64 = 971_211_336_000;

    #[test]
    fn table() {
        let cases: Vec<(&str, i64, Value)> = vec![
            // Apache's documented common-format example.
            (
                r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
                APACHE_DOC_MS,
                json!({
                    "http": {"request": {"method": "GET"}, "version": "1.0",
                             "response": {"status_code": 200, "body": {"bytes": 2326}}},
                    "url": {"original": "/apache_pb.gif", "path": "/apache_pb.gif"},
                    "source": {"address": "127.0.0.1", "ip": "127.0.0.1"},
                    "user": {"name": "frank"}
                }),
            ),
            // Apache's documented combined-format example.
            (
                r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
                APACHE_DOC_MS,
                json!({
                    "http": {"request": {"method": "GET",
                                         "referrer": "http://www.example.com/start.html"},
                             "version": "1.0",
                             "response": {"status_code": 200, "body": {"bytes": 2326}}},
                    "url": {"original": "/apache_pb.gif", "path": "/apache_pb.gif"},
                    "source": {"address": "127.0.0.1", "ip": "127.0.0.1"},
                    "user": {"name": "frank"},
                    "user_agent": {"original": "Mozilla/4.08 [en] (Win98; I ;Nav)"}
                }),
            ),
            // IPv6 client, query string with a masked secret, `-` size, `-` referer, +0530.
            (
                r#"2001:db8::7 - - [22/Nov/2026:15:30:00 +0530] "POST /login?next=%2Fhome&token=[MASKED:token] HTTP/2.0" 302 - "-" "curl/8.5.0""#,
                1_795_341_600_000,
                json!({
                    "http": {"request": {"method": "POST"}, "version": "2.0",
                             "response": {"status_code": 302}},
                    "url": {"original": "/login?next=%2Fhome&token=[MASKED:token]",
                            "path": "/login", "query": "next=%2Fhome&token=[MASKED:token]"},
                    "source": {"address": "2001:db8::7", "ip": "2001:db8::7"},
                    "user_agent": {"original": "curl/8.5.0"}
                }),
            ),
            // Escaped quotes and backslashes; hostname client; ident; fractional seconds.
            (
                r#"client.example.net ident42 - [01/Jan/2026:00:00:00.250 +0000] "GET /q?s=\"x\" HTTP/1.1" 404 12 "https://ref.example/\\path" "Agent \"quoted\" \x07""#,
                1_767_225_600_250,
                json!({
                    "http": {"request": {"method": "GET",
                                         "referrer": "https://ref.example/\\path"},
                             "version": "1.1",
                             "response": {"status_code": 404, "body": {"bytes": 12}}},
                    "url": {"original": "/q?s=\"x\"", "path": "/q", "query": "s=\"x\""},
                    "source": {"address": "client.example.net"},
                    "user_agent": {"original": "Agent \"quoted\" \\x07"},
                    "apache": {"ident": "ident42"}
                }),
            ),
            // Scanner garbage and a TLS handshake: url.original only.
            (
                r#"198.51.100.9 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01\x02\x00\x01\x00" 400 226 "-" "-""#,
                APACHE_DOC_MS,
                json!({
                    "http": {"response": {"status_code": 400, "body": {"bytes": 226}}},
                    "url": {"original": "\\x16\\x03\\x01\\x02\\x00\\x01\\x00"},
                    "source": {"address": "198.51.100.9", "ip": "198.51.100.9"}
                }),
            ),
            // `"-"` request (client closed before sending one), status 408.
            (
                r#"198.51.100.9 - - [10/Oct/2000:13:55:36 -0700] "-" 408 - "-" "-""#,
                APACHE_DOC_MS,
                json!({
                    "http": {"response": {"status_code": 408}},
                    "source": {"address": "198.51.100.9", "ip": "198.51.100.9"}
                }),
            ),
            // Unescaped quote inside the user agent (servers that do not escape), extra %D.
            (
                r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "Weird "UA"/1.0 (x)" 1234"#,
                APACHE_DOC_MS,
                json!({
                    "http": {"request": {"method": "GET"}, "version": "1.1",
                             "response": {"status_code": 200, "body": {"bytes": 5}}},
                    "url": {"original": "/", "path": "/"},
                    "source": {"address": "10.0.0.1", "ip": "10.0.0.1"},
                    "user_agent": {"original": "Weird \"UA\"/1.0 (x)"}
                }),
            ),
            // Absolute-form target (proxy request) and a fragment.
            (
                r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET HTTP://User@Example.com:8080/a/b?c=d#top HTTP/1.1" 200 5"#,
                APACHE_DOC_MS,
                json!({
                    "http": {"request": {"method": "GET"}, "version": "1.1",
                             "response": {"status_code": 200, "body": {"bytes": 5}}},
                    "url": {"original": "HTTP://User@Example.com:8080/a/b?c=d#top",
                            "scheme": "http", "domain": "Example.com", "port": 8080,
                            "path": "/a/b", "query": "c=d", "fragment": "top"},
                    "source": {"address": "10.0.0.1", "ip": "10.0.0.1"}
                }),
            ),
            // CONNECT (authority form) and an HTTP/0.9 request.
            (
                r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "CONNECT example.com:443 HTTP/1.1" 405 0"#,
                APACHE_DOC_MS,
                json!({
                    "http": {"request": {"method": "CONNECT"}, "version": "1.1",
                             "response": {"status_code": 405, "body": {"bytes": 0}}},
                    "url": {"original": "example.com:443"},
                    "source": {"address": "10.0.0.1", "ip": "10.0.0.1"}
                }),
            ),
            (
                r#"10.0.0.1 - - [29/Feb/2024:23:59:59 -1200] "GET /old" 200 5"#,
                1_709_294_399_000,
                json!({
                    "http": {"request": {"method": "GET"},
                             "response": {"status_code": 200, "body": {"bytes": 5}}},
                    "url": {"original": "/old", "path": "/old"},
                    "source": {"address": "10.0.0.1", "ip": "10.0.0.1"}
                }),
            ),
        ];
        for (line, time, expected) in cases {
            assert!(ApacheFormat::new().matches(line), "{line}");
            assert_eq!(parse(line), (Some(time), expected), "{line}");
            assert_eq!(parse(&format!("{line}\r\n")).0, Some(time));
        }
    }

    #[test]
    fn syslog_prefixes() {
        let common = r#"203.0.113.7 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#;
        let base = json!({
            "http": {"request": {"method": "GET"}, "version": "1.1",
                     "response": {"status_code": 200, "body": {"bytes": 5}}},
            "url": {"original": "/", "path": "/"},
            "source": {"address": "203.0.113.7", "ip": "203.0.113.7"}
        });
        let with = |extra: Value| {
            let mut v = base.clone();
            for (k, val) in extra.as_object().unwrap() {
                v.as_object_mut().unwrap().insert(k.clone(), val.clone());
            }
            v
        };
        let cases = [
            (
                "<134>Oct 11 22:14:15 web-1 apache2[1234]: ",
                json!({"host": {"hostname": "web-1"}, "process": {"name": "apache2", "pid": 1234}}),
            ),
            (
                "Oct  1 02:04:05 web-1 httpd: ",
                json!({"host": {"hostname": "web-1"}, "process": {"name": "httpd"}}),
            ),
            (
                "<13>Oct 11 22:14:15 httpd[7]: ",
                json!({"process": {"name": "httpd", "pid": 7}}),
            ),
            ("Oct 11 22:14:15 web-2 ", json!({"host": {"hostname": "web-2"}})),
            (
                "<134>2026-11-22T10:00:00Z cache-fra19120 my-service[367]: ",
                json!({"host": {"hostname": "cache-fra19120"}, "process": {"name": "my-service", "pid": 367}}),
            ),
            (
                "<134>1 2026-11-22T10:00:00.123Z host1 app - - - ",
                json!({"host": {"hostname": "host1"}, "process": {"name": "app"}}),
            ),
            (
                "<134>1 2026-11-22T10:00:00.123Z host1 app 42 ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"App\\]x\"][b@1 c=\"d\"] \u{feff}",
                json!({"host": {"hostname": "host1"}, "process": {"name": "app", "pid": 42}}),
            ),
            (
                "<134>1 - - - worker-a - - ",
                json!({"apache": {"syslog_procid": "worker-a"}}),
            ),
        ];
        for (prefix, extra) in cases {
            let line = format!("{prefix}{common}");
            assert!(ApacheFormat::new().matches(&line), "{line}");
            assert_eq!(parse(&line), (Some(APACHE_DOC_MS), with(extra)), "{line}");
        }
    }

    #[test]
    fn rejects_other_formats_fast_and_leaves_out_untouched() {
        let cloudfront = "1606937617.253\t203.0.113.7\t0.002\t200\t1024\tGET\thttps\twww.example.com\t/a\t412\tFRA56-P1\tid==\td111.cloudfront.net\t0.082\tHTTP/2.0\tIPv4\tMozilla/5.0%20(X11)\t-\t-\t-\tHit";
        let lines = [
            "",
            "plain text log line with several words in it",
            "ERROR something failed [retry 3] \"quoted\" 500 12",
            "{\"@timestamp\":\"2026-11-22T10:00:00Z\",\"message\":\"hi\"}",
            cloudfront,
            "START RequestId: 8f5a Version: $LATEST",
            "<134>Oct 11 22:14:15 host app[1]: just a message",
            r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 20 5"#,
            r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5k"#,
            r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200"#,
            r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1 200 5"#,
            r#"127.0.0.1 - - [10/Oct/2000:13:55:36] "GET / HTTP/1.1" 200 5"#,
            r#"127.0.0.1 - - [31/Apr/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#,
            r#"127.0.0.1 - - [10/Foo/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#,
            r#"127.0.0.1 - - [10/Oct/2000:24:55:36 -0700] "GET / HTTP/1.1" 200 5"#,
            r#"127.0.0.1 - - [10/Oct/2000:13:55:36 0700] "GET / HTTP/1.1" 200 5"#,
            r#"127.0.0.1 - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#,
            "127.0.0.1\t-\t-\t[10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5",
        ];
        for line in lines {
            let mut parser = ApacheFormat::new();
            assert!(!parser.matches(line), "{line}");
            let mut out = b"keep".to_vec();
            assert!(parser.write_fields(line, &mut out).is_err(), "{line}");
            assert_eq!(out, b"keep");
        }
        assert_eq!(
            parse_line("plain text log line").unwrap_err(),
            ParseError::Malformed("timestamp")
        );
        assert_eq!(
            parse_line("word").unwrap_err(),
            ParseError::Truncated("client address")
        );
    }

    #[test]
    fn timezones() {
        let at = |tz: &str| parse_clf_time(&format!("10/Oct/2000:13:55:36 {tz}"));
        assert_eq!(at("-0700"), Some(APACHE_DOC_MS));
        assert_eq!(at("+0000"), Some(APACHE_DOC_MS - 7 * 3_600_000));
        assert_eq!(at("+1400"), Some(APACHE_DOC_MS - 21 * 3_600_000));
        assert_eq!(at("-0930"), Some(APACHE_DOC_MS + 9_000_000));
        assert_eq!(parse_clf_time("01/Jan/1970:00:00:00 +0000"), Some(0));
        assert_eq!(parse_clf_time("01/Jan/1970:00:59:59 +0100"), Some(-1000));
        assert_eq!(parse_clf_time("29/Feb/2023:00:00:00 +0000"), None);
        assert_eq!(
            parse_clf_time("29/Feb/2000:00:00:00 +0000"),
            Some(951_782_400_000)
        );
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn mutations_never_panic_and_always_emit_valid_json() {
        let samples = [
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
            r#"<134>1 2026-11-22T10:00:00.123Z host1 app 42 ID47 [a b="\]"] 2001:db8::7 - - [22/Nov/2026:15:30:00 +0530] "POST /l?x=\"y\" HTTP/2.0" 302 - "-" "c\\u""#,
            r#"<134>Oct 11 22:14:15 web-1 apache2[1234]: 10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET http://a.example:80/b#c HTTP/1.1" 200 5"#,
        ];
        let alphabet: &[&str] = &[
            " ", "\"", "\\", "[", "]", "-", ":", "/", "?", "#", "@", "0", "é", "\t", "<", ">",
            "\u{feff}", "\\\"",
        ];
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut parser = ApacheFormat::new();
        let mut accepted = 0;
        for _ in 0..10_000 {
            let mut bytes = samples[rng.below(samples.len())].as_bytes().to_vec();
            for _ in 0..=rng.below(4) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(3) {
                    0 => {
                        if let Some(b) = bytes.get_mut(at) {
                            *b = rng.next() as u8;
                        }
                    }
                    1 => {
                        let end = (at + rng.below(6)).min(bytes.len());
                        bytes.drain(at.min(end)..end);
                    }
                    _ => {
                        let ins = alphabet[rng.below(alphabet.len())].as_bytes();
                        bytes.splice(at..at, ins.iter().copied());
                    }
                }
            }
            let line = String::from_utf8_lossy(&bytes);
            let matched = parser.matches(&line);
            let mut out = Vec::new();
            match parser.write_fields(&line, &mut out) {
                Ok(time) => {
                    assert!(matched);
                    assert!(time.is_some());
                    members(&out);
                    accepted += 1;
                }
                Err(_) => {
                    assert!(!matched);
                    assert!(out.is_empty());
                }
            }
        }
        assert!(
            accepted > 1000,
            "only {accepted} mutated lines were accepted"
        );
    }
}
