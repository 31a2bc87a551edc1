//! `double11 report … --format html`: the offline page of the sample warehouse has its SVG
//! charts next to the tables, the charts carry the same exact figures as the CSV output, and
//! headless Chromium renders it (skipped with a message where Chromium is not installed; a
//! failure under `CI=true`, and CI installs it).

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const DAY: &str = "2019-11-11";
const BASE: &str = "2018-11-11";
const CHROMIUM: &str = "/usr/bin/chromium";

/// The sample logs ingested once for the whole file.
fn warehouse() -> &'static Path {
    static WH: OnceLock<PathBuf> = OnceLock::new();
    WH.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("report-html-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let wh = dir.join("wh");
        common::ingest(&wh, &[&common::sample_logs()]);
        wh
    })
}

/// Runs `report <name> --day DAY --compare BASE --format <format> --out <new dir>`.
fn report(name: &str, format: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().expect("tempdir");
    common::ok(&[
        "report",
        name,
        "--warehouse",
        common::path(warehouse()),
        "--day",
        DAY,
        "--compare",
        BASE,
        "--format",
        format,
        "--out",
        common::path(out.path()),
    ]);
    out
}

/// The HTML page of report `name` (all, revenue, growth, peak or summary), all made once.
fn page(name: &str) -> PathBuf {
    static PAGES: OnceLock<Vec<tempfile::TempDir>> = OnceLock::new();
    let pages = PAGES.get_or_init(|| {
        ["all", "revenue", "growth", "peak", "summary"]
            .iter()
            .map(|r| report(r, "html"))
            .collect()
    });
    pages
        .iter()
        .map(|d| d.path().join(format!("{name}.html")))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no page {name}.html"))
}

/// Every query's CSV rows (header first) of `report all`.
fn csv_all() -> &'static BTreeMap<String, Vec<Vec<String>>> {
    static ALL: OnceLock<BTreeMap<String, Vec<Vec<String>>>> = OnceLock::new();
    ALL.get_or_init(|| {
        let out = report("all", "csv");
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(out.path()).expect("out dir") {
            let path = entry.expect("entry").path();
            let name = path
                .file_stem()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).expect("read csv");
            files.insert(name, common::parse_csv(&text));
        }
        files
    })
}

/// The value of `column` in each data row of `query`.
fn column(query: &str, column: &str) -> Vec<String> {
    let rows = &csv_all()[query];
    let i = rows[0]
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("{query} has no column {column}: {:?}", rows[0]));
    rows[1..].iter().map(|r| r[i].clone()).collect()
}

/// A plain decimal with thousands separators, written here from the text alone:
/// `1081388.03` -> `1,081,388.03`.
fn grouped(raw: &str) -> String {
    let (sign, body) = raw.strip_prefix('-').map_or(("", raw), |b| ("-", b));
    let (int, frac) = body
        .split_once('.')
        .map_or((body, None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().rev().enumerate() {
        if i > 0 && i % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    let int: String = out.chars().rev().collect();
    match frac {
        Some(f) => format!("{sign}{int}.{f}"),
        None => format!("{sign}{int}"),
    }
}

/// A fraction such as `0.256652` as a percentage with 2 decimals, rounded half away from zero,
/// from its digits: `25.67`.
fn percent(raw: &str) -> String {
    let negative = raw.starts_with('-');
    let body = raw.trim_start_matches('-');
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let frac = format!("{frac:0<6}");
    // Ten-thousandths of the fraction = hundredths of a percent.
    let units: i64 = format!("{int}{}", &frac[..4]).parse().expect("digits");
    let next: u32 = frac[4..5].parse().expect("a digit");
    let units = units + i64::from(next >= 5);
    let text = format!("{}.{:02}", units / 100, units % 100);
    if negative && units != 0 {
        format!("-{text}")
    } else {
        text
    }
}

/// The headline band of a page: the HTML between its `<section class="band"` and `</section>`.
fn band(html: &str) -> &str {
    let start = html
        .find("<section class=\"band\"")
        .expect("a headline band");
    let len = html[start..].find("</section>").expect("the band ends");
    &html[start..start + len]
}

fn svgs(html: &str) -> Vec<&str> {
    html.split("<svg")
        .skip(1)
        .map(|s| s.split("</svg>").next().unwrap_or(s))
        .collect()
}

/// The text of every `<text>` element of `svg`, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            Some(
                t.split_once('>')?
                    .1
                    .split("</text>")
                    .next()?
                    .trim()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn the_page_has_charts_with_the_csv_figures() {
    let all = std::fs::read_to_string(page("all")).expect("all.html");
    let charts = svgs(&all);
    // revenue.cumulative (with the compare day's curve), revenue.platform, growth.clock,
    // peak.midnight.
    assert_eq!(charts.len(), 4, "charts of report all");
    for (name, n) in [("revenue", 2), ("growth", 1), ("peak", 1), ("summary", 0)] {
        let html = std::fs::read_to_string(page(name)).expect("page");
        assert_eq!(svgs(&html).len(), n, "charts of report {name}");
    }
    assert!(
        !all.contains("<script")
            && !all.contains("src=\"http")
            && !all.contains("href=\"http")
            && !all.contains("@font-face")
            && !all.contains("<image"),
        "the page is self-contained"
    );
    // Axis labels are SVG text, laid out by the browser: no font was needed to draw them.
    let labels = texts(charts[0]);
    for label in ["00:00", "12:00", "24:00", "CST time", "GMV (CNY)"] {
        assert!(
            labels.iter().any(|l| l == label),
            "axis label {label} in {labels:?}"
        );
    }

    // Each platform's bar is labelled with the exact GMV and orders of revenue.platform.csv,
    // and the table shows the same cells.
    let platform = charts
        .iter()
        .find(|c| c.contains("GMV by platform"))
        .expect("the platform chart");
    let gmv = column("revenue.platform", "gmv_cny");
    let orders = column("revenue.platform", "orders");
    assert!(gmv.len() >= 2, "several platforms: {gmv:?}");
    for (g, o) in gmv.iter().zip(&orders) {
        let label = format!("{} CNY · {} orders", grouped(g), grouped(o));
        assert!(
            platform.contains(&label),
            "the platform chart shows {label}"
        );
        assert!(
            all.contains(&format!(" title=\"{g}\">{}</td>", grouped(g))),
            "the table shows {g} as {}",
            grouped(g)
        );
    }

    // The midnight chart names the busiest second of peak.midnight.csv, which is the peak
    // second of the day (peak.csv) in the sample.
    let seconds = column("peak.midnight", "second_cst");
    let counts: Vec<i64> = column("peak.midnight", "orders")
        .iter()
        .map(|c| c.parse().expect("orders"))
        .collect();
    let max = *counts.iter().max().expect("600 seconds");
    let at = &seconds[counts.iter().position(|c| *c == max).expect("max")];
    let title = format!("busiest: {} at {at}", grouped(&max.to_string()));
    assert!(
        charts[3].contains(&title),
        "the midnight chart says {title}"
    );
    let peak = &csv_all()["peak"][1];
    assert_eq!(peak[0], format!("{DAY}T{at}+08:00"), "peak second");
    assert_eq!(peak[1], max.to_string(), "peak orders");
    for cell in peak {
        assert!(
            all.contains(&format!(">{cell}</td>")) || all.contains(&format!(" title=\"{cell}\">")),
            "the page shows {cell}"
        );
    }

    // The cumulative curves end at the day's GMV: the tables show the exact totals.
    let total = column("revenue.cumulative", "cum_gmv_cny");
    let growth = &csv_all()["growth"];
    let gmv_at = growth[0]
        .iter()
        .position(|c| c == "gmv_cny")
        .expect("gmv_cny");
    assert_eq!(total.last(), Some(&growth[1][gmv_at]));
    assert!(charts[0].contains(BASE) && charts[2].contains(BASE) && charts[2].contains(DAY));
}

/// The first screen answers the seed's questions: GMV with a unit, orders, growth on the
/// compare day, the peak second and the milestones, each the exact figure of the CSV report
/// shown for people; then the charts, then the tables, whose long ones start folded and whose
/// shares and growth read as percentages with the raw value kept on hover.
#[test]
fn the_first_screen_answers_the_seeds_questions() {
    let all = std::fs::read_to_string(page("all")).expect("all.html");
    let band = band(&all);
    let at = |needle: &str| all.find(needle).unwrap_or_else(|| panic!("{needle}"));
    assert!(at("class=\"band\"") < at("<svg") && at("<svg") < at("<table"));

    let summary = &csv_all()["summary"];
    let cell = |rows: &Vec<Vec<String>>, name: &str| -> String {
        let i = rows[0].iter().position(|c| c == name).expect(name);
        rows[1][i].clone()
    };
    // GMV 1081388.03 yuan: 108.14 万, 1.08 M, and the exact figure.
    let gmv = cell(summary, "gmv_cny");
    let (yuan, fen) = gmv.split_once('.').expect("2 decimals");
    let fen: i64 = format!("{yuan}{fen}").parse().expect("fen");
    assert!(
        (1_000_000..10_000_000_000).contains(&fen),
        "the sample is in 万 (10^4 to 10^8 yuan, in fen): {gmv}"
    );
    let wan = (fen + 5_000) / 10_000; // hundredths of 万, half up
    let mega = (fen + 500_000) / 1_000_000; // hundredths of a million
    for text in [
        format!("{}.{:02} M yuan", mega / 100, mega % 100),
        format!("{}.{:02} 万", wan / 100, wan % 100),
        format!("¥{}", grouped(&gmv)),
        grouped(&cell(summary, "orders")),
        format!("{} buyers", grouped(&cell(summary, "buyers"))),
    ] {
        assert!(band.contains(&text), "the band shows {text}:\n{band}");
    }
    let growth = &csv_all()["growth"];
    for text in [
        format!("GMV growth on {BASE}"),
        format!("+{} %", percent(&cell(growth, "gmv_growth"))),
        format!("orders +{} %", percent(&cell(growth, "orders_growth"))),
    ] {
        assert!(band.contains(&text), "the band shows {text}:\n{band}");
    }
    let peak = &csv_all()["peak"];
    let second = cell(peak, "second_cst");
    let clock = &second[11..19];
    for text in [
        format!("{} orders", cell(peak, "orders")),
        format!("at {clock} CST"),
    ] {
        assert!(band.contains(&text), "the band shows {text}:\n{band}");
    }
    // The sample day is far from a billion yuan.
    assert!(
        column("milestones", "reached_at_cst")
            .iter()
            .all(String::is_empty)
            && band.contains("none passed"),
        "{band}"
    );

    // Shares and growth in the tables: percentages, the raw fraction on hover.
    let share = column("revenue.category", "gmv_share");
    let shown = format!(" title=\"{}\">{} %</td>", share[0], percent(&share[0]));
    assert!(all.contains(&shown), "{shown}");
    let clock_growth = column("growth.clock", "gmv_growth");
    let negative = clock_growth
        .iter()
        .find(|g| g.starts_with('-'))
        .expect("a minute behind last year");
    let shown = format!(" title=\"{negative}\">{} %</td>", percent(negative));
    assert!(all.contains(&shown), "{shown}");
    // Long tables start folded, short ones open.
    assert!(all.contains("<details><summary>1440 rows</summary>"));
    assert!(all.contains("<details open><summary>1 row</summary>"));
    // The CSV output keeps the raw values.
    assert!(share[0].starts_with("0.") && !gmv.contains(','));
}

/// Runs Chromium headless on `url` with `extra` arguments, a fresh profile, no network
/// services, and a 120 s limit.
fn chromium(extra: &[&str], url: &str) -> Output {
    let profile = tempfile::tempdir().expect("profile dir");
    // Output to files, not pipes: a DOM dump is larger than a pipe's buffer.
    let stdout = profile.path().join("stdout");
    let stderr = profile.path().join("stderr");
    let file = |p: &Path| std::fs::File::create(p).expect("output file");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", common::path(profile.path())))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(file(&stdout))
        .stderr(file(&stderr))
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait chromium") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took more than 120 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: std::fs::read(&stdout).expect("chromium stdout"),
        stderr: std::fs::read(&stderr).expect("chromium stderr"),
    }
}

fn url(path: &Path) -> String {
    format!("file://{}", common::path(path))
}

/// A screenshot of `path`, 1280×2000: its size in bytes.
fn screenshot(path: &Path, png: &Path) -> u64 {
    let _ = std::fs::remove_file(png);
    let shot = format!("--screenshot={}", common::path(png));
    let out = chromium(&[&shot, "--window-size=1280,2000"], &url(path));
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 0,
        "chromium wrote no screenshot of {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    size
}

#[test]
fn chromium_renders_the_charts() {
    if !Path::new(CHROMIUM).is_file() {
        common::cannot_run_here(
            "chromium_renders_the_charts",
            &format!("Chromium is not installed at {CHROMIUM}"),
            "install it (apt-get install chromium)",
        );
        return;
    }
    let revenue = page("revenue");
    let all = page("all");
    let dir = tempfile::tempdir().expect("tempdir");

    // The rendered DOM holds the charts, their lines and their text.
    let dom = chromium(&["--dump-dom"], &url(&all));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(svgs(&dom).len(), 4, "charts in the rendered DOM");
    assert!(
        dom.contains("<polyline") && dom.contains("<text"),
        "lines and labels"
    );
    // The headline band is rendered with the figures of the generated page.
    let html = std::fs::read_to_string(&all).expect("all.html");
    let cards = band(&html).matches("class=\"card\"").count();
    assert_eq!(cards, 5, "GMV, orders, growth, peak, milestones");
    assert_eq!(band(&dom).matches("class=\"card\"").count(), cards);
    let gmv = &csv_all()["summary"][1][2];
    assert_eq!(csv_all()["summary"][0][2], "gmv_cny");
    assert!(
        band(&dom).contains(&format!("¥{}", grouped(gmv))),
        "the rendered band shows the GMV {gmv}"
    );

    // A screenshot of the page is far richer than one of an empty page.
    let empty = dir.path().join("empty.html");
    std::fs::write(&empty, "<!DOCTYPE html><html><body></body></html>").expect("empty page");
    let blank = screenshot(&empty, &dir.path().join("empty.png"));
    let shot = screenshot(&revenue, &dir.path().join("revenue.png"));
    assert!(
        shot > 5 * blank,
        "the screenshot of the revenue page ({shot} bytes) is not much more than that of an empty page ({blank} bytes)"
    );
    let shot = screenshot(&all, &dir.path().join("all.png"));
    assert!(
        shot > 5 * blank,
        "the screenshot of report all ({shot} bytes) is not much more than that of an empty page ({blank} bytes)"
    );
}
