//! NGINX access lines (`collector.parsers.apigw`, its `combined` layout and what is appended
//! to it): `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
//! "$http_referer" "$http_user_agent"` and bare or quoted request times, `$request_id`, a
//! correlation UUID, a traceparent after it. Only the plain shape is taken: printable ASCII
//! without backslashes, a status from 100 to 599, a readable request line, no `key=value`
//! pairs, no Traefik tail, no upstream lists. Anything else is declined.
//!
//! A 4xx or 5xx is a failure as `_request.request_event` makes it (level, error code and
//! type); its error class and signature are set in Python by the reader's `finish`
//! (`collector.native`), so the status table and the taxonomy stay defined there once. The
//! bench's 5% of 502s cost half its time while they went the Python way (py-spy, issue 25).

use pyo3::prelude::*;

use crate::common::{add_id, card_may_pass, civil_ms, digits_and_at, may_hold_email, py_strip, set_label,
                    Limits, LineReader, Parts};

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                            "nov", "dec"];

/// A cursor over the line; every step either matches exactly or gives None.
struct Cur<'a> {
    t: &'a str,
    i: usize,
}

impl<'a> Cur<'a> {
    fn eat(&mut self, s: &str) -> Option<()> {
        self.t[self.i..].starts_with(s).then(|| self.i += s.len())
    }

    /// Up to (not including) the next `stop`, which is consumed.
    fn until(&mut self, stop: u8) -> Option<&'a str> {
        let len = self.t.as_bytes()[self.i..].iter().position(|&c| c == stop)?;
        let out = &self.t[self.i..self.i + len];
        self.i += len + 1;
        Some(out)
    }

    fn digits(&mut self, n: usize) -> Option<i64> {
        let s = self.t.get(self.i..self.i + n)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        self.i += n;
        s.parse().ok()
    }
}

/// `[0-9a-f]{n}` (lower) or `[0-9a-fA-F]{n}` (any case).
fn hex(s: &str, any_case: bool) -> bool {
    s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
                  || (any_case && (b'A'..=b'F').contains(&c)))
}

/// `collector.parsers._request.TRACEPARENT` as a full match: its trace and span IDs.
fn traceparent(t: &str) -> Option<(&str, &str)> {
    let b = t.as_bytes();
    if b.len() != 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let ok = hex(&t[0..2], false) && hex(&t[3..35], false) && hex(&t[36..52], false)
        && hex(&t[53..55], false);
    ok.then(|| (&t[3..35], &t[36..52]))
}

/// `collector.parsers._fields.UUID` as a full match.
fn uuid(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && t.split('-').all(|part| hex(part, true))
        && t.split('-').map(str::len).eq([8, 4, 4, 4, 12])
}

/// `\d+\.\d{3}`: one upstream's time (lists are declined by the caller).
fn seconds(t: &str) -> bool {
    let Some((int, frac)) = t.split_once('.') else { return false };
    !int.is_empty() && int.bytes().all(|c| c.is_ascii_digit()) && frac.len() == 3
        && frac.bytes().all(|c| c.is_ascii_digit())
}

/// `collector.parsers._request.seconds_ns` of one `seconds` token: `int(float(t) * 1e9)`.
fn seconds_ns(t: &str) -> Option<i64> {
    t.parse::<f64>().ok().map(|s| (s * 1e9) as i64)
}

/// `apigw._extensions` of what follows the agent, where it holds only tokens (no pairs):
/// (request_id, correlation, traceparent, request time, upstream time); None for anything
/// the fast path does not reproduce.
#[allow(clippy::type_complexity)]
fn extensions(rest: &str) -> Option<[Option<&str>; 5]> {
    if rest.contains("ms") || rest.contains('=') || rest.contains(": ") || rest.contains(", ")
        || rest.contains(" : ") {
        return None;
    }
    let mut out: [Option<&str>; 5] = [None; 5];
    let mut times = 0;
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        // `"([^"\\]*)"|(\S+)`: the quoted form where the quote closes, else a bare token.
        let token;
        if b[i] == b'"' {
            if let Some(close) = b[i + 1..].iter().position(|&c| c == b'"') {
                token = &rest[i + 1..i + 1 + close];
                i += close + 2;
            } else {
                let end = b[i..].iter().position(|&c| c == b' ').map_or(b.len(), |n| i + n);
                token = &rest[i..end];
                i = end;
            }
        } else {
            let end = b[i..].iter().position(|&c| c == b' ').map_or(b.len(), |n| i + n);
            token = &rest[i..end];
            i = end;
        }
        if token.is_empty() || token == "-" {
            continue;
        }
        let slot = if traceparent(token).is_some() {
            2
        } else if token.len() == 32 && hex(token, false) {
            0
        } else if uuid(token) {
            1
        } else if token.contains([',', ':']) {
            return None; // maybe an upstream list (summed in Python)
        } else if seconds(token) {
            if token.len() > 12 {
                return None; // nanoseconds beyond 64 bits: normalize drops them
            }
            times += 1;
            if times > 2 {
                continue;
            }
            2 + times
        } else {
            continue;
        };
        if out[slot].is_none() {
            out[slot] = Some(token);
        }
    }
    Some(out)
}

#[pyclass(frozen, module = "midwatch_native")]
pub struct AccessLines {
    event: Py<PyAny>,
    limits: Limits,
    finish: Py<PyAny>,
    /// "HTTP 400" to "HTTP 599", the error types of failures, made once.
    error_types: Vec<String>,
}

impl LineReader for AccessLines {
    fn finish(&self) -> Option<&Py<PyAny>> {
        Some(&self.finish)
    }

    /// Every text of the event is a piece of the line, or of the message (checked in
    /// `parts`): 13 digits in a row count only where some of them could be a card. Where
    /// normalize looks for cards it also runs its email pattern, which takes a few
    /// addresses `may_hold_email` does not: then any `@` declines.
    fn may_redact(&self, line: &[u8]) -> bool {
        let (card, at) = digits_and_at(line);
        (at && may_hold_email(line)) || (card && (at || card_may_pass(line)))
    }

    fn parts<'a>(&'a self, line: &'a str) -> Option<Parts<'a>> {
        let b = line.as_bytes();
        if b.iter().any(|&c| c < 0x20 || c == 0x7f || c == b'\\') || py_strip(line).len() != line.len() {
            return None;
        }
        // Squid's epoch stamp and IIS's date start with digits only: not an NGINX client.
        if b.len() < 9 || b[..9].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut c = Cur { t: line, i: 0 };
        let addr = c.until(b' ')?;
        if addr.is_empty() || !addr.bytes().all(|ch| ch.is_ascii_hexdigit() || ch == b'.' || ch == b':') {
            return None;
        }
        let ident = c.until(b' ')?;
        let user = c.until(b' ')?;
        if ident.is_empty() || user.is_empty() {
            return None;
        }
        c.eat("[")?;
        let day = c.digits(2)?;
        c.eat("/")?;
        let month = c.t.get(c.i..c.i + 3)?.to_ascii_lowercase();
        let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
        c.i += 3;
        c.eat("/")?;
        let year = c.digits(4)?;
        c.eat(":")?;
        let hour = c.digits(2)?;
        c.eat(":")?;
        let minute = c.digits(2)?;
        c.eat(":")?;
        let second = c.digits(2)?;
        c.eat(" ")?;
        let sign = match c.t.as_bytes().get(c.i)? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        c.i += 1;
        let (oh, om) = (c.digits(2)?, c.digits(2)?);
        c.eat("] \"")?;
        let timestamp_ms = civil_ms(year, month, day, hour, minute, second, 0,
                                    sign * (oh * 3_600_000 + om * 60_000))?;
        let request = c.until(b'"')?;
        c.eat(" ")?;
        let status = c.digits(3)?;
        if !(100..600).contains(&status) {
            return None; // an odd status: Python
        }
        let status_text = &line[c.i - 3..c.i];
        c.eat(" ")?;
        let size = c.until(b' ')?;
        let payload_bytes = if size == "-" {
            None
        } else if !size.is_empty() && size.len() <= 15 && size.bytes().all(|ch| ch.is_ascii_digit()) {
            Some(size.parse::<i64>().ok()?)
        } else {
            return None;
        };
        c.eat("\"")?;
        let _referer = c.until(b'"')?;
        c.eat(" \"")?;
        let agent = c.until(b'"')?;
        let rest = &line[c.i..];
        // request_line + readable_request: "METHOD target HTTP/x" with a method of capitals.
        let (method, target) = request.split_once(' ')?;
        let path = if target.contains(" HTTP/") { target.rsplit_once(' ')?.0 } else { target };
        let mb = method.as_bytes();
        if mb.is_empty() || mb.len() > 20 || !mb[0].is_ascii_uppercase()
            || !mb.iter().all(|&ch| ch.is_ascii_uppercase() || ch == b'_' || ch == b'-') {
            return None;
        }
        let [request_id, correlation, trace, took, upstream] = extensions(rest)?;
        let message = [method, path, status_text].iter().filter(|s| !s.is_empty())
            .copied().collect::<Vec<_>>().join(" ");
        // The path's digits run on into the status's here, not in the line.
        if digits_and_at(message.as_bytes()).0 && card_may_pass(message.as_bytes()) {
            return None;
        }
        let mut labels = Vec::with_capacity(7);
        set_label(&mut labels, "http_method", method);
        set_label(&mut labels, "url_path", path);
        set_label(&mut labels, "http_status", status_text);
        set_label(&mut labels, "client_ip", addr);
        if user != "-" {
            set_label(&mut labels, "user", user);
        }
        set_label(&mut labels, "user_agent", agent);
        let mut ids = Vec::with_capacity(3);
        if let Some(id) = request_id {
            add_id(&mut ids, "http.request", id);
        }
        if let Some(id) = correlation {
            add_id(&mut ids, "correlation", id);
        }
        let (trace_id, span_id) = match trace.and_then(traceparent) {
            Some((t, s)) => {
                add_id(&mut ids, "otel.trace", t);
                (Some(t), Some(s))
            }
            None => (None, None),
        };
        let duration_ns = took.and_then(seconds_ns);
        if let Some(ns) = upstream.and_then(seconds_ns) {
            set_label(&mut labels, "upstream_ms", &(ns / 1_000_000).to_string());
        }
        let failed = status >= 400;
        let level = if status >= 500 { "error" } else if failed { "warn" } else { "info" };
        Some(Parts {
            timestamp_ms,
            dataset: "apigw.nginx",
            platform: "apigw",
            message,
            action: Some("received"),
            outcome: if failed { "failure" } else { "success" },
            level,
            duration_ns,
            service: None,
            host: None,
            trace_id,
            span_id,
            error_type: failed.then(|| self.error_types[status as usize - 400].as_str()),
            error_code: failed.then_some(status_text),
            error_message: None,
            error_stack_trace: None,
            payload_bytes,
            ids,
            labels,
        })
    }
}

crate::common::reader_class!(AccessLines);

/// event: the Event class; limits: longest line, name or ID, label value taken; finish:
/// called with each failure (its error class by status, then `collector.normalize.classify`).
#[pyfunction]
pub fn access_lines(event: Py<PyAny>, limits: (usize, usize, usize, usize),
                    finish: Py<PyAny>) -> AccessLines {
    let (line, name, label, lines) = limits;
    let error_types = (400..600).map(|status| format!("HTTP {status}")).collect();
    AccessLines { event, limits: Limits { line, name, label, lines }, finish, error_types }
}
