//! One log line: field values rendered once, then written as a CSV row or an NDJSON object.
//!
//! Hot path: numbers, times and ids are formatted by hand into one reused buffer, in which a
//! clean line is already its CSV row.

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

/// The values of one line, each after a comma but the first: a line whose values were all
/// written in column order and need no quoting is, in `buf`, its CSV row already.
pub(crate) struct Line {
    pub(crate) buf: Vec<u8>,
    spans: [Span; FIELDS],
    /// False once a value that may need CSV quoting was set.
    plain: bool,
}

impl Line {
    pub(crate) fn new() -> Self {
        Line {
            buf: Vec::with_capacity(512),
            spans: [ABSENT; FIELDS],
            plain: true,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.spans = [ABSENT; FIELDS];
        self.plain = true;
    }

    /// Where the next value starts (after a comma, unless it is the first); pair with
    /// [`Line::close`] after pushing its bytes, which must need no CSV quoting (numbers,
    /// times, ids: text goes through [`Line::set`]).
    #[inline]
    pub(crate) fn open(&mut self) -> u32 {
        if !self.buf.is_empty() {
            self.buf.push(b',');
        }
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
        self.plain &= !needs_quotes(bytes);
    }

    /// An empty CSV field, in its place among the others.
    #[inline]
    pub(crate) fn set_empty(&mut self, field: usize) {
        let start = self.open();
        self.close(field, start, Kind::Absent);
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
        if shape == CsvShape::Whole && self.is_csv_row(columns) {
            out.extend_from_slice(&self.buf);
            out.push(b'\n');
            return;
        }
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

    /// True when `buf` is the line's CSV row with the columns in `columns` order: the
    /// columns are in field order, each value was written in its turn right after the
    /// comma that ends the one before, and none needs quoting.
    fn is_csv_row(&self, columns: &[usize]) -> bool {
        let mut next = 0;
        for (i, &field) in columns.iter().enumerate() {
            let s = self.spans[field];
            let written = match s.kind {
                Kind::Str | Kind::Num => true,
                Kind::Absent => s.start == s.end,
                Kind::Null => false,
            };
            if field != i || !written || s.start != next {
                return false;
            }
            next = s.end + 1;
        }
        self.plain && next as usize == self.buf.len() + 1
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

/// True when `bytes` must be quoted in a CSV field.
fn needs_quotes(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

fn push_csv_field(out: &mut Vec<u8>, bytes: &[u8]) {
    if !needs_quotes(bytes) {
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
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
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
    let bytes = ((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes();
    // Two digits per byte at fixed places (the loop unrolls): 8-4-4-4-12 digits.
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        text[at] = HEX[usize::from(b >> 4)];
        text[at + 1] = HEX[usize::from(b & 15)];
        at += 2;
    }
    out.extend_from_slice(&text);
}

/// Text of a known greatest length (a time) built on the stack, then appended to a buffer at
/// once: one capacity check and one copy, where pushing each byte onto the buffer checked its
/// capacity every time.
struct Stack<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Stack<N> {
    fn new() -> Self {
        Stack {
            bytes: [0; N],
            len: 0,
        }
    }

    #[inline]
    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    /// Two decimal digits of `v` (below 100).
    #[inline]
    fn push_2(&mut self, v: u32) {
        self.push(b'0' + (v / 10) as u8);
        self.push(b'0' + (v % 10) as u8);
    }

    fn append_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.bytes[..self.len]);
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
    // `yyyy-mm-ddThh:mm:ss.fffffffff+hh:mm`: 35 bytes at most.
    let mut text = Stack::<40>::new();
    text.push_2((y / 100) as u32);
    text.push_2((y % 100) as u32);
    text.push(b'-');
    text.push_2(m);
    text.push(b'-');
    text.push_2(d);
    text.push(b'T');
    let secs = (in_day / 1000) as u32;
    text.push_2(secs / 3600);
    text.push(b':');
    text.push_2(secs / 60 % 60);
    text.push(b':');
    text.push_2(secs % 60);
    let milli = (in_day % 1000) as u32;
    match frac {
        0 => {}
        1 => {
            text.push(b'.');
            text.push(b'0' + (milli / 100) as u8);
        }
        2 => {
            text.push(b'.');
            text.push_2(milli / 10);
        }
        _ => {
            text.push(b'.');
            text.push(b'0' + (milli / 100) as u8);
            text.push_2(milli % 100);
            let extra = u32::from(frac.saturating_sub(3));
            let mut noise = noise;
            for _ in 0..extra {
                text.push(b'0' + (noise % 10) as u8);
                noise /= 10;
            }
        }
    }
    match offset {
        Offset::Zulu => text.push(b'Z'),
        Offset::Minutes(m) => {
            text.push(if m < 0 { b'-' } else { b'+' });
            let a = m.unsigned_abs();
            text.push_2(a / 60);
            text.push(b':');
            text.push_2(a % 60);
        }
    }
    text.append_to(out);
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

    /// A line written in field order is its own CSV row; any other line, one value quoted,
    /// an empty one, a value set again or columns in another order, is written field by
    /// field; both give the same text.
    #[test]
    fn a_line_in_column_order_is_its_own_csv_row() {
        let fill = |category: &str| {
            let mut line = Line::new();
            for field in 0..=QUANTITY {
                match field {
                    CATEGORY => line.set(field, category.as_bytes(), Kind::Str),
                    CURRENCY => line.set_empty(field),
                    _ => {
                        let s = line.open();
                        push_u64(&mut line.buf, field as u64 * 1001);
                        line.close(field, s, Kind::Num);
                    }
                }
            }
            line
        };
        let order: Vec<usize> = (0..=QUANTITY).collect();
        let csv = |line: &Line, columns: &[usize], shape| {
            let mut out = Vec::new();
            line.write_csv(&mut out, columns, shape);
            String::from_utf8(out).unwrap()
        };
        let expected = "0,1001,2002,3003,4004,5005,,7007,8008,Toys,10010,11011,12012\n";
        let line = fill("Toys");
        assert!(line.is_csv_row(&order));
        assert_eq!(csv(&line, &order, CsvShape::Whole), expected);
        // The same text field by field (one field too many: `,x` added).
        assert_eq!(
            csv(&line, &order, CsvShape::OneExtra),
            expected.replace('\n', ",x\n")
        );
        let quoted = fill("Shoes, Bags");
        assert!(!quoted.is_csv_row(&order));
        assert_eq!(
            csv(&quoted, &order, CsvShape::Whole),
            expected.replace("Toys", "\"Shoes, Bags\"")
        );
        let mut again = fill("Toys");
        again.set(AMOUNT, b"1.00", Kind::Str);
        assert!(!again.is_csv_row(&order));
        assert_eq!(
            csv(&again, &order, CsvShape::Whole),
            expected.replace("5005", "1.00")
        );
        let mut swapped = order.clone();
        swapped.swap(0, 1);
        assert!(!line.is_csv_row(&swapped));
        assert_eq!(
            csv(&line, &swapped, CsvShape::Whole),
            expected.replacen("0,1001", "1001,0", 1)
        );
    }
}
