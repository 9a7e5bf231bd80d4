//! Every file in the shared GEDCOM folder: parses without panic, record counts agree with an
//! independent count of level-0 lines, and parse → write → parse gives the same model.
//! New files dropped into the folder are picked up automatically.

// Helpers outside `#[test]` functions are test code too; clippy.toml only covers the latter.
#![allow(clippy::unwrap_used)]

use dzinza_gedcom::date::GenDate;
use dzinza_gedcom::{Gedcom, Record, Version, WriteOptions, read_gedcom, write_gedcom};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// This package's directory as cargo gives it to the running test, not as compiled in: a test
/// binary reused from a target directory another checkout built must read this checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

/// The shared corpus beside the checkout.
fn shared() -> PathBuf {
    manifest_dir().join("../../../shared/gedcom")
}

fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![shared()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("ged"))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 30,
        "expected the shared corpus, found {} files",
        out.len()
    );
    out
}

/// Counts level-0 records per tag without using the library's reader.
fn count_level0(bytes: &[u8]) -> BTreeMap<String, usize> {
    let text = match bytes {
        [0xFF, 0xFE, ..] | [b'0', 0, ..] => {
            encoding_rs::UTF_16LE.decode_without_bom_handling(bytes).0
        }
        [0xFE, 0xFF, ..] | [0, b'0', ..] => {
            encoding_rs::UTF_16BE.decode_without_bom_handling(bytes).0
        }
        _ => String::from_utf8_lossy(bytes),
    };
    let mut counts = BTreeMap::new();
    for line in text.split(['\r', '\n']) {
        let line = line.trim_start_matches(['\u{feff}', ' ', '\t']);
        let mut words = line.split(' ').filter(|w| !w.is_empty());
        if words.next() != Some("0") {
            continue;
        }
        let Some(mut tag) = words.next() else {
            continue;
        };
        if tag.starts_with('@') {
            // Xrefs may hold spaces (`@NoTe ref@`): skip to the word that closes it.
            let mut closing = tag;
            while !(closing.len() > 1 && closing.ends_with('@')) {
                let Some(w) = words.next() else { break };
                closing = w;
            }
            let Some(t) = words.next() else { continue };
            tag = t;
        }
        let tag = if tag == "SNOTE" { "NOTE" } else { tag };
        if tag != "HEAD" && tag != "TRLR" {
            *counts.entry(tag.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

fn parse(bytes: &[u8]) -> Gedcom {
    read_gedcom(bytes).unwrap().0
}

fn write(g: &Gedcom, version: Version) -> Vec<u8> {
    write_gedcom(g, Vec::new(), WriteOptions::for_version(version)).unwrap()
}

/// The model as JSON with every date's text replaced by what the writer emits for `version`:
/// dates written in the other version's syntax (e.g. `JULIAN 1401` in a 5.5.1 file) are
/// rewritten on purpose, and must keep their meaning while doing so.
fn with_dates_as_written(g: &Gedcom, version: Version) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value, version: Version) {
        match v {
            serde_json::Value::Object(map) => {
                if map.len() == 2 && map.contains_key("original") && map.contains_key("value") {
                    let date: GenDate =
                        serde_json::from_value(serde_json::Value::Object(map.clone())).unwrap();
                    map.insert(
                        "original".into(),
                        serde_json::Value::String(date.text_for(version)),
                    );
                    return;
                }
                map.values_mut().for_each(|v| walk(v, version));
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| walk(v, version)),
            _ => {}
        }
    }
    let mut json = serde_json::to_value(g).unwrap();
    walk(&mut json, version);
    json
}

fn source_version(g: &Gedcom) -> Version {
    g.header
        .gedcom_version
        .as_deref()
        .map_or(Version::V551, Version::from_vers)
}

fn name(p: &Path) -> String {
    p.strip_prefix(shared()).unwrap_or(p).display().to_string()
}

#[test]
fn every_shared_file_parses_with_counts_matching_level0_lines() {
    let mut failures = Vec::new();
    for path in files() {
        let bytes = std::fs::read(&path).unwrap();
        let model = parse(&bytes);
        let expected = count_level0(&bytes);
        if model.counts() != expected {
            failures.push(format!(
                "{}: model {:?} vs lines {:?}",
                name(&path),
                model.counts(),
                expected
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shared_file_round_trips_in_its_own_version() {
    let mut failures = Vec::new();
    for path in files() {
        let bytes = std::fs::read(&path).unwrap();
        let mut first = parse(&bytes);
        let version = source_version(&first);
        let written = write(&first, version);
        let second = parse(&written);
        first.header.normalize_for(version);
        if with_dates_as_written(&first, version) != with_dates_as_written(&second, version) {
            let diff = first
                .records
                .iter()
                .zip(&second.records)
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("{a:#?}\n!=\n{b:#?}"))
                .unwrap_or_else(|| {
                    if first.header != second.header {
                        format!("header {:#?}\n!=\n{:#?}", first.header, second.header)
                    } else {
                        format!(
                            "record count {} != {}",
                            first.records.len(),
                            second.records.len()
                        )
                    }
                });
            failures.push(format!("{}:\n{diff}", name(&path)));
        }
        // From the second read on, nothing changes at all: the model is a fixpoint.
        let third = parse(&write(&second, version));
        assert_eq!(third, second, "{}", name(&path));
    }
    assert!(
        failures.is_empty(),
        "{} files differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_shared_file_converts_to_the_other_version_keeping_every_record() {
    for path in files() {
        let bytes = std::fs::read(&path).unwrap();
        let first = parse(&bytes);
        let other = match source_version(&first) {
            Version::V551 => Version::V70,
            Version::V70 => Version::V551,
        };
        let converted = parse(&write(&first, other));
        assert_eq!(converted.counts(), first.counts(), "{}", name(&path));
        let people = |g: &Gedcom| {
            g.records
                .iter()
                .filter_map(|r| match r {
                    Record::Individual(i) => Some((
                        i.names.iter().map(|n| n.value.clone()).collect::<Vec<_>>(),
                        i.child_of
                            .iter()
                            .map(|l| l.family.clone())
                            .collect::<Vec<_>>(),
                        i.spouse_of
                            .iter()
                            .map(|l| l.family.clone())
                            .collect::<Vec<_>>(),
                        i.events.len(),
                    )),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(people(&converted), people(&first), "{}", name(&path));
    }
}

#[test]
fn shared_files_that_are_not_plain_gedcom_do_not_panic() {
    let mut dirs = vec![shared()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let (_, diagnostics) = read_gedcom(&bytes[..]).unwrap();
                if path.extension().is_some_and(|e| e == "gdz") {
                    assert!(
                        !diagnostics.is_empty(),
                        "a zip is not GEDCOM: {}",
                        name(&path)
                    );
                }
            }
        }
    }
}

/// Found by the `round_trip` fuzz target on TGC55C.ged: after one conversion, writing and
/// reading again in the same version must change nothing.
#[test]
fn every_shared_file_reaches_a_fixpoint_in_both_versions() {
    let mut failures = Vec::new();
    for path in files() {
        let bytes = std::fs::read(&path).unwrap();
        let first = parse(&bytes);
        for version in [Version::V551, Version::V70] {
            let second = parse(&write(&first, version));
            let third = parse(&write(&second, version));
            if second != third {
                let diff = second
                    .records
                    .iter()
                    .zip(&third.records)
                    .find(|(a, b)| a != b)
                    .map(|(a, b)| format!("{a:?}\n!=\n{b:?}"))
                    .unwrap_or_else(|| {
                        format!("header {:?}\n!=\n{:?}", second.header, third.header)
                    });
                failures.push(format!("{} ({version}):\n{diff}", name(&path)));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
