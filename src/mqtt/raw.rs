//! Bounds-checked reading of MQTT wire primitives from a borrowed slice.
//!
//! Every read either returns a value or a [`Fault`]; nothing here indexes past the end of
//! its slice, and nothing allocates.

/// Why a packet body could not be read; becomes the `reason` of a `DecodeError`.
pub(super) type Fault = &'static str;

/// Decodes a Variable Byte Integer at the start of `buf`.
///
/// Returns `Ok(Some((value, bytes used)))`, `Ok(None)` when `buf` ends before the last byte,
/// and an error when a 4th byte still has its continuation bit set (a 5th byte is never legal).
pub(super) fn varint(buf: &[u8]) -> Result<Option<(usize, usize)>, Fault> {
    let mut value = 0usize;
    for (i, &byte) in buf.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err("variable byte integer longer than 4 bytes")
    } else {
        Ok(None)
    }
}

/// A cursor over the bytes of one packet body.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether every byte has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes everything not read yet.
    pub(super) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Takes the next `n` bytes.
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], Fault> {
        if n > self.buf.len() {
            return Err("packet too short");
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Reads one byte.
    pub(super) fn u8(&mut self) -> Result<u8, Fault> {
        Ok(self.take(1)?[0])
    }

    /// Reads a big-endian two-byte integer.
    pub(super) fn u16(&mut self) -> Result<u16, Fault> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a Variable Byte Integer.
    pub(super) fn varint(&mut self) -> Result<usize, Fault> {
        let (value, used) = varint(self.buf)?.ok_or("variable byte integer overruns packet")?;
        self.buf = &self.buf[used..];
        Ok(value)
    }

    /// Reads Binary Data: a two-byte length, then that many bytes.
    pub(super) fn binary(&mut self) -> Result<&'a [u8], Fault> {
        let len = usize::from(self.u16()?);
        self.take(len).map_err(|_| "string overruns packet")
    }

    /// Reads a UTF-8 Encoded String; `not_utf8` names the field if its bytes are not UTF-8.
    pub(super) fn string(&mut self, not_utf8: Fault) -> Result<&'a str, Fault> {
        std::str::from_utf8(self.binary()?).map_err(|_| not_utf8)
    }

    /// Reads a UTF-8 Encoded String that is checked but not kept (a PUBLISH's topic, once
    /// per message): ASCII, as most are, is told a word at a time, which `from_utf8` does
    /// not do for strings this short.
    pub(super) fn checked_string(&mut self, not_utf8: Fault) -> Result<&'a [u8], Fault> {
        let bytes = self.binary()?;
        if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
            Ok(bytes)
        } else {
            Err(not_utf8)
        }
    }

    /// Reads an MQTT 5 property block (length, then properties) and returns a reader over it.
    pub(super) fn properties(&mut self) -> Result<Reader<'a>, Fault> {
        let len = self.varint()?;
        let block = self.take(len).map_err(|_| "property overruns packet")?;
        Ok(Reader::new(block))
    }

    /// Walks an MQTT 5 property block and returns its Reason String (0x1F), if any.
    pub(super) fn reason_string(mut self) -> Result<Option<String>, Fault> {
        let mut found = None;
        while !self.is_empty() {
            match self.varint()? {
                0x1F => found = Some(self.string("reason string not UTF-8")?.to_owned()),
                id => self.skip_property(id)?,
            }
        }
        Ok(found)
    }

    /// Steps over the value of property `id` (MQTT 5.0 §2.2.2.2 gives each id's data type).
    fn skip_property(&mut self, id: usize) -> Result<(), Fault> {
        let skipped = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => self.take(1).map(drop),
            0x13 | 0x21 | 0x22 | 0x23 => self.take(2).map(drop),
            0x02 | 0x11 | 0x18 | 0x27 => self.take(4).map(drop),
            0x0B => self.varint().map(drop),
            0x03 | 0x08 | 0x09 | 0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => self.binary().map(drop),
            0x26 => self.binary().and_then(|_| self.binary()).map(drop),
            _ => return Err("unknown property"),
        };
        skipped.map_err(|_| "property overruns packet")
    }
}
