//! Mule 4 runtime lines (`collector.parsers.mule`), one-line records of its default layout:
//! `%-5p %d [%t] [processor: %X{processorPath}; event: %X{correlationId}] %c: %m` (the
//! processor and event field optional). The caller (`SourceParser.feed_lines`) hands over
//! only lines it knows are records of their own (the next line starts a record). Declined:
//! errors and failures, the `%MDC` layout, JsonLogger lines, banners, APIkit flow names,
//! times without a zone where the default zone is not UTC, anything unusual.

use pyo3::prelude::*;

use crate::common::{add_id, civil_ms, py_strip, Limits, LineReader, Parts};

const LEVELS: [(&str, &str); 7] = [("TRACE", "debug"), ("DEBUG", "debug"), ("INFO", "info"),
    ("WARN", "warn"), ("WARNING", "warn"), ("ERROR", "error"), ("FATAL", "fatal")];
const POOLS: [&str; 4] = ["CPU_LITE", "CPU_INTENSIVE", "BLOCKING", "IO"];

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `\s+` at `i` (the line holds no other blank than the space): where it ends.
fn blanks(b: &[u8], i: usize) -> Option<usize> {
    let n = b[i.min(b.len())..].iter().take_while(|&&c| c == b' ').count();
    (n > 0).then_some(i + n)
}

fn digits(b: &[u8], i: usize, n: usize) -> Option<i64> {
    let s = b.get(i..i + n)?;
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// `_DATE` at `i` and the `\s+` after it: (epoch ms, where the blanks end).
fn date(b: &[u8], i: usize, utc_default: bool) -> Option<(i64, usize)> {
    let (y, mo, d) = (digits(b, i, 4)?, digits(b, i + 5, 2)?, digits(b, i + 8, 2)?);
    let (h, mi, s) = (digits(b, i + 11, 2)?, digits(b, i + 14, 2)?, digits(b, i + 17, 2)?);
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(k, c)| b[i + k] != c) || !matches!(b[i + 10], b' ' | b'T') {
        return None;
    }
    let mut j = i + 19;
    let mut ms = 0;
    if matches!(b.get(j), Some(b',' | b'.')) && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        let n = b[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n > 6 {
            return None;
        }
        let frac = std::str::from_utf8(&b[j + 1..j + 1 + n]).ok()?;
        ms = format!("{frac}00")[..3].parse::<i64>().ok()?;
        j += 1 + n;
    }
    let mut offset = 0;
    match b.get(j) {
        Some(b'Z') => j += 1,
        Some(&sign @ (b'+' | b'-')) => {
            let hh = digits(b, j + 1, 2)?;
            let colon = b.get(j + 3) == Some(&b':');
            let k = j + 3 + usize::from(colon);
            let mm = digits(b, k, 2)?;
            offset = (if sign == b'-' { -1 } else { 1 }) * (hh * 3_600_000 + mm * 60_000);
            j = k + 2;
        }
        _ if !utc_default => return None,
        _ => {}
    }
    let end = blanks(b, j)?;
    Some((civil_ms(y, mo, d, h, mi, s, 0, offset)? + ms, end))
}

/// The processor, event ID, category and message of a line.
type Tail<'a> = (Option<&'a str>, Option<&'a str>, &'a str, &'a str);

/// What `_LINE_A` matches after a closing bracket of the thread, following the regex's order
/// of attempts (the event field first, then none): Ok(None) where it does not match there
/// (the thread goes on to the next bracket), Err where the line is declined.
fn after_thread<'a>(t: &'a str, i: usize) -> Result<Option<Tail<'a>>, ()> {
    let b = t.as_bytes();
    let Some(i) = blanks(b, i) else { return Ok(None) };
    let category_at = |k: usize| -> Option<(&'a str, &'a str)> {
        let n = b[k..].iter().take_while(|&&c| is_word(c) || matches!(c, b'.' | b'$' | b'-')).count();
        if n == 0 || b.get(k + n) != Some(&b':') {
            return None;
        }
        let msg_at = k + n + 1 + usize::from(b.get(k + n + 1) == Some(&b' '));
        Some((&t[k..k + n], &t[msg_at..]))
    };
    if t[i..].starts_with("[{") {
        return Err(()); // the %MDC layout: business fields (Python)
    }
    if t[i..].starts_with('[') {
        let inner = &t[i + 1..];
        let field = |rest: &'a str| -> Option<(&'a str, usize)> {
            // `event: ([^\]]*)\]\s+`: the ID, and where the blanks after it end.
            let body = rest.strip_prefix("event: ")?;
            let close = body.find(']')?;
            let end_of = t.len() - body.len() + close + 1;
            Some((&body[..close], blanks(b, end_of)?))
        };
        let with_processor = inner.strip_prefix("processor: ").and_then(|p| {
            let n = p.bytes().take_while(|&c| c != b';' && c != b']').count();
            let after = p[n..].strip_prefix("; ")?;
            let (event, k) = field(after)?;
            Some((Some(&p[..n]), event, k))
        });
        let found = with_processor.or_else(|| field(inner).map(|(e, k)| (None, e, k)));
        if let Some((processor, event, k)) = found {
            if let Some((category, msg)) = category_at(k) {
                return Ok(Some((processor, Some(event), category, msg)));
            }
        }
    }
    Ok(category_at(i).map(|(category, msg)| (None, None, category, msg)))
}

/// `_APP_IN_THREAD.search(thread)`: (application, flow).
fn app_in_thread(thread: &str) -> Option<(&str, &str)> {
    let b = thread.as_bytes();
    let starts = std::iter::once(0).chain((0..b.len()).filter(|&i| thread[i..].starts_with(": ")));
    for (n, start) in starts.enumerate() {
        // At 0 `^` is tried before ": "; elsewhere only ": ".
        let tries: &[usize] = if n == 0 { &[0, 2] } else { &[2] };
        for &skip in tries {
            if skip == 2 && !thread[start..].starts_with(": ") {
                continue;
            }
            if let Some(found) = app_at(thread, start + skip) {
                return Some(found);
            }
        }
    }
    None
}

fn app_at(thread: &str, i: usize) -> Option<(&str, &str)> {
    let b = thread.as_bytes();
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let n = b[i + 1..].iter().take_while(|&&c| c != b'[' && c != b']' && c != b' ').count();
    if n == 0 || b.get(i + 1 + n) != Some(&b']') || b.get(i + 2 + n) != Some(&b'.') {
        return None;
    }
    let app = &thread[i + 1..i + 1 + n];
    let flow_at = i + 3 + n;
    let mut end = flow_at + 1; // the flow is at least one character, taken lazily
    while end <= b.len() {
        if matches!(b[end - 1], b'[' | b']') {
            return None;
        }
        if b.get(end) == Some(&b'.') {
            for pool in POOLS {
                let k = end + 1 + pool.len();
                if thread[end + 1..].starts_with(pool) && !b.get(k).is_some_and(|&c| is_word(c)) {
                    return Some((app, &thread[flow_at..end]));
                }
            }
        }
        end += 1;
    }
    None
}

#[pyclass(frozen, module = "midwatch_native")]
pub struct MuleLines {
    event: Py<PyAny>,
    limits: Limits,
    utc_default: bool,
}

impl LineReader for MuleLines {
    fn parts<'a>(&'a self, line: &'a str) -> Option<Parts<'a>> {
        let b = line.as_bytes();
        if b.iter().any(|&c| c < 0x20 || c == 0x7f) || line.contains("*****") {
            return None;
        }
        // `_LEVEL\s+`: the alternation's first word a blank follows.
        let (level, i) = LEVELS.iter().find_map(|&(word, level)| {
            line.starts_with(word).then(|| blanks(b, word.len()).map(|i| (level, i))).flatten()
        })?;
        if level == "error" || level == "fatal" {
            return None;
        }
        let (timestamp_ms, i) = date(b, i, self.utc_default)?;
        if b.get(i) != Some(&b'[') {
            return None;
        }
        // `\[(?P<thread>.*?)\]`: the first closing bracket after which the rest matches.
        let mut found = None;
        for close in (i + 1..b.len()).filter(|&k| b[k] == b']') {
            if let Some(rest) = after_thread(line, close + 1).ok()? {
                found = Some((&line[i + 1..close], rest));
                break;
            }
        }
        let (thread, (processor, event, category, message)) = found?;
        if category.ends_with("JsonLogger") {
            return None;
        }
        let mut labels: Vec<(&'static str, String)> = vec![("thread", thread.to_string()),
                                                           ("logger", category.to_string())];
        let mut service = None;
        let mut flow = None;
        if let Some((app, name)) = app_in_thread(thread) {
            service = Some(app);
            flow = Some(name.to_string());
        }
        let mut ids = Vec::with_capacity(1);
        if let Some(event) = event.filter(|e| !e.is_empty()) {
            add_id(&mut ids, "correlation", event);
        }
        let processor = py_strip(processor.unwrap_or(""));
        if !processor.is_empty() {
            labels.push(("processor", processor.to_string()));
            flow.get_or_insert_with(|| processor.split('/').next().unwrap_or("").to_string());
        }
        if let Some(flow) = flow {
            if flow.contains(':') {
                return None; // an APIkit flow name: its labels are Python's
            }
            // mule_flow comes after logger (from the thread) or after processor (from it)
            let at = if service.is_some() { 2 } else { labels.len() };
            labels.insert(at, ("mule_flow", flow));
        }
        Some(Parts {
            timestamp_ms,
            dataset: "mulesoft.runtime",
            platform: "mulesoft",
            message: message.to_string(),
            action: Some("logged"),
            outcome: "unknown",
            level,
            duration_ns: None,
            service,
            host: None,
            trace_id: None,
            span_id: None,
            error_message: None,
            payload_bytes: None,
            ids,
            labels,
        })
    }
}

crate::common::reader_class!(MuleLines);

/// event: the Event class; limits: longest line, name or ID, label value taken;
/// utc_default: whether a time without a zone is UTC (the context's default zone). Each line
/// handed to its `parse` must be a record alone.
#[pyfunction]
pub fn mule_lines(event: Py<PyAny>, limits: (usize, usize, usize), utc_default: bool) -> MuleLines {
    let (line, name, label) = limits;
    MuleLines { event, limits: Limits { line, name, label }, utc_default }
}
