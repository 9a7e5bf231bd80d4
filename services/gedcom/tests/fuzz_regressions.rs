//! Inputs the fuzz targets once failed on (minimised by hand), replayed through the same
//! properties: no panic, and write → read reaches a fixpoint in both versions.

#![allow(clippy::unwrap_used)]

use dzinza_gedcom::{Version, WriteOptions, read_gedcom, write_gedcom};

/// This package's directory as cargo gives it to the running test, not as compiled in: a test
/// binary reused from a target directory another checkout built must read this checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

/// The minimised inputs.
fn dir() -> std::path::PathBuf {
    manifest_dir().join("tests/fuzz_regressions")
}

#[test]
fn fuzz_regressions_reach_a_fixpoint() {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let (model, _) = read_gedcom(&bytes[..]).unwrap();
        for version in [Version::V551, Version::V70] {
            let once =
                write_gedcom(&model, Vec::new(), WriteOptions::for_version(version)).unwrap();
            let (second, _) = read_gedcom(&once[..]).unwrap();
            let twice =
                write_gedcom(&second, Vec::new(), WriteOptions::for_version(version)).unwrap();
            let (third, _) = read_gedcom(&twice[..]).unwrap();
            assert_eq!(second, third, "{} ({version})", path.display());
        }
        seen += 1;
    }
    assert!(seen > 0);
}

/// The first finding: a `CHAR` with a `VERS` substructure was kept as a raw extra, so 7.0
/// output (which has no `CHAR` of its own) still said ANSEL and its UTF-8 was misread.
#[test]
fn char_with_vers_does_not_survive_into_utf8_output() {
    let bytes = std::fs::read(dir().join("round_trip-char-with-vers.ged")).unwrap();
    let (model, _) = read_gedcom(&bytes[..]).unwrap();
    assert_eq!(model.header.charset.as_deref(), Some("ANSEL"));
    let out = write_gedcom(&model, Vec::new(), WriteOptions::for_version(Version::V70)).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("CHAR"), "{text}");
    assert!(
        text.contains("0 @N1@ SNOTE Caf\u{e9} cr\u{e8}me\n"),
        "{text}"
    );
}
