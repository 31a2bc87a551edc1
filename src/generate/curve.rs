//! The shape of a Singles' Day: paid orders per CST second.
//!
//! A day is a table of 86,400 counts. The relative rate is a piecewise-linear curve through
//! hand-calibrated knots (seconds since 00:00 CST, rate relative to the peak second), plus a
//! one-second needle: the peak second gets exactly `peak` orders and the other seconds
//! share the rest in proportion to the curve, by cumulative rounding, so the day total is
//! exact. Only IEEE basic arithmetic is used, so the table is the same on every platform.
//!
//! Calibration (share of the day's orders, which is also the share of GMV because the mean
//! basket does not depend on the time of day), against the public milestones of the seed:
//! - 2019: peak 544,000 orders at 00:00:20; 3.6 % by 00:01:36 (10 bn of 268.4 bn = 3.7 %),
//!   37.3 % by 01:03:59 (100 bn), 74.5 % by 14:21:27 (200 bn).
//! - 2018: peak 491,000 orders at 00:00:30; 4.6 % by 00:02:05 (10 bn of 213.5 bn = 4.7 %),
//!   47 % by 01:47 (100 bn).
//!
//! Between the first hour and midnight: a quiet night (02:00-07:00), a daytime plateau, an
//! evening bump (20:00-22:00) and a last-hour push.

pub(crate) const SECONDS_PER_DAY: usize = 86_400;

/// Totals and shape of one kind of day, at scale 1.
#[derive(Debug)]
pub(crate) struct Profile {
    /// Paid orders in the day.
    pub(crate) orders: f64,
    /// GMV in yuan.
    pub(crate) gmv_yuan: f64,
    /// Orders in the peak second.
    pub(crate) peak_orders: f64,
    /// The peak second, seconds after 00:00 CST.
    pub(crate) peak_second: u32,
    /// `(second, relative rate)`, the first at 0 and the last at 86,400.
    pub(crate) knots: &'static [(u32, f64)],
}

/// Singles' Day 2019, the seed: 1.3 billion orders, 268.4 billion yuan, peak 544,000/s.
pub(crate) const SEED_DAY: Profile = Profile {
    orders: 1.3e9,
    gmv_yuan: 268.4e9,
    peak_orders: 544_000.0,
    peak_second: 20,
    knots: &[
        (0, 0.90),
        (19, 0.90),
        (21, 0.90),
        (96, 0.90),
        (300, 0.60),
        (600, 0.38),
        (1200, 0.21),
        (2400, 0.11),
        (3840, 0.07),
        (7200, 0.0252),
        (10800, 0.0126),
        (14400, 0.0072),
        (18000, 0.0054),
        (21600, 0.0063),
        (25200, 0.0099),
        (28800, 0.0162),
        (32400, 0.0216),
        (36000, 0.0234),
        (43200, 0.0234),
        (50400, 0.0216),
        (54000, 0.0162),
        (61200, 0.0144),
        (68400, 0.0153),
        (72000, 0.0189),
        (75600, 0.0207),
        (79200, 0.0189),
        (82800, 0.0180),
        (86400, 0.0270),
    ],
};

/// The year-over-year base day (Singles' Day 2018): 213.5 billion yuan, so the seed day is
/// +25.7 %. Orders scale by the same ratio (1.3e9 × 213.5 / 268.4 ≈ 1.034 billion, the
/// same mean basket of 206.46 yuan); the peak is 2018's published 491,000 orders/s.
pub(crate) const BASE_DAY: Profile = Profile {
    orders: 1.3e9 * 213.5 / 268.4,
    gmv_yuan: 213.5e9,
    peak_orders: 491_000.0,
    peak_second: 30,
    knots: &[
        (0, 0.75),
        (29, 0.90),
        (31, 0.90),
        (125, 0.82),
        (400, 0.48),
        (900, 0.28),
        (1800, 0.17),
        (3600, 0.095),
        (6420, 0.045),
        (7200, 0.02296),
        (10800, 0.01148),
        (14400, 0.00656),
        (18000, 0.00492),
        (21600, 0.00574),
        (25200, 0.00902),
        (28800, 0.01476),
        (32400, 0.01968),
        (36000, 0.02132),
        (43200, 0.02132),
        (50400, 0.01968),
        (54000, 0.01476),
        (61200, 0.01312),
        (68400, 0.01394),
        (72000, 0.01722),
        (75600, 0.01886),
        (79200, 0.01722),
        (82800, 0.01640),
        (86400, 0.02460),
    ],
};

/// Integer weight of every second (the peak second's own weight is 0: it is set apart).
fn weights(profile: &Profile) -> Vec<u64> {
    let knots = profile.knots;
    let mut out = Vec::with_capacity(SECONDS_PER_DAY);
    let mut j = 0;
    for t in 0..SECONDS_PER_DAY as u32 {
        while knots[j + 1].0 <= t {
            j += 1;
        }
        let ((t0, a), (t1, b)) = (knots[j], knots[j + 1]);
        let rate = a + (b - a) * f64::from(t - t0) / f64::from(t1 - t0);
        out.push((rate * 1e9).round() as u64);
    }
    out[profile.peak_second as usize] = 0;
    out
}

/// Orders per second: exactly `orders` in total and exactly `min(peak, orders)` in the peak
/// second. `dither` (any `u64`) shifts the rounding so seeds differ in detail.
pub(crate) fn per_second_counts(
    profile: &Profile,
    orders: u64,
    peak: u64,
    dither: u64,
) -> Vec<u32> {
    let w = weights(profile);
    let peak = peak.min(orders);
    let rest = u128::from(orders - peak);
    let total: u128 = w.iter().map(|&x| u128::from(x)).sum();
    let offset = u128::from(dither) % total;
    let mut counts = Vec::with_capacity(SECONDS_PER_DAY);
    let (mut cum, mut prev) = (0u128, 0u128);
    for &x in &w {
        cum += u128::from(x);
        let f = (cum * rest + offset) / total;
        counts.push((f - prev) as u32);
        prev = f;
    }
    counts[profile.peak_second as usize] = peak as u32;
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share_by(counts: &[u32], seconds: usize) -> f64 {
        let all: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        let part: u64 = counts[..seconds].iter().map(|&c| u64::from(c)).sum();
        part as f64 / all as f64
    }

    #[test]
    fn totals_and_peaks_are_exact() {
        for (profile, orders, peak) in [
            (&SEED_DAY, 1_300_000_000u64, 544_000u64),
            (&SEED_DAY, 130_000, 54),
            (&BASE_DAY, 1_034_091, 491),
            (&SEED_DAY, 5, 0),
        ] {
            let c = per_second_counts(profile, orders, peak, 12345);
            assert_eq!(c.len(), SECONDS_PER_DAY);
            assert_eq!(c.iter().map(|&x| u64::from(x)).sum::<u64>(), orders);
            assert_eq!(u64::from(c[profile.peak_second as usize]), peak);
            if peak > 20 {
                let (i, m) = c
                    .iter()
                    .enumerate()
                    .max_by_key(|&(i, &v)| (v, std::cmp::Reverse(i)))
                    .unwrap();
                assert_eq!((i as u32, u64::from(*m)), (profile.peak_second, peak));
            }
        }
    }

    #[test]
    fn the_seed_day_follows_its_milestones() {
        let c = per_second_counts(&SEED_DAY, 1_300_000_000, 544_000, 0);
        let s = share_by(&c, 96);
        assert!((0.034..0.040).contains(&s), "10 bn milestone: {s}");
        let s = share_by(&c, 3839);
        assert!((0.36..0.385).contains(&s), "100 bn milestone: {s}");
        let s = share_by(&c, 51687);
        assert!((0.73..0.76).contains(&s), "200 bn milestone: {s}");
        // A quiet night and an evening bump.
        let hour = |h: usize| {
            c[h * 3600..(h + 1) * 3600]
                .iter()
                .map(|&x| u64::from(x))
                .sum::<u64>()
        };
        assert!(hour(4) * 3 < hour(12));
        assert!(hour(21) > hour(17));
        let c = per_second_counts(&BASE_DAY, 1_034_090_909, 491_000, 0);
        let s = share_by(&c, 125);
        assert!((0.04..0.05).contains(&s), "2018 10 bn milestone: {s}");
        let s = share_by(&c, 6420);
        assert!((0.44..0.50).contains(&s), "2018 100 bn milestone: {s}");
    }
}
