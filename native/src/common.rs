//! What every fast path shares: the checks that keep it exact (redaction, bounds, time
//! range), the event ID, and the `Event` built from an accepted line's parts.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

/// The `collector.event.Event` fields in order, as `build` fills them; the Python side
/// refuses the module when the dataclass says otherwise.
pub const EVENT_FIELDS: [&str; 31] = [
    "timestamp_ms", "dataset", "platform", "message", "action", "outcome", "level", "id",
    "ingested_ms", "duration_ns", "service", "host", "trace_id", "span_id", "error_type",
    "error_code", "error_message", "error_stack_trace", "flow", "stage", "partner",
    "message_id", "ids", "error_class", "signature", "payload_bytes", "labels", "probe_value",
    "timestamp_estimated", "created_ms", "original",
];

/// The bounds of `collector.normalize` a value must be within to be taken (nothing is cut
/// here: a line that would be cut is declined).
#[derive(Clone, Copy)]
pub struct Limits {
    /// Longest line (the original, and so every text from it).
    pub line: usize,
    /// Longest name or ID.
    pub name: usize,
    /// Longest label value.
    pub label: usize,
    /// Most lines of a record (`collector.parse.MAX_RECORD_LINES`).
    pub lines: usize,
}

/// The fields of one accepted record, before they become Python objects. Error classes and
/// signatures stay in Python: a reader that names an error hands the event to its `finish`.
pub struct Parts<'a> {
    pub timestamp_ms: i64,
    pub dataset: &'static str,
    pub platform: &'static str,
    pub message: String,
    pub action: Option<&'a str>,
    pub outcome: &'a str,
    pub level: &'a str,
    pub duration_ns: Option<i64>,
    pub service: Option<&'a str>,
    pub host: Option<&'a str>,
    pub trace_id: Option<&'a str>,
    pub span_id: Option<&'a str>,
    pub error_type: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub error_stack_trace: Option<&'a str>,
    pub payload_bytes: Option<i64>,
    pub ids: Vec<String>,
    pub labels: Vec<(&'static str, String)>,
}

/// One format's reading of a record: its parts, or None to leave the record to Python.
pub trait LineReader {
    /// Whether records span lines (the parser has a `START`): then a record is a line that
    /// starts one and the lines after it that do not, and it is known to end only where the
    /// next record starts within the batch.
    const FRAMED: bool = false;

    fn parts<'a>(&'a self, record: &'a str) -> Option<Parts<'a>>;

    /// `START.match(line)` of a framed format: None where it cannot tell exactly (non-ASCII
    /// text, where `\s` and `\d` reach beyond ASCII).
    fn starts(&self, _line: &str) -> Option<bool> {
        Some(true)
    }

    /// The Python callable that gives an event naming an error its class and signature
    /// (`collector.normalize.classify`), for readers that take such events.
    fn finish(&self) -> Option<&Py<PyAny>> {
        None
    }

    /// Whether normalize might redact something in the record: then it is declined.
    fn may_redact(&self, record: &[u8]) -> bool {
        may_redact(record)
    }
}

/// Python's `\s` on an ASCII character.
pub fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | b'\x1c'..=b'\x1f')
}

/// Python's `str.strip()` on ASCII text.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f'))
}

/// `collector.timeparse.days_from_civil`.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = y - i64::from(m <= 2);
    let era = (if y >= 0 { y } else { y - 399 }).div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2).div_euclid(5) + d - 1;
    let doe = yoe * 365 + yoe.div_euclid(4) - yoe.div_euclid(100) + doy;
    era * 146097 + doe - 719468
}

/// `collector.timeparse.civil_to_ms` with an explicit offset (ms east of UTC); None where
/// its `_valid` says no.
pub fn civil_ms(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, ms: i64, offset: i64) -> Option<i64> {
    if !((1..=12).contains(&mo) && (1..=31).contains(&d) && h <= 24 && mi <= 59 && s <= 60) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms - offset)
}

/// Whether `collector.normalize` might find a card number or an email address: 13 digits
/// in a row (blanks and dashes between them aside) or an `@` between a local-part character
/// and a dotted domain. Never false where normalize would redact: every text of an event
/// taken here is a piece of its line.
pub fn may_redact(line: &[u8]) -> bool {
    let (card, at) = digits_and_at(line);
    card || (at && may_hold_email(line))
}

/// (13 digits in a row, blanks and dashes between them aside (`normalize._may_hold_card`);
/// an `@` anywhere), in one pass: most lines have no `@`, and then `may_hold_email` need not
/// look.
pub fn digits_and_at(line: &[u8]) -> (bool, bool) {
    // Branch-free: digits and separators alternate in every timestamp and UUID, where a
    // branch per byte was mispredicted often enough to make this the costliest step.
    let mut run = 0u32;
    let mut longest = 0u32;
    let mut at = false;
    for &c in line {
        let digit = u32::from(c.wrapping_sub(b'0') < 10);
        let keep = digit | u32::from(c == b' ' || c == b'-');
        run = (run + digit) * keep;
        longest = longest.max(run);
        at |= c == b'@';
    }
    (longest >= 13, at)
}

/// An `@` between a local-part character and a dotted domain.
pub fn may_hold_email(line: &[u8]) -> bool {
    for (at, _) in line.iter().enumerate().filter(|(_, &c)| c == b'@') {
        if at == 0 {
            continue;
        }
        let prev = line[at - 1];
        if !(prev.is_ascii_alphanumeric() || b"._%+-".contains(&prev)) {
            continue;
        }
        let rest = &line[at + 1..];
        let label = rest.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'-').count();
        if label > 0 && rest.get(label) == Some(&b'.') {
            return true;
        }
    }
    false
}

/// Whether `normalize._card_sub` could replace a card number in `text` or in a piece of it
/// that starts after a character other than a digit (each field of an access line does):
/// 13 to 19 digits, blanks and dashes between them aside, the first 2 to 6 and not after
/// a digit, that pass Luhn's check. Never false where it would: `_card_sub` leaves a match
/// after a digit as it is, and each match is such digits (more lengths are tried than
/// `_CARD` takes). A 32-hex-digit request ID holds 13 digits in a row in one line of 25 or
/// so, a card number rarely: 13 digits alone sent those lines to the Python path.
pub fn card_may_pass(text: &[u8]) -> bool {
    let mut digits = [0u8; 19];
    for start in 0..text.len() {
        if !(b'2'..=b'6').contains(&text[start]) || (start > 0 && text[start - 1].is_ascii_digit()) {
            continue;
        }
        let mut n = 0;
        for &c in &text[start..] {
            if c.is_ascii_digit() {
                digits[n] = c - b'0';
                n += 1;
                if n >= 13 && luhn_ok(&digits[..n]) {
                    return true;
                }
                if n == digits.len() {
                    break;
                }
            } else if c != b' ' && c != b'-' {
                break;
            }
        }
    }
    false
}

/// `normalize.luhn_ok` of digit values.
fn luhn_ok(digits: &[u8]) -> bool {
    let total: u32 = digits.iter().rev().enumerate().map(|(i, &d)| {
        let n = u32::from(d) * if i % 2 == 1 { 2 } else { 1 };
        if n > 9 { n - 9 } else { n }
    }).sum();
    total.is_multiple_of(10)
}

/// `Event.add_id`: the stripped value, typed, once.
pub fn add_id(ids: &mut Vec<String>, kind: &str, value: &str) {
    let text = py_strip(value);
    if text.is_empty() {
        return;
    }
    let typed = format!("{kind}:{text}");
    if !ids.contains(&typed) {
        ids.push(typed);
    }
}

/// `set_label` of a text: stripped, and left out when that leaves nothing.
pub fn set_label(labels: &mut Vec<(&'static str, String)>, key: &'static str, value: &str) {
    let text = py_strip(value);
    if text.is_empty() {
        return;
    }
    match labels.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = text.to_string(),
        None => labels.push((key, text.to_string())),
    }
}

/// Whether normalize would leave these parts as they are (no bound cuts anything, the time
/// is believed): else the line is declined.
fn within(p: &Parts, limits: Limits, time_min: i64, time_max: i64) -> bool {
    let names = [p.service, p.host, p.trace_id, p.span_id, p.error_type, p.error_code];
    time_min <= p.timestamp_ms
        && p.timestamp_ms <= time_max
        && !names.iter().any(|v| v.is_some_and(|v| v.len() > limits.name))
        // normalize's _dedupe drops IDs ending in ":" (when there are several): not reproduced
        && !p.ids.iter().any(|i| i.len() > limits.name || i.ends_with(':'))
        && !p.labels.iter().any(|(_, v)| v.len() > limits.label)
}

fn event_id(head: &[u8], position: &[u8]) -> String {
    let mut state = blake2b_simd::Params::new().hash_length(16).to_state();
    state.update(head);
    state.update(position);
    state.update(b"\x1f0");
    state.finalize().to_hex().to_string()
}

thread_local! {
    /// Interned Python strings of the `&'static str` names every event repeats (label keys,
    /// datasets, platforms), by address: found without hashing the text as `intern_bound`
    /// does at every call. A fixed set of names, so it stays small.
    static NAMES: std::cell::RefCell<Vec<(usize, usize, Py<PyString>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `PyString::intern_bound` of a name that lives for the whole program.
fn name<'py>(py: Python<'py>, text: &'static str) -> Bound<'py, PyString> {
    let key = (text.as_ptr() as usize, text.len());
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some((_, _, s)) = names.iter().find(|(p, n, _)| (*p, *n) == key) {
            return s.bind(py).clone();
        }
        let s = PyString::intern_bound(py, text);
        names.push((key.0, key.1, s.clone().unbind()));
        s
    })
}

fn build<'py>(py: Python<'py>, event: &Bound<'py, PyAny>, p: Parts, id: String, ingested_ms: i64,
              original: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
    let opt = |v: Option<&str>| -> PyObject {
        v.map_or_else(|| py.None(), |s| PyString::new_bound(py, s).into_any().unbind())
    };
    let int = |v: Option<i64>| -> PyObject { v.map_or_else(|| py.None(), |n| n.into_py(py)) };
    let none = || py.None();
    let message_id = p.ids.first().map(String::as_str);
    let labels = PyDict::new_bound(py);
    for (key, value) in &p.labels {
        labels.set_item(name(py, key), value)?;
    }
    let args: [PyObject; 31] = [
        p.timestamp_ms.into_py(py),
        name(py, p.dataset).into_any().unbind(),
        name(py, p.platform).into_any().unbind(),
        PyString::new_bound(py, &p.message).into_any().unbind(),
        opt(p.action),
        PyString::intern_bound(py, p.outcome).into_any().unbind(),
        PyString::intern_bound(py, p.level).into_any().unbind(),
        id.into_py(py),
        ingested_ms.into_py(py),
        int(p.duration_ns),
        opt(p.service),
        opt(p.host),
        opt(p.trace_id),
        opt(p.span_id),
        opt(p.error_type),
        opt(p.error_code),
        opt(p.error_message),
        opt(p.error_stack_trace),
        none(),
        none(),
        none(),
        opt(message_id),
        PyList::new_bound(py, p.ids.iter().map(|i| PyString::new_bound(py, i))).into_any().unbind(),
        none(),
        none(),
        int(p.payload_bytes),
        labels.into_any().unbind(),
        none(),
        false.into_py(py),
        0i64.into_py(py),
        original.clone().into_any().unbind(),
    ];
    event.call1(PyTuple::new_bound(py, args))
}

/// One line of a batch: `collector.linesplit.Line` (text, position, line number, truncated,
/// terminated); the position is a byte offset or, from a shipper, its own text, or an object
/// whose `str()` is that text (`collector.envelopes.numbering.Hashed`: a hash made only for
/// a line that starts a record, so read only there, by `position`).
struct Line<'py> {
    text: Bound<'py, PyString>,
    position: Bound<'py, PyAny>,
    /// Whole and terminated: a line the Python path would hand to its parser as it is.
    whole: bool,
}

/// The text of a line's position, as the Python path formats it (`f"{position}"`).
fn position(at: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(n) = at.extract::<i64>() {
        return Ok(n.to_string().into_bytes());
    }
    match at.downcast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.as_bytes().to_vec()),
        Err(_) => Ok(at.str()?.to_str()?.as_bytes().to_vec()),
    }
}

fn line<'py>(item: &Bound<'py, PyAny>) -> PyResult<Line<'py>> {
    let t = item.downcast::<PyTuple>()?;
    let whole = !t.get_item(3)?.is_truthy()? && t.get_item(4)?.is_truthy()?;
    Ok(Line { text: t.get_item(0)?.downcast_into::<PyString>()?, position: t.get_item(1)?, whole })
}

/// Per line: the finished Event of the record it starts, False where it continues a record
/// taken so (its event is the one before), None where the Python path must read it. A
/// framed format's record is taken only when every line of it is whole and the next record
/// starts within the batch (else it might go on in the next one).
#[allow(clippy::too_many_arguments)]
pub fn parse_batch<'py, R: LineReader>(
    reader: &R,
    limits: Limits,
    event: &Bound<'py, PyAny>,
    items: &Bound<'py, PyList>,
    id_head: &[u8],
    ingested_ms: i64,
    time_min: i64,
    time_max: i64,
) -> PyResult<Bound<'py, PyList>> {
    let py = items.py();
    let lines = items.iter().map(|item| line(&item)).collect::<PyResult<Vec<_>>>()?;
    let texts = lines.iter().map(|l| l.text.to_str()).collect::<PyResult<Vec<_>>>()?;
    let starts: Vec<Option<bool>> = if R::FRAMED {
        texts.iter().map(|t| reader.starts(t)).collect()
    } else {
        Vec::new()
    };
    let mut out: Vec<PyObject> = Vec::with_capacity(lines.len());
    let mut k = 0;
    while k < lines.len() {
        let mut end = k + 1;
        if R::FRAMED {
            while end < lines.len() && starts[end] == Some(false) {
                end += 1;
            }
            if starts[k] != Some(true) || end == lines.len() || starts[end].is_none() {
                out.extend((k..end).map(|_| py.None()));
                k = end;
                continue;
            }
        }
        let joined;
        let text = if end == k + 1 {
            texts[k]
        } else {
            joined = texts[k..end].join("\n");
            joined.as_str()
        };
        let bytes = text.as_bytes();
        let parts = if bytes.len() > limits.line || end - k > limits.lines || !text.is_ascii()
            || reader.may_redact(bytes)
            || !lines[k..end].iter().all(|l| l.whole) {
            None
        } else {
            reader.parts(text).filter(|p| within(p, limits, time_min, time_max))
        };
        match parts {
            Some(p) => {
                let needs_class = p.level == "error" || p.level == "fatal" || p.outcome == "failure"
                    || p.error_type.is_some() || p.error_code.is_some();
                let original = if end == k + 1 { lines[k].text.clone() } else { PyString::new_bound(py, text) };
                let ev = build(py, event, p, event_id(id_head, &position(&lines[k].position)?), ingested_ms,
                               &original)?;
                if needs_class {
                    let finish = reader.finish().ok_or_else(|| pyo3::exceptions::PyValueError::new_err(
                        "a reader took an event naming an error without a finish"))?;
                    finish.call1(py, (&ev,))?;
                }
                out.push(ev.unbind());
                out.extend((k + 1..end).map(|_| false.into_py(py)));
            }
            None => out.extend((k..end).map(|_| py.None())),
        }
        k = end;
    }
    Ok(PyList::new_bound(py, out))
}

/// A reader's Python class: its `parse` method over `parse_batch` (each reader struct has
/// `event` and `limits`); the constructors are module functions (see lib.rs).
macro_rules! reader_class {
    ($reader:ty) => {
        #[pyo3::pymethods]
        impl $reader {
            /// Per line an Event, False (continues the record of the Event before) or None
            /// (see `parse_batch`). `lines`: `collector.linesplit.Line` tuples; `id_head`:
            /// the UTF-8 (surrogatepass) of source + "\x1f" + position prefix.
            #[allow(clippy::too_many_arguments)]
            fn parse<'py>(&self, py: pyo3::Python<'py>, lines: &pyo3::Bound<'py, pyo3::types::PyList>,
                          id_head: &[u8], ingested_ms: i64, time_min: i64,
                          time_max: i64) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyList>> {
                $crate::common::parse_batch(self, self.limits, self.event.bind(py), lines,
                                            id_head, ingested_ms, time_min, time_max)
            }
        }
    };
}
pub(crate) use reader_class;
