//! The fuzz target bodies over the seed corpus, with plain `cargo test` on a stable
//! toolchain: the CI fallback when `cargo fuzz` (nightly, libFuzzer) is not available.
//! Seeds come from `fuzz/seed.sh`; crash reproducers kept in `fuzz/regressions/<target>/`
//! (committed, small) run too.

use std::path::Path;

fn each_input(target: &str, body: fn(&[u8])) -> usize {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in [
        here.join("corpus").join(target),
        here.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).expect("read seed");
            body(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn decode_seeds() {
    each_input("decode", dropscope_fuzz::decode_frame);
}

#[test]
fn reassembly_seeds() {
    each_input("reassembly", dropscope_fuzz::reassembly);
    // Without seeds, a few shapes: in order, out of order, duplicated, cut.
    dropscope_fuzz::reassembly(&[0, 0, 0, 0, 0, 0, 16, 0, 16, 0, 16, 1, 32, 0, 8, 2]);
    dropscope_fuzz::reassembly(&[9, 9, 9, 9, 0, 0, 200, 0, 100, 0, 200, 1, 50, 0, 255, 0]);
}

#[test]
fn mqtt_seeds() {
    each_input("mqtt", dropscope_fuzz::mqtt_stream);
    dropscope_fuzz::mqtt_stream(&[3, 0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1, b't']);
    dropscope_fuzz::mqtt_stream(&[2, 0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
}

#[test]
fn tls_seeds() {
    each_input("tls", dropscope_fuzz::tls);
    // Without seeds: a ClientHello header split over two client steps, a gap, a server FIN.
    dropscope_fuzz::tls(&[1, 0, 3, 0x16, 3, 1, 0, 2, 0, 0x01, 0x02, 3, 200, 5, 0]);
    // Unsynced start: junk, then an application-data header and its body in steps.
    dropscope_fuzz::tls(&[0, 1, 4, 9, 0x17, 3, 3, 1, 2, 0, 5, 1, 2, 3, 4, 5, 7, 0]);
}

#[test]
fn ws_seeds() {
    each_input("ws", dropscope_fuzz::ws);
    // Without seeds: an upgrade, then a masked binary frame split over two client steps, a
    // server frame, a gap across a header, a close.
    dropscope_fuzz::ws(&[
        1, 0, 4, 0x82, 0x82, 1, 2, 0, 4, 3, 4, 0x11, 0x22, 1, 4, 0x82, 2, 0x20, 0, 2, 3, 4, 0,
    ]);
    // Plain HTTP, and garbage.
    dropscope_fuzz::ws(b"\0\0\x1fGET / HTTP/1.1\r\nHost: a\r\n\r\nxx");
    dropscope_fuzz::ws(&[0, 0, 3, 0xff, 0, 1]);
}

#[test]
fn pipeline_seeds() {
    each_input("pipeline", dropscope_fuzz::pipeline);
}
