//! midwatch's native fast path.
//!
//! The pure-Python path (the parsers in `collector.parsers` + `collector.normalize`) is the
//! reference. Each class here takes a batch of lines of one format and returns, for each,
//! either the finished `Event` that path would produce (every field, the deterministic event
//! ID, the original) or `None`: "not mine, ask Python". It only says yes to the common shapes
//! it can reproduce exactly, and declines anything else, including anything merely unusual:
//! a line got wrong here would be a silent bug, a declined one only costs time.
//!
//! `Needles` tells auto-detection which lines need not be asked of the parsers that
//! declare `DETECT_NEEDS` (`collector.detect_prefilter`).
//!
//! `FilebeatDocs` takes the Filebeat envelope off a batch of delivered messages the same way:
//! the `Shipped` the Python matcher makes, or None. `SyslogFrames` reads the RFC 5424 headers
//! of a syslog read's frames, or declines the read.
//!
//! The name tables (aliases, typed-ID fields, level and outcome words) come from the Python
//! modules at construction, so there is one definition of them.

mod common;
mod filebeat;
mod json;
mod mule;
mod needles;
mod nginx;
mod syslog;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// What the Python side (`collector.native.ABI`) expects; raised with every change of what a
/// reader takes or returns, so that a stale build is left unused instead of misread.
const ABI: u32 = 10;

#[pymodule]
fn midwatch_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ABI", ABI)?;
    m.add("EVENT_FIELDS", PyTuple::new_bound(m.py(), common::EVENT_FIELDS))?;
    m.add_class::<json::JsonLines>()?;
    m.add_class::<nginx::AccessLines>()?;
    m.add_class::<mule::MuleLines>()?;
    m.add_class::<filebeat::FilebeatDocs>()?;
    m.add_class::<needles::Needles>()?;
    m.add_class::<syslog::SyslogFrames>()?;
    m.add_function(wrap_pyfunction!(json::json_lines, m)?)?;
    m.add_function(wrap_pyfunction!(nginx::access_lines, m)?)?;
    m.add_function(wrap_pyfunction!(mule::mule_lines, m)?)?;
    m.add_function(wrap_pyfunction!(filebeat::filebeat_docs, m)?)?;
    m.add_function(wrap_pyfunction!(syslog::syslog_frames, m)?)?;
    Ok(())
}
