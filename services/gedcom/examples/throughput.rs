//! Parses (and optionally writes) one file, printing throughput; used with `/usr/bin/time -v`
//! for the peak-memory figure in `docs/benchmarks.md`.
//!
//! `cargo run --release -p dzinza-gedcom --example throughput -- FILE [--write 5.5.1|7.0]`

use dzinza_gedcom::{GedcomReader, GedcomWriter, Record, Version, WriteOptions};
use std::io::BufReader;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or("usage: throughput FILE [--write 5.5.1|7.0]")?;
    let write = match args.get(2).map(String::as_str) {
        Some("--write") => Some(Version::from_vers(
            args.get(3).map_or("5.5.1", String::as_str),
        )),
        _ => None,
    };
    let size = std::fs::metadata(path)?.len();
    let started = Instant::now();
    let mut reader = GedcomReader::new(BufReader::with_capacity(
        1 << 16,
        std::fs::File::open(path)?,
    ))?;
    let mut writer =
        write.map(|v| GedcomWriter::new(std::io::sink(), WriteOptions::for_version(v)));
    let (mut records, mut diagnostics) = (0u64, 0usize);
    if args.get(2).map(String::as_str) == Some("--nodes") {
        while reader.next_node()?.is_some() {
            records += 1;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "nodes only: {records} records in {secs:.3} s = {:.1} MB/s",
            size as f64 / secs / 1e6
        );
        return Ok(());
    }
    while let Some(record) = reader.next_record()? {
        records += 1;
        diagnostics += reader.take_diagnostics().len();
        if let Some(w) = writer.as_mut() {
            match &record {
                Record::Header(h) => w.write_header(h)?,
                r => w.write_record(r)?,
            }
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    let secs = started.elapsed().as_secs_f64();
    let what = if write.is_some() {
        "parse+write"
    } else {
        "parse"
    };
    println!(
        "{what}: {records} records, {size} bytes in {secs:.3} s = {:.1} MB/s, {:.0} records/s ({diagnostics} diagnostics)",
        size as f64 / secs / 1e6,
        records as f64 / secs
    );
    Ok(())
}
