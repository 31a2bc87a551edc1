//! What the synthetic orders are made of: platforms, currencies, categories, provinces,
//! devices and the basket-size distribution.

use super::rng::{Rng, Weighted};

/// A platform, its share of orders, and how often (per mille) it sells in which currencies.
pub(crate) struct Platform {
    pub(crate) name: &'static str,
    pub(crate) weight: u32,
    pub(crate) foreign_per_mille: u64,
    pub(crate) currencies: &'static [u8],
    /// Cross-border buyers have no Chinese province.
    pub(crate) has_province: bool,
}

/// Currency indexes into [`CURRENCIES`].
pub(crate) const CNY: u8 = 0;
const USD: u8 = 1;
const EUR: u8 = 2;
const JPY: u8 = 3;
const KRW: u8 = 4;
const HKD: u8 = 5;

/// `(code, whole units only, a typical rate in 10^-6 CNY)`; JPY and KRW have no minor unit
/// in practice, so their amounts are whole numbers.
pub(crate) const CURRENCIES: [(&str, bool, i64); 6] = [
    ("CNY", false, 1_000_000),
    ("USD", false, 7_000_000),
    ("EUR", false, 7_750_000),
    ("JPY", true, 64_500),
    ("KRW", true, 6_040),
    ("HKD", false, 894_000),
];

/// About 3 % of all orders come out in a foreign currency.
pub(crate) const PLATFORMS: [Platform; 5] = [
    Platform {
        name: "tmall",
        weight: 45,
        foreign_per_mille: 5,
        currencies: &[HKD],
        has_province: true,
    },
    Platform {
        name: "taobao",
        weight: 35,
        foreign_per_mille: 5,
        currencies: &[USD],
        has_province: true,
    },
    Platform {
        name: "tmall_global",
        weight: 8,
        foreign_per_mille: 120,
        currencies: &[HKD, JPY, USD, KRW],
        has_province: true,
    },
    Platform {
        name: "aliexpress",
        weight: 7,
        foreign_per_mille: 220,
        currencies: &[USD, USD, EUR, KRW],
        has_province: false,
    },
    Platform {
        name: "kaola",
        weight: 5,
        foreign_per_mille: 60,
        currencies: &[JPY, KRW],
        has_province: true,
    },
];

/// Categories, some with a comma, a quote or Chinese characters to exercise CSV quoting,
/// JSON escaping and UTF-8.
pub(crate) const CATEGORIES: [(&str, u32); 15] = [
    ("Apparel", 160),
    ("女装", 60),
    ("Shoes, Bags", 80),
    ("Electronics", 120),
    ("Beauty", 110),
    ("Home & Garden", 90),
    ("Food", 90),
    ("Mother & Baby", 70),
    ("Sports", 50),
    ("Books", 30),
    ("Digital, Accessories", 40),
    ("家电", 40),
    ("Health", 30),
    ("Pets", 20),
    ("Toys \"Lego\" & Co", 10),
];

/// The 31 provincial-level divisions of the mainland, weighted roughly by online retail.
pub(crate) const PROVINCES: [(&str, u32); 31] = [
    ("Guangdong", 160),
    ("Zhejiang", 130),
    ("Jiangsu", 100),
    ("Shanghai", 80),
    ("Beijing", 70),
    ("Shandong", 60),
    ("Fujian", 50),
    ("Sichuan", 40),
    ("Henan", 40),
    ("Hubei", 40),
    ("Hunan", 30),
    ("Anhui", 30),
    ("Hebei", 30),
    ("Chongqing", 20),
    ("Tianjin", 20),
    ("Shaanxi", 20),
    ("Liaoning", 20),
    ("Jiangxi", 20),
    ("Guangxi", 20),
    ("Yunnan", 10),
    ("Shanxi", 10),
    ("Heilongjiang", 10),
    ("Jilin", 10),
    ("Guizhou", 10),
    ("Inner Mongolia", 8),
    ("Xinjiang", 6),
    ("Hainan", 6),
    ("Gansu", 6),
    ("Ningxia", 3),
    ("Qinghai", 2),
    ("Tibet", 1),
];

pub(crate) const DEVICES: [(&str, u32); 2] = [("mobile", 94), ("pc", 6)];

/// Basket sizes in yuan: `(from, to, weight)`, uniform inside a band. The weights follow a
/// log-normal with a median of 95 yuan and σ = 1.2 (mean ≈ 200 yuan); draws are scaled to
/// the day's target mean (206.46 yuan) in integer fixed point.
const BANDS: [(i64, i64, u32); 20] = [
    (1, 5, 700),
    (5, 10, 2325),
    (10, 20, 6674),
    (20, 30, 7132),
    (30, 50, 12798),
    (50, 80, 14670),
    (80, 100, 7398),
    (100, 150, 13121),
    (150, 200, 8423),
    (200, 300, 9854),
    (300, 500, 8578),
    (500, 800, 4529),
    (800, 1000, 1299),
    (1000, 1500, 1417),
    (1500, 2000, 518),
    (2000, 3000, 355),
    (3000, 5000, 153),
    (5000, 8000, 37),
    (8000, 12000, 8),
    (12000, 20000, 2),
];

/// Price endings in fen: x.00, x.90, x.99, x.80, x.50.
const ENDINGS: [i64; 5] = [0, 90, 99, 80, 50];

/// Fixed point of the amount multiplier: 1.0 is 65,536.
pub(crate) const ONE: i64 = 1 << 16;

/// The weighted tables, built once.
pub(crate) struct Catalog {
    pub(crate) platforms: Weighted,
    pub(crate) categories: Weighted,
    pub(crate) provinces: Weighted,
    pub(crate) devices: Weighted,
    pub(crate) quantities: Weighted,
    bands: Weighted,
    /// Mean draw in fen at multiplier 1.0.
    pub(crate) mean_fen: i64,
}

impl Catalog {
    pub(crate) fn new() -> Self {
        let total: i64 = BANDS.iter().map(|b| i64::from(b.2)).sum();
        // Uniform on [from, to) in fen has mean (from + to) / 2 - 0.5 fen.
        let sum: i64 = BANDS
            .iter()
            .map(|&(a, b, w)| i64::from(w) * ((a + b) * 50))
            .sum();
        Catalog {
            platforms: Weighted::new(PLATFORMS.iter().map(|p| p.weight)),
            categories: Weighted::new(CATEGORIES.iter().map(|c| c.1)),
            provinces: Weighted::new(PROVINCES.iter().map(|p| p.1)),
            devices: Weighted::new(DEVICES.iter().map(|d| d.1)),
            quantities: Weighted::new([780, 120, 50, 30, 20]),
            bands: Weighted::new(BANDS.iter().map(|b| b.2)),
            mean_fen: sum / total,
        }
    }

    /// A basket in fen, scaled by `multiplier / ONE`; often with a shop-style price ending.
    #[inline]
    pub(crate) fn draw_fen(&self, rng: &mut Rng, multiplier: i64) -> i64 {
        let (from, to, _) = BANDS[self.bands.pick(rng)];
        let raw = from * 100 + rng.below(((to - from) * 100) as u64) as i64;
        let v = raw * multiplier / ONE;
        let v = if rng.below(10) < 6 {
            v / 100 * 100 + ENDINGS[rng.below(ENDINGS.len() as u64) as usize]
        } else {
            v
        };
        v.max(1)
    }
}
