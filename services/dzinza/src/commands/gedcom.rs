//! `dzinza gedcom`: check, convert and summarise GEDCOM files from the command line.

use anyhow::Context as _;
use dzinza_gedcom::date::GenDate;
use dzinza_gedcom::model::Record;
use dzinza_gedcom::reader::ReaderOptions;
use dzinza_gedcom::validate::{self, Report};
use dzinza_gedcom::writer::LineEnding;
use dzinza_gedcom::{Encoding, GedcomReader, GedcomWriter, Severity, Version, WriteOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// How results are printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON document on stdout, for machines.
    Json,
}

/// GEDCOM version to write.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetVersion {
    /// GEDCOM 5.5.1 (UTF-8).
    #[value(name = "5.5.1")]
    V551,
    /// GEDCOM 7.0.
    #[value(name = "7.0")]
    V70,
}

impl From<TargetVersion> for Version {
    fn from(v: TargetVersion) -> Self {
        match v {
            TargetVersion::V551 => Version::V551,
            TargetVersion::V70 => Version::V70,
        }
    }
}

/// `dzinza gedcom` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum GedcomCommand {
    /// Validate a file: diagnostics with line numbers, record counts and a summary.
    ///
    /// Exits with status 1 when the file has errors.
    Check {
        /// The GEDCOM file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Read in this character set instead of detecting it (e.g. ANSEL, UTF-8, ANSI).
        #[arg(long)]
        encoding: Option<String>,
    },
    /// Read a file and write it again, e.g. GEDCOM 5.5.1 to 7.0, always as UTF-8.
    Convert {
        /// The GEDCOM file to read.
        input: PathBuf,
        /// Where to write; `-` for standard output.
        output: PathBuf,
        /// Version to write.
        #[arg(long, value_enum, default_value_t = TargetVersion::V70)]
        to: TargetVersion,
        /// Read in this character set instead of detecting it.
        #[arg(long)]
        encoding: Option<String>,
        /// End lines with CR LF instead of LF.
        #[arg(long)]
        crlf: bool,
    },
    /// Summarise a file: records, people, families, events, surnames, date range.
    Stats {
        /// The GEDCOM file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

/// Runs a `dzinza gedcom` subcommand.
pub fn run(cmd: GedcomCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GedcomCommand::Check {
            file,
            format,
            encoding,
        } => {
            let report = check(&file, reader_options(encoding.as_deref())?)?;
            let stdout = io::stdout();
            print_check(&mut stdout.lock(), &file, &report, format)?;
            Ok(if report.has_errors() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        GedcomCommand::Convert {
            input,
            output,
            to,
            encoding,
            crlf,
        } => {
            let summary = convert(
                &input,
                &output,
                to.into(),
                reader_options(encoding.as_deref())?,
                crlf,
            )?;
            let mut err = io::stderr().lock();
            for d in summary.diagnostics.iter().take(20) {
                writeln!(err, "{}: {d}", input.display())?;
            }
            if summary.diagnostics.len() > 20 {
                writeln!(
                    err,
                    "... and {} more; `dzinza gedcom check` lists them all",
                    summary.diagnostics.len() - 20
                )?;
            }
            writeln!(
                err,
                "converted {} records to GEDCOM {}",
                summary.records,
                Version::from(to)
            )?;
            Ok(ExitCode::SUCCESS)
        }
        GedcomCommand::Stats { file, format } => {
            let stats = stats(&file)?;
            let stdout = io::stdout();
            print_stats(&mut stdout.lock(), &stats, format)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn reader_options(encoding: Option<&str>) -> anyhow::Result<ReaderOptions> {
    let encoding = match encoding {
        None => None,
        Some(name) => Some(Encoding::from_char_value(name).with_context(|| {
            format!("unknown character set {name:?} (try UTF-8, ANSEL, ANSI, UNICODE)")
        })?),
    };
    Ok(ReaderOptions {
        encoding,
        ..ReaderOptions::default()
    })
}

/// A progress bar over the file's bytes that also shows records per second, drawn only when
/// stderr is a terminal so logs and pipes stay clean.
struct Progress {
    bar: ProgressBar,
    started: Instant,
    records: u64,
}

impl Progress {
    fn new(path: &Path) -> Self {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let bar = if io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Self {
            bar,
            started: Instant::now(),
            records: 0,
        }
    }

    fn record(&mut self, bytes: u64) {
        self.records += 1;
        // Redrawing per record would cost more than parsing it.
        if self.records.is_multiple_of(4096) {
            let secs = self.started.elapsed().as_secs_f64().max(1e-3);
            self.bar.set_position(bytes);
            self.bar.set_message(format!(
                "{} records, {:.0} records/s",
                self.records,
                self.records as f64 / secs
            ));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn open(path: &Path) -> anyhow::Result<io::BufReader<File>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(io::BufReader::with_capacity(1 << 16, f))
}

/// Validates a file.
fn check(path: &Path, options: ReaderOptions) -> anyhow::Result<Report> {
    let mut progress = Progress::new(path);
    let report = validate::check(open(path)?, options, |bytes| progress.record(bytes))
        .with_context(|| format!("reading {}", path.display()))?;
    progress.finish();
    Ok(report)
}

fn print_check(
    out: &mut impl Write,
    path: &Path,
    report: &Report,
    format: OutputFormat,
) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    for d in &report.diagnostics {
        match d.line {
            Some(line) => writeln!(
                out,
                "{}:{line}: {}[{}]: {}",
                path.display(),
                d.severity,
                d.code,
                d.message
            )?,
            None => writeln!(
                out,
                "{}: {}[{}]: {}",
                path.display(),
                d.severity,
                d.code,
                d.message
            )?,
        }
    }
    writeln!(out, "encoding: {}", report.encoding)?;
    if let Some(v) = report.version {
        writeln!(out, "version rules: {v}")?;
    }
    writeln!(out, "records:")?;
    for (tag, n) in &report.counts {
        writeln!(out, "  {tag:<8} {n}")?;
    }
    let verdict = if report.has_errors() { "FAILED" } else { "ok" };
    writeln!(
        out,
        "{verdict}: {} error(s), {} warning(s), {} note(s)",
        report.errors, report.warnings, report.infos
    )?;
    Ok(())
}

/// What `convert` did.
struct ConvertSummary {
    records: u64,
    diagnostics: Vec<dzinza_gedcom::Diagnostic>,
}

/// Streams records from `input` to `output` in `version`; memory stays flat for any size.
fn convert(
    input: &Path,
    output: &Path,
    version: Version,
    options: ReaderOptions,
    crlf: bool,
) -> anyhow::Result<ConvertSummary> {
    let sink: Box<dyn Write> = if output == Path::new("-") {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(output).with_context(|| format!("creating {}", output.display()))?)
    };
    let write_options = WriteOptions {
        version,
        line_ending: if crlf {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        },
        ..WriteOptions::default()
    };
    let mut writer = GedcomWriter::new(sink, write_options);
    if version == Version::V551 {
        // 5.5.1 needs an xref on every record; a first pass learns the ids in use so that
        // allocated ones cannot collide with ids defined later in the file.
        let mut reader = GedcomReader::with_options(open(input)?, options.clone())?;
        while let Some(node) = reader.next_node()? {
            if let Some(x) = node.xref.clone() {
                writer.reserve_xrefs([x]);
            }
        }
    }
    let mut reader = GedcomReader::with_options(open(input)?, options)?;
    let mut progress = Progress::new(input);
    let mut diagnostics = Vec::new();
    let mut records = 0;
    let mut wrote_header = false;
    while let Some(record) = reader
        .next_record()
        .with_context(|| format!("reading {}", input.display()))?
    {
        diagnostics.append(&mut reader.take_diagnostics());
        match record {
            Record::Header(h) if !wrote_header => writer.write_header(&h)?,
            other => {
                if !wrote_header {
                    writer.write_header(&Default::default())?;
                }
                writer.write_record(&other)?;
            }
        }
        wrote_header = true;
        records += 1;
        progress.record(reader.bytes_read());
    }
    if !wrote_header {
        writer.write_header(&Default::default())?;
    }
    diagnostics.append(&mut reader.take_diagnostics());
    writer
        .finish()
        .with_context(|| format!("writing {}", output.display()))?
        .flush()?;
    progress.finish();
    Ok(ConvertSummary {
        records,
        diagnostics,
    })
}

/// The summary `stats` prints.
#[derive(Debug, Default, Serialize)]
struct Stats {
    records: BTreeMap<String, u64>,
    individuals: u64,
    families: u64,
    sex: BTreeMap<String, u64>,
    events: BTreeMap<String, u64>,
    distinct_surnames: usize,
    individuals_without_birth_date: u64,
    earliest_date: Option<String>,
    latest_date: Option<String>,
    invalid_dates: u64,
    errors: usize,
    warnings: usize,
}

fn stats(path: &Path) -> anyhow::Result<Stats> {
    let mut reader = GedcomReader::new(open(path)?)?;
    let mut progress = Progress::new(path);
    let mut s = Stats::default();
    let mut surnames = BTreeSet::new();
    let mut earliest: Option<GenDate> = None;
    let mut latest: Option<GenDate> = None;
    let mut dates = |d: &GenDate, s: &mut Stats| {
        if !d.is_valid() {
            s.invalid_dates += 1;
        }
        if d.sort_key().is_none() {
            return;
        }
        if earliest.as_ref().is_none_or(|e| d < e) {
            earliest = Some(d.clone());
        }
        if latest.as_ref().is_none_or(|l| d > l) {
            latest = Some(d.clone());
        }
    };
    let count_severity = |ds: Vec<dzinza_gedcom::Diagnostic>, s: &mut Stats| {
        for d in ds {
            match d.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Info => {}
            }
        }
    };
    while let Some(record) = reader.next_record()? {
        count_severity(reader.take_diagnostics(), &mut s);
        *s.records.entry(record.tag().to_owned()).or_insert(0) += 1;
        match &record {
            Record::Individual(i) => {
                s.individuals += 1;
                *s.sex
                    .entry(i.sex.clone().unwrap_or_else(|| "unknown".into()))
                    .or_insert(0) += 1;
                for n in &i.names {
                    if let Some(surname) = n.surname() {
                        surnames.insert(surname.to_lowercase());
                    }
                }
                if i.event("BIRT").and_then(|e| e.date.as_ref()).is_none() {
                    s.individuals_without_birth_date += 1;
                }
                for e in &i.events {
                    *s.events.entry(e.tag.to_string()).or_insert(0) += 1;
                    if let Some(d) = &e.date {
                        dates(&d.date, &mut s);
                    }
                }
            }
            Record::Family(f) => {
                s.families += 1;
                for e in &f.events {
                    *s.events.entry(e.tag.to_string()).or_insert(0) += 1;
                    if let Some(d) = &e.date {
                        dates(&d.date, &mut s);
                    }
                }
            }
            _ => {}
        }
        progress.record(reader.bytes_read());
    }
    count_severity(reader.take_diagnostics(), &mut s);
    progress.finish();
    s.distinct_surnames = surnames.len();
    s.earliest_date = earliest.map(|d| d.original);
    s.latest_date = latest.map(|d| d.original);
    Ok(s)
}

fn print_stats(out: &mut impl Write, s: &Stats, format: OutputFormat) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut *out, s)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "individuals: {}", s.individuals)?;
    writeln!(out, "families:    {}", s.families)?;
    writeln!(out, "surnames:    {} distinct", s.distinct_surnames)?;
    writeln!(out, "no birth date: {}", s.individuals_without_birth_date)?;
    if let (Some(a), Some(b)) = (&s.earliest_date, &s.latest_date) {
        writeln!(
            out,
            "dates:       {a} .. {b} ({} not understood)",
            s.invalid_dates
        )?;
    }
    writeln!(out, "sex:")?;
    for (k, n) in &s.sex {
        writeln!(out, "  {k:<8} {n}")?;
    }
    writeln!(out, "records:")?;
    for (k, n) in &s.records {
        writeln!(out, "  {k:<8} {n}")?;
    }
    writeln!(out, "events:")?;
    for (k, n) in &s.events {
        writeln!(out, "  {k:<8} {n}")?;
    }
    writeln!(
        out,
        "diagnostics: {} error(s), {} warning(s)",
        s.errors, s.warnings
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A file under the system temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn with(contents: &[u8]) -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("dzinza-gedcom-cli-{}-{n}.ged", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    const GOOD: &[u8] = b"0 HEAD\n1 GEDC\n2 VERS 5.5.1\n2 FORM LINEAGE-LINKED\n1 CHAR UTF-8\n\
0 @I1@ INDI\n1 NAME Jan /Kowalski/\n1 SEX M\n1 BIRT\n2 DATE 1 JAN 1900\n1 FAMS @F1@\n\
0 @I2@ INDI\n1 NAME Anna /Nowak/\n1 SEX F\n1 FAMS @F1@\n\
0 @F1@ FAM\n1 HUSB @I1@\n1 WIFE @I2@\n1 MARR\n2 DATE ABT 1925\n\
0 @N1@ NOTE A shared note with an email a@@b.org\n0 TRLR\n";

    #[test]
    fn check_passes_a_good_file_and_counts_records() {
        let f = TempFile::with(GOOD);
        let report = check(&f.0, ReaderOptions::default()).unwrap();
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        assert_eq!(report.counts.get("INDI"), Some(&2));
        assert_eq!(report.counts.get("FAM"), Some(&1));
        assert_eq!(report.counts.get("NOTE"), Some(&1));
        let code = run(GedcomCommand::Check {
            file: f.0.clone(),
            format: OutputFormat::Json,
            encoding: None,
        })
        .unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
    }

    #[test]
    fn check_fails_on_dangling_pointers_with_line_numbers() {
        let bad = b"0 HEAD\n1 GEDC\n2 VERS 5.5.1\n0 @I1@ INDI\n1 FAMC @F9@\n0 TRLR\n";
        let f = TempFile::with(bad);
        let report = check(&f.0, ReaderOptions::default()).unwrap();
        assert!(report.has_errors());
        let dangling = report
            .diagnostics
            .iter()
            .find(|d| d.code == "dangling-pointer")
            .unwrap();
        assert_eq!(dangling.line, Some(5));
        let mut text = Vec::new();
        print_check(&mut text, &f.0, &report, OutputFormat::Text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains(":5: error[dangling-pointer]"), "{text}");
        assert!(text.contains("FAILED: 1 error(s)"), "{text}");
        let code = run(GedcomCommand::Check {
            file: f.0.clone(),
            format: OutputFormat::Text,
            encoding: None,
        })
        .unwrap();
        assert_eq!(code, ExitCode::FAILURE);
    }

    #[test]
    fn check_json_is_machine_readable() {
        let f = TempFile::with(
            b"0 HEAD\n1 GEDC\n2 VERS 5.5.1\n0 @I1@ INDI\n1 BIRT\n2 DATE 31 FEB 1900\n",
        );
        let report = check(&f.0, ReaderOptions::default()).unwrap();
        let mut json = Vec::new();
        print_check(&mut json, &f.0, &report, OutputFormat::Json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let codes: Vec<&str> = v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["code"].as_str())
            .collect();
        assert!(codes.contains(&"invalid-date"), "{codes:?}");
        assert!(codes.contains(&"missing-trailer"), "{codes:?}");
        assert_eq!(v["counts"]["INDI"], 1);
    }

    #[test]
    fn convert_551_to_70_and_back_keeps_people_and_links() {
        let input = TempFile::with(GOOD);
        let seven = TempFile::with(b"");
        let back = TempFile::with(b"");
        convert(
            &input.0,
            &seven.0,
            Version::V70,
            ReaderOptions::default(),
            false,
        )
        .unwrap();
        let text = std::fs::read_to_string(&seven.0).unwrap();
        assert!(text.contains("2 VERS 7.0"), "{text}");
        assert!(
            text.contains("0 @N1@ SNOTE A shared note with an email a@b.org"),
            "{text}"
        );
        assert!(!text.contains("CHAR"), "{text}");
        convert(
            &seven.0,
            &back.0,
            Version::V551,
            ReaderOptions::default(),
            true,
        )
        .unwrap();
        let (original, _) = dzinza_gedcom::read_gedcom(GOOD).unwrap();
        let (round, _) = dzinza_gedcom::read_gedcom(File::open(&back.0).unwrap()).unwrap();
        assert_eq!(round.records, original.records);
        assert!(
            std::fs::read_to_string(&back.0)
                .unwrap()
                .contains("a@@b.org\r\n")
        );
    }

    #[test]
    fn stats_summarise_people_and_dates() {
        let f = TempFile::with(GOOD);
        let s = stats(&f.0).unwrap();
        assert_eq!((s.individuals, s.families, s.distinct_surnames), (2, 1, 2));
        assert_eq!(s.earliest_date.as_deref(), Some("1 JAN 1900"));
        assert_eq!(s.latest_date.as_deref(), Some("ABT 1925"));
        assert_eq!(s.individuals_without_birth_date, 1);
        assert_eq!(s.events.get("MARR"), Some(&1));
    }

    #[test]
    fn unknown_encoding_names_are_rejected() {
        assert!(reader_options(Some("KLINGON")).is_err());
        assert_eq!(
            reader_options(Some("ansel")).unwrap().encoding,
            Some(Encoding::Ansel)
        );
    }
}
