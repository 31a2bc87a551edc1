//! The contract's field rules: raw field values in, an accepted event or a reject reason out.
//!
//! Both encodings land here. CSV gives every field as text; NDJSON gives strings, numbers
//! (kept as their literal text, never as floats) or other JSON values. Every rule of
//! `docs/input-format.md` that decides accept-or-reject lives in this file.

use std::borrow::Cow;
use std::fmt;

use crate::cst::{cst_day, parse_rfc3339_ms, plausible_epoch_ms};
use crate::ingest::fx::{is_currency_code, FxRates};
use crate::money::{
    convert_to_cny_fen, format_fen, format_fixed, parse_amount_fen, AMOUNT_CNY_MAX_FEN, RATE_ONE,
    RATE_SCALE,
};

/// One raw field value, before any rule is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Absent, empty (CSV) or JSON `null`.
    Absent,
    Text(Cow<'a, str>),
    /// A JSON number, as its literal text.
    Number(&'a str),
    /// Another JSON value (boolean, object, array), named for the reject reason.
    Other(&'static str),
}

/// Field positions in [`RawEvent::fields`], in the order of `schema::INPUT_FIELDS`.
pub mod f {
    use crate::schema::{position, INPUT_FIELDS};

    pub const EVENT_ID: usize = position(&INPUT_FIELDS, "event_id");
    pub const EVENT_TIME: usize = position(&INPUT_FIELDS, "event_time");
    pub const EVENT_TYPE: usize = position(&INPUT_FIELDS, "event_type");
    pub const ORDER_ID: usize = position(&INPUT_FIELDS, "order_id");
    pub const PLATFORM: usize = position(&INPUT_FIELDS, "platform");
    pub const AMOUNT: usize = position(&INPUT_FIELDS, "amount");
    pub const CURRENCY: usize = position(&INPUT_FIELDS, "currency");
    pub const BUYER_ID: usize = position(&INPUT_FIELDS, "buyer_id");
    pub const SELLER_ID: usize = position(&INPUT_FIELDS, "seller_id");
    pub const CATEGORY: usize = position(&INPUT_FIELDS, "category");
    pub const PROVINCE: usize = position(&INPUT_FIELDS, "province");
    pub const DEVICE: usize = position(&INPUT_FIELDS, "device");
    pub const QUANTITY: usize = position(&INPUT_FIELDS, "quantity");
    /// The fields every event must have.
    pub const REQUIRED: [usize; 6] = [EVENT_ID, EVENT_TIME, EVENT_TYPE, ORDER_ID, PLATFORM, AMOUNT];
}

/// The raw values of one record, by contract field.
pub(crate) type RawEvent<'a> = [Value<'a>; crate::schema::INPUT_FIELDS.len()];

/// Why a line was rejected: a stable kind a user can group by, and a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectKind {
    /// A CSV row whose field count differs from the header's.
    CsvFieldCount,
    InvalidJson,
    /// Bytes that are not UTF-8.
    BadEncoding,
    MissingField,
    BadTime,
    BadAmount,
    BadEventType,
    UnknownCurrency,
    /// An id, string or optional field that breaks its rule.
    BadField,
    /// A record longer than the maximum record size (`--max-record-bytes`): only its start is
    /// kept.
    RecordTooLong,
    /// The rest of an input from this line on could not be read (a damaged or truncated
    /// compressed stream): the records before it are kept.
    UnreadableInput,
}

impl RejectKind {
    pub const ALL: [RejectKind; 11] = [
        RejectKind::CsvFieldCount,
        RejectKind::InvalidJson,
        RejectKind::BadEncoding,
        RejectKind::MissingField,
        RejectKind::BadTime,
        RejectKind::BadAmount,
        RejectKind::BadEventType,
        RejectKind::UnknownCurrency,
        RejectKind::BadField,
        RejectKind::RecordTooLong,
        RejectKind::UnreadableInput,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::CsvFieldCount => "csv_field_count",
            RejectKind::InvalidJson => "invalid_json",
            RejectKind::BadEncoding => "bad_encoding",
            RejectKind::MissingField => "missing_field",
            RejectKind::BadTime => "bad_time",
            RejectKind::BadAmount => "bad_amount",
            RejectKind::BadEventType => "bad_event_type",
            RejectKind::UnknownCurrency => "unknown_currency",
            RejectKind::BadField => "bad_field",
            RejectKind::RecordTooLong => "record_too_long",
            RejectKind::UnreadableInput => "unreadable_input",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub kind: RejectKind,
    pub reason: String,
}

impl Reject {
    pub fn new(kind: RejectKind, reason: impl Into<String>) -> Self {
        Reject {
            kind,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Paid,
    Refunded,
}

impl EventType {
    /// Every event type, in the order of their numbers (`as u32`).
    pub const ALL: [EventType; 2] = [EventType::Paid, EventType::Refunded];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Paid => "paid",
            EventType::Refunded => "refunded",
        }
    }
}

/// An accepted event, borrowing its strings from the record where it can.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    pub event_id: Cow<'a, str>,
    pub event_time_ms: i64,
    /// CST day of `event_time_ms`, days since the epoch.
    pub day: i32,
    pub event_type: EventType,
    pub order_id: Cow<'a, str>,
    pub platform: Cow<'a, str>,
    pub amount_fen: i64,
    pub currency: Cow<'a, str>,
    pub amount_cny_fen: i64,
    pub buyer_id: Option<i64>,
    pub seller_id: Option<i64>,
    pub category: Option<Cow<'a, str>>,
    pub province: Option<Cow<'a, str>>,
    pub device: Option<Cow<'a, str>>,
    pub quantity: i64,
}

const NAMES: [&str; crate::schema::INPUT_FIELDS.len()] = crate::schema::INPUT_FIELDS;
const MAX_ID_CHARS: usize = 64;

/// Applies every rule of the contract to one record.
pub fn validate<'a>(raw: &mut RawEvent<'a>, fx: &FxRates) -> Result<Event<'a>, Reject> {
    use RejectKind::*;
    // Required fields first, in contract order, so the reason names the first problem.
    for i in [
        f::EVENT_ID,
        f::EVENT_TIME,
        f::EVENT_TYPE,
        f::ORDER_ID,
        f::PLATFORM,
        f::AMOUNT,
    ] {
        if raw[i] == Value::Absent {
            return Err(Reject::new(
                MissingField,
                format!("missing required field {}", NAMES[i]),
            ));
        }
    }
    let event_id = id_field(take(raw, f::EVENT_ID), f::EVENT_ID)?;
    let event_time_ms = match &raw[f::EVENT_TIME] {
        Value::Text(t) => parse_rfc3339_ms(t)
            .map_err(|e| Reject::new(BadTime, format!("event_time {t:?}: {e}")))?,
        Value::Number(n) => n.parse::<i64>().map_err(|_| {
            Reject::new(
                BadTime,
                format!("event_time {n}: a number must be whole epoch milliseconds"),
            )
        })?,
        other => return Err(wrong_type(BadTime, f::EVENT_TIME, other)),
    };
    if !plausible_epoch_ms(event_time_ms) {
        return Err(Reject::new(
            BadTime,
            format!("event_time {event_time_ms} is outside years 1000 to 9999"),
        ));
    }
    let day = cst_day(event_time_ms);
    let event_type = match &raw[f::EVENT_TYPE] {
        Value::Text(t) if t == "paid" => EventType::Paid,
        Value::Text(t) if t == "refunded" => EventType::Refunded,
        Value::Text(t) => {
            return Err(Reject::new(
                BadEventType,
                format!("event_type {t:?} is neither \"paid\" nor \"refunded\""),
            ))
        }
        other => return Err(wrong_type(BadEventType, f::EVENT_TYPE, other)),
    };
    let order_id = id_field(take(raw, f::ORDER_ID), f::ORDER_ID)?;
    let platform = match take(raw, f::PLATFORM) {
        Value::Text(t) => t,
        other => return Err(wrong_type(BadField, f::PLATFORM, &other)),
    };
    let amount_text = match &raw[f::AMOUNT] {
        Value::Text(t) => t.as_ref(),
        Value::Number(n) => n,
        other => return Err(wrong_type(BadAmount, f::AMOUNT, other)),
    };
    let amount_fen = parse_amount_fen(amount_text)
        .map_err(|e| Reject::new(BadAmount, format!("amount {amount_text:?}: {e}")))?;
    let currency = match take(raw, f::CURRENCY) {
        Value::Absent => Cow::Borrowed("CNY"),
        Value::Text(t) if is_currency_code(&t) => t,
        Value::Text(t) => {
            return Err(Reject::new(
                UnknownCurrency,
                format!("currency {t:?} is not an ISO 4217 code"),
            ))
        }
        other => return Err(wrong_type(UnknownCurrency, f::CURRENCY, &other)),
    };
    let rate = if currency == "CNY" {
        RATE_ONE
    } else {
        fx.get(&currency, day).ok_or_else(|| {
            Reject::new(
                UnknownCurrency,
                format!(
                    "no {currency} rate for {} (CST); add it to the rates file",
                    crate::cst::date_from_days(day)
                ),
            )
        })?
    };
    let amount_cny_fen = convert_to_cny_fen(amount_fen, rate).ok_or_else(|| {
        Reject::new(
            BadAmount,
            format!(
                "amount {} {currency} at {} CNY per unit is more than amount_cny \
                 holds ({} CNY)",
                format_fen(i128::from(amount_fen)),
                format_fixed(i128::from(rate), RATE_SCALE as u32),
                format_fen(i128::from(AMOUNT_CNY_MAX_FEN))
            ),
        )
    })?;
    let buyer_id = int_field(&raw[f::BUYER_ID], f::BUYER_ID)?;
    let seller_id = int_field(&raw[f::SELLER_ID], f::SELLER_ID)?;
    let category = string_field(take(raw, f::CATEGORY), f::CATEGORY)?;
    let province = string_field(take(raw, f::PROVINCE), f::PROVINCE)?;
    let device = string_field(take(raw, f::DEVICE), f::DEVICE)?;
    let quantity = match int_field(&raw[f::QUANTITY], f::QUANTITY)? {
        None => 1,
        Some(q) if q >= 1 => q,
        Some(q) => {
            return Err(Reject::new(
                BadField,
                format!("quantity {q}: must be at least 1"),
            ))
        }
    };
    Ok(Event {
        event_id,
        event_time_ms,
        day,
        event_type,
        order_id,
        platform,
        amount_fen,
        currency,
        amount_cny_fen,
        buyer_id,
        seller_id,
        category,
        province,
        device,
        quantity,
    })
}

fn take<'a>(raw: &mut RawEvent<'a>, i: usize) -> Value<'a> {
    std::mem::replace(&mut raw[i], Value::Absent)
}

fn wrong_type(kind: RejectKind, i: usize, value: &Value) -> Reject {
    let what = match value {
        Value::Absent => "empty",
        Value::Text(_) => "a string",
        Value::Number(_) => "a number",
        Value::Other(t) => t,
    };
    Reject::new(kind, format!("{} is {what}, which it may not be", NAMES[i]))
}

fn id_field(value: Value<'_>, i: usize) -> Result<Cow<'_, str>, Reject> {
    match value {
        Value::Text(t) => {
            // At most 64 bytes is at most 64 characters: only longer ids are counted.
            let chars = if t.len() <= MAX_ID_CHARS {
                usize::from(!t.is_empty())
            } else {
                t.chars().count()
            };
            if chars == 0 || chars > MAX_ID_CHARS {
                Err(Reject::new(
                    RejectKind::BadField,
                    format!("{} has {chars} characters; it must have 1 to 64", NAMES[i]),
                ))
            } else {
                Ok(t)
            }
        }
        other => Err(wrong_type(RejectKind::BadField, i, &other)),
    }
}

fn string_field(value: Value<'_>, i: usize) -> Result<Option<Cow<'_, str>>, Reject> {
    match value {
        Value::Absent => Ok(None),
        Value::Text(t) if t.is_empty() => Ok(None),
        Value::Text(t) => Ok(Some(t)),
        other => Err(wrong_type(RejectKind::BadField, i, &other)),
    }
}

/// A 64-bit integer, from CSV text, a JSON integer or a JSON string holding one (ids beyond
/// 2^53 are often quoted so JavaScript does not round them).
fn int_field(value: &Value<'_>, i: usize) -> Result<Option<i64>, Reject> {
    let text = match value {
        Value::Absent => return Ok(None),
        Value::Text(t) if t.is_empty() => return Ok(None),
        Value::Text(t) => t.as_ref(),
        Value::Number(n) => n,
        other => return Err(wrong_type(RejectKind::BadField, i, other)),
    };
    // Most ids and quantities are at most 19 digits, perhaps after a `-`: read by atoi_simd
    // (eight digits at a time). What it refuses (a `+`, a non-digit, an overflow, more
    // digits) is read again below, which reads a long run of leading zeros too and otherwise
    // says why it is refused.
    if !text.starts_with('+') {
        if let Ok(v) = atoi_simd::parse::<i64, false, false>(text.as_bytes()) {
            return Ok(Some(v));
        }
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    // A non-digit anywhere makes it "not an integer", even where the digits before it
    // overflow.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reject::new(
            RejectKind::BadField,
            format!("{} {text:?} is not an integer", NAMES[i]),
        ));
    }
    // Accumulated towards the sign, so that i64::MIN fits.
    let value = digits.bytes().try_fold(0i64, |v, b| {
        let d = i64::from(b - b'0');
        let v = v.checked_mul(10)?;
        if negative {
            v.checked_sub(d)
        } else {
            v.checked_add(d)
        }
    });
    value.map(Some).ok_or_else(|| {
        Reject::new(
            RejectKind::BadField,
            format!("{} {text} does not fit in 64 bits", NAMES[i]),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx() -> FxRates {
        let mut fx = FxRates::default();
        fx.insert(
            "USD".into(),
            crate::cst::days_from_date(
                chrono::NaiveDate::from_ymd_opt(2019, 11, 11).expect("date"),
            ),
            7_012_300,
        );
        fx
    }

    fn csv_event(pairs: &[(&str, &str)]) -> RawEvent<'static> {
        let mut raw: RawEvent<'static> = std::array::from_fn(|_| Value::Absent);
        for (k, v) in pairs {
            let i = NAMES.iter().position(|n| n == k).expect("known field");
            if !v.is_empty() {
                raw[i] = Value::Text(Cow::Owned(v.to_string()));
            }
        }
        raw
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("event_id", "e1"),
            ("event_time", "2019-11-11T00:00:01.234+08:00"),
            ("event_type", "paid"),
            ("order_id", "o1"),
            ("platform", "tmall"),
            ("amount", "199.90"),
        ]
    }

    fn with(changes: &[(&'static str, &'static str)]) -> Result<Event<'static>, Reject> {
        let mut pairs = good();
        for (k, v) in changes {
            pairs.retain(|(n, _)| n != k);
            pairs.push((k, v));
        }
        validate(&mut csv_event(&pairs), &fx())
    }

    fn kind(changes: &[(&'static str, &'static str)]) -> RejectKind {
        with(changes).expect_err("should be rejected").kind
    }

    #[test]
    fn a_good_event_takes_its_defaults() {
        let e = with(&[]).expect("accepted");
        assert_eq!(e.currency, "CNY");
        assert_eq!(e.amount_cny_fen, 19_990);
        assert_eq!(e.quantity, 1);
        assert_eq!(e.buyer_id, None);
        assert_eq!(e.day, 18_211, "2019-11-11");
    }

    #[test]
    fn foreign_amounts_convert_at_the_days_rate() {
        let e = with(&[("currency", "USD"), ("amount", "10.01")]).expect("accepted");
        // 10.01 * 7.0123 = 70.193123 -> 70.19
        assert_eq!(e.amount_cny_fen, 7_019);
        assert_eq!(e.amount_fen, 1_001);
        assert_eq!(
            kind(&[
                ("currency", "USD"),
                ("event_time", "2019-11-12T00:00:00+08:00")
            ]),
            RejectKind::UnknownCurrency,
            "no rate for the next day"
        );
        assert_eq!(kind(&[("currency", "usd")]), RejectKind::UnknownCurrency);
        assert_eq!(kind(&[("currency", "GBP")]), RejectKind::UnknownCurrency);
    }

    #[test]
    fn an_amount_cny_too_large_to_store_is_a_reject() {
        let day = crate::cst::days_from_date(
            chrono::NaiveDate::from_ymd_opt(2019, 11, 11).expect("date"),
        );
        let mut fx = FxRates::default();
        fx.insert("XAU".into(), day, crate::money::RATE_MAX);
        let event = |amount: &'static str| {
            let mut pairs = good();
            pairs.retain(|(n, _)| *n != "currency" && *n != "amount");
            pairs.push(("currency", "XAU"));
            pairs.push(("amount", amount));
            validate(&mut csv_event(&pairs), &fx)
        };
        // 10,000.00 at the largest rate is exactly the largest amount_cny.
        let e = event("10000.00").expect("the edge is accepted");
        assert_eq!(e.amount_cny_fen, AMOUNT_CNY_MAX_FEN);
        let r = event("10000.01").expect_err("one fen more is rejected");
        assert_eq!(r.kind, RejectKind::BadAmount);
        assert!(
            r.reason.contains("10000.01 XAU")
                && r.reason.contains("999999999999.999999")
                && r.reason.contains("more than amount_cny holds"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn every_missing_required_field_is_a_reject() {
        for name in [
            "event_id",
            "event_time",
            "event_type",
            "order_id",
            "platform",
            "amount",
        ] {
            let mut pairs = good();
            pairs.retain(|(n, _)| *n != name);
            let r = validate(&mut csv_event(&pairs), &fx()).expect_err(name);
            assert_eq!(r.kind, RejectKind::MissingField);
            assert!(r.reason.contains(name), "{}", r.reason);
        }
    }

    #[test]
    fn each_rule_has_its_kind() {
        assert_eq!(kind(&[("event_type", "PAID")]), RejectKind::BadEventType);
        assert_eq!(
            kind(&[("event_type", "cancelled")]),
            RejectKind::BadEventType
        );
        assert_eq!(kind(&[("amount", "-1")]), RejectKind::BadAmount);
        assert_eq!(kind(&[("amount", "1.001")]), RejectKind::BadAmount);
        assert_eq!(kind(&[("amount", "10000000")]), RejectKind::BadAmount);
        assert_eq!(
            kind(&[("event_time", "2019-11-11 00:00:01")]),
            RejectKind::BadTime
        );
        assert_eq!(
            kind(&[("event_time", "1573401601234")]),
            RejectKind::BadTime
        );
        assert_eq!(kind(&[("quantity", "0")]), RejectKind::BadField);
        assert_eq!(kind(&[("quantity", "two")]), RejectKind::BadField);
        assert_eq!(kind(&[("quantity", "1.0")]), RejectKind::BadField);
        assert_eq!(kind(&[("buyer_id", "abc")]), RejectKind::BadField);
        assert_eq!(
            kind(&[("buyer_id", "9223372036854775808")]),
            RejectKind::BadField
        );
        let long = "x".repeat(65);
        let long: &'static str = Box::leak(long.into_boxed_str());
        assert_eq!(kind(&[("event_id", long)]), RejectKind::BadField);
        assert_eq!(kind(&[("order_id", long)]), RejectKind::BadField);
    }

    /// What `int_field` must make of `text`: Rust's own parse, with a `+` and empty digits
    /// refused, and the reason for a refusal.
    fn rust_int(text: &str) -> Result<i64, &'static str> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            Err("is not an integer")
        } else {
            text.parse::<i64>().map_err(|_| "does not fit in 64 bits")
        }
    }

    #[test]
    fn random_integers_parse_as_rust_does() {
        // Random texts of digits, signs and a few other bytes, 0 to 24 bytes long, most of
        // them near the 19 digits where 64 bits run out.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % n
        };
        for _ in 0..200_000 {
            let len = if next(2) == 0 { 15 + next(6) } else { next(25) };
            let mut text = String::new();
            if next(3) == 0 {
                text.push('-');
            }
            for _ in 0..len {
                text.push(match next(200) {
                    0 => '-',
                    1 => '+',
                    2 => 'x',
                    3 => '/',
                    4 => ':',
                    5..=30 => '9',
                    31..=50 => '0',
                    _ => char::from(b'0' + next(10) as u8),
                });
            }
            let got = int_field(&Value::Text(Cow::Borrowed(&text)), f::BUYER_ID);
            match (got, rust_int(&text)) {
                (Ok(None), _) if text.is_empty() => {}
                (Ok(Some(g)), Ok(w)) => assert_eq!(g, w, "{text}"),
                (Err(r), Err(w)) => assert!(r.reason.ends_with(w), "{text}: {}", r.reason),
                (g, w) => panic!("{text:?}: {g:?} but {w:?}"),
            }
        }
    }

    #[test]
    fn integers_parse_as_rust_does() {
        for text in [
            "0",
            "-0",
            "007",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "-1000000000000000000",
            "000000000000000000",
            "-9223372036854775808",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775809",
            "9999999999999999999",
            "-9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "0000000000000000000000042",
            "-0000000000000000000009223372036854775808",
            "99999999999999999999999",
            "99999999999999999999999x",
            "1-2",
            "--1",
            "+1",
            "-",
            " 1",
            "1.0",
            "١",
        ] {
            let got = int_field(&Value::Text(Cow::Borrowed(text)), f::BUYER_ID);
            match (got, rust_int(text)) {
                (Ok(Some(g)), Ok(w)) => assert_eq!(g, w, "{text}"),
                (Err(r), Err(w)) => assert!(r.reason.ends_with(w), "{text}: {}", r.reason),
                (g, w) => panic!("{text}: {g:?} but {w:?}"),
            }
        }
    }

    #[test]
    fn big_ids_and_quantities_are_exact() {
        let e = with(&[
            ("buyer_id", "9223372036854775807"),
            ("seller_id", "9007199254740993"),
            ("quantity", "3"),
        ])
        .expect("accepted");
        assert_eq!(e.buyer_id, Some(i64::MAX));
        assert_eq!(e.seller_id, Some(9_007_199_254_740_993));
        assert_eq!(e.quantity, 3);
        let id64 = "é".repeat(64);
        let id64: &'static str = Box::leak(id64.into_boxed_str());
        assert!(
            with(&[("event_id", id64)]).is_ok(),
            "64 characters, 128 bytes"
        );
    }

    #[test]
    fn json_numbers_follow_their_text() {
        let mut raw = csv_event(&good());
        raw[f::AMOUNT] = Value::Number("12.5");
        raw[f::EVENT_TIME] = Value::Number("1573401601234");
        let e = validate(&mut raw, &fx()).expect("accepted");
        assert_eq!(e.amount_fen, 1250);
        assert_eq!(e.event_time_ms, 1_573_401_601_234);
        for (field, value, want) in [
            (f::AMOUNT, Value::Number("1e3"), RejectKind::BadAmount),
            (f::AMOUNT, Value::Number("0.125"), RejectKind::BadAmount),
            (f::EVENT_TIME, Value::Number("1.5e12"), RejectKind::BadTime),
            (f::EVENT_ID, Value::Number("12"), RejectKind::BadField),
            (f::AMOUNT, Value::Other("a boolean"), RejectKind::BadAmount),
        ] {
            let mut raw = csv_event(&good());
            raw[field] = value;
            assert_eq!(validate(&mut raw, &fx()).expect_err("reject").kind, want);
        }
    }
}
