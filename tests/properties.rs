//! Property-based fuzzing on the stable toolchain (proptest): the parsers that read what log
//! shippers, users and attackers hand in, checked on generated inputs against independent
//! computations, and for never panicking on anything.
//!
//! - the CSV record splitter: records of chunks cut by `last_record_end` ([`SliceRecords`])
//!   equal the records streamed by [`CsvRecords`], for any text of the bytes that matter;
//! - the NDJSON line parser: never panics on any string or JSON value, reads the contract's
//!   keys as the mapping-aware parser does, and a valid event round-trips its fields;
//! - the RFC 3339 parser against chrono's, and never panicking;
//! - the amount parser against an independent computation, and never panicking;
//! - the job file loader: never panics, and every error names the file and a line.
//!
//! `cargo test` runs each property once, 256 cases from a fixed seed (`PROPTEST_CASES` and
//! `PROPTEST_RNG_SEED` override them). `bench/fuzz.sh MINUTES` runs the ignored
//! `fuzz_for_a_while` test, which runs each property for that long on fresh seeds and reports
//! cases, cases per second and failures. A failure found that way becomes a named test at the
//! end of this file.

use std::borrow::Cow;
use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use double11::cst::parse_rfc3339_ms;
use double11::ingest::csv_records::{last_record_end, CsvRecords, SliceRecords};
use double11::ingest::fx::FxRates;
use double11::ingest::ndjson_records::{parse_line, parse_line_with_keys};
use double11::ingest::validate::{validate, EventType, RejectKind};
use double11::jobs::config::Job;
use double11::money::{parse_amount_fen, DecimalError};
use double11::schema::INPUT_FIELDS;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// The seed of the suite's short run (11.11 of 2019).
const SEED: u64 = 20_191_111;

/// A property: runs its cases on the runner; the error names the minimal failing input.
type Property = fn(&mut TestRunner) -> Result<(), String>;

const PROPERTIES: [(&str, Property); 9] = [
    (
        "csv_chunks_read_like_one_stream",
        csv_chunks_read_like_one_stream,
    ),
    ("ndjson_never_panics", ndjson_never_panics),
    (
        "ndjson_valid_events_round_trip",
        ndjson_valid_events_round_trip,
    ),
    ("times_agree_with_chrono", times_agree_with_chrono),
    ("times_never_panic", times_never_panic),
    ("amounts_are_exact", amounts_are_exact),
    ("amounts_never_panic", amounts_never_panic),
    ("job_files_never_panic", job_files_never_panic),
    ("epoch_ms_numbers_are_exact", epoch_ms_numbers_are_exact),
];

/// The suite's configuration: 256 cases from [`SEED`], unless the environment says otherwise.
fn suite_config() -> Config {
    let mut config = Config::default(); // reads PROPTEST_CASES and PROPTEST_RNG_SEED
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    config.failure_persistence = None;
    config
}

fn run_in_suite(property: Property) {
    let mut runner = TestRunner::new(suite_config());
    if let Err(e) = property(&mut runner) {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// The CSV record splitter
// ---------------------------------------------------------------------------------------------

/// A record: its 1-based line, its raw text and its unquoted fields.
type Rec = (u64, Vec<u8>, Vec<Vec<u8>>);

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// The records of `text` read in chunks as ingest cuts them (`want` bytes, or more up to the
/// last record boundary), with lines counted on across chunks (as the unit test of
/// `csv_records.rs` does).
fn chunked_records(text: &[u8], want: usize) -> Vec<Rec> {
    let (mut out, mut pos, mut lines_before) = (Vec::new(), 0, 0);
    let (mut fields, mut ends) = (Vec::new(), Vec::new());
    while pos < text.len() {
        let mut size = want.min(text.len() - pos);
        let end = loop {
            if pos + size >= text.len() {
                break text.len();
            }
            if let Some(end) = last_record_end(&text[pos..pos + size]) {
                assert!(
                    end <= size && text[pos + end - 1] == b'\n',
                    "a record end just after a newline"
                );
                break pos + end;
            }
            size = (size * 2).min(text.len() - pos);
        };
        let chunk = &text[pos..end];
        let mut r = SliceRecords::new(chunk, fields, ends);
        while r.advance() {
            let f = (0..r.field_count())
                .map(|i| r.field_bytes()[r.field_range(i)].to_vec())
                .collect();
            out.push((lines_before + r.line(), r.raw().to_vec(), f));
        }
        assert_eq!(r.newlines(), newlines(chunk), "newlines of the chunk");
        (fields, ends) = r.into_buffers();
        lines_before += newlines(chunk);
        pos = end;
    }
    out
}

/// The records of `text` streamed as the continuation of a file: after a header line, so a
/// leading byte-order mark is data (chunks after the first never strip one either).
fn streamed_records(text: &[u8], buffer: usize) -> Vec<Rec> {
    let mut input = b"h\n".to_vec();
    input.extend_from_slice(text);
    let mut r = CsvRecords::new(BufReader::with_capacity(buffer, &input[..]));
    assert!(r.advance().expect("in-memory read") && r.raw() == b"h");
    let mut out = Vec::new();
    while r.advance().expect("in-memory read") {
        let f = (0..r.field_count()).map(|i| r.field(i).to_vec()).collect();
        out.push((r.line() - 1, r.raw().to_vec(), f));
    }
    out
}

fn csv_chunks_read_like_one_stream(runner: &mut TestRunner) -> Result<(), String> {
    let alphabet = b"a,\"\n\r \xEF\xBB\xBF".to_vec();
    let text = prop::collection::vec(prop::sample::select(alphabet), 0..96);
    runner
        .run(
            &(text, 1usize..=100, 1usize..=17),
            |(text, chunk, buffer)| {
                let want = streamed_records(&text, buffer);
                let got = chunked_records(&text, chunk);
                prop_assert_eq!(got, want, "{:?} in chunks of {}", text, chunk);
                Ok(())
            },
        )
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// NDJSON lines
// ---------------------------------------------------------------------------------------------

/// JSON number texts (and near-numbers) that break naive readers.
const NASTY_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "1E+999999999999",
    "18446744073709551616",
    "18446744073709551615",
    "340282366920938463463374607431768211457",
    "9007199254740993",
    "-9223372036854775809",
    "-0",
    "0.0000001",
    "1.",
    "01",
    ".5",
    "-",
    "1e",
    "+1",
    "12.10",
    "9999999.99",
    "10000000",
    "0.001",
    "1573401601234",
    "NaN",
    "Infinity",
];

/// JSON string texts with escapes, NUL, lone surrogates and controls.
const NASTY_STRINGS: &[&str] = &[
    r#""\u0000""#,
    r#""\ud800""#,
    r#""\udc00\ud800""#,
    r#""\"""#,
    r#""a\nb""#,
    r#""\u00e9\u4e2d""#,
    "\"\0\"",
    "\"\t\"",
    r#""\x""#,
    r#""""#,
    r#""paid""#,
    r#""refunded""#,
    r#""2019-11-11T00:00:00+08:00""#,
    r#""1573401601234""#,
    r#""12.10""#,
    r#""9007199254740993""#,
];

fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>().prop_map(|s| serde_json::to_string(&s).expect("a string serializes")),
        prop::sample::select(NASTY_STRINGS).prop_map(str::to_string),
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(INPUT_FIELDS.to_vec()).prop_map(|k| format!("\"{k}\"")),
        1 => json_string(),
    ]
}

/// Any JSON value as text, nested arrays and objects included, with a few invalid ones.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        prop::sample::select(NASTY_NUMBERS).prop_map(str::to_string),
        json_string(),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((json_key(), inner), 0..8).prop_map(|members| {
                let members: Vec<String> =
                    members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// Valid JSON values only, nested, with the contract's keys inside: what an unknown member of
/// a valid event may hold.
fn valid_json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("-0.5e-3".to_string()),
        any::<String>().prop_map(|s| serde_json::to_string(&s).expect("a string serializes")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((prop::sample::select(INPUT_FIELDS.to_vec()), inner), 0..5)
                .prop_map(|members| {
                    let members: Vec<String> = members
                        .iter()
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
        ]
    })
}

/// A line an NDJSON log might hold: an object of contract keys, any value, nesting far beyond
/// any parser's recursion limit, or any text at all.
fn ndjson_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec((json_key(), json_value()), 0..16).prop_map(|members| {
            let members: Vec<String> = members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("{{{}}}", members.join(","))
        }),
        2 => json_value(),
        1 => (1usize..5000, prop::sample::select(vec!["[", "{\"a\":", "{\"event_id\":["]))
            .prop_map(|(depth, open)| {
                let close = if open == "[" { "]" } else if open == "{\"a\":" { "}" } else { "]}" };
                format!("{{\"event_id\":{}1{}}}", open.repeat(depth), close.repeat(depth))
            }),
        1 => any::<String>(),
        1 => (json_value(), any::<String>(), any::<prop::sample::Index>()).prop_map(|(v, junk, at)| {
            // Junk spliced into a value, at a character boundary.
            let cut = v.char_indices().map(|(i, _)| i).chain([v.len()]).collect::<Vec<_>>();
            let i = cut[at.index(cut.len())];
            format!("{}{junk}{}", &v[..i], &v[i..])
        }),
    ]
}

fn contract_keys() -> [String; 13] {
    INPUT_FIELDS.map(str::to_string)
}

fn ndjson_never_panics(runner: &mut TestRunner) -> Result<(), String> {
    let keys = contract_keys();
    let fx = FxRates::default();
    runner
        .run(&ndjson_line(), |line| {
            let fast = parse_line(&line);
            let mapped = parse_line_with_keys(&line, &keys);
            match (&fast, &mapped) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "both parsers read {}", line),
                (Err(a), Err(b)) => {
                    prop_assert_eq!(a.kind, RejectKind::InvalidJson, "{}", line);
                    prop_assert_eq!(b.kind, RejectKind::InvalidJson, "{}", line);
                }
                _ => {
                    return Err(TestCaseError::fail(format!(
                        "the parsers disagree on {line:?}: {fast:?} vs {mapped:?}"
                    )))
                }
            }
            if let Ok(mut raw) = fast {
                // The contract's rules never panic either, whatever the values.
                let _ = validate(&mut raw, &fx);
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
}

/// How a generated valid event writes its time.
#[derive(Debug, Clone)]
enum TimeText {
    Rfc3339(String),
    EpochMs(i64),
}

/// A valid event and the line that carries it.
#[derive(Debug, Clone)]
struct ValidEvent {
    line: String,
    event_id: String,
    event_time_ms: i64,
    event_type: EventType,
    order_id: String,
    platform: String,
    amount_fen: i64,
    buyer_id: Option<i64>,
    seller_id: Option<i64>,
    category: Option<String>,
    province: Option<String>,
    device: Option<String>,
    quantity: i64,
}

/// An id or name: 1 to 64 characters of any kind.
fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 1..=64).prop_map(|c| c.into_iter().collect()),
        "[a-z0-9_-]{1,20}",
        prop::sample::select(vec!["9007199254740993", "\0", "\"", "\\", "é", "中"])
            .prop_map(str::to_string),
    ]
}

/// An optional 64-bit id, written as a JSON number or a string.
fn id_value() -> impl Strategy<Value = Option<(i64, bool)>> {
    let id = prop_oneof![
        any::<i64>(),
        Just(9_007_199_254_740_993i64),
        Just(i64::MAX),
        Just(i64::MIN),
        0i64..1000,
    ];
    prop::option::of((id, any::<bool>()))
}

/// A valid time: its RFC 3339 text or epoch milliseconds, and the epoch milliseconds.
fn valid_time() -> impl Strategy<Value = (TimeText, i64)> {
    prop_oneof![
        rfc3339_parts().prop_filter_map("a real date", |p| {
            let ms = p.epoch_ms()?;
            Some((TimeText::Rfc3339(p.text()), ms))
        }),
        (-30_610_224_000_000i64..=253_402_300_799_999).prop_map(|ms| (TimeText::EpochMs(ms), ms)),
    ]
}

fn valid_event() -> impl Strategy<Value = ValidEvent> {
    let ids = (id_text(), id_text(), id_text());
    let time = (valid_time(), any::<bool>());
    let amount = (1i64..1_000_000_000, 0usize..3, any::<bool>(), any::<bool>());
    let optional = (
        id_value(),
        id_value(),
        prop::option::of(id_text()),
        prop::option::of(id_text()),
        prop::option::of(id_text()),
        prop::option::of((1i64..=i64::MAX, any::<bool>())),
        prop::option::of(any::<bool>()),
    );
    let extra = prop::collection::vec(("[a-z_]{1,12}", valid_json_value()), 0..3);
    (ids, time, amount, optional, extra, any::<u64>()).prop_map(
        |(
            (event_id, order_id, platform),
            ((time, ms), refunded),
            (fen, fraction_digits, amount_as_number, zero_padded),
            (buyer, seller, category, province, device, quantity, currency),
            extra,
            shuffle,
        )| {
            let string = |s: &str| serde_json::to_string(s).expect("a string serializes");
            let number_or_string = |text: String, number: bool| {
                if number {
                    text
                } else {
                    string(&text)
                }
            };
            // The amount with 0, 1 or 2 fraction digits (as many as it needs at least).
            let needed = if fen % 100 == 0 {
                0
            } else if fen % 10 == 0 {
                1
            } else {
                2
            };
            let digits = fraction_digits.max(needed);
            let amount = match digits {
                0 => format!("{}", fen / 100),
                1 => format!("{}.{}", fen / 100, fen % 100 / 10),
                _ => format!("{}.{:02}", fen / 100, fen % 100),
            };
            let amount = if zero_padded {
                format!("00{amount}")
            } else {
                amount
            };
            let amount = if zero_padded && amount_as_number {
                // JSON numbers have no leading zeros.
                amount.trim_start_matches('0').to_string()
            } else {
                amount
            };
            let amount = if amount.starts_with('.') {
                format!("0{amount}")
            } else {
                amount
            };
            let event_type = if refunded {
                EventType::Refunded
            } else {
                EventType::Paid
            };
            let mut members = vec![
                ("event_id".to_string(), string(&event_id)),
                (
                    "event_time".to_string(),
                    match &time {
                        TimeText::Rfc3339(t) => string(t),
                        TimeText::EpochMs(ms) => ms.to_string(),
                    },
                ),
                ("event_type".to_string(), string(event_type.as_str())),
                ("order_id".to_string(), string(&order_id)),
                ("platform".to_string(), string(&platform)),
                (
                    "amount".to_string(),
                    number_or_string(amount, amount_as_number),
                ),
            ];
            if let Some(explicit) = currency {
                members.push((
                    "currency".to_string(),
                    if explicit {
                        string("CNY")
                    } else {
                        "null".into()
                    },
                ));
            }
            for (key, id) in [("buyer_id", buyer), ("seller_id", seller)] {
                if let Some((id, number)) = id {
                    members.push((key.to_string(), number_or_string(id.to_string(), number)));
                }
            }
            for (key, text) in [
                ("category", &category),
                ("province", &province),
                ("device", &device),
            ] {
                if let Some(text) = text {
                    members.push((key.to_string(), string(text)));
                }
            }
            if let Some((q, number)) = quantity {
                members.push((
                    "quantity".to_string(),
                    number_or_string(q.to_string(), number),
                ));
            }
            for (key, value) in extra {
                if !INPUT_FIELDS.contains(&key.as_str()) {
                    members.push((key, value));
                }
            }
            // Any member order: a small deterministic shuffle.
            let mut s = shuffle;
            for i in (1..members.len()).rev() {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                members.swap(i, (s >> 33) as usize % (i + 1));
            }
            let line = format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", string(k)))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            ValidEvent {
                line,
                event_id,
                event_time_ms: ms,
                event_type,
                order_id,
                platform,
                amount_fen: fen,
                buyer_id: buyer.map(|(id, _)| id),
                seller_id: seller.map(|(id, _)| id),
                category,
                province,
                device,
                quantity: quantity.map_or(1, |(q, _)| q),
            }
        },
    )
}

fn ndjson_valid_events_round_trip(runner: &mut TestRunner) -> Result<(), String> {
    let fx = FxRates::default();
    runner
        .run(&valid_event(), |want| {
            let mut raw = parse_line(&want.line)
                .map_err(|r| TestCaseError::fail(format!("{}: {r:?}", want.line)))?;
            let e = validate(&mut raw, &fx)
                .map_err(|r| TestCaseError::fail(format!("{}: {r:?}", want.line)))?;
            let cow = |c: &Option<Cow<'_, str>>| c.as_ref().map(|s| s.to_string());
            prop_assert_eq!(e.event_id.as_ref(), want.event_id.as_str());
            prop_assert_eq!(e.event_time_ms, want.event_time_ms);
            let cst_day = (want.event_time_ms + 8 * 3_600_000).div_euclid(86_400_000);
            prop_assert_eq!(i64::from(e.day), cst_day);
            prop_assert_eq!(e.event_type, want.event_type);
            prop_assert_eq!(e.order_id.as_ref(), want.order_id.as_str());
            prop_assert_eq!(e.platform.as_ref(), want.platform.as_str());
            prop_assert_eq!(e.amount_fen, want.amount_fen);
            prop_assert_eq!(e.amount_cny_fen, want.amount_fen, "CNY converts at 1");
            prop_assert_eq!(e.currency.as_ref(), "CNY");
            prop_assert_eq!(e.buyer_id, want.buyer_id);
            prop_assert_eq!(e.seller_id, want.seller_id);
            prop_assert_eq!(cow(&e.category), want.category.clone());
            prop_assert_eq!(cow(&e.province), want.province.clone());
            prop_assert_eq!(cow(&e.device), want.device.clone());
            prop_assert_eq!(e.quantity, want.quantity);
            Ok(())
        })
        .map_err(|e| e.to_string())
}

/// Epoch milliseconds as a JSON number: exact inside years 1000 to 9999, a `bad_time` reject
/// outside, whatever the integer.
fn epoch_ms_numbers_are_exact(runner: &mut TestRunner) -> Result<(), String> {
    let fx = FxRates::default();
    let ms = prop_oneof![
        any::<i64>(),
        -30_610_224_000_001i64..=-30_610_223_999_999,
        253_402_300_799_998i64..=253_402_300_800_000,
        -40_000_000_000_000i64..260_000_000_000_000,
    ];
    runner
        .run(&ms, |ms| {
            let line = format!(
                r#"{{"event_id":"e","event_time":{ms},"event_type":"paid","order_id":"o","platform":"p","amount":1}}"#
            );
            let mut raw = parse_line(&line).map_err(|r| TestCaseError::fail(r.reason))?;
            let plausible = (-30_610_224_000_000..=253_402_300_799_999).contains(&ms);
            match validate(&mut raw, &fx) {
                Ok(e) => {
                    prop_assert!(plausible, "{} accepted", ms);
                    prop_assert_eq!(e.event_time_ms, ms);
                }
                Err(r) => {
                    prop_assert!(!plausible, "{} refused: {:?}", ms, r);
                    prop_assert_eq!(r.kind, RejectKind::BadTime);
                }
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// RFC 3339 times
// ---------------------------------------------------------------------------------------------

/// The parts of an RFC 3339 timestamp, some of them out of range on purpose.
#[derive(Debug, Clone)]
struct TimeParts {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    lower_t: bool,
    fraction: String,
    /// `None`: `Z` (or `z` when `lower_t`); else (east, hours, minutes).
    offset: Option<(bool, u32, u32)>,
}

impl TimeParts {
    fn text(&self) -> String {
        let mut t = format!(
            "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            if self.lower_t { 't' } else { 'T' },
            self.hour,
            self.minute,
            self.second
        );
        if !self.fraction.is_empty() {
            t.push('.');
            t.push_str(&self.fraction);
        }
        match self.offset {
            None => t.push(if self.lower_t { 'z' } else { 'Z' }),
            Some((east, h, m)) => {
                t.push_str(&format!("{}{h:02}:{m:02}", if east { '+' } else { '-' }))
            }
        }
        t
    }

    /// Epoch milliseconds computed from the parts (chrono's calendar, our own arithmetic),
    /// `None` for a date or time that does not exist.
    fn epoch_ms(&self) -> Option<i64> {
        let date = NaiveDate::from_ymd_opt(self.year as i32, self.month, self.day)?;
        let time = NaiveTime::from_hms_opt(self.hour, self.minute, self.second)?;
        let secs = NaiveDateTime::new(date, time).and_utc().timestamp();
        let digits = format!("{:0<3}", self.fraction);
        let ms: i64 = digits[..3].parse().ok()?;
        let offset = self.offset.map_or(0, |(east, h, m)| {
            let s = i64::from(h * 3600 + m * 60);
            if east {
                s
            } else {
                -s
            }
        });
        Some((secs - offset) * 1000 + ms)
    }
}

fn rfc3339_parts() -> impl Strategy<Value = TimeParts> {
    (
        (
            prop_oneof![1000u32..=9999, 2018u32..=2020],
            1u32..=12,
            1u32..=31,
        ),
        (0u32..24, 0u32..60, 0u32..60, any::<bool>()),
        "[0-9]{0,9}",
        prop::option::of((any::<bool>(), 0u32..24, 0u32..60)),
    )
        .prop_map(
            |((year, month, day), (hour, minute, second, lower_t), fraction, offset)| TimeParts {
                year,
                month,
                day,
                hour,
                minute,
                second,
                lower_t,
                fraction,
                offset,
            },
        )
}

/// chrono's RFC 3339 reading of `text`, truncated to milliseconds.
fn chrono_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn times_agree_with_chrono(runner: &mut TestRunner) -> Result<(), String> {
    runner
        .run(&rfc3339_parts(), |parts| {
            let text = parts.text();
            let ours = parse_rfc3339_ms(&text).ok();
            prop_assert_eq!(ours, parts.epoch_ms(), "{} by its parts", text);
            prop_assert_eq!(ours, chrono_ms(&text), "{} by chrono", text);
            Ok(())
        })
        .map_err(|e| e.to_string())
}

/// A valid timestamp with characters replaced, inserted or removed; or any text.
fn near_times() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0u8..3,
        prop_oneof![
            prop::sample::select(vec![
                '0', '9', ':', '-', '+', '.', 'T', 'Z', ' ', 'é', '\0', '٣'
            ]),
            any::<char>(),
        ],
    );
    prop_oneof![
        (rfc3339_parts(), prop::collection::vec(edit, 1..4)).prop_map(|(parts, edits)| {
            let mut chars: Vec<char> = parts.text().chars().collect();
            for (at, op, c) in edits {
                let i = at.index(chars.len() + 1);
                match op {
                    0 if i < chars.len() => chars[i] = c,
                    1 => chars.insert(i, c),
                    _ if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ => chars.push(c),
                }
            }
            chars.into_iter().collect()
        }),
        any::<String>(),
        "[0-9tTzZ:.+ -]{0,40}",
    ]
}

fn times_never_panic(runner: &mut TestRunner) -> Result<(), String> {
    runner
        .run(&near_times(), |text| {
            if let Ok(ms) = parse_rfc3339_ms(&text) {
                // Whatever it accepts is RFC 3339, read as chrono reads it.
                prop_assert_eq!(Some(ms), chrono_ms(&text), "{:?}", text);
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Amounts
// ---------------------------------------------------------------------------------------------

/// What the contract says of an amount's text, computed without `money.rs`: `Ok(fen)` for
/// digits with an optional `.` and one or two digits, above 0 and below 10,000,000.
fn amount_oracle(text: &str) -> Result<i64, DecimalError> {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let (whole, fraction) = match text.find('.') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return Err(DecimalError::NotADecimal);
    }
    let fraction = fraction.unwrap_or("");
    if fraction.len() > 2 {
        return Err(DecimalError::TooManyFractionDigits(fraction.len()));
    }
    // Fen as a decimal text, then compared as numbers of any size by length and digits.
    let fen_text = format!("{whole}{fraction:0<2}");
    let fen_text = fen_text.trim_start_matches('0');
    if fen_text.is_empty() {
        return Err(DecimalError::NotPositive);
    }
    if fen_text.len() > 9 {
        return Err(DecimalError::TooLarge); // 10^9 fen is 10,000,000.00
    }
    Ok(fen_text.parse().expect("at most 9 digits"))
}

fn amount_text() -> impl Strategy<Value = String> {
    let junk = prop::sample::select(vec![
        "", "", "", "", "-", "+", " ", "e3", "E-2", "\0", "١", ",", "_", "0x",
    ]);
    (
        junk.clone(),
        "[0-9]{0,20}",
        prop::option::of("[0-9]{0,4}"),
        junk,
    )
        .prop_map(|(before, whole, fraction, after)| match fraction {
            Some(f) => format!("{before}{whole}.{f}{after}"),
            None => format!("{before}{whole}{after}"),
        })
}

fn amounts_are_exact(runner: &mut TestRunner) -> Result<(), String> {
    runner
        .run(&amount_text(), |text| {
            prop_assert_eq!(parse_amount_fen(&text), amount_oracle(&text), "{:?}", text);
            Ok(())
        })
        .map_err(|e| e.to_string())
}

fn amounts_never_panic(runner: &mut TestRunner) -> Result<(), String> {
    let text = prop_oneof![any::<String>(), "[0-9.]{0,30}", "[0-9.eE+ -]{0,12}"];
    runner
        .run(&text, |text| {
            // Accepted exactly when the independent computation accepts, with the same value.
            prop_assert_eq!(
                parse_amount_fen(&text).ok(),
                amount_oracle(&text).ok(),
                "{:?}",
                text
            );
            Ok(())
        })
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Job files
// ---------------------------------------------------------------------------------------------

const JOB_HEADERS: &[&str] = &[
    "[inbox]",
    "[[report]]",
    "[[export]]",
    "[mapping]",
    "[report.params]",
    "[[report.params]]",
    "[export.params]",
    "[inbox",
    "[[report]",
    "[]",
    "[report]",
    "[inbox.paths]",
    "# a comment",
    "",
];

const JOB_KEYS: &[&str] = &[
    "name",
    "warehouse",
    "runs_dir",
    "keep_runs",
    "queries",
    "paths",
    "fx_rates",
    "settle_seconds",
    "rows_per_file",
    "ids_in_memory",
    "id",
    "day",
    "compare",
    "top",
    "format",
    "sql",
    "table",
    "file",
    "partition_by",
    "publish_to",
    "params",
    "event_id",
    "event_time",
    "amount",
    "time_format",
    "time_zone",
    "x",
    "inbox.paths",
    "\"quoted key\"",
    "a.b.c",
];

const JOB_VALUES: &[&str] = &[
    "\"logs\"",
    "[\"logs/*.csv\"]",
    "[]",
    "\"{run_date}\"",
    "\"{yesterday}\"",
    "\"{job}/x\"",
    "\"{nope}\"",
    "\"{\"",
    "\"}{\"",
    "\"summary\"",
    "\"revenue\"",
    "\"nosuch\"",
    "\"csv\"",
    "\"html\"",
    "\"parquet\"",
    "\"../x.csv\"",
    "\"/abs.csv\"",
    "\"a.parquet\"",
    "\"noext\"",
    "\"SELECT 1\"",
    "\"transactions\"",
    "\"2019-11-11\"",
    "\"2019-13-01\"",
    "\"rfc3339\"",
    "\"epoch_millis\"",
    "\"%Y-%m-%d %H:%M:%S\"",
    "\"%Q\"",
    "\"+08:00\"",
    "\"+-1:00\"",
    "\"+99:99\"",
    "\"UTC\"",
    "\"é\"",
    "\"\"",
    "\"  \"",
    "3",
    "0",
    "-1",
    "99999999999999999999",
    "1.5",
    "nan",
    "true",
    "1979-05-27T07:32:00Z",
    "{ a = \"1\" }",
    "{ day = \"{run_date}\" }",
    "\"\\u0000\"",
    "'literal'",
    "\"\"\"multi\nline\"\"\"",
    "[\"a\", 1]",
    "[\"platform\"]",
    "\"unterminated",
    "",
];

/// TOML-ish job files: lines of sections, keys and values, often after a valid start.
fn job_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        3 => (prop::sample::select(JOB_KEYS), prop::sample::select(JOB_VALUES))
            .prop_map(|(k, v)| format!("{k} = {v}")),
        2 => prop::sample::select(JOB_HEADERS).prop_map(str::to_string),
        1 => "[a-z_\\[\\]=\"{}.#, 0-9\n]{0,30}",
        1 => any::<String>(),
    ];
    let top = prop::collection::vec(
        (
            prop::sample::select(JOB_KEYS),
            prop::sample::select(JOB_VALUES),
        )
            .prop_map(|(k, v)| format!("{k} = {v}\n")),
        0..4,
    );
    (top, any::<bool>(), prop::collection::vec(line, 0..16)).prop_map(
        |(top, valid_start, lines)| {
            // Top-level keys first, then (often) a valid inbox, then anything.
            let start = if valid_start {
                "[inbox]\npaths = [\"in\"]\n"
            } else {
                ""
            };
            format!("{}{start}{}\n", top.concat(), lines.join("\n"))
        },
    )
}

/// Whether `message` names the job file and a line of it (`… line 7…`).
fn names_file_and_line(message: &str, file: &Path) -> bool {
    let names_line = message
        .match_indices("line ")
        .any(|(i, _)| message[i + 5..].starts_with(|c: char| c.is_ascii_digit()));
    message.contains(&file.display().to_string()) && names_line
}

fn job_files_never_panic(runner: &mut TestRunner) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("fuzz.toml");
    let warehouse = dir.path().join("wh");
    let date = NaiveDate::from_ymd_opt(2019, 11, 11).expect("a date");
    runner
        .run(&job_text(), |text| {
            std::fs::write(&file, &text).expect("write the job file");
            if let Err(e) = Job::load(&file, date, &warehouse) {
                let message = e.to_string();
                prop_assert!(
                    names_file_and_line(&message, &file),
                    "the error names no file and line: {}\njob file:\n{}",
                    message,
                    text
                );
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// The suite's short run: one test per property
// ---------------------------------------------------------------------------------------------

#[test]
fn csv_chunks_read_like_one_stream_256_cases() {
    run_in_suite(csv_chunks_read_like_one_stream);
}

#[test]
fn ndjson_never_panics_256_cases() {
    run_in_suite(ndjson_never_panics);
}

#[test]
fn ndjson_valid_events_round_trip_256_cases() {
    run_in_suite(ndjson_valid_events_round_trip);
}

#[test]
fn epoch_ms_numbers_are_exact_256_cases() {
    run_in_suite(epoch_ms_numbers_are_exact);
}

#[test]
fn times_agree_with_chrono_256_cases() {
    run_in_suite(times_agree_with_chrono);
}

#[test]
fn times_never_panic_256_cases() {
    run_in_suite(times_never_panic);
}

#[test]
fn amounts_are_exact_256_cases() {
    run_in_suite(amounts_are_exact);
}

#[test]
fn amounts_never_panic_256_cases() {
    run_in_suite(amounts_never_panic);
}

#[test]
fn job_files_never_panic_256_cases() {
    run_in_suite(job_files_never_panic);
}

/// `bench/fuzz.sh`: each property (or those named in `DOUBLE11_FUZZ_ONLY`, comma-separated)
/// for `DOUBLE11_FUZZ_SECONDS` seconds, in runs of 256 cases on fresh seeds from
/// `DOUBLE11_FUZZ_SEED` (default: the clock). Prints one line per property; fails if any
/// property failed.
#[test]
#[ignore = "minutes long: bench/fuzz.sh runs it"]
fn fuzz_for_a_while() {
    let seconds: u64 = std::env::var("DOUBLE11_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let only = std::env::var("DOUBLE11_FUZZ_ONLY").unwrap_or_default();
    let mut seed: u64 = std::env::var("DOUBLE11_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(SEED, |d| d.as_secs())
        });
    const BATCH: u32 = 256;
    let mut failed = Vec::new();
    for (name, property) in PROPERTIES {
        if !only.is_empty() && !only.split(',').any(|o| o.trim() == name) {
            continue;
        }
        let budget = Duration::from_secs(seconds);
        let start = Instant::now();
        let (mut cases, mut failures) = (0u64, 0u64);
        let first_seed = seed;
        while start.elapsed() < budget {
            let config = Config {
                cases: BATCH,
                rng_seed: RngSeed::Fixed(seed),
                failure_persistence: None,
                ..Config::default()
            };
            seed += 1;
            match property(&mut TestRunner::new(config)) {
                Ok(()) => cases += u64::from(BATCH),
                Err(e) => {
                    failures += 1;
                    eprintln!("FAILURE {name} (PROPTEST_RNG_SEED={}): {e}", seed - 1);
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "fuzz {name}: {cases} cases in {secs:.0} s, {:.0} cases/s, {failures} failures (seeds {first_seed}..{seed})",
            cases as f64 / secs
        );
        if failures > 0 {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "properties that failed: {failed:?}");
}

// ---------------------------------------------------------------------------------------------
// Failures the fuzzing found, kept as named tests
// ---------------------------------------------------------------------------------------------

/// Found by `job_files_never_panic` (PROPTEST_RNG_SEED=1796240395): a `queries` folder that
/// does not exist was reported without the job file's name and line (`no queries folder …`).
#[test]
fn a_missing_queries_folder_names_the_job_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("job.toml");
    let text = "queries = \"{run_date}\"\n[inbox]\npaths = [\"in\"]\n\n";
    std::fs::write(&file, text).expect("write");
    let date = NaiveDate::from_ymd_opt(2019, 11, 11).expect("a date");
    let message = Job::load(&file, date, &dir.path().join("wh"))
        .expect_err("no such queries folder")
        .to_string();
    assert!(names_file_and_line(&message, &file), "{message}");
    assert!(message.contains("line 1"), "{message}");
}
