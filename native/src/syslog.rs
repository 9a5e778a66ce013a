//! RFC 5424 syslog headers (`collector.envelopes.syslog.match` of each frame, grouped as
//! `collector.envelopes.shipped.runs` groups them): the line and where the sender read it,
//! for a syslog read's frames, without a regex match and a `Shipped` a frame. The Python
//! reader is the reference; this one reads only what it reproduces exactly and declines the
//! whole read (None: the Python path reads it) for anything else: RFC 3164 (its year is
//! guessed from the clock), a header not in printable ASCII (Python's `\S` and `\s` are
//! Unicode's), an escape in a structured-data value, text that is no RFC 5424 header.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

/// `(line, host, path, app, stamp)` of one frame, as `match` reads it.
type Found<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>, &'a str);

/// A header field: printable ASCII, no space (else declined, see the module doc).
fn token(s: &str, from: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    let mut end = from;
    while end < b.len() && b[end] != b' ' {
        if !(0x21..=0x7e).contains(&b[end]) {
            return None;
        }
        end += 1;
    }
    (end > from && end < b.len()).then(|| (&s[from..end], end + 1))
}

/// `None` for the RFC 5424 nil value `-`.
fn nil(v: &str) -> Option<&str> {
    (v != "-").then_some(v)
}

/// Python's `\s` for one ASCII byte: whitespace and the four separators \x1c-\x1f.
fn space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | 0x1c..=0x1f)
}

/// One `[SD-ID NAME="VALUE"...]` element at `from` (`_SD_ELEMENT`): its params and the
/// position after it; Ok(None) where the pattern does not match (the MSG starts there);
/// Err where Python might read it otherwise (a non-ASCII name, an escape).
#[allow(clippy::type_complexity)]
fn element(s: &str, from: usize) -> Result<Option<(Vec<(&str, &str)>, usize)>, ()> {
    let b = s.as_bytes();
    if b.get(from) != Some(&b'[') {
        return Ok(None);
    }
    let mut i = from + 1;
    let id = i;
    while i < b.len() && b[i] != b']' && !space(b[i]) {
        if b[i] >= 0x80 {
            return Err(());
        }
        i += 1;
    }
    if i == id {
        return Ok(None);
    }
    let mut params = Vec::new();
    loop {
        match b.get(i) {
            Some(b']') => return Ok(Some((params, i + 1))),
            Some(b' ') => {}
            _ => return Ok(None),
        }
        let name = i + 1;
        let mut j = name;
        while j < b.len() && b[j] != b'=' && !space(b[j]) {
            if b[j] >= 0x80 {
                return Err(());
            }
            j += 1;
        }
        if j == name || b.get(j) != Some(&b'=') || b.get(j + 1) != Some(&b'"') {
            return Ok(None);
        }
        let value = j + 2;
        let mut k = value;
        while k < b.len() && b[k] != b'"' {
            match b[k] {
                b'\\' => return Err(()),
                b']' => return Ok(None),
                _ => k += 1,
            }
        }
        if k == b.len() {
            return Ok(None);
        }
        params.push((&s[name..j], &s[value..k]));
        i = k + 1;
    }
}

/// `match` of one frame, where this reader reproduces it (see the module doc).
fn found(frame: &str) -> Option<Found<'_>> {
    let b = frame.as_bytes();
    if b.first() != Some(&b'<') {
        return None;
    }
    let digits = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=3).contains(&digits) || !frame[1 + digits..].starts_with(">1 ") {
        return None;
    }
    let mut at = digits + 4;
    let mut fields = [""; 5];
    for field in fields.iter_mut() {
        let (value, next) = token(frame, at)?;
        *field = value;
        at = next;
    }
    let [stamp, host, app, _procid, _msgid] = fields;
    let rest = &frame[at..];
    let (path, msg) = if let Some(msg) = rest.strip_prefix("- ") {
        (None, msg)
    } else if rest == "-" {
        (None, "")
    } else {
        let mut pos = at;
        let mut params: Vec<(&str, &str)> = Vec::new();
        while let Some((found, next)) = element(frame, pos).ok()? {
            for (name, value) in found {
                if !params.iter().any(|(n, _)| *n == name) {
                    params.push((name, value));
                }
            }
            pos = next;
        }
        let path = ["path", "filename", "file"].iter().find_map(|key| {
            params.iter().find(|(n, _)| n == key).map(|(_, v)| *v).filter(|v| !v.is_empty())
        });
        (path, frame[pos..].strip_prefix(' ').unwrap_or(&frame[pos..]))
    };
    let line = msg.strip_prefix('\u{feff}').unwrap_or(msg).trim_end_matches(['\r', '\n']);
    Some((line, nil(host), path, nil(app), stamp))
}

#[pyclass(frozen, module = "midwatch_native")]
pub struct SyslogFrames {
    text_ms: Py<PyAny>,
}

#[pymethods]
impl SyslogFrames {
    /// The frames of one read (their framing taken off, decoded) as `shipped.runs` gives
    /// `match_all`'s answer: per run of consecutive one-line messages of one host, file path
    /// and program, `("syslog", host, path, lines, created, False, app)` (a
    /// `collector.envelopes.shipped.Run`; a run of fewer than `MIN_RUN` lines is split by the
    /// Python side); a frame whose line holds a line feed, or that names no source, is a run
    /// of its own. None: a frame this reader declines, so the Python path reads the read.
    ///
    /// A frame may be given as read (bytes): decoded here, as Python's strict UTF-8 decoder
    /// decodes it; a frame that is not valid UTF-8 declines the read (Python replaces the
    /// invalid bytes and reads it). Decoding the read in Python first cost the syslog
    /// worker 1.0-1.7 µs an event (measured).
    fn runs(&self, py: Python<'_>, frames: &Bound<'_, PyList>) -> PyResult<Option<Py<PyList>>> {
        let mut out: Vec<PyObject> = Vec::new();
        let mut run: Option<Run> = None;
        // The last time read and its value: a read's frames share few of them.
        let mut stamp_ms: Option<(String, PyObject)> = None;
        for item in frames.iter() {
            let text = if let Ok(raw) = item.downcast::<PyBytes>() {
                std::str::from_utf8(raw.as_bytes()).ok()
            } else if let Ok(text) = item.downcast::<PyString>() {
                text.to_str().ok()
            } else {
                None // another buffer (a bytearray): Python decodes it
            };
            let Some((line, host, path, app, stamp)) = text.and_then(found) else {
                return Ok(None);
            };
            let created = if stamp == "-" {
                0i64.into_py(py)
            } else {
                match &stamp_ms {
                    Some((last, value)) if last == stamp => value.clone_ref(py),
                    _ => {
                        let value = self.text_ms.call1(py, (stamp,))?;
                        stamp_ms = Some((stamp.to_owned(), value.clone_ref(py)));
                        value
                    }
                }
            };
            let alone = line.contains('\n') || (host.is_none() && path.is_none() && app.is_none());
            let joins = matches!(&run, Some(r) if !r.closed && !alone && r.host.as_deref() == host
                                 && r.path.as_deref() == path && r.app.as_deref() == app);
            if !joins {
                if let Some(done) = run.take() {
                    out.push(done.into_py(py));
                }
                run = Some(Run { host: host.map(str::to_owned), path: path.map(str::to_owned),
                                 app: app.map(str::to_owned), closed: alone, lines: Vec::new(),
                                 created: Vec::new() });
            }
            let r = run.as_mut().expect("a run was opened above");
            let fields: [PyObject; 5] = [line.into_py(py), py.None(), 0i64.into_py(py),
                                         false.into_py(py), true.into_py(py)];
            r.lines.push(PyTuple::new_bound(py, fields).into_any().unbind());
            r.created.push(created);
        }
        if let Some(done) = run.take() {
            out.push(done.into_py(py));
        }
        Ok(Some(PyList::new_bound(py, out).unbind()))
    }
}

/// Consecutive frames of one host, file and program, as `runs` hands them over.
struct Run {
    host: Option<String>,
    path: Option<String>,
    app: Option<String>,
    /// A line with a line feed, or a frame naming no source: nothing more joins this run.
    closed: bool,
    lines: Vec<PyObject>,
    created: Vec<PyObject>,
}

impl Run {
    fn into_py(self, py: Python<'_>) -> PyObject {
        let opt = |v: Option<String>| v.map_or_else(|| py.None(), |s| s.into_py(py));
        let fields: [PyObject; 7] = ["syslog".into_py(py), opt(self.host), opt(self.path),
                                     PyList::new_bound(py, self.lines).into_any().unbind(),
                                     PyList::new_bound(py, self.created).into_any().unbind(),
                                     false.into_py(py), opt(self.app)];
        PyTuple::new_bound(py, fields).into_any().unbind()
    }
}

/// text_ms: `collector.envelopes.shipped.text_ms`.
#[pyfunction]
pub fn syslog_frames(text_ms: Py<PyAny>) -> SyslogFrames {
    SyslogFrames { text_ms }
}
