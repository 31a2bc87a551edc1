//! One CST day: the paid orders of the curve and their refunds; in dirty mode also
//! re-deliveries, bad lines of every reject kind and events just outside the day.
//!
//! Independent random streams keep the clean events identical whatever the dirty rate or the
//! output format: `rng` draws the events, `dirty` everything dirty mode adds, and each line has
//! a style stream of its own (offsets, fraction digits, JSON types), seeded from the event's
//! id for a good line and from `dirty` for the others. The [`Generator`] draws on one thread
//! and hands out [`Job`]s; the [`Renderer`] turns them into text on every core (see
//! [`super::pipeline`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::cst::{cst_day_start_ms, days_from_date};
use crate::error::{Error, Result};
use crate::ingest::fx::FxRates;
use crate::ingest::read::validate::RejectKind;
use crate::money::{convert_to_cny_fen, AMOUNT_LIMIT_FEN, RATE_ONE};

use super::catalog::{Catalog, CATEGORIES, CNY, CURRENCIES, DEVICES, ONE, PLATFORMS, PROVINCES};
use super::curve::{per_second_counts, Profile};
use super::pipeline::{Feed, BLOCK};
use super::render::{
    push_amount, push_i64, push_time, push_u64, push_uuid, CsvShape, Kind, Line, Offset, AMOUNT,
    BUYER_ID, CATEGORY, CST, CURRENCY, DEVICE, EVENT_ID, EVENT_TIME, EVENT_TYPE, ORDER_ID,
    PLATFORM, PROVINCE, QUANTITY, SELLER_ID, TRACE_ID,
};
use super::rng::{mix63, mix64, Prob, Rng};
use super::truth::{Counters, DayAcc};
use super::GenFormat;

const DAY_MS: i64 = 86_400_000;
/// An optional catalog field left empty.
const NONE: u8 = u8::MAX;
/// About 2 % of all events are refunds.
const REFUND_PROBABILITY: f64 = 0.02 / 0.98;
/// Recent events kept for refunds and re-deliveries.
const RING: usize = 4096;

/// One event, small enough to copy and to keep a few thousand of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ev {
    id_hi: u64,
    id_lo: u64,
    time_ms: i64,
    refund: bool,
    order_id: u64,
    platform: u8,
    currency: u8,
    /// Write the currency even when it is CNY (otherwise it is left empty: the default).
    explicit_currency: bool,
    /// In minor units of `currency`.
    amount: i64,
    /// `amount` in CNY fen at the rate of the event's CST date.
    cny: i64,
    /// 0: absent.
    buyer_id: u64,
    seller_id: u64,
    /// [`NONE`]: absent.
    category: u8,
    province: u8,
    device: u8,
    /// 0: absent (reads as 1).
    quantity: u8,
}

/// A day to generate.
pub(crate) struct DayPlan {
    pub(crate) date: NaiveDate,
    pub(crate) profile: &'static Profile,
    pub(crate) orders: u64,
    pub(crate) peak: u64,
    pub(crate) gmv_target_fen: i64,
    /// The day's files in order; empty when everything goes to standard output.
    pub(crate) files: Vec<PathBuf>,
}

/// The reject kinds dirty mode writes, by the contract's names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bad {
    FieldCount,
    Json,
    Missing,
    Time,
    Amount,
    Type,
    Currency,
    Field,
}

impl Bad {
    fn name(self) -> &'static str {
        let kind = match self {
            Bad::FieldCount => RejectKind::CsvFieldCount,
            Bad::Json => RejectKind::InvalidJson,
            Bad::Missing => RejectKind::MissingField,
            Bad::Time => RejectKind::BadTime,
            Bad::Amount => RejectKind::BadAmount,
            Bad::Type => RejectKind::BadEventType,
            Bad::Currency => RejectKind::UnknownCurrency,
            Bad::Field => RejectKind::BadField,
        };
        kind.as_str()
    }
}

const CSV_BAD: [Bad; 7] = [
    Bad::FieldCount,
    Bad::Missing,
    Bad::Time,
    Bad::Amount,
    Bad::Type,
    Bad::Currency,
    Bad::Field,
];
const JSON_BAD: [Bad; 7] = [
    Bad::Json,
    Bad::Missing,
    Bad::Time,
    Bad::Amount,
    Bad::Type,
    Bad::Currency,
    Bad::Field,
];
const BAD_TIMES: [&str; 7] = [
    "2019-11-11T00:00:01.234",
    "2019-11-31T10:00:00+08:00",
    "2019-11-11T25:00:00+08:00",
    "11/11/2019 00:00:01",
    "1573401601234",
    "2019-11-11T00:00:01.234+08",
    "yesterday",
];
const BAD_AMOUNTS: [&str; 9] = [
    "-5.00",
    "1.234",
    "0.00",
    "10000000.00",
    "abc",
    "1e3",
    "12.",
    ".5",
    "NaN",
];
const BAD_TYPES: [&str; 5] = ["PAID", "cancelled", "refund", "Paid", "shipped"];
/// No rate is ever written for these (and `usd` is not a code).
const BAD_CURRENCIES: [&str; 4] = ["GBP", "RMB", "usd", "CHF"];
/// Offsets other than CST and Z that a log may use, in minutes.
const OTHER_OFFSETS: [i32; 7] = [-300, 540, 330, -480, 60, 0, -210];

/// A ring of the most recent events.
struct Ring {
    items: Vec<Ev>,
    next: usize,
}

impl Ring {
    fn new() -> Self {
        Ring {
            items: Vec::with_capacity(RING),
            next: 0,
        }
    }

    fn push(&mut self, ev: Ev) {
        if self.items.len() < RING {
            self.items.push(ev);
        } else {
            self.items[self.next] = ev;
        }
        self.next = (self.next + 1) % RING;
    }

    fn pick(&self, rng: &mut Rng) -> Option<Ev> {
        if self.items.is_empty() {
            return None;
        }
        Some(self.items[rng.below(self.items.len() as u64) as usize])
    }

    fn latest(&self) -> Option<Ev> {
        if self.items.is_empty() {
            return None;
        }
        Some(self.items[(self.next + RING - 1) % RING])
    }
}

/// The state of the day being generated.
struct DayState {
    /// Days since the epoch: keeps ids of different days apart.
    tag: u64,
    start_ms: i64,
    rng: Rng,
    /// Seeds each good line's own style stream (with the event's id), so that a line renders
    /// the same on any worker and whatever the dirty rate.
    style: u64,
    dirty: Rng,
    /// Rates (10^-6 CNY per unit) by currency index for the day before, the day, the day after.
    rates: [[i64; 6]; 3],
    accs: [DayAcc; 3],
    /// Good in-day events, for re-deliveries.
    recent: Ring,
    /// Paid orders, for refunds.
    orders: Ring,
    event_seq: u64,
    order_seq: u64,
    extra_seq: u64,
    buyers: u64,
    sellers: u64,
    /// Amount multiplier of events outside the day (no GMV target to steer to).
    plain_multiplier: i64,
}

/// Ids unique per (day, id space, sequence): a bijection keeps them distinct.
fn id63(tag: u64, space: u64, seq: u64) -> u64 {
    mix63((((tag << 2) | space) << 40) | seq)
}

/// The CSV column (and JSON key) order: the contract's order, or in dirty mode a shuffled
/// order with an extra column the contract does not know.
pub(crate) fn columns(seed: u64, dirty: bool) -> Vec<usize> {
    let mut cols: Vec<usize> = (0..TRACE_ID).collect();
    if dirty {
        cols.push(TRACE_ID);
        let mut rng = Rng::new(seed, 7);
        for i in (1..cols.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            cols.swap(i, j);
        }
    }
    cols
}

/// One line to render: an event with its style seed (and, for a rejected line, its fault and
/// the draw that shapes it), or a blank line.
pub(crate) enum Job {
    Line {
        ev: Ev,
        style: u64,
        /// The UTC offset to write (events outside the day), else one drawn from the style.
        offset: Option<Offset>,
        fault: Option<(Bad, u64)>,
    },
    Blank,
}

impl DayState {
    fn style_of(&self, ev: &Ev) -> u64 {
        mix64(self.style ^ mix64(ev.id_hi ^ mix64(ev.id_lo)))
    }
}

/// Run-wide state of the drawing thread: the jobs for the renderers, the counts, and the
/// per-date totals.
pub(crate) struct Generator {
    feed: Feed<Job>,
    jobs: Vec<Job>,
    counters: Counters,
    days: BTreeMap<i32, DayAcc>,
    seed: u64,
    json: bool,
    dirty: Prob,
    catalog: Catalog,
}

impl Generator {
    pub(crate) fn new(feed: Feed<Job>, seed: u64, format: GenFormat, dirty: f64) -> Self {
        Generator {
            feed,
            jobs: Vec::with_capacity(BLOCK),
            counters: Counters::default(),
            days: BTreeMap::new(),
            seed,
            json: format == GenFormat::Ndjson,
            dirty: Prob::new(dirty),
            catalog: Catalog::new(),
        }
    }

    /// Hands the last jobs over; the run's counts and per-date totals.
    pub(crate) fn finish(mut self) -> Result<(Counters, BTreeMap<i32, DayAcc>)> {
        self.flush_jobs()?;
        Ok((self.counters, self.days))
    }

    fn push(&mut self, job: Job) -> Result<()> {
        self.jobs.push(job);
        if self.jobs.len() >= BLOCK {
            self.flush_jobs()?;
        }
        Ok(())
    }

    fn flush_jobs(&mut self) -> Result<()> {
        if self.jobs.is_empty() {
            return Ok(());
        }
        let jobs = std::mem::replace(&mut self.jobs, self.feed.spare());
        self.feed.lines(jobs)
    }

    /// Writes one day, to its files or to the already open standard output.
    pub(crate) fn run_day(&mut self, plan: &DayPlan, fx: &FxRates) -> Result<()> {
        let day = days_from_date(plan.date);
        let tag =
            u64::try_from(day).map_err(|_| Error::Usage(format!("{}: too early", plan.date)))?;
        let rates_of = |d: i32| -> Result<[i64; 6]> {
            let mut row = [RATE_ONE; 6];
            for (i, (code, _, _)) in CURRENCIES.iter().enumerate().skip(1) {
                row[i] = fx.get(code, d).ok_or_else(|| {
                    Error::Other(anyhow::anyhow!("no generated {code} rate for day {d}"))
                })?;
                // Every amount drawn is below the limit, so this makes `cny_of` total.
                if convert_to_cny_fen(AMOUNT_LIMIT_FEN - 1, row[i]).is_none() {
                    return Err(Error::Other(anyhow::anyhow!(
                        "generated {code} rate {} for day {d} is too large",
                        row[i]
                    )));
                }
            }
            Ok(row)
        };
        let mean = i128::from(self.catalog.mean_fen);
        let plain_multiplier = (i128::from(plan.gmv_target_fen) * i128::from(ONE)
            / (i128::from(plan.orders.max(1)) * mean))
            .clamp(i128::from(ONE / 2), i128::from(ONE * 2)) as i64;
        let mut d = DayState {
            tag,
            start_ms: cst_day_start_ms(plan.date),
            rng: Rng::new(self.seed, tag * 8 + 1),
            style: Rng::new(self.seed, tag * 8 + 2).next_u64(),
            dirty: Rng::new(self.seed, tag * 8 + 3),
            rates: [rates_of(day - 1)?, rates_of(day)?, rates_of(day + 1)?],
            accs: [DayAcc::new(), DayAcc::new(), DayAcc::new()],
            recent: Ring::new(),
            orders: Ring::new(),
            event_seq: 0,
            order_seq: 0,
            extra_seq: 0,
            buyers: (plan.orders / 3).max(1000),
            sellers: (plan.orders / 50).max(100),
            plain_multiplier,
        };
        let counts = per_second_counts(plan.profile, plan.orders, plan.peak, d.rng.next_u64());
        let refund = Prob::new(REFUND_PROBABILITY);
        let files = plan.files.len() as u64;
        let boundary =
            |k: u64| (u128::from(plan.orders) * u128::from(k) / u128::from(files.max(1))) as u64;
        let mut file = 0u64;
        if files > 0 {
            self.flush_jobs()?;
            self.feed.open(plan.files[0].clone())?;
        }
        let (mut done, mut gmv) = (0u64, 0i64);
        for (second, &count) in counts.iter().enumerate() {
            let count = u64::from(count);
            for k in 0..count {
                while file + 1 < files && done >= boundary(file + 1) {
                    file += 1;
                    self.switch_file(&mut d, &plan.files[file as usize])?;
                }
                // Spread the second's orders over its milliseconds, in time order.
                let ms = d.start_ms
                    + second as i64 * 1000
                    + ((k * 1000 + d.rng.below(1000)) / count) as i64;
                // Steer the basket size so the day's GMV lands on its target.
                let remaining = i128::from(plan.orders - done);
                let want = (i128::from(plan.gmv_target_fen) - i128::from(gmv)).max(0) / remaining;
                let multiplier = (want * i128::from(ONE) / mean)
                    .clamp(i128::from(ONE / 2), i128::from(ONE * 2))
                    as i64;
                let ids = (
                    id63(tag, 0, d.event_seq),
                    d.rng.next_u64(),
                    id63(tag, 1, d.order_seq),
                );
                d.event_seq += 1;
                d.order_seq += 1;
                let pools = (d.buyers, d.sellers);
                let ev = make_paid(
                    &self.catalog,
                    &mut d.rng,
                    &d.rates[1],
                    ids,
                    ms,
                    multiplier,
                    pools,
                );
                gmv += ev.cny;
                done += 1;
                self.emit(&mut d, &ev, 1)?;
                if d.rng.chance(refund) {
                    if let Some(order) = d.orders.pick(&mut d.rng) {
                        let id_hi = id63(tag, 0, d.event_seq);
                        d.event_seq += 1;
                        let id_lo = d.rng.next_u64();
                        let rate = d.rates[1][usize::from(order.currency)];
                        let r = make_refund(&mut d.rng, &order, (id_hi, id_lo), ms, rate);
                        self.emit(&mut d, &r, 1)?;
                    }
                }
                d.orders.push(ev);
            }
        }
        while file + 1 < files {
            file += 1;
            self.switch_file(&mut d, &plan.files[file as usize])?;
        }
        if files > 0 {
            self.flush_jobs()?;
            self.feed.close()?;
        }
        for (i, acc) in d.accs.iter().enumerate() {
            self.days
                .entry(day - 1 + i as i32)
                .or_insert_with(DayAcc::new)
                .merge(acc);
        }
        Ok(())
    }

    /// Starts the next file; in dirty mode it opens with a re-delivery of the previous
    /// file's last event, so de-duplication has to work across files.
    fn switch_file(&mut self, d: &mut DayState, path: &Path) -> Result<()> {
        self.flush_jobs()?;
        self.feed.open(path.to_path_buf())?;
        if !self.dirty.is_zero() {
            if let Some(ev) = d.recent.latest() {
                self.emit_duplicate(d, &ev)?;
            }
        }
        Ok(())
    }

    /// Writes a good event (perhaps after a dirty extra) and accounts for it.
    fn emit(&mut self, d: &mut DayState, ev: &Ev, slot: usize) -> Result<()> {
        if !self.dirty.is_zero() && d.dirty.chance(self.dirty) {
            self.emit_dirty(d, ev)?;
        }
        let style = d.style_of(ev);
        self.push(Job::Line {
            ev: *ev,
            style,
            offset: None,
            fault: None,
        })?;
        self.accept(d, ev, slot);
        d.recent.push(*ev);
        Ok(())
    }

    fn accept(&mut self, d: &mut DayState, ev: &Ev, slot: usize) {
        self.counters.records += 1;
        self.counters.accepted += 1;
        let acc = &mut d.accs[slot];
        if ev.refund {
            acc.refunds_fen += ev.cny;
            acc.refund_events += 1;
        } else {
            acc.orders += 1;
            acc.gmv_fen += ev.cny;
            let day_start = d.start_ms + (slot as i64 - 1) * DAY_MS;
            acc.per_second[((ev.time_ms - day_start) / 1000) as usize] += 1;
        }
    }

    fn emit_dirty(&mut self, d: &mut DayState, ev: &Ev) -> Result<()> {
        if self.json && d.dirty.below(20) == 0 {
            // A blank line: skipped by readers, not a record.
            self.push(Job::Blank)?;
        }
        let r = d.dirty.below(100);
        if r < 45 {
            if let Some(old) = d.recent.pick(&mut d.dirty) {
                return self.emit_duplicate(d, &old);
            }
        }
        if r < 95 {
            return self.emit_bad(d, ev);
        }
        self.emit_outside(d)
    }

    /// A re-delivery: same event id and instant, perhaps another offset, another amount.
    fn emit_duplicate(&mut self, d: &mut DayState, old: &Ev) -> Result<()> {
        let mut ev = *old;
        let unit = if CURRENCIES[usize::from(ev.currency)].1 {
            100
        } else {
            1
        };
        let delta = (1 + d.dirty.below(500) as i64) * unit;
        ev.amount = if ev.amount + delta < AMOUNT_LIMIT_FEN {
            ev.amount + delta
        } else {
            ev.amount - delta
        };
        let style = d.dirty.next_u64();
        self.push(Job::Line {
            ev,
            style,
            offset: None,
            fault: None,
        })?;
        self.counters.records += 1;
        self.counters.duplicates += 1;
        Ok(())
    }

    /// A copy of the coming good event with one fault, written before it: a rejected line
    /// takes no part in de-duplication, so the good line that follows is still accepted.
    fn emit_bad(&mut self, d: &mut DayState, ev: &Ev) -> Result<()> {
        let kinds = if self.json { &JSON_BAD } else { &CSV_BAD };
        let kind = kinds[d.dirty.below(kinds.len() as u64) as usize];
        let v = d.dirty.next_u64();
        let style = d.dirty.next_u64();
        self.push(Job::Line {
            ev: *ev,
            style,
            offset: None,
            fault: Some((kind, v)),
        })?;
        self.counters.reject(kind.name());
        Ok(())
    }

    /// A paid event just before or just after the day, often written so that its local
    /// date looks like the day itself (`…T16:00:00.000Z` is already the next CST day).
    fn emit_outside(&mut self, d: &mut DayState) -> Result<()> {
        let next = d.dirty.below(2) == 1;
        let jitter = d.dirty.below(1500) as i64;
        let (slot, ms) = if next {
            (2, d.start_ms + DAY_MS + jitter)
        } else {
            (0, d.start_ms - 1 - jitter)
        };
        let offset = match (next, d.dirty.below(2)) {
            (false, 0) => CST,
            (false, _) => Offset::Minutes(9 * 60),
            (true, 0) => Offset::Zulu,
            (true, _) => CST,
        };
        let id_lo = d.dirty.next_u64();
        let ids = (
            id63(d.tag, 2, d.extra_seq),
            id_lo,
            id63(d.tag, 3, d.extra_seq),
        );
        d.extra_seq += 1;
        let pools = (d.buyers, d.sellers);
        let ev = make_paid(
            &self.catalog,
            &mut d.dirty,
            &d.rates[slot],
            ids,
            ms,
            d.plain_multiplier,
            pools,
        );
        let style = d.dirty.next_u64();
        self.push(Job::Line {
            ev,
            style,
            offset: Some(offset),
            fault: None,
        })?;
        self.accept(d, &ev, slot);
        Ok(())
    }
}

/// Turns jobs into bytes: a CSV row or an NDJSON object per line. Runs on every core.
pub(crate) struct Renderer {
    json: bool,
    columns: Vec<usize>,
}

impl Renderer {
    pub(crate) fn new(format: GenFormat, columns: Vec<usize>) -> Self {
        Renderer {
            json: format == GenFormat::Ndjson,
            columns,
        }
    }

    pub(crate) fn render(&self, jobs: &[Job], out: &mut Vec<u8>) {
        let mut line = Line::new();
        for job in jobs {
            match job {
                Job::Blank => out.push(b'\n'),
                Job::Line {
                    ev,
                    style,
                    offset,
                    fault,
                } => {
                    let mut rng = Rng::new(*style, 0);
                    self.fill(&mut line, &mut rng, ev, *offset);
                    match fault {
                        None => self.write_line(&line, out, CsvShape::Whole, false),
                        Some((kind, v)) => self.render_bad(&mut line, out, ev, *kind, *v),
                    }
                }
            }
        }
    }

    /// Writes the filled line with the fault `kind`; `v` shapes it.
    fn render_bad(&self, line: &mut Line, out: &mut Vec<u8>, ev: &Ev, kind: Bad, v: u64) {
        let pick = |n: usize| (v >> 8) as usize % n;
        let (mut shape, mut trailing_comma, mut truncate) = (CsvShape::Whole, false, false);
        match kind {
            Bad::FieldCount => {
                shape = if v.is_multiple_of(2) {
                    CsvShape::OneShort
                } else {
                    CsvShape::OneExtra
                }
            }
            Bad::Json => match v % 3 {
                0 => trailing_comma = true,
                1 => line.set(AMOUNT, b"NaN", Kind::Num),
                _ => truncate = true,
            },
            Bad::Missing => {
                let field = [EVENT_ID, EVENT_TIME, EVENT_TYPE, ORDER_ID, PLATFORM, AMOUNT][pick(6)];
                let how = if self.json { v % 3 } else { 0 };
                match how {
                    0 => line.set_kind(field, Kind::Absent),
                    1 => line.set_kind(field, Kind::Null),
                    _ => line.set(field, b"", Kind::Str),
                }
            }
            Bad::Time => line.set(
                EVENT_TIME,
                BAD_TIMES[pick(BAD_TIMES.len())].as_bytes(),
                Kind::Str,
            ),
            Bad::Amount => line.set(
                AMOUNT,
                BAD_AMOUNTS[pick(BAD_AMOUNTS.len())].as_bytes(),
                Kind::Str,
            ),
            Bad::Type => line.set(
                EVENT_TYPE,
                BAD_TYPES[pick(BAD_TYPES.len())].as_bytes(),
                Kind::Str,
            ),
            Bad::Currency => line.set(
                CURRENCY,
                BAD_CURRENCIES[pick(BAD_CURRENCIES.len())].as_bytes(),
                Kind::Str,
            ),
            Bad::Field => match v % 7 {
                0 => line.set(QUANTITY, b"0", Kind::Num),
                1 => line.set(QUANTITY, b"-1", Kind::Num),
                2 => line.set(BUYER_ID, b"abc", Kind::Str),
                3 => {
                    let mut id = Vec::with_capacity(65);
                    push_uuid(&mut id, ev.id_hi, ev.id_lo);
                    id.resize(65, b'x');
                    line.set(EVENT_ID, &id, Kind::Str);
                }
                4 => {
                    let mut id = Vec::with_capacity(65);
                    push_u64(&mut id, ev.order_id);
                    id.resize(65, b'0');
                    line.set(ORDER_ID, &id, Kind::Str);
                }
                5 => line.set(SELLER_ID, b"12.5", Kind::Str),
                _ => line.set(BUYER_ID, b"9223372036854775808", Kind::Num),
            },
        }
        let start = out.len();
        self.write_line(line, out, shape, trailing_comma);
        if truncate {
            // Cut the object somewhere in its middle, on a character boundary.
            let len = out.len() - start;
            let mut cut = start + len / 3 + (v >> 16) as usize % (len / 3).max(1);
            while out[cut] & 0xc0 == 0x80 {
                cut -= 1;
            }
            out.truncate(cut);
            out.push(b'\n');
        }
    }

    fn write_line(&self, line: &Line, out: &mut Vec<u8>, shape: CsvShape, trailing_comma: bool) {
        if self.json {
            line.write_json(out, &self.columns, trailing_comma);
        } else {
            line.write_csv(out, &self.columns, shape);
        }
    }

    /// Renders the fields of `ev`, choosing how each is written.
    fn fill(&self, l: &mut Line, rng: &mut Rng, ev: &Ev, offset: Option<Offset>) {
        let json = self.json;
        let with_trace = self.columns.len() > TRACE_ID;
        l.clear();
        let s = l.open();
        push_uuid(&mut l.buf, ev.id_hi, ev.id_lo);
        l.close(EVENT_ID, s, Kind::Str);
        let s = l.open();
        if json && offset.is_none() && rng.below(50) == 0 {
            push_i64(&mut l.buf, ev.time_ms);
            l.close(EVENT_TIME, s, Kind::Num);
        } else {
            let offset = offset.unwrap_or_else(|| pick_offset(rng));
            let frac = pick_fraction(rng, ev.time_ms);
            push_time(&mut l.buf, ev.time_ms, offset, frac, rng.next_u64());
            l.close(EVENT_TIME, s, Kind::Str);
        }
        let event_type = if ev.refund { "refunded" } else { "paid" };
        l.set(EVENT_TYPE, event_type.as_bytes(), Kind::Str);
        let s = l.open();
        push_u64(&mut l.buf, ev.order_id);
        l.close(ORDER_ID, s, Kind::Str);
        l.set(
            PLATFORM,
            PLATFORMS[usize::from(ev.platform)].name.as_bytes(),
            Kind::Str,
        );
        let (code, whole, _) = CURRENCIES[usize::from(ev.currency)];
        let s = l.open();
        if whole {
            push_u64(&mut l.buf, (ev.amount / 100) as u64);
            if rng.below(10) == 0 {
                l.buf.extend_from_slice(b".00");
            }
        } else {
            push_amount(&mut l.buf, ev.amount, rng.below(100) < 15);
        }
        let kind = if json && rng.below(100) < 30 {
            Kind::Num
        } else {
            Kind::Str
        };
        l.close(AMOUNT, s, kind);
        if ev.explicit_currency {
            l.set(CURRENCY, code.as_bytes(), Kind::Str);
        } else {
            empty_value(l, CURRENCY, rng, json);
        }
        id_value(l, BUYER_ID, ev.buyer_id, rng, json);
        id_value(l, SELLER_ID, ev.seller_id, rng, json);
        text_value(l, CATEGORY, ev.category, &CATEGORIES, rng, json);
        text_value(l, PROVINCE, ev.province, &PROVINCES, rng, json);
        text_value(l, DEVICE, ev.device, &DEVICES, rng, json);
        if ev.quantity == 0 {
            empty_value(l, QUANTITY, rng, json);
        } else {
            let s = l.open();
            push_u64(&mut l.buf, u64::from(ev.quantity));
            l.close(QUANTITY, s, Kind::Num);
        }
        if with_trace && rng.below(3) != 0 {
            let s = l.open();
            push_uuid(&mut l.buf, rng.next_u64(), rng.next_u64());
            l.close(TRACE_ID, s, Kind::Str);
        }
    }
}

/// An empty optional value: left out, `null` or `""` in JSON; an empty CSV field.
fn empty_value(l: &mut Line, field: usize, rng: &mut Rng, json: bool) {
    if json {
        match rng.below(3) {
            0 => {}
            1 => l.set_kind(field, Kind::Null),
            _ => l.set(field, b"", Kind::Str),
        }
    } else {
        l.set_empty(field);
    }
}

/// A 64-bit id; in JSON a number, or (above 2^53, as JavaScript-safe logs do) sometimes a
/// string.
fn id_value(l: &mut Line, field: usize, id: u64, rng: &mut Rng, json: bool) {
    if id == 0 {
        empty_value(l, field, rng, json);
        return;
    }
    let s = l.open();
    push_u64(&mut l.buf, id);
    let quoted = json && id > 1 << 53 && rng.below(2) == 0;
    l.close(field, s, if quoted { Kind::Str } else { Kind::Num });
}

fn text_value(
    l: &mut Line,
    field: usize,
    index: u8,
    names: &[(&str, u32)],
    rng: &mut Rng,
    json: bool,
) {
    if index == NONE {
        empty_value(l, field, rng, json);
    } else {
        l.set(field, names[usize::from(index)].0.as_bytes(), Kind::Str);
    }
}

fn pick_offset(rng: &mut Rng) -> Offset {
    match rng.below(1000) {
        0..=849 => CST,
        850..=929 => Offset::Zulu,
        _ => Offset::Minutes(OTHER_OFFSETS[rng.below(OTHER_OFFSETS.len() as u64) as usize]),
    }
}

/// Mostly milliseconds; some 6 or 9 digits; the shortest exact form now and then.
fn pick_fraction(rng: &mut Rng, ms: i64) -> u8 {
    match rng.below(100) {
        0..=87 => 3,
        88..=93 => 6,
        94..=97 => 9,
        _ => {
            let milli = ms.rem_euclid(1000);
            if milli == 0 {
                0
            } else if milli % 100 == 0 {
                1
            } else if milli % 10 == 0 {
                2
            } else {
                3
            }
        }
    }
}

/// A CNY amount in another currency's minor units (whole units for JPY and KRW), so that
/// `amount × rate` comes back to about the same CNY.
/// `amount × rate` in CNY fen for an amount below the limit at a rate `run_day` checked:
/// the largest amount converts at it, so every smaller one does (the `None` arm is never
/// taken; were it, the figure would be the largest `amount_cny`, not a wrapped one).
fn cny_of(amount_fen: i64, rate: i64) -> i64 {
    convert_to_cny_fen(amount_fen, rate).unwrap_or(crate::money::AMOUNT_CNY_MAX_FEN)
}

fn to_foreign(cny_fen: i64, rate: i64, whole: bool) -> i64 {
    let num = i128::from(cny_fen) * i128::from(RATE_ONE);
    let rate = i128::from(rate);
    let fen = if whole {
        let unit = rate * 100;
        ((num + unit / 2) / unit).max(1) * 100
    } else {
        ((num + rate / 2) / rate).max(1)
    };
    fen.min(i128::from(AMOUNT_LIMIT_FEN - 100)) as i64
}

fn make_paid(
    cat: &Catalog,
    rng: &mut Rng,
    rates: &[i64; 6],
    (id_hi, id_lo, order_id): (u64, u64, u64),
    time_ms: i64,
    multiplier: i64,
    (buyers, sellers): (u64, u64),
) -> Ev {
    let platform = cat.platforms.pick(rng);
    let p = &PLATFORMS[platform];
    let target = cat.draw_fen(rng, multiplier);
    let currency = if rng.below(1000) < p.foreign_per_mille {
        p.currencies[rng.below(p.currencies.len() as u64) as usize]
    } else {
        CNY
    };
    let (amount, cny) = if currency == CNY {
        (target, target)
    } else {
        let rate = rates[usize::from(currency)];
        let amount = to_foreign(target, rate, CURRENCIES[usize::from(currency)].1);
        (amount, cny_of(amount, rate))
    };
    let explicit_currency = currency != CNY || rng.below(100) < 85;
    // Returning buyers and a skewed seller population; some ids above 2^53, most below.
    let buyer_id = if rng.below(100) == 0 {
        0
    } else {
        let idx = 1 + rng.below(buyers);
        let id = mix63((1 << 61) | idx);
        if idx % 10 < 7 {
            (id >> 10).max(1)
        } else {
            id
        }
    };
    let seller_id = if rng.below(200) == 0 {
        0
    } else {
        let idx = 1 + rng.below(sellers).min(rng.below(sellers));
        let id = mix63((1 << 60) | idx);
        if idx.is_multiple_of(2) {
            (id >> 10).max(1)
        } else {
            id
        }
    };
    let category = if rng.below(50) == 0 {
        NONE
    } else {
        cat.categories.pick(rng) as u8
    };
    let province = if !p.has_province || rng.below(100) == 0 {
        NONE
    } else {
        cat.provinces.pick(rng) as u8
    };
    let device = if rng.below(100) == 0 {
        NONE
    } else {
        cat.devices.pick(rng) as u8
    };
    let q = 1 + cat.quantities.pick(rng) as u8;
    let quantity = if q == 1 && rng.below(10) == 0 { 0 } else { q };
    Ev {
        id_hi,
        id_lo,
        time_ms,
        refund: false,
        order_id,
        platform: platform as u8,
        currency,
        explicit_currency,
        amount,
        cny,
        buyer_id,
        seller_id,
        category,
        province,
        device,
        quantity,
    }
}

/// A refund of an earlier order: all of it, or a part.
fn make_refund(
    rng: &mut Rng,
    order: &Ev,
    (id_hi, id_lo): (u64, u64),
    time_ms: i64,
    rate: i64,
) -> Ev {
    let mut ev = *order;
    ev.refund = true;
    ev.id_hi = id_hi;
    ev.id_lo = id_lo;
    ev.time_ms = time_ms;
    if rng.below(100) >= 60 {
        let unit = if CURRENCIES[usize::from(ev.currency)].1 {
            100
        } else {
            1
        };
        let percent = 10 + rng.below(81) as i64;
        ev.amount = (ev.amount * percent / 100 / unit * unit).max(unit);
    }
    ev.cny = cny_of(ev.amount, rate);
    ev
}
