//! The generic GEDCOM tree: what every line becomes before (or instead of) a typed model.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;

/// A structure's tag. Tags are short, so they live inline instead of on the heap: reading a
/// large file allocates one string less per line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tag(TagRepr);

const INLINE: usize = 22;

#[derive(Clone, PartialEq, Eq, Hash)]
enum TagRepr {
    /// A tag from `known_tag`; every other short tag is `Inline`, so each tag has exactly one
    /// representation and the derived equality and hash agree with the string's.
    Static(&'static str),
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

/// Packs a tag of at most seven bytes and its length into one integer, so that recognising a
/// standard tag is a single `match` on a number.
const fn tag_key(b: &[u8]) -> u64 {
    let mut key = (b.len() as u64) << 56;
    let mut i = 0;
    while i < b.len() && i < 7 {
        key |= (b[i] as u64) << (8 * i);
        i += 1;
    }
    key
}

/// [`tag_key`] for the three- and four-letter tags most lines carry, with plain loads.
#[inline]
fn tag_key_fast(b: &[u8]) -> u64 {
    match *b {
        [x, y, z] => 3 << 56 | u64::from(u16::from_le_bytes([x, y])) | u64::from(z) << 16,
        [w, x, y, z] => 4 << 56 | u64::from(u32::from_le_bytes([w, x, y, z])),
        _ => tag_key(b),
    }
}

/// The standard tags (and the commonest vendor ones) as static strings: such a `Tag` needs
/// neither a copy nor UTF-8 validation when it is read back as `&str`.
#[inline]
fn known_tag(s: &str) -> Option<&'static str> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 7 {
        return None;
    }
    const K_ABBR: u64 = tag_key(b"ABBR");
    const K_ADDR: u64 = tag_key(b"ADDR");
    const K_ADOP: u64 = tag_key(b"ADOP");
    const K_ADR1: u64 = tag_key(b"ADR1");
    const K_ADR2: u64 = tag_key(b"ADR2");
    const K_ADR3: u64 = tag_key(b"ADR3");
    const K_AFN: u64 = tag_key(b"AFN");
    const K_AGE: u64 = tag_key(b"AGE");
    const K_AGNC: u64 = tag_key(b"AGNC");
    const K_ALIA: u64 = tag_key(b"ALIA");
    const K_ANCE: u64 = tag_key(b"ANCE");
    const K_ANCI: u64 = tag_key(b"ANCI");
    const K_ANUL: u64 = tag_key(b"ANUL");
    const K_ASSO: u64 = tag_key(b"ASSO");
    const K_AUTH: u64 = tag_key(b"AUTH");
    const K_BAPL: u64 = tag_key(b"BAPL");
    const K_BAPM: u64 = tag_key(b"BAPM");
    const K_BARM: u64 = tag_key(b"BARM");
    const K_BASM: u64 = tag_key(b"BASM");
    const K_BIRT: u64 = tag_key(b"BIRT");
    const K_BLES: u64 = tag_key(b"BLES");
    const K_BLOB: u64 = tag_key(b"BLOB");
    const K_BURI: u64 = tag_key(b"BURI");
    const K_CALN: u64 = tag_key(b"CALN");
    const K_CAST: u64 = tag_key(b"CAST");
    const K_CAUS: u64 = tag_key(b"CAUS");
    const K_CENS: u64 = tag_key(b"CENS");
    const K_CHAN: u64 = tag_key(b"CHAN");
    const K_CHAR: u64 = tag_key(b"CHAR");
    const K_CHIL: u64 = tag_key(b"CHIL");
    const K_CHR: u64 = tag_key(b"CHR");
    const K_CHRA: u64 = tag_key(b"CHRA");
    const K_CITY: u64 = tag_key(b"CITY");
    const K_CONC: u64 = tag_key(b"CONC");
    const K_CONF: u64 = tag_key(b"CONF");
    const K_CONL: u64 = tag_key(b"CONL");
    const K_CONT: u64 = tag_key(b"CONT");
    const K_COPR: u64 = tag_key(b"COPR");
    const K_CORP: u64 = tag_key(b"CORP");
    const K_CREA: u64 = tag_key(b"CREA");
    const K_CREM: u64 = tag_key(b"CREM");
    const K_CROP: u64 = tag_key(b"CROP");
    const K_CTRY: u64 = tag_key(b"CTRY");
    const K_DATA: u64 = tag_key(b"DATA");
    const K_DATE: u64 = tag_key(b"DATE");
    const K_DEAT: u64 = tag_key(b"DEAT");
    const K_DESC: u64 = tag_key(b"DESC");
    const K_DESI: u64 = tag_key(b"DESI");
    const K_DEST: u64 = tag_key(b"DEST");
    const K_DIV: u64 = tag_key(b"DIV");
    const K_DIVF: u64 = tag_key(b"DIVF");
    const K_DSCR: u64 = tag_key(b"DSCR");
    const K_EDUC: u64 = tag_key(b"EDUC");
    const K_EMAIL: u64 = tag_key(b"EMAIL");
    const K_EMIG: u64 = tag_key(b"EMIG");
    const K_ENDL: u64 = tag_key(b"ENDL");
    const K_ENGA: u64 = tag_key(b"ENGA");
    const K_EVEN: u64 = tag_key(b"EVEN");
    const K_EXID: u64 = tag_key(b"EXID");
    const K_FACT: u64 = tag_key(b"FACT");
    const K_FAM: u64 = tag_key(b"FAM");
    const K_FAMC: u64 = tag_key(b"FAMC");
    const K_FAMF: u64 = tag_key(b"FAMF");
    const K_FAMS: u64 = tag_key(b"FAMS");
    const K_FAX: u64 = tag_key(b"FAX");
    const K_FCOM: u64 = tag_key(b"FCOM");
    const K_FILE: u64 = tag_key(b"FILE");
    const K_FONE: u64 = tag_key(b"FONE");
    const K_FORM: u64 = tag_key(b"FORM");
    const K_GEDC: u64 = tag_key(b"GEDC");
    const K_GIVN: u64 = tag_key(b"GIVN");
    const K_GRAD: u64 = tag_key(b"GRAD");
    const K_HEAD: u64 = tag_key(b"HEAD");
    const K_HEIGHT: u64 = tag_key(b"HEIGHT");
    const K_HUSB: u64 = tag_key(b"HUSB");
    const K_IDNO: u64 = tag_key(b"IDNO");
    const K_IMMI: u64 = tag_key(b"IMMI");
    const K_INDI: u64 = tag_key(b"INDI");
    const K_INIL: u64 = tag_key(b"INIL");
    const K_LANG: u64 = tag_key(b"LANG");
    const K_LATI: u64 = tag_key(b"LATI");
    const K_LEFT: u64 = tag_key(b"LEFT");
    const K_LONG: u64 = tag_key(b"LONG");
    const K_MAP: u64 = tag_key(b"MAP");
    const K_MARB: u64 = tag_key(b"MARB");
    const K_MARC: u64 = tag_key(b"MARC");
    const K_MARL: u64 = tag_key(b"MARL");
    const K_MARR: u64 = tag_key(b"MARR");
    const K_MARS: u64 = tag_key(b"MARS");
    const K_MEDI: u64 = tag_key(b"MEDI");
    const K_MIME: u64 = tag_key(b"MIME");
    const K_NAME: u64 = tag_key(b"NAME");
    const K_NATI: u64 = tag_key(b"NATI");
    const K_NATU: u64 = tag_key(b"NATU");
    const K_NCHI: u64 = tag_key(b"NCHI");
    const K_NICK: u64 = tag_key(b"NICK");
    const K_NMR: u64 = tag_key(b"NMR");
    const K_NO: u64 = tag_key(b"NO");
    const K_NOTE: u64 = tag_key(b"NOTE");
    const K_NPFX: u64 = tag_key(b"NPFX");
    const K_NSFX: u64 = tag_key(b"NSFX");
    const K_OBJE: u64 = tag_key(b"OBJE");
    const K_OCCU: u64 = tag_key(b"OCCU");
    const K_ORDI: u64 = tag_key(b"ORDI");
    const K_ORDN: u64 = tag_key(b"ORDN");
    const K_PAGE: u64 = tag_key(b"PAGE");
    const K_PEDI: u64 = tag_key(b"PEDI");
    const K_PHON: u64 = tag_key(b"PHON");
    const K_PHRASE: u64 = tag_key(b"PHRASE");
    const K_PLAC: u64 = tag_key(b"PLAC");
    const K_POST: u64 = tag_key(b"POST");
    const K_PROB: u64 = tag_key(b"PROB");
    const K_PROP: u64 = tag_key(b"PROP");
    const K_PUBL: u64 = tag_key(b"PUBL");
    const K_QUAY: u64 = tag_key(b"QUAY");
    const K_REFN: u64 = tag_key(b"REFN");
    const K_RELA: u64 = tag_key(b"RELA");
    const K_RELI: u64 = tag_key(b"RELI");
    const K_REPO: u64 = tag_key(b"REPO");
    const K_RESI: u64 = tag_key(b"RESI");
    const K_RESN: u64 = tag_key(b"RESN");
    const K_RETI: u64 = tag_key(b"RETI");
    const K_RFN: u64 = tag_key(b"RFN");
    const K_RIN: u64 = tag_key(b"RIN");
    const K_ROLE: u64 = tag_key(b"ROLE");
    const K_ROMN: u64 = tag_key(b"ROMN");
    const K_SCHMA: u64 = tag_key(b"SCHMA");
    const K_SDATE: u64 = tag_key(b"SDATE");
    const K_SEX: u64 = tag_key(b"SEX");
    const K_SLGC: u64 = tag_key(b"SLGC");
    const K_SLGS: u64 = tag_key(b"SLGS");
    const K_SNOTE: u64 = tag_key(b"SNOTE");
    const K_SOUR: u64 = tag_key(b"SOUR");
    const K_SPFX: u64 = tag_key(b"SPFX");
    const K_SSN: u64 = tag_key(b"SSN");
    const K_STAE: u64 = tag_key(b"STAE");
    const K_STAT: u64 = tag_key(b"STAT");
    const K_SUBM: u64 = tag_key(b"SUBM");
    const K_SUBN: u64 = tag_key(b"SUBN");
    const K_SURN: u64 = tag_key(b"SURN");
    const K_TAG: u64 = tag_key(b"TAG");
    const K_TEMP: u64 = tag_key(b"TEMP");
    const K_TEXT: u64 = tag_key(b"TEXT");
    const K_TIME: u64 = tag_key(b"TIME");
    const K_TITL: u64 = tag_key(b"TITL");
    const K_TOP: u64 = tag_key(b"TOP");
    const K_TRAN: u64 = tag_key(b"TRAN");
    const K_TRLR: u64 = tag_key(b"TRLR");
    const K_TYPE: u64 = tag_key(b"TYPE");
    const K_UID: u64 = tag_key(b"UID");
    const K_VERS: u64 = tag_key(b"VERS");
    const K_VOID: u64 = tag_key(b"VOID");
    const K_WIDTH: u64 = tag_key(b"WIDTH");
    const K_WIFE: u64 = tag_key(b"WIFE");
    const K_WILL: u64 = tag_key(b"WILL");
    const K_WWW: u64 = tag_key(b"WWW");
    const K_AKA_U: u64 = tag_key(b"_AKA");
    const K_APID_U: u64 = tag_key(b"_APID");
    const K_DATE_U: u64 = tag_key(b"_DATE");
    const K_DEG_U: u64 = tag_key(b"_DEG");
    const K_ELEC_U: u64 = tag_key(b"_ELEC");
    const K_EMAIL_U: u64 = tag_key(b"_EMAIL");
    const K_EXCM_U: u64 = tag_key(b"_EXCM");
    const K_FA1_U: u64 = tag_key(b"_FA1");
    const K_FILE_U: u64 = tag_key(b"_FILE");
    const K_FREL_U: u64 = tag_key(b"_FREL");
    const K_FSFTID_U: u64 = tag_key(b"_FSFTID");
    const K_LOC_U: u64 = tag_key(b"_LOC");
    const K_MARNM_U: u64 = tag_key(b"_MARNM");
    const K_MILT_U: u64 = tag_key(b"_MILT");
    const K_MREL_U: u64 = tag_key(b"_MREL");
    const K_NAME_U: u64 = tag_key(b"_NAME");
    const K_PHOTO_U: u64 = tag_key(b"_PHOTO");
    const K_PLAC_U: u64 = tag_key(b"_PLAC");
    const K_PRIM_U: u64 = tag_key(b"_PRIM");
    const K_SCBK_U: u64 = tag_key(b"_SCBK");
    const K_SSHOW_U: u64 = tag_key(b"_SSHOW");
    const K_STAT_U: u64 = tag_key(b"_STAT");
    const K_TEXT_U: u64 = tag_key(b"_TEXT");
    const K_TYPE_U: u64 = tag_key(b"_TYPE");
    const K_UID_U: u64 = tag_key(b"_UID");
    const K_URL_U: u64 = tag_key(b"_URL");
    const K_VALUE_U: u64 = tag_key(b"_VALUE");
    const K_WEB_U: u64 = tag_key(b"_WEB");
    Some(match tag_key_fast(b) {
        K_ABBR => "ABBR",
        K_ADDR => "ADDR",
        K_ADOP => "ADOP",
        K_ADR1 => "ADR1",
        K_ADR2 => "ADR2",
        K_ADR3 => "ADR3",
        K_AFN => "AFN",
        K_AGE => "AGE",
        K_AGNC => "AGNC",
        K_ALIA => "ALIA",
        K_ANCE => "ANCE",
        K_ANCI => "ANCI",
        K_ANUL => "ANUL",
        K_ASSO => "ASSO",
        K_AUTH => "AUTH",
        K_BAPL => "BAPL",
        K_BAPM => "BAPM",
        K_BARM => "BARM",
        K_BASM => "BASM",
        K_BIRT => "BIRT",
        K_BLES => "BLES",
        K_BLOB => "BLOB",
        K_BURI => "BURI",
        K_CALN => "CALN",
        K_CAST => "CAST",
        K_CAUS => "CAUS",
        K_CENS => "CENS",
        K_CHAN => "CHAN",
        K_CHAR => "CHAR",
        K_CHIL => "CHIL",
        K_CHR => "CHR",
        K_CHRA => "CHRA",
        K_CITY => "CITY",
        K_CONC => "CONC",
        K_CONF => "CONF",
        K_CONL => "CONL",
        K_CONT => "CONT",
        K_COPR => "COPR",
        K_CORP => "CORP",
        K_CREA => "CREA",
        K_CREM => "CREM",
        K_CROP => "CROP",
        K_CTRY => "CTRY",
        K_DATA => "DATA",
        K_DATE => "DATE",
        K_DEAT => "DEAT",
        K_DESC => "DESC",
        K_DESI => "DESI",
        K_DEST => "DEST",
        K_DIV => "DIV",
        K_DIVF => "DIVF",
        K_DSCR => "DSCR",
        K_EDUC => "EDUC",
        K_EMAIL => "EMAIL",
        K_EMIG => "EMIG",
        K_ENDL => "ENDL",
        K_ENGA => "ENGA",
        K_EVEN => "EVEN",
        K_EXID => "EXID",
        K_FACT => "FACT",
        K_FAM => "FAM",
        K_FAMC => "FAMC",
        K_FAMF => "FAMF",
        K_FAMS => "FAMS",
        K_FAX => "FAX",
        K_FCOM => "FCOM",
        K_FILE => "FILE",
        K_FONE => "FONE",
        K_FORM => "FORM",
        K_GEDC => "GEDC",
        K_GIVN => "GIVN",
        K_GRAD => "GRAD",
        K_HEAD => "HEAD",
        K_HEIGHT => "HEIGHT",
        K_HUSB => "HUSB",
        K_IDNO => "IDNO",
        K_IMMI => "IMMI",
        K_INDI => "INDI",
        K_INIL => "INIL",
        K_LANG => "LANG",
        K_LATI => "LATI",
        K_LEFT => "LEFT",
        K_LONG => "LONG",
        K_MAP => "MAP",
        K_MARB => "MARB",
        K_MARC => "MARC",
        K_MARL => "MARL",
        K_MARR => "MARR",
        K_MARS => "MARS",
        K_MEDI => "MEDI",
        K_MIME => "MIME",
        K_NAME => "NAME",
        K_NATI => "NATI",
        K_NATU => "NATU",
        K_NCHI => "NCHI",
        K_NICK => "NICK",
        K_NMR => "NMR",
        K_NO => "NO",
        K_NOTE => "NOTE",
        K_NPFX => "NPFX",
        K_NSFX => "NSFX",
        K_OBJE => "OBJE",
        K_OCCU => "OCCU",
        K_ORDI => "ORDI",
        K_ORDN => "ORDN",
        K_PAGE => "PAGE",
        K_PEDI => "PEDI",
        K_PHON => "PHON",
        K_PHRASE => "PHRASE",
        K_PLAC => "PLAC",
        K_POST => "POST",
        K_PROB => "PROB",
        K_PROP => "PROP",
        K_PUBL => "PUBL",
        K_QUAY => "QUAY",
        K_REFN => "REFN",
        K_RELA => "RELA",
        K_RELI => "RELI",
        K_REPO => "REPO",
        K_RESI => "RESI",
        K_RESN => "RESN",
        K_RETI => "RETI",
        K_RFN => "RFN",
        K_RIN => "RIN",
        K_ROLE => "ROLE",
        K_ROMN => "ROMN",
        K_SCHMA => "SCHMA",
        K_SDATE => "SDATE",
        K_SEX => "SEX",
        K_SLGC => "SLGC",
        K_SLGS => "SLGS",
        K_SNOTE => "SNOTE",
        K_SOUR => "SOUR",
        K_SPFX => "SPFX",
        K_SSN => "SSN",
        K_STAE => "STAE",
        K_STAT => "STAT",
        K_SUBM => "SUBM",
        K_SUBN => "SUBN",
        K_SURN => "SURN",
        K_TAG => "TAG",
        K_TEMP => "TEMP",
        K_TEXT => "TEXT",
        K_TIME => "TIME",
        K_TITL => "TITL",
        K_TOP => "TOP",
        K_TRAN => "TRAN",
        K_TRLR => "TRLR",
        K_TYPE => "TYPE",
        K_UID => "UID",
        K_VERS => "VERS",
        K_VOID => "VOID",
        K_WIDTH => "WIDTH",
        K_WIFE => "WIFE",
        K_WILL => "WILL",
        K_WWW => "WWW",
        K_AKA_U => "_AKA",
        K_APID_U => "_APID",
        K_DATE_U => "_DATE",
        K_DEG_U => "_DEG",
        K_ELEC_U => "_ELEC",
        K_EMAIL_U => "_EMAIL",
        K_EXCM_U => "_EXCM",
        K_FA1_U => "_FA1",
        K_FILE_U => "_FILE",
        K_FREL_U => "_FREL",
        K_FSFTID_U => "_FSFTID",
        K_LOC_U => "_LOC",
        K_MARNM_U => "_MARNM",
        K_MILT_U => "_MILT",
        K_MREL_U => "_MREL",
        K_NAME_U => "_NAME",
        K_PHOTO_U => "_PHOTO",
        K_PLAC_U => "_PLAC",
        K_PRIM_U => "_PRIM",
        K_SCBK_U => "_SCBK",
        K_SSHOW_U => "_SSHOW",
        K_STAT_U => "_STAT",
        K_TEXT_U => "_TEXT",
        K_TYPE_U => "_TYPE",
        K_UID_U => "_UID",
        K_URL_U => "_URL",
        K_VALUE_U => "_VALUE",
        K_WEB_U => "_WEB",
        _ => return None,
    })
}

impl Tag {
    /// The tag as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            TagRepr::Static(s) => s,
            // Built only from `&str`, so the bytes are always valid UTF-8.
            TagRepr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            TagRepr::Heap(s) => s,
        }
    }
}

impl From<&str> for Tag {
    #[inline]
    fn from(s: &str) -> Self {
        if let Some(known) = known_tag(s) {
            return Tag(TagRepr::Static(known));
        }
        if s.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            // `s.len() <= INLINE < 256`, so the length fits.
            Tag(TagRepr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            Tag(TagRepr::Heap(s.into()))
        }
    }
}

impl From<String> for Tag {
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            Tag::from(s.as_str())
        } else {
            Tag(TagRepr::Heap(s.into_boxed_str()))
        }
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> Self {
        t.as_str().to_owned()
    }
}

#[cfg(test)]
mod tag_tests {
    use super::*;

    #[test]
    fn known_and_unknown_tags_compare_by_text() {
        for t in [
            "INDI",
            "_UID",
            "_FSFTID",
            "INDIX",
            "_X",
            "",
            "I\0",
            "\u{e9}T",
            "A_LONG_VENDOR_TAG_OF_30_BYTES",
        ] {
            let tag = Tag::from(t);
            assert_eq!(tag.as_str(), t);
            assert_eq!(tag, Tag::from(t.to_owned()));
        }
        assert!(matches!(Tag::from("INDI").0, TagRepr::Static("INDI")));
        assert!(matches!(Tag::from("INDJ").0, TagRepr::Inline { .. }));
        // The length is part of the key: a NUL-padded tag is not the standard one.
        assert_ne!(Tag::from("SEX\0"), Tag::from("SEX"));
        assert_eq!(known_tag("SEX\0"), None);
        for t in [
            "A", "AB", "SEX", "INDI", "\u{e9}", "_UID", "HEIGHT", "_FSFTID", "\0\0\0", "ZZZZ",
        ] {
            assert_eq!(tag_key_fast(t.as_bytes()), tag_key(t.as_bytes()), "{t:?}");
        }
    }
}

impl Default for Tag {
    fn default() -> Self {
        Tag::from("")
    }
}

impl Deref for Tag {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Tag {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Tag {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Tag {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Tag::from)
    }
}

/// A line's payload after CONC/CONT assembly and `@` unescaping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Value {
    /// No payload.
    #[default]
    None,
    /// Text; multi-line text uses `\n` between lines. Never empty.
    Text(String),
    /// A pointer to a record, without the surrounding `@`s (`@I1@` is `I1`).
    Pointer(String),
}

impl Value {
    /// The text, if this is text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The pointer target, if this is a pointer.
    pub fn pointer(&self) -> Option<&str> {
        match self {
            Value::Pointer(p) => Some(p),
            _ => None,
        }
    }

    /// The text, moved out, if this is text.
    pub fn into_text(self) -> Option<String> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The pointer target, moved out, if this is a pointer.
    pub fn into_pointer(self) -> Option<String> {
        match self {
            Value::Pointer(p) => Some(p),
            _ => None,
        }
    }

    /// Text from an optional string; empty strings mean no payload, as on the wire.
    pub fn from_text(t: Option<String>) -> Self {
        match t {
            Some(t) if !t.is_empty() => Value::Text(t),
            _ => Value::None,
        }
    }
}

/// One GEDCOM structure with its substructures, kept exactly as read.
///
/// Used for everything the typed model does not know (vendor `_TAGS`, extension tags,
/// unexpected substructures), so that writing a file back loses nothing.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Node {
    /// The tag, such as `BIRT` or `_MYTAG`.
    pub tag: Tag,
    /// The cross-reference id this structure defines, without `@`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xref: Option<String>,
    /// The payload.
    #[serde(default)]
    pub value: Value,
    /// Substructures in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
    /// Physical line the structure started on (0 when built in memory); not part of equality.
    #[serde(skip)]
    pub line: u64,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.tag == other.tag
            && self.xref == other.xref
            && self.value == other.value
            && self.children == other.children
    }
}

impl Eq for Node {}

impl Node {
    /// A node with a tag and a value and no children.
    pub fn new(tag: impl Into<Tag>, value: Value) -> Self {
        Self {
            tag: tag.into(),
            value,
            ..Self::default()
        }
    }

    /// Whether the node is a plain `TAG text` line with nothing attached.
    pub(crate) fn is_plain_text(&self) -> bool {
        self.xref.is_none() && self.children.is_empty() && matches!(self.value, Value::Text(_))
    }

    /// Whether the node is a plain `TAG @ptr@` line with nothing attached.
    pub(crate) fn is_plain_pointer(&self) -> bool {
        self.xref.is_none() && self.children.is_empty() && matches!(self.value, Value::Pointer(_))
    }

    /// Total number of structures in this subtree, itself included.
    pub fn count(&self) -> usize {
        let mut n = 0;
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            n += 1;
            stack.extend(node.children.iter());
        }
        n
    }
}
