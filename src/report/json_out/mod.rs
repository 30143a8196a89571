//! The JSON writer of the JSON and NDJSON views: byte for byte what `serde_json` writes
//! (`to_writer_pretty` and `to_writer`), a serde serializer of its own because writing
//! is a tenth of an analysis and `serde_json` spends most of that on work the reports do
//! not need: every struct field name scanned for characters to escape (they are Rust
//! identifiers), each indentation level written by a call of its own, and every piece
//! through the writer's checks. Here the output goes to a buffer flushed in large pieces.
//! sonic-rs, a drop-in replacement, measured no faster on the benchmark (README, "Speed
//! and memory"). Numbers are formatted by the crates `serde_json` uses (itoa, zmij).

mod map_key;
mod splice;

use map_key::MapKey;
use serde::ser::{self, Serialize};
use splice::{HOLE, Splice};
pub use splice::{Hole, to_writer_lines_spliced, to_writer_pretty_spliced};
use std::io::{self, Write};

/// Buffered bytes written out at once.
const FLUSH_AT: usize = 256 * 1024;

/// Writes `value` as indented JSON (two spaces a level, `serde_json::to_writer_pretty`).
pub fn to_writer_pretty<W: Write, T: Serialize + ?Sized>(out: W, value: &T) -> io::Result<()> {
    let mut json = Json::new(out, true);
    value.serialize(&mut json).map_err(Error::into_io)?;
    json.flush()
}

/// Writes each of `items` as JSON on a line of its own (NDJSON: `serde_json::to_writer`
/// and a newline each), all through one buffer.
pub fn to_writer_lines<W: Write, T: Serialize>(
    out: W,
    items: impl IntoIterator<Item = T>,
) -> io::Result<()> {
    let mut json = Json::new(out, false);
    for item in items {
        item.serialize(&mut json).map_err(Error::into_io)?;
        json.buf.push(b'\n');
        json.flush_if_full().map_err(Error::into_io)?;
    }
    json.flush()
}

/// Why serializing failed: a type `serde_json` refuses too (a map key that is no string
/// or number), or the writer's error.
#[derive(Debug)]
pub struct Error(io::Error);

impl Error {
    fn into_io(self) -> io::Error {
        self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(io::Error::other(msg.to_string()))
    }
}

type Result<T = ()> = std::result::Result<T, Error>;

/// The output and where it stands.
struct Json<W> {
    out: W,
    buf: Vec<u8>,
    pretty: bool,
    depth: usize,
    /// The array to write where the value holds a [`Hole`].
    splice: Option<Splice>,
    /// Buffered bytes written out at once (`FLUSH_AT`, or never for a chunk of elements
    /// taken whole).
    flush_at: usize,
}

impl<W: Write> Json<W> {
    fn new(out: W, pretty: bool) -> Json<W> {
        Json {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            pretty,
            depth: 0,
            splice: None,
            flush_at: FLUSH_AT,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn flush_if_full(&mut self) -> Result {
        if self.buf.len() >= self.flush_at {
            self.flush().map_err(Error)?;
        }
        Ok(())
    }

    /// Opens an object or array.
    fn open(&mut self, bracket: u8) {
        self.depth += 1;
        self.buf.push(bracket);
    }

    /// Closes an object or array; `empty` if nothing was written in it.
    fn close(&mut self, bracket: u8, empty: bool) {
        self.depth -= 1;
        if self.pretty && !empty {
            self.newline();
        }
        self.buf.push(bracket);
    }

    /// Before an element of an object or array.
    fn element(&mut self, first: bool) {
        if !first {
            self.buf.push(b',');
        }
        if self.pretty {
            self.newline();
        }
    }

    /// Between a key and its value.
    fn colon(&mut self) {
        self.buf
            .extend_from_slice(if self.pretty { b": " } else { b":" });
    }

    /// A new line, indented two spaces a level.
    fn newline(&mut self) {
        self.buf.push(b'\n');
        self.buf.resize(self.buf.len() + 2 * self.depth, b' ');
    }

    /// A struct field's name: a Rust identifier or a serde rename, never in need of escapes.
    fn field_name(&mut self, name: &str) {
        debug_assert!(!name.bytes().any(needs_escape));
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b'"');
    }

    fn string(&mut self, s: &str) {
        self.buf.push(b'"');
        escape_into(&mut self.buf, s);
        self.buf.push(b'"');
    }

    fn integer(&mut self, v: impl itoa::Integer) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    fn float(&mut self, v: impl zmij::Float, finite: bool) {
        if finite {
            self.buf
                .extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
        } else {
            self.buf.extend_from_slice(b"null");
        }
    }
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends `s` with JSON's escapes, as `serde_json` writes them (`\u00XX` in lowercase for
/// the control characters without a short form).
fn escape_into(buf: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        buf.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            0x08 => buf.extend_from_slice(b"\\b"),
            0x0c => buf.extend_from_slice(b"\\f"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(b >> 4)]);
                buf.push(HEX[usize::from(b & 0x0f)]);
            }
        }
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// An object or array being written.
struct Compound<'a, W> {
    json: &'a mut Json<W>,
    first: bool,
    /// Closes the object a variant wraps its value in, after the value's own bracket.
    variant: bool,
}

impl<'a, W: Write> Compound<'a, W> {
    fn new(json: &'a mut Json<W>, bracket: u8, variant: bool) -> Self {
        json.open(bracket);
        Compound {
            json,
            first: true,
            variant,
        }
    }

    fn element(&mut self) {
        self.json.element(self.first);
        self.first = false;
    }

    fn end(self, bracket: u8) -> Result {
        self.json.close(bracket, self.first);
        if self.variant {
            self.json.close(b'}', false);
        }
        self.json.flush_if_full()
    }
}

impl<'a, W: Write> ser::Serializer for &'a mut Json<W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, W>;
    type SerializeTuple = Compound<'a, W>;
    type SerializeTupleStruct = Compound<'a, W>;
    type SerializeTupleVariant = Compound<'a, W>;
    type SerializeMap = Compound<'a, W>;
    type SerializeStruct = Compound<'a, W>;
    type SerializeStructVariant = Compound<'a, W>;

    fn serialize_bool(self, v: bool) -> Result {
        self.buf
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result {
        self.integer(v);
        Ok(())
    }

    fn serialize_i16(self, v: i16) -> Result {
        self.integer(v);
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Result {
        self.integer(v);
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> Result {
        self.integer(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result {
        self.integer(v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result {
        self.integer(v);
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Result {
        self.integer(v);
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Result {
        self.integer(v);
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Result {
        self.integer(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Result {
        self.integer(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result {
        self.float(v, v.is_finite());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result {
        self.float(v, v.is_finite());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result {
        self.string(v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        SerializeSeq::end(seq)
    }

    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result {
        self.buf.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result {
        if name == HOLE {
            return self.fill_hole();
        }
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.string(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.variant_key(variant);
        value.serialize(&mut *self)?;
        self.close(b'}', false);
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Ok(Compound::new(self, b'[', false))
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        self.variant_key(variant);
        Ok(Compound::new(self, b'[', true))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Ok(Compound::new(self, b'{', false))
    }

    fn serialize_struct(self, _: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Ok(Compound::new(self, b'{', false))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        self.variant_key(variant);
        Ok(Compound::new(self, b'{', true))
    }
}

impl<W: Write> Json<W> {
    /// `{"Variant": ` of a newtype, tuple or struct variant, whose value follows.
    fn variant_key(&mut self, variant: &str) {
        self.open(b'{');
        self.element(true);
        self.string(variant);
        self.colon();
    }
}

impl<W: Write> ser::SerializeSeq for Compound<'_, W> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.element();
        value.serialize(&mut *self.json)?;
        self.json.flush_if_full()
    }

    fn end(self) -> Result {
        Compound::end(self, b']')
    }
}

impl<W: Write> ser::SerializeTuple for Compound<'_, W> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        Compound::end(self, b']')
    }
}

impl<W: Write> ser::SerializeTupleStruct for Compound<'_, W> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        Compound::end(self, b']')
    }
}

impl<W: Write> ser::SerializeTupleVariant for Compound<'_, W> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        Compound::end(self, b']')
    }
}

impl<W: Write> ser::SerializeMap for Compound<'_, W> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.element();
        key.serialize(MapKey(&mut *self.json))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.json.colon();
        value.serialize(&mut *self.json)
    }

    fn end(self) -> Result {
        Compound::end(self, b'}')
    }
}

impl<W: Write> ser::SerializeStruct for Compound<'_, W> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.element();
        self.json.field_name(key);
        self.json.colon();
        value.serialize(&mut *self.json)
    }

    fn end(self) -> Result {
        Compound::end(self, b'}')
    }
}

impl<W: Write> ser::SerializeStructVariant for Compound<'_, W> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result {
        Compound::end(self, b'}')
    }
}

#[cfg(test)]
mod tests;
