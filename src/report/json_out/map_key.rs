//! Map keys as `serde_json` writes them: strings, and numbers, bools and chars quoted.

use super::{Error, Json, Result};
use serde::ser::{self, Serialize};
use std::io::{self, Write};

/// A map key: a string, or a number or bool written as one, as `serde_json` takes them.
pub(super) struct MapKey<'a, W>(pub(super) &'a mut Json<W>);

impl<W: Write> MapKey<'_, W> {
    fn quoted(self, write: impl FnOnce(&mut Json<W>)) -> Result {
        self.0.buf.push(b'"');
        write(self.0);
        self.0.buf.push(b'"');
        Ok(())
    }
}

fn key_must_be_a_string() -> Error {
    Error(io::Error::other("key must be a string"))
}

impl<W: Write> ser::Serializer for MapKey<'_, W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result {
        self.0.string(v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result {
        self.0.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_bool(self, v: bool) -> Result {
        self.quoted(|j| j.buf.extend_from_slice(if v { b"true" } else { b"false" }))
    }

    fn serialize_i8(self, v: i8) -> Result {
        self.quoted(|j| j.integer(v))
    }

    fn serialize_i16(self, v: i16) -> Result {
        self.quoted(|j| j.integer(v))
    }

    fn serialize_i32(self, v: i32) -> Result {
        self.quoted(|j| j.integer(v))
    }

    fn serialize_i64(self, v: i64) -> Result {
        self.quoted(|j| j.integer(v))
    }

    fn serialize_i128(self, v: i128) -> Result {
        self.quoted(|j| j.integer(v))
    }

    fn serialize_u8(self, v: u8) -> Result {
        self.quoted(|j| j.integer(v))
    }

    fn serialize_u16(self, v: u16) -> Result {
        self.quoted(|j| j.integer(v))
    }

    fn serialize_u32(self, v: u32) -> Result {
        self.quoted(|j| j.integer(v))
    }

    fn serialize_u64(self, v: u64) -> Result {
        self.quoted(|j| j.integer(v))
    }

    fn serialize_u128(self, v: u128) -> Result {
        self.quoted(|j| j.integer(v))
    }

    fn serialize_f32(self, v: f32) -> Result {
        if !v.is_finite() {
            return Err(key_must_be_a_string());
        }
        self.quoted(|j| j.float(v, true))
    }

    fn serialize_f64(self, v: f64) -> Result {
        if !v.is_finite() {
            return Err(key_must_be_a_string());
        }
        self.quoted(|j| j.float(v, true))
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }

    fn serialize_bytes(self, _: &[u8]) -> Result {
        Err(key_must_be_a_string())
    }

    fn serialize_none(self) -> Result {
        Err(key_must_be_a_string())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result {
        Err(key_must_be_a_string())
    }

    fn serialize_unit(self) -> Result {
        Err(key_must_be_a_string())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result {
        Err(key_must_be_a_string())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result {
        Err(key_must_be_a_string())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_must_be_a_string())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_must_be_a_string())
    }
}
