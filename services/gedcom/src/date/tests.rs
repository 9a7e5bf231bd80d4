use super::*;
use crate::Version;

fn exact(s: &str) -> Date {
    match GenDate::parse(s).value() {
        DateValue::Exact { date } => date.clone(),
        other => panic!("{s:?} parsed as {other:?}"),
    }
}

#[test]
fn every_form_parses() {
    assert_eq!(
        exact("1 JAN 1900"),
        Date {
            year: 1900,
            month: Some(1),
            day: Some(1),
            ..Date::default()
        }
    );
    assert_eq!(exact("@#DJULIAN@ 1701/02").dual_year, Some(1702));
    assert!(exact("44 B.C.").bce);
    assert!(exact("44 BCE").bce);
    assert_eq!(exact("@#DHEBREW@ 1 TSH 5784").calendar, Calendar::Hebrew);
    assert_eq!(
        exact("FRENCH_R 3 VEND 2").calendar,
        Calendar::FrenchRepublican
    );
    assert_eq!(exact("@#DFRENCH R@ 3 VEND 2").month, Some(1));
    assert!(matches!(
        GenDate::parse("abt 1850").value(),
        DateValue::Approximate {
            approximation: Approximation::About,
            ..
        }
    ));
    assert!(matches!(
        GenDate::parse("BET 1850 AND 1860").value(),
        DateValue::Between { .. }
    ));
    assert!(matches!(
        GenDate::parse("FROM 1850 TO 1860").value(),
        DateValue::Period {
            from: Some(_),
            to: Some(_)
        }
    ));
    assert!(matches!(
        GenDate::parse("TO 1860").value(),
        DateValue::Period {
            from: None,
            to: Some(_)
        }
    ));
    assert_eq!(
        *GenDate::parse("INT 1850 (about the time of the war)").value(),
        DateValue::Interpreted {
            date: exact("1850"),
            phrase: "about the time of the war".into()
        }
    );
    assert_eq!(
        *GenDate::parse("(unknown)").value(),
        DateValue::Phrase {
            phrase: "unknown".into()
        }
    );
    assert_eq!(*GenDate::parse("").value(), DateValue::Empty);
}

#[test]
fn invalid_dates_keep_their_text() {
    for bad in [
        "1701/99",
        "31 FEB 1900",
        "32 JAN 1900",
        "JAN",
        "BET 1900",
        "yesterday",
        "0",
        "ADS 5785",
    ] {
        let d = GenDate::parse(bad);
        assert_eq!(*d.value(), DateValue::Invalid, "{bad}");
        assert_eq!(d.original, bad);
    }
    assert!(GenDate::parse("HEBREW ADS 5784").is_valid());
}

#[test]
fn sorting_is_chronological_across_calendars_and_undated_last() {
    let mut dates: Vec<GenDate> = [
        "(unknown)",
        "1900",
        "BEF 1850",
        "@#DJULIAN@ 1 JAN 1900",
        "44 B.C.",
        "HEBREW 1 TSH 5784",
        "AFT 1899",
    ]
    .into_iter()
    .map(GenDate::parse)
    .collect();
    dates.sort();
    let order: Vec<&str> = dates.iter().map(|d| d.original.as_str()).collect();
    assert_eq!(
        order,
        [
            "44 B.C.",
            "BEF 1850",
            "1900",
            "AFT 1899",
            "@#DJULIAN@ 1 JAN 1900",
            "HEBREW 1 TSH 5784",
            "(unknown)"
        ]
    );
}

#[test]
fn ranges_cover_partial_dates() {
    let (a, b) = GenDate::parse("FEB 1900").range();
    assert_eq!(b.unwrap() - a.unwrap(), 27);
    let (a, b) = GenDate::parse("1904").range();
    assert_eq!(b.unwrap() - a.unwrap(), 365);
    assert_eq!(GenDate::parse("BEF 1900").range().0, None);
}

#[test]
fn text_for_keeps_compatible_originals_and_converts_the_rest() {
    let d = GenDate::parse("abt 1850");
    assert_eq!(d.text_for(Version::V551), "abt 1850");
    assert_eq!(d.text_for(Version::V70), "ABT 1850");
    assert_eq!(
        GenDate::parse("@#DJULIAN@ 1 JAN 1700").text_for(Version::V70),
        "JULIAN 1 JAN 1700"
    );
    assert_eq!(
        GenDate::parse("JULIAN 1 JAN 1700").text_for(Version::V551),
        "@#DJULIAN@ 1 JAN 1700"
    );
    assert_eq!(GenDate::parse("44 BCE").text_for(Version::V551), "44 B.C.");
    assert_eq!(GenDate::parse("44 B.C.").text_for(Version::V70), "44 BCE");
}

#[test]
fn serde_round_trip() {
    let d = GenDate::parse("BET @#DJULIAN@ 1701/02 AND 1710");
    let json = serde_json::to_string(&d).unwrap();
    let back: GenDate = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
}

#[test]
fn value_is_parsed_on_demand_and_serialised_as_before() {
    let lazy = GenDate::parse("abt 1850");
    let eager = GenDate::from_value(lazy.value().clone());
    // Same meaning, different text: not equal, as when both fields were plain.
    assert_ne!(lazy, eager);
    assert_eq!(lazy.value(), eager.value());
    assert_eq!(lazy, GenDate::parse_owned("abt 1850".to_owned()));
    let json = serde_json::to_value(&lazy).unwrap();
    assert_eq!(json["original"], "abt 1850");
    assert_eq!(json["value"]["kind"], "approximate");
    let back: GenDate = serde_json::from_value(json).unwrap();
    assert_eq!(back, lazy);
    // A value given explicitly is kept, not re-derived from the text.
    let odd: GenDate =
        serde_json::from_value(serde_json::json!({"original": "1850", "value": {"kind": "empty"}}))
            .unwrap();
    assert_eq!(*odd.value(), DateValue::Empty);
    assert_ne!(odd, GenDate::parse("1850"));
}

#[test]
fn every_kind_of_value_reads_back_from_json_whatever_the_key_order() {
    let texts = [
        "",
        "1 JAN 1900",
        "ABT 1850",
        "CAL MAR 1790",
        "EST 1700",
        "BEF 1621",
        "AFT 12 DEC 1801",
        "BET @#DJULIAN@ 1701/02 AND 1710",
        "FROM 1900",
        "TO 1910",
        "FROM 1900 TO 1910",
        "INT 1 JAN 1900 (New Year's Day)",
        "(the spring after the flood)",
        "not a date at all",
    ];
    let mut kinds = std::collections::BTreeSet::new();
    for text in texts {
        let d = GenDate::parse(text);
        let json = serde_json::to_value(&d).unwrap();
        kinds.insert(json["value"]["kind"].as_str().unwrap().to_owned());
        let back: GenDate = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, d, "{text}");
        assert_eq!(back.value(), d.value(), "{text}");
        // `kind` first, as a writer that does not sort keys puts it.
        let value = json["value"].as_object().unwrap();
        let mut first = String::from("{\"kind\":");
        first.push_str(&value["kind"].to_string());
        for (k, v) in value.iter().filter(|(k, _)| *k != "kind") {
            first.push_str(&format!(",{}:{v}", serde_json::to_string(k).unwrap()));
        }
        first.push('}');
        let read: DateValue = serde_json::from_str(&first).unwrap();
        assert_eq!(&read, d.value(), "{first}");
    }
    assert_eq!(kinds.len(), 10, "{kinds:?}");
}

#[test]
fn a_value_missing_what_its_kind_needs_is_refused() {
    for (json, field) in [
        (r#"{"kind":"exact"}"#, "date"),
        (
            r#"{"kind":"approximate","date":{"calendar":"gregorian","year":1}}"#,
            "approximation",
        ),
        (
            r#"{"kind":"between","from":{"calendar":"gregorian","year":1}}"#,
            "to",
        ),
        (r#"{"kind":"phrase"}"#, "phrase"),
    ] {
        let err = serde_json::from_str::<DateValue>(json).unwrap_err();
        assert!(err.to_string().contains(field), "{json}: {err}");
    }
    let err = serde_json::from_str::<DateValue>(r#"{"kind":"sometime"}"#).unwrap_err();
    assert!(err.to_string().contains("unknown variant"), "{err}");
    assert!(serde_json::from_str::<DateValue>(r#"{"date":{"year":1}}"#).is_err());
}
