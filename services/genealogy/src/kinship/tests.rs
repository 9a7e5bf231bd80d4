use super::*;

/// A five-generation family with a second marriage (half-siblings), in-laws and a stranger.
fn family() -> FamilyGraph {
    let mut g = FamilyGraph::new();
    for (id, sex) in [
        ("R1", Sex::Male),
        ("R2", Sex::Female),
        ("A1", Sex::Male),
        ("A2", Sex::Female),
        ("W1", Sex::Female),
        ("W2", Sex::Female),
        ("H2", Sex::Male),
        ("B1", Sex::Male),
        ("B2", Sex::Female),
        ("B3", Sex::Male),
        ("C1", Sex::Male),
        ("W3", Sex::Female),
        ("H4", Sex::Male),
        ("W5", Sex::Female),
        ("D1", Sex::Female),
        ("D2", Sex::Male),
        ("D3", Sex::Male),
        ("E1", Sex::Male),
        ("E2", Sex::Female),
        ("E3", Sex::Female),
        ("F1", Sex::Male),
        ("WP", Sex::Male),
        ("WB", Sex::Male),
        ("U", Sex::Male),
        ("G3", Sex::Female),
    ] {
        g.person(id, sex);
    }
    let parents: &[(&[&str], &str)] = &[
        (&["R1", "R2"], "A1"),
        (&["R1", "R2"], "A2"),
        (&["A1", "W1"], "B1"),
        (&["A1", "W1"], "B2"),
        (&["A1", "W2"], "B3"),
        (&["A2", "H2"], "C1"),
        (&["B1", "W3"], "D1"),
        (&["B2", "H4"], "D2"),
        (&["C1", "W5"], "D3"),
        (&["D1"], "E1"),
        (&["D2"], "E2"),
        (&["D3"], "E3"),
        (&["E1"], "F1"),
        (&["WP"], "W1"),
        (&["WP"], "WB"),
        (&["B3"], "G3"),
    ];
    for (ps, child) in parents {
        for p in *ps {
            g.parent(p, child);
        }
    }
    for (a, b) in [
        ("R1", "R2"),
        ("A1", "W1"),
        ("A1", "W2"),
        ("A2", "H2"),
        ("B1", "W3"),
        ("B2", "H4"),
        ("C1", "W5"),
    ] {
        g.partners(a, b);
    }
    g
}

#[test]
fn relationship_table() {
    let g = family();
    // (from, to, what `to` is to `from`)
    let table = [
        ("B1", "A1", "father"),
        ("A1", "B1", "son"),
        ("B1", "R1", "grandfather"),
        ("B1", "R2", "grandmother"),
        ("D1", "R2", "great-grandmother"),
        ("E1", "R1", "great-great-grandfather"),
        ("F1", "R2", "3rd great-grandmother"),
        ("R1", "F1", "3rd great-grandson"),
        ("R1", "E1", "great-great-grandson"),
        ("R2", "D1", "great-granddaughter"),
        ("B1", "B2", "sister"),
        ("B2", "B1", "brother"),
        ("B1", "B3", "half-brother"),
        ("B3", "B2", "half-sister"),
        ("B1", "A2", "aunt"),
        ("A2", "B1", "nephew"),
        ("D1", "A2", "great-aunt"),
        ("A2", "D1", "great-niece"),
        ("B1", "E2", "great-niece"),
        ("B1", "WB", "uncle"),
        ("B1", "C1", "first cousin"),
        ("D1", "D2", "first cousin"),
        ("D1", "D3", "second cousin"),
        ("D1", "C1", "first cousin once removed"),
        ("C1", "D1", "first cousin once removed"),
        ("B1", "D3", "first cousin once removed"),
        ("E1", "D3", "second cousin once removed"),
        ("E1", "C1", "first cousin twice removed"),
        ("E1", "E3", "third cousin"),
        ("F1", "E3", "third cousin once removed"),
        ("F1", "D3", "second cousin twice removed"),
        ("F1", "C1", "first cousin thrice removed"),
        ("D3", "B3", "first cousin once removed"),
        ("D1", "G3", "half first cousin"),
        ("B1", "G3", "half-niece"),
        ("A1", "W1", "wife"),
        ("W1", "A1", "husband"),
        ("B1", "H4", "brother-in-law"),
        ("A1", "WB", "brother-in-law"),
        ("A1", "WP", "father-in-law"),
        ("A1", "H4", "son-in-law"),
        ("H4", "W1", "mother-in-law"),
        ("B3", "W1", "stepmother"),
        ("W2", "B1", "stepson"),
        ("E1", "W3", "grandmother"),
        ("D1", "W5", "first cousin once removed's wife"),
        ("B1", "U", "no relation"),
        ("U", "R1", "no relation"),
        ("B1", "B1", "self"),
    ];
    let mut failures = Vec::new();
    for (from, to, want) in table {
        let got = relationship(&g, from, to).description;
        if got != want {
            failures.push(format!("{to} to {from}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(table.len() >= 25);
}

#[test]
fn the_path_goes_up_to_the_common_ancestor_and_down() {
    let g = family();
    let k = relationship(&g, "E1", "D3");
    let path: Vec<(&str, &StepKind)> = k
        .path
        .iter()
        .map(|s| (s.person_id.as_str(), &s.step))
        .collect();
    use StepKind::*;
    assert_eq!(
        path,
        [
            ("E1", &Start),
            ("D1", &Parent),
            ("B1", &Parent),
            ("A1", &Parent),
            ("R1", &Parent),
            ("A2", &Child),
            ("C1", &Child),
            ("D3", &Child)
        ]
    );
    assert_eq!(k.common_ancestors, ["R1", "R2"]);
    let inlaw = relationship(&g, "A1", "WB");
    let ids: Vec<&str> = inlaw.path.iter().map(|s| s.person_id.as_str()).collect();
    assert_eq!(ids, ["A1", "W1", "WP", "WB"]);
    assert_eq!(inlaw.path[1].step, Partner);
    assert!(relationship(&g, "B1", "U").path.is_empty());
}

#[test]
fn words_for_distant_generations() {
    assert_eq!(describe(7, 0, false, Sex::Unknown), "5th great-grandparent");
    assert_eq!(describe(12, 0, false, Sex::Male), "10th great-grandfather");
    assert_eq!(describe(13, 13, false, Sex::Male), "12th cousin");
    assert_eq!(
        describe(4, 9, false, Sex::Male),
        "third cousin 5 times removed"
    );
    assert_eq!(describe(5, 1, false, Sex::Female), "3rd great-aunt");
}

#[test]
fn cycles_in_bad_data_terminate() {
    let mut g = FamilyGraph::new();
    g.parent("a", "b");
    g.parent("b", "a");
    g.parent("c", "c");
    // b is recorded as both a's parent and a's child; the nearer reading (child) wins.
    assert_eq!(relationship(&g, "a", "b").description, "child");
    assert_eq!(relationship(&g, "c", "x").description, "no relation");
}
