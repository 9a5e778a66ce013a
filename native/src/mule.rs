//! Mule 4 runtime records (`collector.parsers.mule`) of its default layout, and Mule 3's
//! (`[app].` in front of the thread name gives the service), in this shape:
//! `%-5p %d [%t] [processor: %X{processorPath}; event: %X{correlationId}] %c: %m` (the
//! processor and event field optional), with their continuation lines: Mule error blocks
//! (`Message : ... Error type : HTTP:CONNECTIVITY`), Java stack traces, payload lines. Records
//! are framed here as `START` frames them (`starts`), CloudHub appenders' `[MM-dd HH:mm:ss]
//! LEVEL Class [thread]: msg` among them (read by Python: no year). Declined: the `%MDC` layout, JsonLogger
//! lines, anything that may be a deployment banner, APIkit flow names, times without a zone
//! where the default zone is not UTC, control characters but tabs in continuation lines,
//! anything unusual.

use pyo3::prelude::*;

use crate::common::{add_id, civil_ms, is_space, py_strip, Limits, LineReader, Parts};

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

/// `_APP_PREFIX.match(thread)` but `MuleRuntime`: the application a Mule 3 thread name
/// starts with (`[app].HTTP_Listener_Configuration.worker.01`), or the one after a Mule 4
/// pool's name in a thread without a pool suffix (`[MuleRuntime].uber.01: [app].uber@...`).
fn app_prefix(thread: &str) -> Option<&str> {
    let after_pool = thread.strip_prefix("[MuleRuntime].").and_then(|rest| {
        let n = rest.bytes().take_while(|&c| !matches!(c, b'[' | b']' | b':')).count();
        rest[n..].strip_prefix(": ").filter(|_| n > 0)
    });
    after_pool.and_then(bracketed_app).or_else(|| bracketed_app(thread))
}

/// `\[([^\[\]\s]+)\]\.` at the start of `text`, but `MuleRuntime`.
fn bracketed_app(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('[')?;
    let n = rest.bytes().take_while(|&c| c != b'[' && c != b']' && c != b' ').count();
    let app = &rest[..n];
    (n > 0 && rest[n..].starts_with("].") && app != "MuleRuntime").then_some(app)
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


/// `\s+` in Python's sense at `i`: where it ends.
fn spaces(b: &[u8], i: usize) -> Option<usize> {
    let n = b[i.min(b.len())..].iter().take_while(|&&c| is_space(c)).count();
    (n > 0).then_some(i + n)
}

/// `\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}` at `i`.
fn date_shape(b: &[u8], i: usize) -> bool {
    const SHAPE: &[u8; 19] = b"0000-00-00 00:00:00";
    b.len() >= i + 19 && SHAPE.iter().zip(&b[i..i + 19]).all(|(&want, &c)| match want {
        b'0' => c.is_ascii_digit(),
        b' ' => c == b' ' || c == b'T',
        _ => c == want,
    })
}

/// `\[\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] (?:TRACE|...|FATAL)\s`: CloudHub appenders' head.
fn cloudhub_head(b: &[u8]) -> bool {
    const SHAPE: &[u8; 17] = b"[00-00 00:00:00] ";
    b.len() > SHAPE.len() && SHAPE.iter().zip(b).all(|(&want, &c)| {
        if want == b'0' { c.is_ascii_digit() } else { c == want }
    }) && LEVELS.iter().any(|&(word, _)| {
        b[SHAPE.len()..].starts_with(word.as_bytes())
            && b.get(SHAPE.len() + word.len()).is_some_and(|&c| is_space(c))
    })
}

/// `mule.START.match(line)` on an ASCII line.
fn start(b: &[u8]) -> bool {
    let levelled = LEVELS.iter().any(|&(word, _)| {
        b.starts_with(word.as_bytes()) && spaces(b, word.len()).is_some_and(|j| date_shape(b, j))
    });
    if levelled || cloudhub_head(b) {
        return true;
    }
    if !date_shape(b, 0) {
        return false;
    }
    // `\S*\s+\[.*\]\s+(?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\s` after the date.
    let mut j = 19 + b[19..].iter().take_while(|&&c| !is_space(c)).count();
    let Some(after) = spaces(b, j) else { return false };
    j = after;
    // Or `\S*\s+(?:TRACE|...|FATAL)\s`: a time-first log4j line of another logger.
    if LEVELS.iter().any(|&(w, _)| {
        b[j..].starts_with(w.as_bytes()) && b.get(j + w.len()).is_some_and(|&c| is_space(c))
    }) {
        return true;
    }
    if b.get(j) != Some(&b'[') {
        return false;
    }
    (j + 1..b.len()).filter(|&k| b[k] == b']').any(|k| {
        spaces(b, k + 1).is_some_and(|m| {
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].iter().any(|w| {
                b[m..].starts_with(w.as_bytes()) && b.get(m + w.len()).is_some_and(|&c| is_space(c))
            })
        })
    })
}

/// What `_banner` might make something of (a status row, a started, failed, stopped or
/// undeployed artifact, "Mule is up"): such records stay Python's. Errs on the side of yes.
fn may_be_banner(text: &str) -> bool {
    const WORDS: [&str; 6] = ["Started ", "Failed to deploy", "DeploymentException", "Mule is up",
                              "Undeployed ", "Stopped "];
    WORDS.iter().any(|w| text.contains(w))
        || text.split('\n').any(|l| l.starts_with('*') && l.bytes().any(|c| c != b'*'))
}

/// `_BLOCK_FIELD.match(line)`: (the label, the value after `\s*: ?`).
fn block_field(line: &str) -> Option<(&'static str, usize)> {
    const LABELS: [&str; 8] = ["Message", "Element", "Element DSL", "Error type", "FlowStack",
                               "Payload Type", "Payload", "Root Exception stack trace"];
    let b = line.as_bytes();
    LABELS.iter().find_map(|&label| {
        if !line.starts_with(label) {
            return None;
        }
        let k = label.len() + b[label.len()..].iter().take_while(|&&c| is_space(c)).count();
        if b.get(k) != Some(&b':') {
            return None;
        }
        Some((label, k + 1 + usize::from(b.get(k + 1) == Some(&b' '))))
    })
}

/// What `_block_fields` keeps of the fields read here: Message (its lines), Element, Error
/// type, each stripped; None where no line is a field.
struct Block<'a> {
    message: &'a str,
    element: &'a str,
    error_type: &'a str,
}

fn block_fields(body: &str) -> Option<Block<'_>> {
    let (mut message, mut element, mut error_type) = ("", "", "");
    let mut any = false;
    // The Message value runs on over the lines after it: the span of body it covers.
    let mut in_message = false;
    let mut at = 0;
    for line in body.split('\n') {
        let start = at;
        at += line.len() + 1;
        if let Some((label, value)) = block_field(line) {
            any = true;
            in_message = label == "Message";
            let value = &body[start + value..start + line.len()];
            match label {
                "Message" => message = value,
                "Element" => element = value,
                "Error type" => error_type = value,
                _ => {}
            }
        } else if line.starts_with("*****") {
            in_message = false;
        } else if in_message {
            let from = message.as_ptr() as usize - body.as_ptr() as usize;
            message = &body[from..start + line.len()];
        }
    }
    any.then(|| Block { message: py_strip(message), element: py_strip(element),
                        error_type: py_strip(error_type) })
}

/// `_EXCEPTION` on one line: (the exception class, the text after ": ").
fn exception(line: &str) -> Option<(&str, Option<&str>)> {
    let name_at = if line.starts_with("Caused by: ") { 11 } else { 0 };
    let rest = &line[name_at..];
    let n = rest.bytes().take_while(|&c| is_word(c) || c == b'$' || c == b'.').count();
    let name = &rest[..n];
    let tail = match &rest[n..] {
        "" => None,
        t => Some(t.strip_prefix(": ")?),
    };
    let (package, class) = name.rsplit_once('.')?;
    let segment_ok = |s: &str| s.bytes().next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b'$');
    // `[A-Z][\w$]*(?:Exception|...)`: a capital, then the suffix (not the capital's own)
    let suffix = ["Exception", "Error", "Throwable", "Fault"].iter()
        .any(|x| class.len() > x.len() && class.ends_with(x));
    let ok = package.split('.').all(segment_ok) && class.bytes().next().is_some_and(|c| c.is_ascii_uppercase())
        && suffix;
    ok.then_some((name, tail))
}

/// `_body`: what the continuation lines say, into `p` (whose message is the head's, the
/// last piece of the record before `body`, which `tail` is the two of).
fn body<'a>(p: &mut Parts<'a>, message: &'a str, tail: &'a str, body: &'a str,
            labels: &mut Vec<(&'static str, String)>) {
    let has_block = body.contains("Error type") || body.contains("Message ");
    let block = if has_block { block_fields(body) } else { None };
    let mut message = message;
    if let Some(block) = &block {
        if !block.message.is_empty() {
            p.error_message = Some(block.message);
        }
        if !block.error_type.is_empty() {
            p.error_type = Some(block.error_type);
            p.error_code = Some(block.error_type.rsplit(':').next().unwrap_or(""));
        }
        if !block.element.is_empty() {
            labels.push(("mule_element", block.element.to_string()));
            let flow = py_strip(block.element.split('/').next().unwrap_or(""));
            if !flow.is_empty() && !labels.iter().any(|(k, _)| *k == "mule_flow") {
                labels.push(("mule_flow", flow.to_string()));
            }
        }
    }
    if let Some((class, text)) = body.split('\n').find_map(exception) {
        if p.error_type.is_none() {
            p.error_type = Some(class);
        }
        if p.error_message.is_none() {
            if let Some(text) = text.filter(|t| !t.is_empty()) {
                p.error_message = Some(py_strip(text));
            }
        }
        p.error_stack_trace = Some(body.trim_matches('\n'));
    } else if block.is_none() {
        message = tail.trim_matches('\n');
    }
    if py_strip(message).is_empty() {
        if let Some(error) = p.error_message.filter(|e| !e.is_empty()) {
            message = error.split('\n').next().unwrap_or("");
        }
    }
    p.message = message.to_string();
}

#[pyclass(frozen, module = "midwatch_native")]
pub struct MuleLines {
    event: Py<PyAny>,
    limits: Limits,
    utc_default: bool,
    finish: Py<PyAny>,
}

impl LineReader for MuleLines {
    const FRAMED: bool = true;

    fn starts(&self, line: &str) -> Option<bool> {
        line.is_ascii().then(|| start(line.as_bytes()))
    }

    fn finish(&self) -> Option<&Py<PyAny>> {
        Some(&self.finish)
    }

    fn parts<'a>(&'a self, record: &'a str) -> Option<Parts<'a>> {
        let (line, rest) = record.split_once('\n').unwrap_or((record, ""));
        let b = line.as_bytes();
        if b.iter().any(|&c| c < 0x20 || c == 0x7f)
            || rest.bytes().any(|c| (c < 0x20 && c != b'\t' && c != b'\n') || c == 0x7f) {
            return None;
        }
        // `_LEVEL\s+`: the alternation's first word a blank follows.
        let (level, i) = LEVELS.iter().find_map(|&(word, level)| {
            line.starts_with(word).then(|| blanks(b, word.len()).map(|i| (level, i))).flatten()
        })?;
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
        if category.ends_with("JsonLogger")
            || (record.contains("*****") && may_be_banner(&record[line.len() - message.len()..])) {
            return None;
        }
        let mut labels: Vec<(&'static str, String)> = vec![("thread", thread.to_string()),
                                                           ("logger", category.to_string())];
        let (service, mut flow) = match app_in_thread(thread) {
            Some((app, name)) => (Some(app), Some(name.to_string())),
            None => (app_prefix(thread), None),
        };
        let flow_from_thread = flow.is_some();
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
            let at = if flow_from_thread { 2 } else { labels.len() };
            labels.insert(at, ("mule_flow", flow));
        }
        let failure = level == "error" || level == "fatal";
        let mut parts = Parts {
            timestamp_ms,
            dataset: "mulesoft.runtime",
            platform: "mulesoft",
            message: message.to_string(),
            action: Some(if failure { "failed" } else { "logged" }),
            outcome: if failure { "failure" } else { "unknown" },
            level,
            duration_ns: None,
            service,
            host: None,
            trace_id: None,
            span_id: None,
            error_type: None,
            error_code: None,
            error_message: None,
            error_stack_trace: None,
            payload_bytes: None,
            ids,
            labels: Vec::new(),
        };
        if !rest.is_empty() {
            // the head's message and what follows it: the record's last piece
            let tail = &record[line.len() - message.len()..];
            body(&mut parts, message, tail, rest, &mut labels);
        }
        parts.labels = labels;
        Some(parts)
    }
}

crate::common::reader_class!(MuleLines);

/// event: the Event class; limits: longest line, name or ID, label value taken;
/// utc_default: whether a time without a zone is UTC (the context's default zone); finish:
/// `collector.normalize.classify`, called with each event naming an error.
#[pyfunction]
pub fn mule_lines(event: Py<PyAny>, limits: (usize, usize, usize, usize), utc_default: bool,
                  finish: Py<PyAny>) -> MuleLines {
    let (line, name, label, lines) = limits;
    MuleLines { event, limits: Limits { line, name, label, lines }, utc_default, finish }
}
