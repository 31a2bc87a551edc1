//! One log line: field values rendered once, then written as a CSV row or an NDJSON object.
//!
//! Hot path: numbers, times and ids are formatted by hand into one reused buffer.

/// Field positions: the contract's fields in `schema::INPUT_FIELDS` order, then one column
/// the contract does not know (dirty mode only; readers must ignore it).
pub(crate) const EVENT_ID: usize = 0;
pub(crate) const EVENT_TIME: usize = 1;
pub(crate) const EVENT_TYPE: usize = 2;
pub(crate) const ORDER_ID: usize = 3;
pub(crate) const PLATFORM: usize = 4;
pub(crate) const AMOUNT: usize = 5;
pub(crate) const CURRENCY: usize = 6;
pub(crate) const BUYER_ID: usize = 7;
pub(crate) const SELLER_ID: usize = 8;
pub(crate) const CATEGORY: usize = 9;
pub(crate) const PROVINCE: usize = 10;
pub(crate) const DEVICE: usize = 11;
pub(crate) const QUANTITY: usize = 12;
pub(crate) const TRACE_ID: usize = 13;
pub(crate) const FIELDS: usize = 14;

pub(crate) const NAMES: [&str; FIELDS] = [
    "event_id",
    "event_time",
    "event_type",
    "order_id",
    "platform",
    "amount",
    "currency",
    "buyer_id",
    "seller_id",
    "category",
    "province",
    "device",
    "quantity",
    "trace_id",
];

/// How a value is written: absent (CSV empty, JSON key left out), JSON `null`, a string, or
/// a bare JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Absent,
    Null,
    Str,
    Num,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    kind: Kind,
}

const ABSENT: Span = Span {
    start: 0,
    end: 0,
    kind: Kind::Absent,
};

/// How a CSV row is cut: whole, one field short, or one field too many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CsvShape {
    Whole,
    OneShort,
    OneExtra,
}

/// The values of one line.
pub(crate) struct Line {
    pub(crate) buf: Vec<u8>,
    spans: [Span; FIELDS],
}

impl Line {
    pub(crate) fn new() -> Self {
        Line {
            buf: Vec::with_capacity(512),
            spans: [ABSENT; FIELDS],
        }
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.spans = [ABSENT; FIELDS];
    }

    /// Where the next value starts; pair with [`Line::close`] after pushing its bytes.
    #[inline]
    pub(crate) fn open(&self) -> u32 {
        self.buf.len() as u32
    }

    #[inline]
    pub(crate) fn close(&mut self, field: usize, start: u32, kind: Kind) {
        self.spans[field] = Span {
            start,
            end: self.buf.len() as u32,
            kind,
        };
    }

    #[inline]
    pub(crate) fn set(&mut self, field: usize, bytes: &[u8], kind: Kind) {
        let start = self.open();
        self.buf.extend_from_slice(bytes);
        self.close(field, start, kind);
    }

    #[inline]
    pub(crate) fn set_kind(&mut self, field: usize, kind: Kind) {
        if kind == Kind::Absent {
            self.spans[field] = ABSENT;
        } else {
            self.spans[field].kind = kind;
        }
    }

    #[inline]
    fn value(&self, field: usize) -> (&[u8], Kind) {
        let s = self.spans[field];
        (&self.buf[s.start as usize..s.end as usize], s.kind)
    }

    /// Writes the line as a CSV row (RFC 4180 quoting) with the columns in `columns` order.
    pub(crate) fn write_csv(&self, out: &mut Vec<u8>, columns: &[usize], shape: CsvShape) {
        let n = if shape == CsvShape::OneShort {
            columns.len() - 1
        } else {
            columns.len()
        };
        for (i, &field) in columns[..n].iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let (bytes, kind) = self.value(field);
            if matches!(kind, Kind::Str | Kind::Num) {
                push_csv_field(out, bytes);
            }
        }
        if shape == CsvShape::OneExtra {
            out.extend_from_slice(b",x");
        }
        out.push(b'\n');
    }

    /// Writes the line as one JSON object with the keys in `keys` order.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>, keys: &[usize], trailing_comma: bool) {
        out.push(b'{');
        let mut first = true;
        for &field in keys {
            let (bytes, kind) = self.value(field);
            if kind == Kind::Absent {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(NAMES[field].as_bytes());
            out.extend_from_slice(b"\":");
            match kind {
                Kind::Null => out.extend_from_slice(b"null"),
                Kind::Num => out.extend_from_slice(bytes),
                _ => push_json_string(out, bytes),
            }
        }
        if trailing_comma {
            out.push(b',');
        }
        out.extend_from_slice(b"}\n");
    }
}

/// Writes a CSV header with the columns in `columns` order.
pub(crate) fn csv_header(columns: &[usize]) -> Vec<u8> {
    let names: Vec<&str> = columns.iter().map(|&c| NAMES[c]).collect();
    let mut out = names.join(",").into_bytes();
    out.push(b'\n');
    out
}

fn push_csv_field(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    for &b in bytes {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn push_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    if !bytes.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20) {
        out.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0..=0x1f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 15)]);
                }
                _ => out.push(b),
            }
        }
    }
    out.push(b'"');
}

/// Decimal digits of `v`.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[inline]
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

#[inline]
fn push_2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// A positive amount in minor units with two fraction digits (`12.50`), or in its shortest
/// form (`12.5`, `12`) when `shortest`. The hot-path twin of `money::format_fen`.
#[inline]
pub(crate) fn push_amount(out: &mut Vec<u8>, fen: i64, shortest: bool) {
    let (units, cents) = (fen / 100, (fen % 100) as u32);
    push_u64(out, units as u64);
    if shortest {
        if cents == 0 {
            return;
        }
        out.push(b'.');
        out.push(b'0' + (cents / 10) as u8);
        if cents % 10 != 0 {
            out.push(b'0' + (cents % 10) as u8);
        }
    } else {
        out.push(b'.');
        push_2(out, cents);
    }
}

/// `8-4-4-4-12` lower-case hex of two 64-bit halves, like a UUID.
#[inline]
pub(crate) fn push_uuid(out: &mut Vec<u8>, hi: u64, lo: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v = (u128::from(hi) << 64) | u128::from(lo);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push(b'-');
        }
        out.push(HEX[((v >> (124 - 4 * i)) & 15) as usize]);
    }
}

/// A UTC offset to write a time with: `Z`, or `±HH:MM` in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offset {
    Zulu,
    Minutes(i32),
}

pub(crate) const CST: Offset = Offset::Minutes(8 * 60);

/// RFC 3339 text of the instant `ms` (epoch milliseconds) at `offset`, with `frac` fraction
/// digits (0, 1, 2, 3, 6 or 9). Digits past the millisecond come from `noise`, so they are
/// truncated away by a reader; 0, 1 and 2 digits are only asked for when the dropped
/// digits are zeros.
pub(crate) fn push_time(out: &mut Vec<u8>, ms: i64, offset: Offset, frac: u8, noise: u64) {
    let minutes = match offset {
        Offset::Zulu => 0,
        Offset::Minutes(m) => m,
    };
    let local = ms + i64::from(minutes) * 60_000;
    let days = local.div_euclid(86_400_000);
    let in_day = local.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    push_2(out, (y / 100) as u32);
    push_2(out, (y % 100) as u32);
    out.push(b'-');
    push_2(out, m);
    out.push(b'-');
    push_2(out, d);
    out.push(b'T');
    let secs = (in_day / 1000) as u32;
    push_2(out, secs / 3600);
    out.push(b':');
    push_2(out, secs / 60 % 60);
    out.push(b':');
    push_2(out, secs % 60);
    let milli = (in_day % 1000) as u32;
    match frac {
        0 => {}
        1 => {
            out.push(b'.');
            out.push(b'0' + (milli / 100) as u8);
        }
        2 => {
            out.push(b'.');
            push_2(out, milli / 10);
        }
        _ => {
            out.push(b'.');
            out.push(b'0' + (milli / 100) as u8);
            push_2(out, milli % 100);
            let extra = u32::from(frac.saturating_sub(3));
            let mut noise = noise;
            for _ in 0..extra {
                out.push(b'0' + (noise % 10) as u8);
                noise /= 10;
            }
        }
    }
    match offset {
        Offset::Zulu => out.push(b'Z'),
        Offset::Minutes(m) => {
            out.push(if m < 0 { b'-' } else { b'+' });
            let a = m.unsigned_abs();
            push_2(out, a / 60);
            out.push(b':');
            push_2(out, a % 60);
        }
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cst::parse_rfc3339_ms;

    fn time(ms: i64, offset: Offset, frac: u8, noise: u64) -> String {
        let mut out = Vec::new();
        push_time(&mut out, ms, offset, frac, noise);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn names_follow_the_schema() {
        assert_eq!(NAMES[..13], crate::schema::INPUT_FIELDS);
    }

    #[test]
    fn times_round_trip_through_the_contract_parser() {
        let ms = 1_573_401_601_234; // 2019-11-11T00:00:01.234+08:00
        assert_eq!(time(ms, CST, 3, 0), "2019-11-11T00:00:01.234+08:00");
        assert_eq!(time(ms, Offset::Zulu, 3, 0), "2019-11-10T16:00:01.234Z");
        assert_eq!(
            time(ms, Offset::Minutes(-330), 9, 987_654),
            "2019-11-10T10:30:01.234456789-05:30"
        );
        assert_eq!(time(ms - 234, CST, 0, 0), "2019-11-11T00:00:01+08:00");
        assert_eq!(time(ms - 34, CST, 1, 0), "2019-11-11T00:00:01.2+08:00");
        for (offset, frac) in [
            (CST, 3),
            (Offset::Zulu, 6),
            (Offset::Minutes(-480), 9),
            (Offset::Minutes(545), 3),
        ] {
            for m in [ms, 951_782_400_000, 4_102_444_799_999, 1_546_271_999_999] {
                assert_eq!(parse_rfc3339_ms(&time(m, offset, frac, 123_456_789)), Ok(m));
            }
        }
    }

    #[test]
    fn amounts_and_ids_format() {
        let mut out = Vec::new();
        push_amount(&mut out, 1250, false);
        out.push(b' ');
        push_amount(&mut out, 1250, true);
        out.push(b' ');
        push_amount(&mut out, 1200, true);
        out.push(b' ');
        push_amount(&mut out, 5, false);
        out.push(b' ');
        push_amount(&mut out, 5, true);
        assert_eq!(String::from_utf8(out).unwrap(), "12.50 12.5 12 0.05 0.05");
        let mut out = Vec::new();
        push_uuid(&mut out, 0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "01234567-89ab-cdef-fedc-ba9876543210"
        );
    }

    #[test]
    fn csv_and_json_escape() {
        let mut line = Line::new();
        line.set(EVENT_ID, b"e1", Kind::Str);
        line.set(CATEGORY, "Toys \"Lego\", 女装".as_bytes(), Kind::Str);
        line.set(AMOUNT, b"12.50", Kind::Num);
        line.set(DEVICE, b"", Kind::Null);
        let mut out = Vec::new();
        line.write_csv(
            &mut out,
            &[EVENT_ID, CATEGORY, AMOUNT, DEVICE],
            CsvShape::Whole,
        );
        line.write_json(
            &mut out,
            &[EVENT_ID, CATEGORY, AMOUNT, DEVICE, PROVINCE],
            false,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "e1,\"Toys \"\"Lego\"\", 女装\",12.50,\n{\"event_id\":\"e1\",\"category\":\"Toys \\\"Lego\\\", 女装\",\"amount\":12.50,\"device\":null}\n"
        );
    }
}
