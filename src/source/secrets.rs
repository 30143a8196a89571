//! TLS key logs kept inside pcapng files as Decryption Secrets Blocks (what `editcap
//! --inject-secrets` and Wireshark write). libpcap skips these blocks, so they are read in a
//! pre-pass that steps over the other blocks by their lengths and parses these with
//! `pcap-parser`.

use super::Format;
use super::fast::word;
use super::ng_blocks::{SHB, section_big_endian};
use pcap_parser::pcapng::{Block, SecretsType, parse_block_be, parse_block_le};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Buffer of the pre-pass reader: a secrets block must fit in it. libpcap's own limit on a
/// pcapng block is 16 MB; a secrets block larger than this buffer ends the pre-pass (the
/// packets are still read, only later secrets would be missed).
const BUFFER: usize = 4 << 20;

/// Most secret bytes taken from one file: a key log line is about 180 bytes, so this is
/// half a million sessions.
pub(super) const MAX_SECRET_BYTES: usize = 96 << 20;

/// Hands `each` the TLS key log (NSS key log text) of every Decryption Secrets Block in a
/// pcapng file, plain or gzip-compressed, in file order, without copying it; returns how
/// many. A classic pcap file has none, and a named pipe is not read here (its secrets
/// come out of its stream as it is analyzed). Reading stops quietly at the first damaged block:
/// the capture reader reports damage with its offset.
pub fn pcapng_tls_key_logs(path: &Path, each: &mut impl FnMut(&[u8])) -> std::io::Result<usize> {
    if !super::file::is_regular(path) {
        return Ok(0); // a pipe's secrets come with its stream, read once
    }
    let (format, gz) = super::file::file_format(path)?;
    if format != Format::Pcapng {
        return Ok(0);
    }
    let file = File::open(path)?;
    if gz {
        Ok(scan(flate2::read::MultiGzDecoder::new(file), each))
    } else {
        Ok(scan(file, each))
    }
}

/// The TLS key log text of a Decryption Secrets Block; `None` for any other block.
pub(super) fn tls_key_log<'a>(block: &Block<'a>) -> Option<&'a [u8]> {
    let Block::DecryptionSecrets(dsb) = block else {
        return None;
    };
    if dsb.secrets_type != SecretsType::TlsKeyLog {
        return None;
    }
    let len = usize::try_from(dsb.secrets_len).unwrap_or(usize::MAX);
    Some(dsb.data.get(..len).unwrap_or(dsb.data))
}

/// Walks the blocks of `reader` by their lengths and parses only the Decryption Secrets
/// Blocks: a pre-pass that parsed every block (`PcapNGReader`) took a quarter of the run
/// on a 2.4 GB pcapng file, most of it packet blocks that hold no secret.
/// The TLS key log of a whole Decryption Secrets Block in `block`; `None` for any other
/// secrets, or a block that does not parse.
pub(super) fn key_log_in(block: &[u8], big_endian: bool) -> Option<&[u8]> {
    let parsed = if big_endian {
        parse_block_be(block)
    } else {
        parse_block_le(block)
    };
    tls_key_log(&parsed.ok()?.1)
}

fn scan(reader: impl Read, each: &mut impl FnMut(&[u8])) -> usize {
    let mut walk = Walk {
        reader,
        buf: vec![0; BUFFER],
        pos: 0,
        end: 0,
    };
    let (mut big_endian, mut total, mut count) = (None, 0usize, 0usize);
    while walk.fill(12) {
        let head = &walk.buf[walk.pos..walk.pos + 12];
        if word(&head[..4], false) == SHB {
            big_endian = section_big_endian(head);
        }
        let Some(big_endian) = big_endian else {
            break;
        };
        let (kind, len) = (
            word(&head[..4], big_endian),
            word(&head[4..8], big_endian) as usize,
        );
        if len < 12 || !len.is_multiple_of(4) {
            break;
        }
        if kind != DSB {
            if !walk.skip(len) {
                break;
            }
            continue;
        }
        if len > BUFFER || !walk.fill(len) {
            break;
        }
        if let Some(data) = key_log_in(&walk.buf[walk.pos..walk.pos + len], big_endian) {
            total = total.saturating_add(data.len());
            if total > MAX_SECRET_BYTES {
                break;
            }
            each(data);
            count += 1;
        }
        walk.pos += len;
    }
    count
}

/// The Decryption Secrets Block's type.
pub(super) const DSB: u32 = 0x0000_000A;

/// A reader read through one buffer: unread bytes are `buf[pos..end]`.
struct Walk<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl<R: Read> Walk<R> {
    /// Makes `want` (at most the buffer's size) unread bytes available; false at the end.
    fn fill(&mut self, want: usize) -> bool {
        if self.end - self.pos >= want {
            return true;
        }
        self.buf.copy_within(self.pos..self.end, 0);
        (self.end, self.pos) = (self.end - self.pos, 0);
        while self.end < want {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => return false,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Steps over `len` bytes, reading past the buffer as far as needed; false at the end.
    fn skip(&mut self, mut len: usize) -> bool {
        loop {
            let here = len.min(self.end - self.pos);
            self.pos += here;
            len -= here;
            if len == 0 {
                return true;
            }
            if !self.fill(1) {
                return false;
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A little-endian pcapng block of `kind` around `body` (padded to 32 bits).
    pub(crate) fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        let mut b = Vec::new();
        b.extend(kind.to_le_bytes());
        b.extend(len.to_le_bytes());
        b.extend(body);
        b.extend(std::iter::repeat_n(0, pad));
        b.extend(len.to_le_bytes());
        b
    }

    pub(crate) fn shb() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(0x1A2B_3C4Du32.to_le_bytes());
        body.extend(1u16.to_le_bytes());
        body.extend(0u16.to_le_bytes());
        body.extend((-1i64).to_le_bytes());
        block(0x0A0D_0D0A, &body)
    }

    pub(crate) fn dsb(kind: u32, text: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(kind.to_le_bytes());
        body.extend((text.len() as u32).to_le_bytes());
        body.extend(text);
        let pad = (4 - text.len() % 4) % 4;
        body.extend(std::iter::repeat_n(0, pad));
        block(0x0000_000A, &body)
    }

    pub(crate) fn idb() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend(1u16.to_le_bytes());
        body.extend(0u16.to_le_bytes());
        body.extend(65535u32.to_le_bytes());
        block(1, &body)
    }

    fn write(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("dropscope-dsb-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn tls_key_logs_are_read_in_order_and_other_secrets_skipped() {
        let mut f = shb();
        f.extend(idb());
        f.extend(dsb(0x544c_534b, b"CLIENT_RANDOM aa bb\n"));
        f.extend(dsb(0x5747_4b4c, b"wireguard"));
        f.extend(block(6, &[0; 32]));
        f.extend(dsb(0x544c_534b, b"SERVER_TRAFFIC_SECRET_0 cc dd\n"));
        let p = write("order", &f);
        let mut logs = Vec::new();
        pcapng_tls_key_logs(&p, &mut |b| logs.push(b.to_vec())).unwrap();
        std::fs::remove_file(&p).ok();
        assert_eq!(
            logs,
            vec![
                b"CLIENT_RANDOM aa bb\n".to_vec(),
                b"SERVER_TRAFFIC_SECRET_0 cc dd\n".to_vec()
            ]
        );
    }

    #[test]
    fn secrets_after_a_block_longer_than_the_buffer_are_found() {
        let mut f = shb();
        f.extend(idb());
        f.extend(block(6, &vec![7; BUFFER + 1000]));
        f.extend(dsb(0x544c_534b, b"CLIENT_RANDOM ee ff\n"));
        let p = write("long", &f);
        let mut logs = Vec::new();
        pcapng_tls_key_logs(&p, &mut |b| logs.push(b.to_vec())).unwrap();
        std::fs::remove_file(&p).ok();
        assert_eq!(logs, vec![b"CLIENT_RANDOM ee ff\n".to_vec()]);
    }

    #[test]
    fn a_damaged_tail_keeps_what_came_before_and_classic_pcap_has_none() {
        let mut f = shb();
        f.extend(dsb(0x544c_534b, b"CLIENT_RANDOM 01 02\n"));
        f.extend([0xff; 7]);
        let p = write("damaged", &f);
        assert_eq!(pcapng_tls_key_logs(&p, &mut |_| ()).unwrap(), 1);
        std::fs::remove_file(&p).ok();
        let classic = write("classic", &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
        assert_eq!(pcapng_tls_key_logs(&classic, &mut |_| ()).unwrap(), 0);
        std::fs::remove_file(&classic).ok();
    }
}
