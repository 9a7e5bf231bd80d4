//! Parse and write throughput on files from `shared/tools/gedgen.py`.
//!
//! The files are generated outside the repository (see `docs/gedcom.md`); set
//! `DZINZA_GEDCOM_BENCH_DIR` to their folder (default `/tmp/gedbench`), which must hold
//! `gen_10000.ged`, `gen_100000.ged` and `gen_1000000.ged`. The bench refuses to run without
//! them rather than report numbers for something else.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dzinza_gedcom::{GedcomReader, GedcomWriter, Record, Version, WriteOptions};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

const SIZES: [u32; 3] = [10_000, 100_000, 1_000_000];

fn load(individuals: u32) -> Vec<u8> {
    let dir = std::env::var_os("DZINZA_GEDCOM_BENCH_DIR")
        .map_or_else(|| PathBuf::from("/tmp/gedbench"), PathBuf::from);
    let path = dir.join(format!("gen_{individuals}.ged"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; generate it with `python3 shared/tools/gedgen.py --individuals {individuals} --seed 5 > {}`",
            path.display(),
            path.display()
        )
    })
}

fn parse_all(bytes: &[u8]) -> u64 {
    let mut reader = GedcomReader::new(bytes).expect("reading from memory");
    let mut records = 0;
    while let Some(record) = reader.next_record().expect("reading from memory") {
        black_box(&record);
        records += 1;
    }
    records
}

fn write_all(records: &[Record], version: Version) -> u64 {
    let mut writer = GedcomWriter::new(std::io::sink(), WriteOptions::for_version(version));
    for r in records {
        match r {
            Record::Header(h) => writer.write_header(h),
            r => writer.write_record(r),
        }
        .expect("writing to sink");
    }
    writer.finish().expect("writing to sink");
    records.len() as u64
}

fn bench(c: &mut Criterion) {
    let mut parse = c.benchmark_group("parse");
    parse
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    for n in SIZES {
        let bytes = load(n);
        eprintln!(
            "gen_{n}.ged: {} bytes, {} records",
            bytes.len(),
            parse_all(&bytes)
        );
        parse.throughput(Throughput::Bytes(bytes.len() as u64));
        parse.bench_with_input(BenchmarkId::from_parameter(n), &bytes, |b, bytes| {
            b.iter(|| parse_all(bytes))
        });
    }
    parse.finish();

    let mut write = c.benchmark_group("write");
    write
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    for n in SIZES {
        let bytes = load(n);
        let mut reader = GedcomReader::new(&bytes[..]).expect("reading from memory");
        let mut records = Vec::new();
        while let Some(r) = reader.next_record().expect("reading from memory") {
            records.push(r);
        }
        for version in [Version::V551, Version::V70] {
            // Throughput in input bytes so parse and write figures compare directly.
            write.throughput(Throughput::Bytes(bytes.len() as u64));
            write.bench_with_input(
                BenchmarkId::new(version.vers(), n),
                &records,
                |b, records| b.iter(|| write_all(records, version)),
            );
        }
    }
    write.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
