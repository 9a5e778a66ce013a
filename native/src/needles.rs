//! Auto-detection's prefilter (`collector.detect_prefilter`): whether a line holds any of the
//! substrings one of which every line some parsers' `detect` claims must hold. A line that
//! holds none of them is not asked of those parsers at all: for a JSON log line that saves
//! the nine ranked before the JSON parser (~2.5 us a line in Python) for one pass here.

use memchr::memmem::Finder;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

#[pyclass(frozen, module = "midwatch_native")]
pub struct Needles {
    finders: Vec<Finder<'static>>,
}

#[pymethods]
impl Needles {
    #[new]
    fn new(needles: Vec<String>) -> Self {
        Needles { finders: needles.iter().map(|n| Finder::new(n.as_bytes()).into_owned()).collect() }
    }

    /// Per text: whether it holds any needle (`holds`).
    fn held(&self, texts: &Bound<'_, PyList>) -> Vec<bool> {
        texts.iter().map(|item| self.holds(&item)).collect()
    }

    /// Whether the text holds any needle. A text that is no valid UTF-8 (a lone surrogate)
    /// counts as holding one, so that it is asked of every parser.
    fn holds(&self, text: &Bound<'_, PyAny>) -> bool {
        match text.downcast::<PyString>().map(|s| s.to_str()) {
            Ok(Ok(text)) => self.finders.iter().any(|f| f.find(text.as_bytes()).is_some()),
            _ => true,
        }
    }
}
