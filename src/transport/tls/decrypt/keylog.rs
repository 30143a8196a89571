//! The NSS key log format (`SSLKEYLOGFILE`): one `LABEL <client_random hex> <secret hex>`
//! per line, `#` comments, blank lines. Read from text, from a pcapng Decryption Secrets
//! Block, or from a file that grows while it is read (live capture).
//!
//! Secrets are kept in [`Secret`]: zeroized on drop, never shown by `Debug`.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

use zeroize::Zeroizing;

/// Longest line kept while waiting for its end in [`KeyLogFile::read_new`]; a valid line is
/// under 250 bytes, a longer one is counted bad and skipped.
pub const MAX_LINE: usize = 1024;

/// Bytes read from the key log file per `read` call.
const CHUNK: usize = 64 * 1024;

/// A secret from the key log: zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// A copy of `bytes` as a secret.
    pub fn new(bytes: &[u8]) -> Self {
        Secret(Zeroizing::new(bytes.to_vec()))
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty secret (never produced by the key log).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// The secrets logged for one TLS session, found by its ClientHello random.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionSecrets {
    /// `CLIENT_RANDOM`: the TLS 1.2 master secret (48 bytes).
    pub master_secret: Option<Secret>,
    /// `CLIENT_EARLY_TRAFFIC_SECRET` (TLS 1.3 0-RTT data).
    pub client_early: Option<Secret>,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Secret>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Secret>,
    /// `CLIENT_TRAFFIC_SECRET_0`.
    pub client_traffic_0: Option<Secret>,
    /// `SERVER_TRAFFIC_SECRET_0`.
    pub server_traffic_0: Option<Secret>,
}

/// What a batch of key log lines gave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyLogCounts {
    /// Lines whose secret was stored.
    pub used: usize,
    /// Well-formed lines this tool has no use for (`RSA`, `EXPORTER_SECRET`,
    /// `EARLY_EXPORTER_SECRET`).
    pub unused: usize,
    /// `#` comment lines.
    pub comments: usize,
    /// Malformed lines: field count, hex, lengths, unknown label, invalid UTF-8, too long.
    pub bad: usize,
}

impl std::ops::AddAssign for KeyLogCounts {
    fn add_assign(&mut self, o: Self) {
        self.used += o.used;
        self.unused += o.unused;
        self.comments += o.comments;
        self.bad += o.bad;
    }
}

/// The labels of the NSS key log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    ClientRandom,
    ClientEarly,
    ClientHandshake,
    ServerHandshake,
    ClientTraffic0,
    ServerTraffic0,
    Exporter,
    EarlyExporter,
    Rsa,
}

impl Label {
    fn parse(s: &str) -> Option<Label> {
        Some(match s {
            "CLIENT_RANDOM" => Label::ClientRandom,
            "CLIENT_EARLY_TRAFFIC_SECRET" => Label::ClientEarly,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Label::ClientHandshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => Label::ServerHandshake,
            "CLIENT_TRAFFIC_SECRET_0" => Label::ClientTraffic0,
            "SERVER_TRAFFIC_SECRET_0" => Label::ServerTraffic0,
            "EXPORTER_SECRET" => Label::Exporter,
            "EARLY_EXPORTER_SECRET" => Label::EarlyExporter,
            "RSA" => Label::Rsa,
            _ => return None,
        })
    }

    /// Whether a secret of `len` bytes fits: 48 for the TLS 1.2 master secret and the RSA
    /// pre-master secret, a SHA-256 or SHA-384 output for the TLS 1.3 secrets.
    fn secret_len_ok(self, len: usize) -> bool {
        match self {
            Label::ClientRandom | Label::Rsa => len == 48,
            _ => len == 32 || len == 48,
        }
    }

    /// The slot of [`SessionSecrets`] this label fills; `None` for the unused labels.
    fn slot(self, s: &mut SessionSecrets) -> Option<&mut Option<Secret>> {
        match self {
            Label::ClientRandom => Some(&mut s.master_secret),
            Label::ClientEarly => Some(&mut s.client_early),
            Label::ClientHandshake => Some(&mut s.client_handshake),
            Label::ServerHandshake => Some(&mut s.server_handshake),
            Label::ClientTraffic0 => Some(&mut s.client_traffic_0),
            Label::ServerTraffic0 => Some(&mut s.server_traffic_0),
            Label::Exporter | Label::EarlyExporter | Label::Rsa => None,
        }
    }
}

/// What one line was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Empty or whitespace only: not counted.
    Blank,
    /// A `#` comment.
    Comment,
    /// A secret stored.
    Used,
    /// A well-formed line with no use here.
    Unused,
    /// A malformed line.
    Bad,
}

impl KeyLogCounts {
    fn count(&mut self, kind: LineKind) {
        match kind {
            LineKind::Blank => {}
            LineKind::Comment => self.comments += 1,
            LineKind::Used => self.used += 1,
            LineKind::Unused => self.unused += 1,
            LineKind::Bad => self.bad += 1,
        }
    }
}

/// The secrets of every session seen in key log lines, by client random.
#[derive(Clone, Default)]
pub struct KeyLog {
    sessions: HashMap<[u8; 32], SessionSecrets>,
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLog")
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

impl KeyLog {
    /// Adds every line of `text` (LF or CRLF line ends).
    pub fn add_text(&mut self, text: &str) -> KeyLogCounts {
        self.add_bytes(text.as_bytes())
    }

    /// Adds the contents of a pcapng Decryption Secrets Block of type TLS key log: NSS key
    /// log text (trailing NUL bytes ignored); lines that are not valid UTF-8 are counted bad.
    pub fn add_dsb(&mut self, bytes: &[u8]) -> KeyLogCounts {
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        self.add_bytes(bytes.get(..end).unwrap_or_default())
    }

    fn add_bytes(&mut self, bytes: &[u8]) -> KeyLogCounts {
        let mut counts = KeyLogCounts::default();
        for line in bytes.split(|&b| b == b'\n') {
            counts.count(self.add_line(line));
        }
        counts
    }

    /// Adds one line (without its `\n`; a trailing `\r` is ignored) and says what it was.
    pub fn add_line(&mut self, line: &[u8]) -> LineKind {
        let Ok(line) = std::str::from_utf8(line) else {
            return LineKind::Bad;
        };
        let line = line.trim();
        if line.is_empty() {
            return LineKind::Blank;
        }
        if line.starts_with('#') {
            return LineKind::Comment;
        }
        self.add_entry(line).unwrap_or(LineKind::Bad)
    }

    /// A non-comment line: `None` when malformed.
    fn add_entry(&mut self, line: &str) -> Option<LineKind> {
        let mut fields = line.split_ascii_whitespace();
        let (label, first, second) = (fields.next()?, fields.next()?, fields.next()?);
        if fields.next().is_some() {
            return None;
        }
        let label = Label::parse(label)?;
        let secret = decode_secret(second)?;
        if !label.secret_len_ok(secret.len()) {
            return None;
        }
        if label == Label::Rsa {
            // The first 8 bytes of the encrypted pre-master secret, not a client random.
            return (first.len() == 16 && first.bytes().all(|b| hex_val(b).is_some()))
                .then_some(LineKind::Unused);
        }
        let random = decode_random(first)?;
        if matches!(label, Label::Exporter | Label::EarlyExporter) {
            return Some(LineKind::Unused);
        }
        if let Some(slot) = label.slot(self.sessions.entry(random).or_default()) {
            *slot = Some(secret);
        }
        Some(LineKind::Used)
    }

    /// The secrets logged for the session whose ClientHello random is `client_random`.
    pub fn get(&self, client_random: &[u8; 32]) -> Option<&SessionSecrets> {
        self.sessions.get(client_random)
    }

    /// Number of sessions with at least one stored secret.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no secret is stored.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex into `out`, which must be exactly half the length of `s`.
fn decode_hex_into(s: &str, out: &mut [u8]) -> Option<()> {
    if s.len() != out.len() * 2 {
        return None;
    }
    for (pair, o) in s.as_bytes().chunks_exact(2).zip(out.iter_mut()) {
        let [hi, lo] = pair else { return None };
        *o = (hex_val(*hi)? << 4) | hex_val(*lo)?;
    }
    Some(())
}

fn decode_random(s: &str) -> Option<[u8; 32]> {
    let mut random = [0u8; 32];
    decode_hex_into(s, &mut random)?;
    Some(random)
}

/// A secret from hex; at most 64 bytes so a long field cannot allocate much.
fn decode_secret(s: &str) -> Option<Secret> {
    let len = s.len() / 2;
    if !s.len().is_multiple_of(2) || len == 0 || len > 64 {
        return None;
    }
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    decode_hex_into(s, &mut bytes)?;
    Some(Secret(bytes))
}

/// A key log file read incrementally: each [`read_new`](KeyLogFile::read_new) reads what
/// was appended since the last call and keeps an incomplete last line for the next one.
pub struct KeyLogFile {
    /// The file.
    pub path: PathBuf,
    /// Bytes of the file consumed so far (complete lines plus the kept partial line).
    pub offset: u64,
    /// The incomplete last line (capacity [`MAX_LINE`], never reallocated).
    pending: Zeroizing<Vec<u8>>,
    /// The current line went over [`MAX_LINE`]: skip to its end and count it bad.
    overlong: bool,
}

impl fmt::Debug for KeyLogFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLogFile")
            .field("path", &self.path)
            .field("offset", &self.offset)
            .field("pending_bytes", &self.pending.len())
            .finish()
    }
}

impl KeyLogFile {
    /// A key log file not read yet.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KeyLogFile {
            path: path.into(),
            offset: 0,
            pending: Zeroizing::new(Vec::with_capacity(MAX_LINE)),
            overlong: false,
        }
    }

    /// Reads what was appended since the last call into `log`. A file now shorter than
    /// `offset` was truncated or replaced: it is read again from the start.
    pub fn read_new(&mut self, log: &mut KeyLog) -> io::Result<KeyLogCounts> {
        let mut file = File::open(&self.path)?;
        if file.metadata()?.len() < self.offset {
            self.offset = 0;
            self.pending.clear();
            self.overlong = false;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut counts = KeyLogCounts::default();
        let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.offset += n as u64;
            self.feed(buf.get(..n).unwrap_or_default(), log, &mut counts);
        }
        Ok(counts)
    }

    /// Takes the kept partial line as complete (the file is known to be finished).
    pub fn finish(&mut self, log: &mut KeyLog) -> KeyLogCounts {
        let mut counts = KeyLogCounts::default();
        if self.overlong || !self.pending.is_empty() {
            self.line_end(&[], log, &mut counts);
        }
        counts
    }

    fn feed(&mut self, mut chunk: &[u8], log: &mut KeyLog, counts: &mut KeyLogCounts) {
        while let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            let (line, rest) = chunk.split_at(i);
            self.line_end(line, log, counts);
            chunk = rest.get(1..).unwrap_or_default();
        }
        self.keep(chunk);
    }

    /// `tail` ends the current line (which may have begun in `pending`).
    fn line_end(&mut self, tail: &[u8], log: &mut KeyLog, counts: &mut KeyLogCounts) {
        if self.overlong || self.pending.len() + tail.len() > MAX_LINE {
            counts.count(LineKind::Bad);
        } else if self.pending.is_empty() {
            counts.count(log.add_line(tail));
        } else {
            self.pending.extend_from_slice(tail);
            counts.count(log.add_line(&self.pending));
        }
        self.pending.clear();
        self.overlong = false;
    }

    fn keep(&mut self, part: &[u8]) {
        if self.overlong || self.pending.len() + part.len() > MAX_LINE {
            self.pending.clear();
            self.overlong = true;
        } else {
            self.pending.extend_from_slice(part);
        }
    }
}
