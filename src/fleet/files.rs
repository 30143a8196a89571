//! Saved records: NDJSON files (`analyze --format ndjson`, `live` events, or records saved
//! from the stream), merged by record time as one stream of records.

use super::record::{self, Record};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// Longest line read; a longer one is skipped as a bad record (a connection record with
/// its timeline is well under it).
const MAX_LINE: usize = 16 << 20;

/// One file being read: its next record waiting to be merged.
struct Cursor {
    lines: BufReader<Box<dyn Read>>,
    probe: String,
    next: Option<(Record, Vec<u8>)>,
}

/// Reads NDJSON files, each with a default probe id, handing records to `each` in record
/// time order across the files (each file is read in its own order, one record ahead, so
/// memory stays one line per file); lines that are not records go to `bad`.
pub fn read_merged(
    files: &[(impl AsRef<Path>, String)],
    each: &mut dyn FnMut(Record, &[u8]),
    bad: &mut dyn FnMut(),
) -> io::Result<()> {
    let mut cursors = Vec::with_capacity(files.len());
    for (path, probe) in files {
        let file: Box<dyn Read> = Box::new(std::fs::File::open(path.as_ref())?);
        let mut c = Cursor {
            lines: BufReader::new(file),
            probe: probe.clone(),
            next: None,
        };
        advance(&mut c, bad)?;
        cursors.push(c);
    }
    while let Some(c) = cursors
        .iter_mut()
        .filter(|c| c.next.is_some())
        .min_by_key(|c| c.next.as_ref().map(|(r, _)| r.captured))
    {
        if let Some((rec, raw)) = c.next.take() {
            each(rec, &raw);
        }
        advance(c, bad)?;
    }
    Ok(())
}

/// Reads the cursor's next record (skipping bad lines), or leaves it empty at the end.
fn advance(c: &mut Cursor, bad: &mut dyn FnMut()) -> io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut c.lines)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        if line.len() > MAX_LINE {
            bad();
            skip_rest_of_line(&mut c.lines)?;
            continue;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match record::parse(text, Some(&c.probe)) {
            Ok(r) => {
                c.next = Some((r, text.to_vec()));
                return Ok(());
            }
            Err(_) => bad(),
        }
    }
}

fn skip_rest_of_line(r: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}
