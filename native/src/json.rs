//! JSON lines (`collector.parsers.json_lines` without a mapping): an ASCII line holding one
//! flat JSON object without escapes, whose timestamp is ISO-8601 with milliseconds and `Z`,
//! that is no failure. Anything else is declined.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::common::{add_id, civil_ms, py_strip, Limits, LineReader, Parts};

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
    civil_ms(y, mo, d, h, mi, s, ms, 0)
}


#[pyclass(frozen, module = "midwatch_native")]
pub struct JsonLines {
    aliases: HashMap<String, (usize, u32)>,
    id_kinds: HashMap<String, String>,
    levels: HashMap<String, String>,
    outcomes: HashMap<String, String>,
    event: Py<PyAny>,
    limits: Limits,
}

impl LineReader for JsonLines {
    fn parts<'a>(&'a self, line: &'a str) -> Option<Parts<'a>> {
        let bytes = line.as_bytes();
        let last = *bytes.last()?;
        if last == b'{' || last == b'[' {
            return None; // the Python path opens a pretty-printed value there
        }
        let members = Scan { s: bytes, text: line, i: 0 }.object()?;
        let mut best: [Option<(u32, Value)>; 11] = [None; 11];
        let mut doc_ids: Vec<(&str, &str)> = Vec::new();
        for (key, value) in &members {
            if let Some(&(schema, rank)) = self.aliases.get(*key) {
                let present = !matches!(value, Value::Null | Value::Str(""));
                if present && best[schema].map_or(true, |(r, _)| rank < r) {
                    best[schema] = Some((rank, *value));
                }
            }
            if let Some(kind) = self.id_kinds.get(*key) {
                match value {
                    Value::Str(s) | Value::Int(s) => doc_ids.push((kind.as_str(), s)),
                    Value::Null | Value::True | Value::False => {}
                    Value::Number => return None, // str() of a float: not reproduced
                }
            }
        }
        let mut picked: [Option<&str>; 11] = [None; 11];
        let mut outcome = "unknown";
        let word = |table: &'a HashMap<String, String>, key: &str| {
            table.get(&py_strip(key).to_ascii_lowercase()).map(String::as_str)
        };
        for (schema, slot) in best.iter().enumerate() {
            match (schema, slot) {
                (_, None) => {}
                (S_OUTCOME, Some((_, v))) => {
                    outcome = match v {
                        Value::Str(s) => word(&self.outcomes, s).unwrap_or("unknown"),
                        Value::True => word(&self.outcomes, "true").unwrap_or("unknown"),
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
        let level = picked[S_LEVEL].map_or("info", |raw| word(&self.levels, raw).unwrap_or("info"));
        if level == "error" || level == "fatal" {
            return None;
        }
        let mut ids: Vec<String> = Vec::with_capacity(doc_ids.len() + 1);
        if let Some(trace) = picked[S_TRACE] {
            add_id(&mut ids, "otel.trace", trace);
        }
        for (kind, value) in doc_ids {
            add_id(&mut ids, kind, value);
        }
        Some(Parts {
            timestamp_ms,
            dataset: "generic.json",
            platform: "generic",
            message: picked[S_MESSAGE].unwrap_or("").to_string(),
            action: picked[S_ACTION],
            outcome,
            level,
            duration_ns: None,
            service: picked[S_SERVICE],
            host: picked[S_HOST],
            trace_id: picked[S_TRACE],
            span_id: picked[S_SPAN],
            error_type: None,
            error_code: None,
            error_message: picked[S_ERROR_MESSAGE],
            error_stack_trace: None,
            payload_bytes: None,
            ids,
            labels: Vec::new(),
        })
    }
}

crate::common::reader_class!(JsonLines);

/// aliases: source key -> (schema key, rank); id_kinds: source key -> typed-ID kind; levels /
/// outcomes: lower-cased word -> what the Python path makes of it; event: the Event class;
/// limits: longest line, name or ID, label value taken.
#[pyfunction]
pub fn json_lines(
    aliases: HashMap<String, (String, u32)>,
    id_kinds: HashMap<String, String>,
    levels: HashMap<String, String>,
    outcomes: HashMap<String, String>,
    event: Py<PyAny>,
    limits: (usize, usize, usize, usize),
) -> PyResult<JsonLines> {
    let mut table = HashMap::new();
    for (key, (schema, rank)) in aliases {
        let index = SCHEMAS.iter().position(|s| *s == schema).ok_or_else(|| {
            PyValueError::new_err(format!("alias {key:?} names schema key {schema:?}, \
                                           which the native path does not know"))
        })?;
        table.insert(key, (index, rank));
    }
    let (line, name, label, lines) = limits;
    Ok(JsonLines { aliases: table, id_kinds, levels, outcomes, event,
                   limits: Limits { line, name, label, lines } })
}
