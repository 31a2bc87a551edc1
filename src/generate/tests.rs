//! Generator tests. The dirty-mode check re-reads the output with a small reader written
//! from the contract alone (chrono for times, serde_json for JSON, its own CSV splitter
//! and decimal arithmetic), so a shared bug with the ingest code cannot hide.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate};
use serde_json::value::RawValue;

use super::*;

fn args(dir: &Path, scale: f64) -> GenerateArgs {
    GenerateArgs {
        day: NaiveDate::from_ymd_opt(2019, 11, 11).expect("date"),
        scale,
        year_over_year: None,
        seed: 11,
        out: Some(dir.to_path_buf()),
        stdout: false,
        format: GenFormat::Csv,
        compress: GenCompression::None,
        files: 1,
        dirty: 0.0,
        truth: None,
        fx_rates_out: None,
        force: false,
    }
}

fn read(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).expect("read output");
    let name = path.to_string_lossy();
    if name.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else if name.ends_with(".zst") {
        zstd::decode_all(&raw[..]).expect("unzstd")
    } else {
        raw
    }
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let mut x = args(a.path(), 0.00001);
    x.files = 2;
    x.compress = GenCompression::Zst;
    x.dirty = 0.03;
    x.year_over_year = NaiveDate::from_ymd_opt(2018, 11, 11);
    let ra = run(&x).expect("first run");
    x.out = Some(b.path().to_path_buf());
    let rb = run(&x).expect("second run");
    assert_eq!(ra.files.len(), 4);
    assert_eq!(ra.truth, rb.truth);
    for (fa, fb) in ra.files.iter().zip(&rb.files) {
        assert_eq!(fa.file_name(), fb.file_name());
        assert_eq!(
            std::fs::read(fa).unwrap(),
            std::fs::read(fb).unwrap(),
            "{fa:?}"
        );
    }
    for name in ["_fx_rates.csv", "truth.json"] {
        assert_eq!(
            std::fs::read(a.path().join(name)).unwrap(),
            std::fs::read(b.path().join(name)).unwrap()
        );
    }
    assert_eq!(
        ra.files[0].file_name().unwrap().to_string_lossy(),
        "2018-11-11-0001.csv.zst"
    );
    // Existing files are not overwritten without --force.
    x.out = Some(a.path().to_path_buf());
    assert!(matches!(run(&x), Err(Error::Exists(_))));
    // Another seed, other bytes, the same totals.
    x.out = Some(c.path().to_path_buf());
    x.seed = 12;
    let rc = run(&x).expect("third run");
    assert_ne!(read(&ra.files[2]), read(&rc.files[2]));
    assert_eq!(
        ra.truth.days["2019-11-11"].orders,
        rc.truth.days["2019-11-11"].orders
    );
}

/// Lines are drawn on one thread and rendered on several: the bytes must not depend on how
/// many, nor on which worker rendered a block (many blocks per file here, every line kind).
#[test]
fn rendering_on_more_cores_gives_the_same_bytes() {
    for format in [GenFormat::Csv, GenFormat::Ndjson] {
        let (a, b) = (
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
        );
        let mut x = args(a.path(), 0.0003);
        x.format = format;
        x.files = 3;
        x.dirty = 0.05;
        let one = super::run_with(&x, 1).expect("one worker");
        x.out = Some(b.path().to_path_buf());
        let four = super::run_with(&x, 4).expect("four workers");
        assert_eq!(one.truth, four.truth);
        assert!(
            one.rows > 20 * super::pipeline::BLOCK as u64,
            "{} rows: too few blocks to interleave",
            one.rows
        );
        assert_eq!(one.files.len(), 3);
        for (fa, fb) in one.files.iter().zip(&four.files) {
            assert_eq!(read(fa), read(fb), "{fa:?}");
        }
    }
}

#[test]
fn a_clean_day_hits_its_totals() {
    let dir = tempfile::tempdir().expect("tmp");
    let report = run(&args(dir.path(), 0.00002)).expect("run");
    let t = &report.truth;
    let day = &t.days["2019-11-11"];
    assert_eq!(day.orders, 26_000);
    let target = 268.4e9 * 0.00002 * 100.0;
    let off = (day.gmv_fen as f64 - target).abs() / target;
    assert!(off < 0.02, "GMV {} is {off} off its target", day.gmv);
    assert_eq!(day.peak_second.as_deref(), Some("2019-11-11T00:00:20"));
    assert_eq!(day.peak_orders, 11);
    assert_eq!(t.days.len(), 1, "clean mode stays inside the day");
    assert_eq!((t.duplicates, t.rejected), (0, 0));
    assert_eq!(t.records, t.accepted);
    assert_eq!(report.rows, t.records);
    let refunds = day.refund_events as f64 / t.records as f64;
    assert!((0.01..0.03).contains(&refunds), "refund share {refunds}");
    assert!(day.refunds_fen > 0 && day.refunds_fen < day.gmv_fen / 10);

    let text = String::from_utf8(read(&report.files[0])).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], crate::schema::INPUT_FIELDS.join(","));
    let foreign = ["USD", "EUR", "JPY", "KRW", "HKD"]
        .iter()
        .map(|c| text.matches(&format!(",{c},")).count())
        .sum::<usize>() as f64
        / t.records as f64;
    assert!((0.015..0.05).contains(&foreign), "foreign share {foreign}");
    let cst = lines.iter().filter(|l| l.contains("+08:00,")).count() as f64 / t.records as f64;
    assert!((0.75..0.95).contains(&cst), "CST offsets {cst}");
    assert!(text.contains("Z,") && text.contains("-05:00,"));
    assert!(text.contains("\"Shoes, Bags\"") && text.contains("女装"));
    assert!(text.contains(",mobile,") && text.contains(",pc,"));

    let rates = std::fs::read_to_string(dir.path().join("_fx_rates.csv")).expect("rates");
    assert!(rates.starts_with("currency,date,cny_per_unit\n"));
    for day in ["2019-11-10", "2019-11-11", "2019-11-12"] {
        assert!(rates.contains(&format!("KRW,{day},")), "{rates}");
    }
    let again: Truth =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).unwrap()).unwrap();
    assert_eq!(&again, t);
    let check = Tally::of(&report.files, &dir.path().join("_fx_rates.csv"), false);
    check.assert_matches(t);
}

#[test]
fn dirty_csv_counts_match_an_independent_reader() {
    dirty_round_trip(GenFormat::Csv, GenCompression::None);
}

#[test]
fn dirty_ndjson_counts_match_an_independent_reader() {
    dirty_round_trip(GenFormat::Ndjson, GenCompression::Gz);
}

fn dirty_round_trip(format: GenFormat, compress: GenCompression) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = args(dir.path(), 0.00001);
    a.format = format;
    a.compress = compress;
    a.files = 3;
    a.dirty = 0.05;
    a.year_over_year = NaiveDate::from_ymd_opt(2018, 11, 11);
    let report = run(&a).expect("run");
    let t = &report.truth;
    assert_eq!(t.records, t.accepted + t.duplicates + t.rejected);
    assert!(t.duplicates > 0);
    let json = format == GenFormat::Ndjson;
    for kind in [
        if json {
            "invalid_json"
        } else {
            "csv_field_count"
        },
        "missing_field",
        "bad_time",
        "bad_amount",
        "bad_event_type",
        "unknown_currency",
        "bad_field",
    ] {
        assert!(
            t.rejects_by_kind.get(kind).copied().unwrap_or(0) > 0,
            "{kind}: {t:?}"
        );
    }
    assert_eq!(t.rejects_by_kind.len(), 7);
    for d in ["2018-11-10", "2018-11-12", "2019-11-10", "2019-11-12"] {
        assert!(
            t.days.contains_key(d),
            "no events just outside the day on {d}"
        );
    }
    assert_eq!(t.days["2019-11-11"].orders, 13_000);
    assert_eq!(
        t.days["2018-11-11"].orders,
        (13_000.0f64 * 213.5 / 268.4).round() as u64
    );
    let check = Tally::of(&report.files, &dir.path().join("_fx_rates.csv"), json);
    check.assert_matches(t);
}

/// What a reader of the contract makes of the files.
#[derive(Debug, Default)]
struct Tally {
    records: u64,
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    kinds: BTreeMap<String, u64>,
    days: BTreeMap<String, DayTally>,
}

#[derive(Debug, Default)]
struct DayTally {
    orders: u64,
    gmv: i64,
    refunds: i64,
    refund_events: u64,
    seconds: HashMap<i64, u64>,
}

/// A field value: its text, and whether it was a bare JSON number.
struct Val {
    text: String,
    number: bool,
}

impl Tally {
    fn of(files: &[PathBuf], rates: &Path, json: bool) -> Tally {
        let rates = read_rates(rates);
        let mut t = Tally::default();
        let mut seen = HashSet::new();
        for f in files {
            let text = String::from_utf8(read(f)).expect("UTF-8");
            let records: Vec<Result<HashMap<String, Val>, &'static str>> = if json {
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(json_record)
                    .collect()
            } else {
                let mut rows = split_csv(&text).into_iter();
                let header = rows.next().expect("header");
                rows.map(|row| {
                    if row.len() != header.len() {
                        return Err("csv_field_count");
                    }
                    Ok(header
                        .iter()
                        .zip(row)
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                Val {
                                    text: v,
                                    number: false,
                                },
                            )
                        })
                        .collect())
                })
                .collect()
            };
            for r in records {
                t.records += 1;
                match r.and_then(|fields| judge(&fields, &rates, json)) {
                    Err(kind) => {
                        t.rejected += 1;
                        *t.kinds.entry(kind.to_string()).or_default() += 1;
                    }
                    Ok((id, ms, paid, cny)) => {
                        if !seen.insert(id) {
                            t.duplicates += 1;
                            continue;
                        }
                        t.accepted += 1;
                        let local = ms + 8 * 3_600_000;
                        let date = DateTime::from_timestamp_millis(local)
                            .expect("time")
                            .date_naive()
                            .to_string();
                        let day = t.days.entry(date).or_default();
                        if paid {
                            day.orders += 1;
                            day.gmv += cny;
                            *day.seconds.entry(local.div_euclid(1000)).or_default() += 1;
                        } else {
                            day.refunds += cny;
                            day.refund_events += 1;
                        }
                    }
                }
            }
        }
        t
    }

    fn assert_matches(&self, truth: &Truth) {
        assert_eq!(
            (self.records, self.accepted, self.duplicates, self.rejected),
            (
                truth.records,
                truth.accepted,
                truth.duplicates,
                truth.rejected
            )
        );
        assert_eq!(self.kinds, truth.rejects_by_kind);
        assert_eq!(
            self.days.keys().collect::<Vec<_>>(),
            truth.days.keys().collect::<Vec<_>>()
        );
        for (date, d) in &self.days {
            let want = &truth.days[date];
            let peak = d
                .seconds
                .iter()
                .map(|(&s, &n)| (n, std::cmp::Reverse(s)))
                .max()
                .map(|(n, std::cmp::Reverse(s))| {
                    let t = DateTime::from_timestamp(s, 0).expect("second");
                    (t.format("%Y-%m-%dT%H:%M:%S").to_string(), n)
                });
            assert_eq!(
                (d.orders, d.gmv, d.refunds, d.refund_events),
                (
                    want.orders,
                    want.gmv_fen,
                    want.refunds_fen,
                    want.refund_events
                ),
                "{date}"
            );
            assert_eq!(
                peak,
                want.peak_second.clone().map(|s| (s, want.peak_orders)),
                "{date}"
            );
        }
    }
}

fn read_rates(path: &Path) -> HashMap<(String, String), i64> {
    let text = std::fs::read_to_string(path).expect("rates");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("currency,date,cny_per_unit"));
    lines
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            let (int, frac) = v[2].split_once('.').unwrap_or((v[2], ""));
            assert!(frac.len() <= 6, "{l}");
            let units = format!("{int}{frac:0<6}").parse::<i64>().expect("rate");
            ((v[0].to_string(), v[1].to_string()), units)
        })
        .collect()
}

fn split_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else {
            match c {
                '"' => quoted = true,
                ',' => row.push(std::mem::take(&mut field)),
                '\n' => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                _ => field.push(c),
            }
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn json_record(line: &str) -> Result<HashMap<String, Val>, &'static str> {
    let map: HashMap<String, Box<RawValue>> =
        serde_json::from_str(line).map_err(|_| "invalid_json")?;
    let mut out = HashMap::new();
    for (k, v) in map {
        let raw = v.get();
        if raw == "null" {
            continue;
        }
        let val = if raw.starts_with('"') {
            let s: String = serde_json::from_str(raw).map_err(|_| "invalid_json")?;
            if s.is_empty() {
                continue;
            }
            Val {
                text: s,
                number: false,
            }
        } else {
            Val {
                text: raw.to_string(),
                number: true,
            }
        };
        out.insert(k, val);
    }
    Ok(out)
}

/// Applies the contract to one record: `(event_id, instant ms, paid?, amount_cny fen)`.
fn judge(
    f: &HashMap<String, Val>,
    rates: &HashMap<(String, String), i64>,
    json: bool,
) -> Result<(String, i64, bool, i64), &'static str> {
    for name in [
        "event_id",
        "event_time",
        "event_type",
        "order_id",
        "platform",
        "amount",
    ] {
        if !f.contains_key(name) {
            return Err("missing_field");
        }
    }
    let text = |name: &str| f.get(name).filter(|v| !v.number).map(|v| v.text.as_str());
    let id = text("event_id").ok_or("bad_field")?;
    if id.chars().count() > 64 {
        return Err("bad_field");
    }
    let time = &f["event_time"];
    let ms = if time.number {
        if !json {
            return Err("bad_time");
        }
        time.text.parse::<i64>().map_err(|_| "bad_time")?
    } else {
        if time.text.as_bytes().get(10) != Some(&b'T') {
            return Err("bad_time");
        }
        DateTime::parse_from_rfc3339(&time.text)
            .map_err(|_| "bad_time")?
            .timestamp_millis()
    };
    let paid = match text("event_type") {
        Some("paid") => true,
        Some("refunded") => false,
        _ => return Err("bad_event_type"),
    };
    let order = text("order_id").ok_or("bad_field")?;
    if order.chars().count() > 64 {
        return Err("bad_field");
    }
    text("platform").ok_or("bad_field")?;
    let amount = &f["amount"].text;
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (amount.contains('.') && !digits(frac)) || frac.len() > 2 || int.len() > 9 {
        return Err("bad_amount");
    }
    let fen = format!("{int}{frac:0<2}")
        .parse::<i64>()
        .map_err(|_| "bad_amount")?;
    if fen <= 0 || fen >= 1_000_000_000 {
        return Err("bad_amount");
    }
    let date = DateTime::from_timestamp_millis(ms + 8 * 3_600_000)
        .ok_or("bad_time")?
        .date_naive()
        .to_string();
    let cny = match f.get("currency").map(|v| v.text.as_str()) {
        None | Some("CNY") => fen,
        Some(code) => {
            let rate = rates
                .get(&(code.to_string(), date))
                .ok_or("unknown_currency")?;
            (fen * rate + 500_000) / 1_000_000
        }
    };
    for name in ["buyer_id", "seller_id", "quantity"] {
        if let Some(v) = f.get(name) {
            let n = v.text.parse::<i64>().map_err(|_| "bad_field")?;
            if name == "quantity" && n < 1 {
                return Err("bad_field");
            }
        }
    }
    Ok((id.to_string(), ms, paid, cny))
}

/// `cargo test --lib generate_speed -- --ignored --nocapture` prints rows per second.
#[test]
#[ignore]
fn generate_speed() {
    let dir = tempfile::tempdir().expect("tmp");
    let start = std::time::Instant::now();
    let report = run(&args(dir.path(), 0.001)).expect("run");
    let secs = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&report.files[0]).unwrap().len();
    println!(
        "{} rows in {secs:.2} s: {:.0} rows/s, {:.0} MB/s",
        report.rows,
        report.rows as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}
