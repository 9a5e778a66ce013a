//! midwatch's native fast path for JSON lines.
//!
//! The pure-Python path (`collector.parsers.json_lines` + `collector.normalize`) is the
//! reference. This module takes a batch of lines and returns, for each, either the finished
//! `Event` that path would produce (every field, the deterministic event ID) or `None`:
//! "not mine, ask Python". It only says yes to the common shape it can reproduce exactly:
//! an ASCII line holding one flat JSON object without escapes, whose timestamp is ISO-8601
//! with milliseconds and `Z`, that is not a failure (error classes and signatures stay in
//! Python), holds nothing redaction might touch and no value beyond a field bound. Anything
//! else, including anything merely unusual, is declined: a line this module got wrong would
//! be a silent bug, a declined one only costs time.
//!
//! The name tables (aliases, typed-ID fields, level and outcome words) come from the Python
//! modules at construction, so there is one definition of them.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

/// The `collector.event.Event` fields in order, as the constructor call below fills them;
/// the Python side refuses the module when the dataclass says otherwise.
const EVENT_FIELDS: [&str; 31] = [
    "timestamp_ms", "dataset", "platform", "message", "action", "outcome", "level", "id",
    "ingested_ms", "duration_ns", "service", "host", "trace_id", "span_id", "error_type",
    "error_code", "error_message", "error_stack_trace", "flow", "stage", "partner",
    "message_id", "ids", "error_class", "signature", "payload_bytes", "labels", "probe_value",
    "timestamp_estimated", "created_ms", "original",
];

/// Schema keys a JSON alias may fill, by index.
const SCHEMAS: [&str; 11] = [
    "timestamp", "level", "message", "service", "host", "trace_id", "span_id", "error_type",
    "error_message", "action", "outcome",
];
const S_TIMESTAMP: usize = 0;
const S_LEVEL: usize = 1;
const S_MESSAGE: usize = 2;
const S_SERVICE: usize = 3;
const S_HOST: usize = 4;
const S_TRACE: usize = 5;
const S_SPAN: usize = 6;
const S_ERROR_TYPE: usize = 7;
const S_ERROR_MESSAGE: usize = 8;
const S_ACTION: usize = 9;
const S_OUTCOME: usize = 10;

#[derive(Clone, Copy, PartialEq)]
enum Value<'a> {
    Str(&'a str),
    /// A JSON integer in the form Python's `str(int)` writes back (no sign on zero, no
    /// leading zeros), so it can stand in as text.
    Int(&'a str),
    Number,
    True,
    False,
    Null,
}

/// A strict reader of the subset accepted: one object of scalar members.
struct Scan<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.s.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// A string without escapes or control characters (declined otherwise).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.s.get(self.i)? {
                b'"' => break,
                b'\\' => return None,
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
        let out = &self.text[start..self.i];
        self.i += 1;
        Some(out)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.i;
        let negative = self.eat(b'-').is_some();
        let int_start = self.i;
        let n = self.digits();
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return None;
        }
        let mut integer = true;
        if self.eat(b'.').is_some() {
            integer = false;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            integer = false;
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // Far from any 64-bit or float edge: orjson and Python agree on these.
        if self.i - start > 15 {
            return None;
        }
        let text = &self.text[start..self.i];
        if integer && !(negative && text == "-0") {
            Some(Value::Int(text))
        } else {
            Some(Value::Number)
        }
    }

    fn literal(&mut self, word: &[u8], value: Value<'a>) -> Option<Value<'a>> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Some(value)
        } else {
            None
        }
    }

    fn value(&mut self) -> Option<Value<'a>> {
        match *self.s.get(self.i)? {
            b'"' => self.string().map(Value::Str),
            b't' => self.literal(b"true", Value::True),
            b'f' => self.literal(b"false", Value::False),
            b'n' => self.literal(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None, // objects and arrays: declined
        }
    }

    /// The members of the one object the line holds, in order; None unless the whole line
    /// is exactly that (no duplicate keys).
    fn object(&mut self) -> Option<Vec<(&'a str, Value<'a>)>> {
        self.ws();
        self.eat(b'{')?;
        let mut members: Vec<(&'a str, Value<'a>)> = Vec::new();
        self.ws();
        if self.eat(b'}').is_none() {
            loop {
                self.ws();
                let key = self.string()?;
                if members.iter().any(|(k, _)| *k == key) {
                    return None;
                }
                self.ws();
                self.eat(b':')?;
                self.ws();
                let value = self.value()?;
                members.push((key, value));
                self.ws();
                if self.eat(b',').is_some() {
                    continue;
                }
                self.eat(b'}')?;
                break;
            }
        }
        self.ws();
        (self.i == self.s.len()).then_some(members)
    }
}

/// Python's `str.strip()` on ASCII text.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f'))
}

/// `collector.timeparse.days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = y - i64::from(m <= 2);
    let era = (if y >= 0 { y } else { y - 399 }).div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2).div_euclid(5) + d - 1;
    let doe = yoe * 365 + yoe.div_euclid(4) - yoe.div_euclid(100) + doy;
    era * 146097 + doe - 719468
}

/// `2024-03-01T10:15:32.123Z`, the shape `collector.timeparse.parse_ms` reads first, as
/// epoch ms; None for any other text or an impossible field.
fn iso_ms_z(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() != 24 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return None;
        }
    }
    let n = |a: usize, z: usize| t[a..z].parse::<i64>().ok();
    let (y, mo, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (h, mi, s, ms) = (n(11, 13)?, n(14, 16)?, n(17, 19)?, n(20, 23)?);
    if !((1..=12).contains(&mo) && (1..=31).contains(&d) && h <= 24 && mi <= 59 && s <= 60) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

/// Whether `collector.normalize` might find a card number or an email address: 13 digits
/// in a row (blanks and dashes between them aside) or an `@` between a local-part character
/// and a dotted domain. Never false where normalize would redact.
fn may_redact(line: &[u8]) -> bool {
    let mut run = 0;
    for &c in line {
        if c.is_ascii_digit() {
            run += 1;
            if run >= 13 {
                return true;
            }
        } else if c != b' ' && c != b'-' {
            run = 0;
        }
    }
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

/// The fields of one accepted line, before they become Python objects.
struct Fields<'a> {
    timestamp_ms: i64,
    level: &'a str,
    outcome: &'a str,
    picked: [Option<&'a str>; 11],
    ids: Vec<String>,
}

#[pyclass(frozen, module = "midwatch_native")]
struct JsonLines {
    aliases: HashMap<String, (usize, u32)>,
    id_kinds: HashMap<String, String>,
    levels: HashMap<String, String>,
    outcomes: HashMap<String, String>,
    event: Py<PyAny>,
    max_line: usize,
    max_name: usize,
}

impl JsonLines {
    fn fields<'a>(&'a self, line: &'a str, time_min: i64, time_max: i64) -> Option<Fields<'a>> {
        let bytes = line.as_bytes();
        if bytes.len() > self.max_line || !line.is_ascii() || may_redact(bytes) {
            return None;
        }
        let last = *bytes.last()?;
        if last == b'{' || last == b'[' {
            return None; // the Python path opens a pretty-printed value there
        }
        let members = Scan { s: bytes, text: line, i: 0 }.object()?;
        let mut best: [Option<(u32, Value)>; 11] = [None; 11];
        let mut doc_ids: Vec<String> = Vec::new();
        for (key, value) in &members {
            if let Some(&(schema, rank)) = self.aliases.get(*key) {
                let present = !matches!(value, Value::Null | Value::Str(""));
                if present && best[schema].map_or(true, |(r, _)| rank < r) {
                    best[schema] = Some((rank, *value));
                }
            }
            if let Some(kind) = self.id_kinds.get(*key) {
                let text = match value {
                    Value::Str(s) => py_strip(s),
                    Value::Int(s) => s,
                    Value::Null | Value::True | Value::False => continue,
                    Value::Number => return None,
                };
                if !text.is_empty() {
                    doc_ids.push(format!("{kind}:{text}"));
                }
            }
        }
        let mut picked: [Option<&str>; 11] = [None; 11];
        let mut outcome = "unknown";
        for (schema, slot) in best.iter().enumerate() {
            match (schema, slot) {
                (_, None) => {}
                (S_OUTCOME, Some((_, v))) => {
                    outcome = match v {
                        Value::Str(s) => {
                            let key = py_strip(s).to_ascii_lowercase();
                            self.outcomes.get(&key).map_or("unknown", String::as_str)
                        }
                        Value::True => self.outcomes.get("true").map_or("unknown", String::as_str),
                        Value::False => return None,
                        _ => "unknown", // str() of a number is no outcome word
                    };
                }
                (_, Some((_, Value::Str(s)))) => picked[schema] = Some(s),
                _ => return None, // a number or literal where text is read: Python's str()
            }
        }
        if outcome == "failure" || picked[S_ERROR_TYPE].is_some() {
            return None; // error class and signature: the Python path
        }
        let timestamp_ms = iso_ms_z(picked[S_TIMESTAMP]?)?;
        if !(time_min <= timestamp_ms && timestamp_ms <= time_max) {
            return None;
        }
        let level = match picked[S_LEVEL] {
            None => "info",
            Some(raw) => {
                let key = py_strip(raw).to_ascii_lowercase();
                self.levels.get(&key).map_or("info", String::as_str)
            }
        };
        if level == "error" || level == "fatal" {
            return None;
        }
        let mut ids: Vec<String> = Vec::with_capacity(doc_ids.len() + 1);
        if let Some(trace) = picked[S_TRACE] {
            let text = py_strip(trace);
            if !text.is_empty() {
                ids.push(format!("otel.trace:{text}"));
            }
        }
        for typed in doc_ids {
            if !ids.contains(&typed) {
                ids.push(typed);
            }
        }
        // normalize's _dedupe drops such IDs (only when there are several): not reproduced.
        if ids.iter().any(|i| i.ends_with(':') || i.len() > self.max_name) {
            return None;
        }
        let names = [S_SERVICE, S_HOST, S_TRACE, S_SPAN];
        if names.iter().any(|&s| picked[s].is_some_and(|v| v.len() > self.max_name)) {
            return None;
        }
        Some(Fields { timestamp_ms, level, outcome, picked, ids })
    }
}

fn event_id(head: &[u8], offset: i64) -> String {
    let mut state = blake2b_simd::Params::new().hash_length(16).to_state();
    state.update(head);
    state.update(offset.to_string().as_bytes());
    state.update(b"\x1f0");
    state.finalize().to_hex().to_string()
}

#[pymethods]
impl JsonLines {
    /// aliases: source key -> (schema key, rank); id_kinds: source key -> typed-ID kind;
    /// levels / outcomes: lower-cased word -> what the Python path makes of it; event: the
    /// Event class; max_line: longest line accepted (characters, nothing in it is cut);
    /// max_name: longest name or ID accepted.
    #[new]
    fn new(
        aliases: HashMap<String, (String, u32)>,
        id_kinds: HashMap<String, String>,
        levels: HashMap<String, String>,
        outcomes: HashMap<String, String>,
        event: Py<PyAny>,
        max_line: usize,
        max_name: usize,
    ) -> PyResult<Self> {
        let mut table = HashMap::new();
        for (key, (schema, rank)) in aliases {
            let index = SCHEMAS.iter().position(|s| *s == schema).ok_or_else(|| {
                PyValueError::new_err(format!("alias {key:?} names schema key {schema:?}, \
                                               which the native path does not know"))
            })?;
            table.insert(key, (index, rank));
        }
        Ok(JsonLines { aliases: table, id_kinds, levels, outcomes, event, max_line, max_name })
    }

    /// One Event or None per line. `offsets`: each line's byte offset (its position);
    /// `id_head`: the UTF-8 (surrogatepass) of source + "\x1f" + position prefix.
    #[allow(clippy::too_many_arguments)]
    fn parse<'py>(
        &self,
        py: Python<'py>,
        lines: &Bound<'py, PyList>,
        offsets: Vec<i64>,
        id_head: &[u8],
        ingested_ms: i64,
        time_min: i64,
        time_max: i64,
    ) -> PyResult<Bound<'py, PyList>> {
        if offsets.len() != lines.len() {
            return Err(PyValueError::new_err("one offset per line"));
        }
        let event = self.event.bind(py);
        let out = PyList::empty_bound(py);
        let dataset = PyString::intern_bound(py, "generic.json");
        let platform = PyString::intern_bound(py, "generic");
        for (item, offset) in lines.iter().zip(offsets) {
            let text = item.downcast::<PyString>()?;
            let line = text.to_str()?;
            let Some(f) = self.fields(line, time_min, time_max) else {
                out.append(py.None())?;
                continue;
            };
            let opt = |v: Option<&str>| -> PyObject {
                v.map_or_else(|| py.None(), |s| PyString::new_bound(py, s).into_any().unbind())
            };
            let none = || py.None();
            let ids = PyList::new_bound(py, f.ids.iter().map(|i| PyString::new_bound(py, i)));
            let message_id = f.ids.first().map(String::as_str);
            let args: [PyObject; 31] = [
                f.timestamp_ms.into_py(py),
                dataset.clone().into_any().unbind(),
                platform.clone().into_any().unbind(),
                PyString::new_bound(py, f.picked[S_MESSAGE].unwrap_or("")).into_any().unbind(),
                opt(f.picked[S_ACTION]),
                PyString::intern_bound(py, f.outcome).into_any().unbind(),
                PyString::intern_bound(py, f.level).into_any().unbind(),
                event_id(id_head, offset).into_py(py),
                ingested_ms.into_py(py),
                none(),
                opt(f.picked[S_SERVICE]),
                opt(f.picked[S_HOST]),
                opt(f.picked[S_TRACE]),
                opt(f.picked[S_SPAN]),
                none(),
                none(),
                opt(f.picked[S_ERROR_MESSAGE]),
                none(),
                none(),
                none(),
                none(),
                opt(message_id),
                ids.into_any().unbind(),
                none(),
                none(),
                none(),
                PyDict::new_bound(py).into_any().unbind(),
                none(),
                false.into_py(py),
                0i64.into_py(py),
                text.clone().into_any().unbind(),
            ];
            out.append(event.call1(PyTuple::new_bound(py, args))?)?;
        }
        Ok(out)
    }
}

#[pymodule]
fn midwatch_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("EVENT_FIELDS", PyTuple::new_bound(m.py(), EVENT_FIELDS))?;
    m.add_class::<JsonLines>()?;
    Ok(())
}
