//! JSON object members written straight into a document: what the format parsers share.
//!
//! Parsers write ECS fields as they read a line, without an intermediate tree. An object is
//! opened before its fields are known and closed afterwards — or dropped again when none of
//! its fields was present, so absent fields never leave empty objects behind.

/// An object member opened with [`open`]: dropped again by [`close`] when nothing was written
/// into it, so absent fields never leave empty objects behind.
#[derive(Clone, Copy)]
pub struct Obj {
    /// Length of `out` before the member (and its comma) was written.
    pub mark: usize,
    /// Length of `out` right after the opening brace.
    pub body: usize,
}

/// Writes `"name":`, preceded by a comma unless it is the first member after `parent`'s brace.
pub fn key(out: &mut Vec<u8>, parent: usize, name: &str) {
    if out.len() != parent {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

pub fn open(out: &mut Vec<u8>, parent: usize, name: &str) -> Obj {
    let mark = out.len();
    key(out, parent, name);
    out.push(b'{');
    Obj {
        mark,
        body: out.len(),
    }
}

pub fn close(out: &mut Vec<u8>, obj: Obj) {
    if out.len() == obj.body {
        out.truncate(obj.mark);
    } else {
        out.push(b'}');
    }
}

/// A JSON string. Writing into a `Vec` cannot fail, so the `io::Result` carries nothing.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    crate::document::push_str(out, s);
}
