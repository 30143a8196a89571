//! TLS with keys: which key opens each record of a connection, from the handshake as it
//! goes (TLS 1.3: handshake keys until the sender's Finished, then application keys, then
//! one more per KeyUpdate; TLS 1.2: the key block after the sender's change_cipher_spec).
//!
//! The ciphers and key schedules are in `decrypt`; this file only follows the connection.
//! Sequence numbers survive capture holes: after a cut record or lost sync the next record
//! is tried at the following numbers too. A record that no key opens is counted; a few in
//! a row from one side mean wrong or stale keys, and the connection falls back to inference.

use super::decrypt::{
    self, KeyLog, OpenError, RecordKeys, SessionSecrets, SuiteParams, suite_params,
};
use super::facts::{DecryptStatus, DecryptionFacts};
use super::record::Header;
use crate::tcp::Side;

/// Records tried past the expected sequence number after a cut record or a resync.
const SKIP_AFTER_HOLE: u64 = 64;

/// Failed records in a row from one side after which its keys are taken as wrong.
const FAILURES_TO_GIVE_UP: u32 = 3;

/// Which secret a side's records are under (TLS 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the side's change_cipher_spec (TLS 1.2): plaintext.
    Clear,
    /// The handshake traffic secret (TLS 1.3).
    Handshake,
    /// The application traffic secret (and its KeyUpdates).
    Application,
}

struct Direction {
    keys: Option<RecordKeys>,
    stage: Stage,
    /// Records may have been lost since the last one opened.
    unsure: bool,
    failures_in_row: u32,
}

impl Direction {
    fn new(stage: Stage, keys: Option<RecordKeys>) -> Self {
        Direction {
            keys,
            stage,
            unsure: false,
            failures_in_row: 0,
        }
    }
}

/// What the ServerHello chose, kept until the session's keys are found.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hello {
    /// The server random.
    pub(super) server_random: [u8; 32],
    /// The negotiated version.
    pub(super) version: u16,
    /// The chosen suite.
    pub(super) suite: u16,
    /// encrypt_then_mac in force (TLS 1.2 CBC).
    pub(super) etm: bool,
}

/// The decryption of one connection.
pub(super) struct Decrypting {
    secrets: SessionSecrets,
    params: SuiteParams,
    tls13: bool,
    randoms: ([u8; 32], [u8; 32]),
    etm: bool,
    dirs: [Direction; 2],
    /// Plaintext of the record last opened.
    pub(super) plain: Vec<u8>,
}

/// What a record turned out to be.
pub(super) enum Opened {
    /// Decrypted: its real content type; the bytes are in [`Decrypting::plain`].
    Record(u8),
    /// Not opened (cut, or no key fits); counted.
    Lost,
    /// This side's keys are wrong: the connection is read without keys from now on.
    GaveUp,
}

impl Decrypting {
    /// Sets up decryption of a session, or says why it cannot be: `hello` is what the
    /// ServerHello chose, `ccs` which sides already changed cipher (TLS 1.2), `late` that
    /// encrypted records already went by (the keys reached a growing log after the
    /// handshake began), so sequence numbers are searched for.
    pub(super) fn start(
        keys: &KeyLog,
        client_random: Option<[u8; 32]>,
        hello: Hello,
        ccs: [bool; 2],
        late: bool,
    ) -> Result<Decrypting, DecryptStatus> {
        let cr = client_random.ok_or(DecryptStatus::MidSession)?;
        let secrets = keys.get(&cr).ok_or(DecryptStatus::NoKeys)?;
        let tls13 = hello.version >= 0x0304;
        let params = suite_params(tls13, hello.suite).ok_or(DecryptStatus::Unsupported)?;
        let mut d = Decrypting {
            secrets: secrets.clone(),
            params,
            tls13,
            randoms: (cr, hello.server_random),
            etm: hello.etm,
            dirs: [
                Direction::new(Stage::Clear, None),
                Direction::new(Stage::Clear, None),
            ],
            plain: Vec::new(),
        };
        for side in [Side::Client, Side::Server] {
            if tls13 {
                let keys = d.tls13_keys(side, Stage::Handshake);
                d.dirs[side.idx()] = Direction::new(Stage::Handshake, keys);
            } else if ccs[side.idx()] {
                d.change_cipher_spec(side);
            }
            d.dirs[side.idx()].unsure = late;
        }
        Ok(d)
    }

    fn tls13_keys(&self, side: Side, stage: Stage) -> Option<RecordKeys> {
        let stage = match stage {
            Stage::Clear => return None,
            Stage::Handshake => decrypt::Stage::Handshake,
            Stage::Application => decrypt::Stage::Application,
        };
        decrypt::tls13_keys(&self.secrets, self.params, side, stage)
    }

    fn tls12_keys(&self, side: Side) -> Option<RecordKeys> {
        let (cr, sr) = &self.randoms;
        decrypt::tls12_keys(&self.secrets, self.params, cr, sr, side, self.etm)
    }

    /// Whether this record of `side` is to be decrypted: everything after the side's keys
    /// changed but a compatibility change_cipher_spec and a plaintext (2-byte) alert.
    pub(super) fn opens(&self, side: Side, hdr: Header) -> bool {
        self.dirs[side.idx()].stage != Stage::Clear
            && hdr.ty != 20
            && !(hdr.ty == 21 && hdr.len == 2)
    }

    /// A change_cipher_spec from `side`: in TLS 1.2 its next records are encrypted.
    pub(super) fn change_cipher_spec(&mut self, side: Side) {
        if !self.tls13 {
            let keys = self.tls12_keys(side);
            self.dirs[side.idx()] = Direction::new(Stage::Application, keys);
        }
    }

    /// `side` sent its Finished (TLS 1.3): its next records are under application keys.
    pub(super) fn finished(&mut self, side: Side) {
        if self.tls13 && self.dirs[side.idx()].stage == Stage::Handshake {
            let keys = self.tls13_keys(side, Stage::Application);
            self.dirs[side.idx()] = Direction::new(Stage::Application, keys);
        }
    }

    /// `side` sent a KeyUpdate: its next records are under its next secret.
    pub(super) fn key_update(&mut self, side: Side) {
        if let Some(k) = &mut self.dirs[side.idx()].keys {
            k.key_update();
        }
    }

    /// Records of `side` may have been lost (a cut record, lost sync).
    pub(super) fn hole(&mut self, side: Side) {
        self.dirs[side.idx()].unsure = true;
    }

    /// Opens one encrypted record of `side`.
    pub(super) fn open(
        &mut self,
        side: Side,
        hdr: Header,
        body: Option<&[u8]>,
        facts: &mut DecryptionFacts,
    ) -> Opened {
        let Some(body) = body else {
            self.hole(side);
            *facts.lost.get_mut(side) += 1;
            return Opened::Lost;
        };
        let header = header_bytes(hdr);
        let opened = self.try_keys(side, &header, body);
        let dir = &mut self.dirs[side.idx()];
        match opened {
            Ok(ty) => {
                dir.unsure = false;
                dir.failures_in_row = 0;
                *facts.records.get_mut(side) += 1;
                Opened::Record(ty)
            }
            Err(e) => {
                match e {
                    OpenError::BadTag => facts.bad_tag += 1,
                    _ => facts.malformed += 1,
                }
                dir.failures_in_row += 1;
                dir.unsure = true;
                if dir.failures_in_row >= FAILURES_TO_GIVE_UP {
                    facts.status = DecryptStatus::Failed;
                    Opened::GaveUp
                } else {
                    Opened::Lost
                }
            }
        }
    }

    /// The side's current keys (at the expected number, or a little past it after a hole);
    /// in a TLS 1.3 handshake whose Finished was not read, the application keys too.
    fn try_keys(&mut self, side: Side, header: &[u8; 5], body: &[u8]) -> Result<u8, OpenError> {
        let skip = if self.dirs[side.idx()].unsure {
            SKIP_AFTER_HOLE
        } else {
            0
        };
        let plain = &mut self.plain;
        let dir = &mut self.dirs[side.idx()];
        let Some(keys) = dir.keys.as_mut() else {
            return Err(OpenError::BadTag);
        };
        let first = keys.open_skipping(header, body, plain, skip);
        if first.is_ok() || dir.stage != Stage::Handshake {
            return first;
        }
        let Some(mut next) = self.tls13_keys(side, Stage::Application) else {
            return first;
        };
        let ty = next.open_skipping(header, body, &mut self.plain, SKIP_AFTER_HOLE)?;
        self.dirs[side.idx()] = Direction::new(Stage::Application, Some(next));
        Ok(ty)
    }
}

/// The record header as on the wire: TLS 1.3 authenticates it as it was sent.
fn header_bytes(h: Header) -> [u8; 5] {
    let [v0, v1] = h.version.to_be_bytes();
    let len = u16::try_from(h.len).unwrap_or(u16::MAX).to_be_bytes();
    [h.ty, v0, v1, len[0], len[1]]
}
