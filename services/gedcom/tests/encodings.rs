//! Hand-made files in every encoding GEDCOM files come in, with diacritics.

#![allow(clippy::unwrap_used)]

use dzinza_gedcom::reader::{EncodingSource, ReaderOptions};
use dzinza_gedcom::{Encoding, GedcomReader, read_gedcom};

/// Names and note text of every individual, in order.
fn people(bytes: &[u8]) -> Vec<(String, String)> {
    let (g, _) = read_gedcom(bytes).unwrap();
    g.individuals()
        .map(|i| {
            let name = i.names[0].value.clone().unwrap_or_default();
            let note = match i.common.notes.first().map(|n| &n.target) {
                Some(dzinza_gedcom::model::NoteTarget::Inline(t)) => t.clone(),
                _ => String::new(),
            };
            (name, note)
        })
        .collect()
}

fn encoding_of(bytes: &[u8]) -> (Encoding, EncodingSource) {
    let r = GedcomReader::new(bytes).unwrap();
    (r.encoding(), r.encoding_source())
}

const TEXT: &str = "0 HEAD\r\n1 GEDC\r\n2 VERS 5.5.1\r\n1 CHAR UNICODE\r\n0 @I1@ INDI\r\n1 NAME Zo\u{eb} /N\u{fa}\u{f1}ez/\r\n1 NOTE \u{141}\u{f3}d\u{17a} \u{4e2d}\u{6587} \u{1f600}\r\n0 TRLR\r\n";

#[test]
fn ansel_diacritics_become_precomposed_unicode() {
    // ANSEL puts the combining mark before its letter: E2 = acute, E8 = diaeresis,
    // F0 = cedilla, E4 = tilde; A1 = L with stroke, B2 = o with stroke, C3 = copyright.
    let bytes = b"0 HEAD\r\n1 CHAR ANSEL\r\n0 @I1@ INDI\r\n1 NAME Ren\xE2ee /M\xE8uller/\r\n\
1 NOTE \xA1\xB2d\xE2z \xF0Cedille \xE4nandu \xC3\r\n0 TRLR\r\n";
    assert_eq!(
        encoding_of(bytes),
        (Encoding::Ansel, EncodingSource::Declared)
    );
    assert_eq!(
        people(bytes),
        [(
            "Ren\u{e9}e /M\u{fc}ller/".to_owned(),
            "\u{141}\u{f8}d\u{17a} \u{c7}edille \u{f1}andu \u{a9}".to_owned()
        )]
    );
}

#[test]
fn utf16_with_and_without_bom_in_both_byte_orders() {
    let le: Vec<u8> = TEXT.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = TEXT.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let want = vec![(
        "Zo\u{eb} /N\u{fa}\u{f1}ez/".to_owned(),
        "\u{141}\u{f3}d\u{17a} \u{4e2d}\u{6587} \u{1f600}".to_owned(),
    )];
    for (bytes, encoding) in [
        ([&[0xFF, 0xFE][..], &le].concat(), Encoding::Utf16Le),
        ([&[0xFE, 0xFF][..], &be].concat(), Encoding::Utf16Be),
        (le.clone(), Encoding::Utf16Le),
        (be.clone(), Encoding::Utf16Be),
    ] {
        assert_eq!(
            encoding_of(&bytes),
            (encoding, EncodingSource::ByteOrderMark)
        );
        assert_eq!(people(&bytes), want, "{encoding}");
    }
}

#[test]
fn windows_1252_as_files_declare_it() {
    for declared in ["ANSI", "WINDOWS-1252", "IBM WINDOWS", "ISO-8859-1"] {
        let bytes = [
            format!("0 HEAD\n1 CHAR {declared}\n0 @I1@ INDI\n1 NAME Jos").as_bytes(),
            b"\xE9 /Fran\xE7ois/\n1 NOTE \x80 100 \x8Aibenik \x93quoted\x94\n0 TRLR\n",
        ]
        .concat();
        assert_eq!(encoding_of(&bytes).0, Encoding::Windows1252, "{declared}");
        assert_eq!(
            people(&bytes),
            [(
                "Jos\u{e9} /Fran\u{e7}ois/".to_owned(),
                "\u{20ac} 100 \u{160}ibenik \u{201c}quoted\u{201d}".to_owned()
            )]
        );
    }
}

#[test]
fn ibm_pc_code_page_437() {
    let bytes = b"0 HEAD\n1 CHAR IBM PC\n0 @I1@ INDI\n1 NAME J\x94rg /M\x81ller/\n0 TRLR\n";
    assert_eq!(encoding_of(bytes).0, Encoding::Cp437);
    assert_eq!(people(bytes)[0].0, "J\u{f6}rg /M\u{fc}ller/");
}

#[test]
fn utf8_with_and_without_bom() {
    let plain = TEXT.replace("UNICODE", "UTF-8");
    let with_bom = [&[0xEF, 0xBB, 0xBF][..], plain.as_bytes()].concat();
    assert_eq!(
        encoding_of(&with_bom),
        (Encoding::Utf8, EncodingSource::ByteOrderMark)
    );
    assert_eq!(
        encoding_of(plain.as_bytes()),
        (Encoding::Utf8, EncodingSource::Declared)
    );
    assert_eq!(people(&with_bom), people(plain.as_bytes()));
    assert_eq!(people(plain.as_bytes())[0].0, "Zo\u{eb} /N\u{fa}\u{f1}ez/");
}

#[test]
fn a_declared_encoding_can_be_overridden() {
    // Claims ANSEL but is really UTF-8, as some exporters do.
    let bytes =
        "0 HEAD\n1 CHAR ANSEL\n0 @I1@ INDI\n1 NAME Ren\u{e9}e /Dupr\u{e9}/\n0 TRLR\n".as_bytes();
    let options = ReaderOptions {
        encoding: Some(Encoding::Utf8),
        ..ReaderOptions::default()
    };
    let (g, _) = dzinza_gedcom::reader::read_gedcom_with(bytes, options).unwrap();
    assert_eq!(
        g.individuals().next().unwrap().names[0].value.as_deref(),
        Some("Ren\u{e9}e /Dupr\u{e9}/")
    );
}

#[test]
fn invalid_utf8_falls_back_per_line_with_a_diagnostic() {
    let bytes = b"0 HEAD\n1 CHAR UTF-8\n0 @I1@ INDI\n1 NAME Jos\xE9 /Garc\xEDa/\n0 TRLR\n";
    let (g, diagnostics) = read_gedcom(&bytes[..]).unwrap();
    assert_eq!(
        g.individuals().next().unwrap().names[0].value.as_deref(),
        Some("Jos\u{e9} /Garc\u{ed}a/")
    );
    let d = diagnostics
        .iter()
        .find(|d| d.code == "invalid-utf8")
        .unwrap();
    assert_eq!(d.line, Some(4));
}

#[test]
fn bom_wins_over_a_conflicting_declaration() {
    let bytes = b"\xEF\xBB\xBF0 HEAD\n1 CHAR ANSEL\n0 @I1@ INDI\n1 NAME Ren\xC3\xA9e\n0 TRLR\n";
    let (g, diagnostics) = read_gedcom(&bytes[..]).unwrap();
    assert_eq!(
        g.individuals().next().unwrap().names[0].value.as_deref(),
        Some("Ren\u{e9}e")
    );
    assert!(diagnostics.iter().any(|d| d.code == "charset-mismatch"));
}
