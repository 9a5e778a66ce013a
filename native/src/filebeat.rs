//! Filebeat and Elastic Agent envelopes (`collector.envelopes.filebeat.match`, its nested
//! shape): the line and where Filebeat read it, for a batch of delivered messages, without
//! building the whole document as Python objects. Taken only where `match` reads the nested
//! fields (`message`, `log.file.path`, `agent.type`, `host.name`, `log.offset`,
//! `@timestamp`); declined (None: the Python path decodes the message) for anything else: a
//! flattened or older document, a number with a fraction or beyond 64 bits anywhere in it
//! (orjson reads those as floats, which no field here may be), text that is not JSON.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use serde_json::{Map, Value};

/// `Shipped(line, shipper, host, path, offset, created_ms)` of one document's fields.
struct Found<'a> {
    line: &'a str,
    agent: &'a str,
    host: Option<&'a str>,
    path: &'a str,
    offset: Option<i64>,
    /// `@timestamp` as text (read by the Python side's cached `text_ms`), or None: 0.
    stamp: Option<&'a str>,
}

/// A non-empty string, as `match` takes `path`, `agent.type` and `host.name`.
fn text(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Whether any number in the document has a fraction or does not fit 64 bits.
fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

/// `collector.envelopes.shipped.offset` of `log.offset`, the nested read first: Err where
/// the Python side must tell (a count beyond 64 bits, digits of other scripts).
fn offset(value: Option<&Value>) -> Result<Option<i64>, ()> {
    Ok(match value {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) => (v >= 0).then_some(v),
            None if n.is_u64() => return Err(()),
            None => None,
        },
        Some(Value::String(s)) if !s.is_empty() && s.chars().all(char::is_numeric) => {
            if !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(());
            }
            Some(s.parse().map_err(|_| ())?)
        }
        _ => None,
    })
}

fn found(doc: &Map<String, Value>) -> Option<Found<'_>> {
    let line = doc.get("message")?.as_str()?;
    let (log, agent_doc) = (doc.get("log")?.as_object()?, doc.get("agent")?.as_object()?);
    let path = text(log.get("file").and_then(Value::as_object).and_then(|f| f.get("path")))?;
    let agent = text(agent_doc.get("type"))?;
    let host = match doc.get("host") {
        Some(Value::Object(h)) => text(h.get("name")),
        other => text(other),
    };
    let stamp = match doc.get("@timestamp") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Number(_)) => return None, // epoch seconds or ms: Python's `when`
        _ => None,
    };
    Some(Found { line, agent, host, path, offset: offset(log.get("offset")).ok()?, stamp })
}

#[pyclass(frozen, module = "midwatch_native")]
pub struct FilebeatDocs {
    shipped: Py<PyAny>,
    text_ms: Py<PyAny>,
}

#[pymethods]
impl FilebeatDocs {
    /// Per message text, its `Shipped` as `filebeat.match` makes it of the decoded
    /// document, or None where this reader cannot tell (see the module doc).
    fn unwrap<'py>(&self, py: Python<'py>, texts: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyList>> {
        let mut out: Vec<PyObject> = Vec::with_capacity(texts.len());
        for item in texts.iter() {
            let text = item.downcast::<PyString>()?;
            let doc = match text.to_str() {
                Ok(t) if t.starts_with('{') => serde_json::from_str::<Value>(t).ok(),
                _ => None,
            };
            let taken = doc.as_ref().and_then(Value::as_object).filter(|d| !d.values().any(has_float))
                .and_then(found);
            let Some(f) = taken else {
                out.push(py.None());
                continue;
            };
            let created = match f.stamp {
                Some(s) => self.text_ms.call1(py, (s,))?,
                None => 0i64.into_py(py),
            };
            let host = f.host.map_or_else(|| py.None(), |h| h.into_py(py));
            let at = f.offset.map_or_else(|| py.None(), |n| n.into_py(py));
            out.push(self.shipped.call1(py, (f.line, f.agent, host, f.path, at, created))?);
        }
        Ok(PyList::new_bound(py, out))
    }
}

/// shipped: the `Shipped` class; text_ms: `collector.envelopes.shipped.text_ms`.
#[pyfunction]
pub fn filebeat_docs(shipped: Py<PyAny>, text_ms: Py<PyAny>) -> FilebeatDocs {
    FilebeatDocs { shipped, text_ms }
}
