//! The writer against `serde_json` itself, on every shape the reports use and more.

use super::*;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
enum Shape {
    Unit,
    Newtype(u8),
    Tuple(u8, &'static str),
    Struct { a: Option<f64>, b: Vec<u8> },
    Empty {},
}

#[derive(Serialize)]
struct Inner {
    text: String,
    list: Vec<u32>,
    empty: Vec<u32>,
    none: Option<u8>,
    floats: [f64; 6],
    small: f32,
}

#[derive(Serialize)]
struct Outer {
    name: &'static str,
    #[serde(flatten)]
    inner: Inner,
    shapes: Vec<Shape>,
    by_number: BTreeMap<u16, bool>,
    by_flag: BTreeMap<bool, char>,
    nested: Vec<Vec<BTreeMap<String, ()>>>,
    bytes: serde_bytes_like::Bytes,
    big: (i128, u128, i8),
    ip: std::net::SocketAddr,
}

/// `serialize_bytes` without a dependency for it.
mod serde_bytes_like {
    pub struct Bytes(pub &'static [u8]);
    impl serde::Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
}

fn sample() -> Outer {
    Outer {
        name: "quote \" backslash \\ tab \t nl \n cr \r bs \u{8} ff \u{c} nul \0 us \u{1f} del \u{7f} é 🦀",
        inner: Inner {
            text: "plain".into(),
            list: vec![1, 22, 333],
            empty: vec![],
            none: None,
            floats: [0.0, -0.0, 1.5, 1e21, 3.0e-7, f64::NAN],
            small: 0.1,
        },
        shapes: vec![
            Shape::Unit,
            Shape::Newtype(7),
            Shape::Tuple(1, "x"),
            Shape::Struct {
                a: Some(f64::INFINITY),
                b: vec![],
            },
            Shape::Empty {},
        ],
        by_number: [(80, true), (1883, false)].into_iter().collect(),
        by_flag: [(true, 'y'), (false, 'n')].into_iter().collect(),
        nested: vec![
            vec![],
            vec![BTreeMap::new(), [("k".to_string(), ())].into()],
        ],
        bytes: serde_bytes_like::Bytes(&[0, 255]),
        big: (i128::MIN, u128::MAX, -8),
        ip: "[2001:db8::1]:8883".parse().unwrap(),
    }
}

#[test]
fn writes_what_serde_json_writes_pretty_and_compact() {
    let value = sample();
    let mut ours = Vec::new();
    to_writer_pretty(&mut ours, &value).unwrap();
    let theirs = serde_json::to_vec_pretty(&value).unwrap();
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        String::from_utf8(theirs).unwrap()
    );
    let mut ours = Vec::new();
    to_writer_lines(&mut ours, [&value, &value]).unwrap();
    let mut theirs = serde_json::to_vec(&value).unwrap();
    theirs.push(b'\n');
    theirs.extend_from_within(..);
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        String::from_utf8(theirs).unwrap()
    );
}

#[test]
fn deep_nesting_indents_as_serde_json_does() {
    let mut value = serde_json::json!(1);
    for _ in 0..40 {
        value = serde_json::json!({ "a": [value] });
    }
    let mut ours = Vec::new();
    to_writer_pretty(&mut ours, &value).unwrap();
    assert_eq!(ours, serde_json::to_vec_pretty(&value).unwrap());
}

#[test]
fn refuses_the_map_keys_serde_json_refuses() {
    let map: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
    assert!(to_writer_lines(Vec::new(), [&map]).is_err());
    assert!(serde_json::to_vec(&map).is_err());
}

/// A value whose array sits inside an object, beside other fields, and under a flatten.
#[derive(Serialize)]
struct Holder<'a, C> {
    before: &'a str,
    #[serde(flatten)]
    wrapped: Wrapped<C>,
    after: u8,
}

#[derive(Serialize)]
struct Wrapped<C> {
    nested: Vec<u8>,
    items: C,
}

fn holder<C>(items: C) -> Holder<'static, C> {
    Holder {
        before: "b",
        wrapped: Wrapped {
            nested: vec![1],
            items,
        },
        after: 2,
    }
}

#[test]
fn a_spliced_array_is_what_one_thread_writes() {
    // Around the chunk size (64), empty, and one element; items with nested objects.
    for n in [0, 1, 63, 64, 65, 200] {
        let items: Vec<Outer> = (0..n).map(|_| sample()).collect();
        let mut one = Vec::new();
        to_writer_pretty(&mut one, &holder(&items)).unwrap();
        for threads in 1..=4 {
            let mut spliced = Vec::new();
            to_writer_pretty_spliced(&mut spliced, &holder(Hole), &items, threads).unwrap();
            assert_eq!(
                String::from_utf8(spliced).unwrap(),
                String::from_utf8(one.clone()).unwrap(),
                "{n} items on {threads} threads"
            );
        }
    }
}

#[test]
fn spliced_lines_are_what_one_thread_writes() {
    for n in [0, 1, 63, 64, 65, 200] {
        let items: Vec<Outer> = (0..n).map(|_| sample()).collect();
        let mut one = Vec::new();
        to_writer_lines(&mut one, &items).unwrap();
        assert_eq!(one.iter().filter(|&&b| b == b'\n').count(), n);
        for threads in 1..=4 {
            let mut spliced = Vec::new();
            to_writer_lines_spliced(&mut spliced, &items, threads).unwrap();
            assert_eq!(
                String::from_utf8(spliced).unwrap(),
                String::from_utf8(one.clone()).unwrap(),
                "{n} lines on {threads} threads"
            );
        }
    }
}

#[test]
fn a_second_hole_is_an_error_and_the_threads_stop() {
    let items = vec![1u8; 1000];
    let two = (Hole, Hole);
    assert!(to_writer_pretty_spliced(Vec::new(), &two, &items, 2).is_err());
    // No hole at all: the threads are never told to start, and stop when writing ends.
    let mut out = Vec::new();
    to_writer_pretty_spliced(&mut out, &[1u8], &items, 3).unwrap();
    assert_eq!(out, b"[\n  1\n]");
}

/// A writer that fails after `left` bytes.
struct FailsAfter {
    left: usize,
}

impl Write for FailsAfter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.left {
            return Err(io::Error::other("disk full"));
        }
        self.left -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_writer_stops_the_splice_with_its_error() {
    let items: Vec<Outer> = (0..500).map(|_| sample()).collect();
    let err = to_writer_pretty_spliced(FailsAfter { left: 100_000 }, &holder(Hole), &items, 2)
        .unwrap_err();
    assert_eq!(err.to_string(), "disk full");
    let err = to_writer_lines_spliced(FailsAfter { left: 100_000 }, &items, 3).unwrap_err();
    assert_eq!(err.to_string(), "disk full");
}

#[test]
fn an_element_that_fails_stops_the_spliced_lines_with_its_error() {
    let mut items: Vec<BTreeMap<Vec<u8>, u8>> = vec![BTreeMap::new(); 300];
    items[150].insert(vec![1], 1);
    let mut out = Vec::new();
    assert!(to_writer_lines_spliced(&mut out, &items, 2).is_err());
    // Only the chunks before the one that failed were written: two of 64 lines.
    assert_eq!(out, b"{}\n".repeat(128));
}
