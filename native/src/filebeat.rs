//! Filebeat and Elastic Agent envelopes (`collector.envelopes.filebeat.match`, its nested
//! shape): the line and where Filebeat read it, for a batch of delivered messages, without
//! building the whole document as Python objects. Taken only where `match` reads the nested
//! fields (`message`, `log.file.path`, `agent.type`, `host.name`, `log.offset`,
//! `@timestamp`); declined (None: the Python path decodes the message) for anything else: a
//! flattened or older document, a field read here of an unusual type (a number as
//! `@timestamp`, an offset beyond 64 bits), a key named twice, text that is not JSON.
//!
//! `runs` reads the same documents as `unwrap` and groups consecutive ones of one file
//! (`collector.envelopes.shipped.Run`): a shipper sends a file's lines in order, so most of a
//! batch is a few long runs, whose lines pass to their parser without a `Shipped` each.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use serde::Deserialize;
use serde_json::Value;

/// The fields `match` reads, borrowed from the text where they hold no escapes. Any other
/// key is skipped unread; a field of another type than these, or named twice, fails the
/// read and the message is declined.
#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    log: Option<Log<'a>>,
    #[serde(borrow)]
    agent: Option<Agent<'a>>,
    #[serde(borrow)]
    host: Option<Host<'a>>,
    #[serde(borrow, rename = "@timestamp")]
    timestamp: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Log<'a> {
    #[serde(borrow)]
    file: Option<File<'a>>,
    offset: Option<Value>,
}

#[derive(Deserialize)]
struct File<'a> {
    #[serde(borrow)]
    path: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Agent<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Host<'a> {
    Name(#[serde(borrow)] Cow<'a, str>),
    Doc {
        #[serde(borrow)]
        name: Option<Cow<'a, str>>,
    },
}

/// A non-empty string, as `match` takes `path`, `agent.type` and `host.name`.
fn text<'a>(value: &'a Option<Cow<'a, str>>) -> Option<&'a str> {
    value.as_deref().filter(|s| !s.is_empty())
}

/// `collector.envelopes.shipped.offset` of `log.offset`, the nested read first: Err where
/// the Python side must tell (a count beyond 64 bits or with a fraction, digits of other
/// scripts).
fn offset(value: Option<&Value>) -> Result<Option<i64>, ()> {
    Ok(match value {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) => (v >= 0).then_some(v),
            None => return Err(()),
        },
        Some(Value::String(s)) if !s.is_empty() && s.chars().all(char::is_numeric) => {
            if !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(());
            }
            Some(s.parse().map_err(|_| ())?)
        }
        Some(value) if value.is_array() || value.is_object() => {
            return Err(()); // None in Python too, but a float inside would be read first
        }
        _ => None,
    })
}

/// `Shipped(line, shipper, host, path, offset, created_ms)` of one document, `@timestamp`
/// as text (read by the Python side's cached `text_ms`) or None (0).
type Found<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, Option<i64>, Option<&'a str>);

fn found<'a>(doc: &'a Doc<'a>) -> Option<Found<'a>> {
    let line = doc.message.as_deref()?;
    let (log, agent) = (doc.log.as_ref()?, doc.agent.as_ref()?);
    let path = text(&log.file.as_ref()?.path)?;
    let kind = text(&agent.kind)?;
    let host = match &doc.host {
        Some(Host::Name(name)) => Some(name.as_ref()).filter(|s| !s.is_empty()),
        Some(Host::Doc { name }) => text(name),
        None => None,
    };
    Some((line, kind, host, path, offset(log.offset.as_ref()).ok()?, doc.timestamp.as_deref()))
}

/// The document of one delivered message, where it is JSON this reader can read.
fn doc_of<'a>(text: &'a Bound<'_, PyString>) -> Option<Doc<'a>> {
    match text.to_str() {
        Ok(t) if t.starts_with('{') => serde_json::from_str::<Doc>(t).ok(),
        _ => None,
    }
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
            let doc = doc_of(text);
            let Some((line, kind, host, path, at, stamp)) = doc.as_ref().and_then(found) else {
                out.push(py.None());
                continue;
            };
            let created = match stamp {
                Some(s) => self.text_ms.call1(py, (s,))?,
                None => 0i64.into_py(py),
            };
            let host = host.map_or_else(|| py.None(), |h| h.into_py(py));
            let at = at.map_or_else(|| py.None(), |n| n.into_py(py));
            out.push(self.shipped.call1(py, (line, kind, host, path, at, created))?);
        }
        Ok(PyList::new_bound(py, out))
    }

    /// The documents `unwrap` reads, grouped: per run of consecutive documents of one
    /// shipper, host and file, `(shipper, host, path, lines, created, offsets)`, `lines` as
    /// `collector.linesplit.Line` tuples `(line, offset, 0, False, True)`, `created` each
    /// document's `@timestamp` in epoch ms, `offsets` whether every document gave its offset;
    /// None for a document declined (a run of its own).
    /// A line with a newline or ending in a carriage return (a record the shipper joined) is
    /// a run of its own too: the Python side splits it.
    fn runs<'py>(&self, py: Python<'py>, texts: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyList>> {
        let mut out: Vec<PyObject> = Vec::new();
        let mut run: Option<Run> = None;
        // The last `@timestamp` read and its value: a batch's documents share few of them.
        let mut stamp_ms: Option<(String, PyObject)> = None;
        for item in texts.iter() {
            let text = item.downcast::<PyString>()?;
            let doc = doc_of(text);
            let Some((line, kind, host, path, at, stamp)) = doc.as_ref().and_then(found) else {
                if let Some(done) = run.take() {
                    out.push(done.into_py(py));
                }
                out.push(py.None());
                continue;
            };
            let created = match stamp {
                Some(s) => match &stamp_ms {
                    Some((last, value)) if last == s => value.clone_ref(py),
                    _ => {
                        let value = self.text_ms.call1(py, (s,))?;
                        stamp_ms = Some((s.to_owned(), value.clone_ref(py)));
                        value
                    }
                },
                None => 0i64.into_py(py),
            };
            let alone = line.contains('\n') || line.ends_with('\r');
            let joins = matches!(&run, Some(r) if !r.closed && !alone && r.kind == kind
                                 && r.host.as_deref() == host && r.path == path);
            if !joins {
                if let Some(done) = run.take() {
                    out.push(done.into_py(py));
                }
                run = Some(Run { kind: kind.to_owned(), host: host.map(str::to_owned),
                                 path: path.to_owned(), closed: alone, offsets: true,
                                 lines: Vec::new(), created: Vec::new() });
            }
            let r = run.as_mut().expect("a run was opened above");
            r.offsets &= at.is_some();
            let at = at.map_or_else(|| py.None(), |n| n.into_py(py));
            let fields: [PyObject; 5] = [line.into_py(py), at, 0i64.into_py(py),
                                         false.into_py(py), true.into_py(py)];
            r.lines.push(PyTuple::new_bound(py, fields).into_any().unbind());
            r.created.push(created);
        }
        if let Some(done) = run.take() {
            out.push(done.into_py(py));
        }
        Ok(PyList::new_bound(py, out))
    }
}

/// Consecutive documents of one shipper, host and file, as `runs` hands them over.
struct Run {
    kind: String,
    host: Option<String>,
    path: String,
    /// A line the shipper joined: nothing more joins this run.
    closed: bool,
    /// Every document gave its offset.
    offsets: bool,
    lines: Vec<PyObject>,
    created: Vec<PyObject>,
}

impl Run {
    fn into_py(self, py: Python<'_>) -> PyObject {
        let host = self.host.map_or_else(|| py.None(), |h| h.into_py(py));
        let fields: [PyObject; 6] = [self.kind.into_py(py), host, self.path.into_py(py),
                                     PyList::new_bound(py, self.lines).into_any().unbind(),
                                     PyList::new_bound(py, self.created).into_any().unbind(),
                                     self.offsets.into_py(py)];
        PyTuple::new_bound(py, fields).into_any().unbind()
    }
}

/// shipped: the `Shipped` class; text_ms: `collector.envelopes.shipped.text_ms`.
#[pyfunction]
pub fn filebeat_docs(shipped: Py<PyAny>, text_ms: Py<PyAny>) -> FilebeatDocs {
    FilebeatDocs { shipped, text_ms }
}
