//! Hostile input: what a broken log shipper or an attacker can put in an inbox. Each case
//! checks the stated outcome end to end through the binary: a record of GiBs inside a
//! compressed file is rejected with its size while peak memory stays bounded and the good
//! records around it are kept; odd bytes and odd JSON are rejects with reasons, never a
//! crash; links, FIFOs and mislabelled files are skipped, named and retried later; a stream
//! that breaks off keeps what was read before the damage.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a run of the binary did: exit code, stdout, stderr, and its peak resident memory
/// (the highest `VmHWM` seen while it ran).
struct Observed {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    peak_rss_kib: u64,
}

/// Runs `double11 <args>` and watches its memory; fails the test if it runs longer than
/// `limit` (a hang) and kills it.
fn observe(args: &[&str], limit: Duration) -> Observed {
    let mut child = common::double11()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the double11 binary starts");
    let status_path = format!("/proc/{}/status", child.id());
    let started = Instant::now();
    let mut peak = 0;
    // Read the pipes on threads, so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("double11 {args:?} still ran after {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = err_reader.join().expect("stderr reader");
    assert!(
        !stderr.contains("panicked"),
        "a panic reached the user: {stderr}"
    );
    Observed {
        code: status.code(),
        stdout: out_reader.join().expect("stdout reader"),
        stderr,
        peak_rss_kib: peak,
    }
}

fn ingest_args<'a>(wh: &'a Path, inputs: &[&'a Path]) -> Vec<&'a str> {
    let mut args = vec!["-q", "ingest", "--warehouse", common::path(wh)];
    args.extend(inputs.iter().map(|p| common::path(p)));
    args
}

/// A CSV header and `n` clean, distinct paid events of 2019-11-11, one per line.
fn good_csv_lines(n: usize, prefix: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "{prefix}{i},2019-11-11T10:{:02}:{:02}.000+08:00,paid,o{prefix}{i},tmall,{}.{:02},CNY",
                i / 60 % 60,
                i % 60,
                1 + i % 900,
                i % 100
            )
        })
        .collect()
}

const CSV_HEADER: &str = "event_id,event_time,event_type,order_id,platform,amount,currency";

/// Writes `before` lines, then one line of `long` bytes of `x` with no quote or newline, then
/// `after` lines, through `encode` (a compressor, or none).
fn write_with_long_line(
    path: &Path,
    before: &[String],
    long: u64,
    after: &[String],
    mut out: Box<dyn Write>,
) {
    writeln!(out, "{CSV_HEADER}").expect("write");
    for l in before {
        writeln!(out, "{l}").expect("write");
    }
    let block = vec![b'x'; 1 << 20];
    let mut left = long;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n]).expect("write");
        left -= n as u64;
    }
    out.write_all(b"\n").expect("write");
    for l in after {
        writeln!(out, "{l}").expect("write");
    }
    out.flush().expect("flush");
    drop(out);
    assert!(path.exists());
}

fn zstd_writer(path: &Path) -> Box<dyn Write> {
    let file = std::fs::File::create(path).expect("create");
    Box::new(
        zstd::stream::write::Encoder::new(file, 3)
            .expect("zstd")
            .auto_finish(),
    )
}

fn gzip_writer(path: &Path) -> Box<dyn Write> {
    let file = std::fs::File::create(path).expect("create");
    Box::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ))
}

fn count(wh: &Path, sql: &str) -> String {
    common::sql(wh, sql)[1][0].clone()
}

#[test]
fn a_record_of_gibs_in_a_compressed_file_is_rejected_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = good_csv_lines(30_000, "b");
    let after = good_csv_lines(30_000, "a");

    // The same good records without the long line: the memory to compare with.
    let plain = dir.path().join("plain.csv.zst");
    write_with_long_line(&plain, &before, 0, &after, zstd_writer(&plain));
    let wh_plain = dir.path().join("wh-plain");
    let base = observe(&ingest_args(&wh_plain, &[&plain]), Duration::from_secs(120));
    assert_eq!(base.code, Some(0), "{}", base.stderr);

    let long: u64 = 3 << 30; // 3 GiB of one line, a few hundred KiB compressed
    let bomb = dir.path().join("bomb.csv.zst");
    write_with_long_line(&bomb, &before, long, &after, zstd_writer(&bomb));
    assert!(std::fs::metadata(&bomb).expect("size").len() < 10 << 20);
    let wh = dir.path().join("wh");
    let run = observe(&ingest_args(&wh, &[&bomb]), Duration::from_secs(300));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let extra_mib = run.peak_rss_kib.saturating_sub(base.peak_rss_kib) / 1024;
    assert!(
        extra_mib < 300,
        "the long line cost {extra_mib} MiB more ({} KiB vs {} KiB)",
        run.peak_rss_kib,
        base.peak_rss_kib
    );

    // Every good record on both sides is kept; the long one is one reject with its size.
    assert_eq!(count(&wh, "SELECT count(*) FROM transactions"), "60000");
    let rows = common::sql(
        &wh,
        "SELECT line, kind, reason, length(raw), substr(raw, 1, 5) FROM rejects",
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    let r = &rows[1];
    assert_eq!(r[0], "30002", "header, 30000 records, then the long line");
    assert_eq!(r[1], "record_too_long");
    assert!(
        r[2].contains(&format!("record of {long} bytes")),
        "{}",
        r[2]
    );
    assert!(r[2].contains("--max-record-bytes"), "{}", r[2]);
    assert!(r[2].contains(&format!("{} cut", long - 4096)), "{}", r[2]);
    assert_eq!((r[3].as_str(), r[4].as_str()), ("4096", "xxxxx"));
    let m = common::manifest(&wh);
    let totals = &m["runs"][0]["totals"];
    assert_eq!(totals["records"], 60_001, "{totals}");
    assert_eq!(totals["rejected"], 1, "{totals}");
}

#[test]
fn a_long_line_in_gzip_ndjson_and_a_smaller_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let event = |id: &str| {
        format!(
            r#"{{"event_id":"{id}","event_time":"2019-11-11T00:00:01+08:00","event_type":"paid","order_id":"o-{id}","platform":"taobao","amount":"12.50"}}"#
        )
    };
    let path = dir.path().join("long.jsonl.gz");
    let mut out = gzip_writer(&path);
    writeln!(out, "{}", event("first")).expect("write");
    // A JSON object of 300 MiB: valid JSON, but no event is that long.
    write!(out, r#"{{"event_id":"big","category":""#).expect("write");
    let block = vec![b'y'; 1 << 20];
    for _ in 0..300 {
        out.write_all(&block).expect("write");
    }
    writeln!(out, r#""}}"#).expect("write");
    writeln!(out, "{}", event("last")).expect("write");
    // A record just over a small limit, inside an ordinary chunk.
    writeln!(out, "{}", event(&"z".repeat(100))).expect("write");
    drop(out);

    let wh = dir.path().join("wh");
    let p = common::path(&path);
    let args = [
        "-q",
        "ingest",
        "--warehouse",
        common::path(&wh),
        "--max-record-bytes",
        "256",
        p,
    ];
    let run = observe(&args, Duration::from_secs(120));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.peak_rss_kib < 700 * 1024,
        "peak {} KiB",
        run.peak_rss_kib
    );
    let ids = common::sql(&wh, "SELECT event_id FROM transactions ORDER BY event_id");
    assert_eq!(
        ids[1..],
        [vec!["first".to_string()], vec!["last".to_string()]]
    );
    let rejects = common::sql(
        &wh,
        "SELECT line, kind, length(raw) FROM rejects ORDER BY line",
    );
    assert_eq!(rejects[1], ["2", "record_too_long", "4096"]);
    assert_eq!(
        rejects[2][..2],
        ["4".to_string(), "record_too_long".to_string()]
    );

    // The limit is checked: too small or too large is a usage error, before anything is read.
    for bad in ["255", "1073741825", "lots"] {
        let err = common::fails(
            &[
                "ingest",
                "--warehouse",
                common::path(&wh),
                "--max-record-bytes",
                bad,
                p,
            ],
            2,
        );
        assert!(err.contains("max-record-bytes"), "{err}");
    }
}

#[test]
fn odd_bytes_and_odd_json_are_rejects_with_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = "g1,2019-11-11T00:00:01+08:00,paid,o1,tmall,10.00,CNY";
    let mut csv: Vec<u8> = Vec::new();
    csv.extend_from_slice("\u{feff}".as_bytes()); // a BOM before the header
    csv.extend_from_slice(CSV_HEADER.as_bytes());
    csv.extend_from_slice(b"\r\n");
    csv.extend_from_slice(good.as_bytes());
    csv.extend_from_slice(b"\r\n"); // CRLF: accepted
    csv.extend_from_slice(b"n1,2019-11-11T00:00:02+08:00,paid,o\x002,tmall,10.00,CNY\n"); // NUL in an id
    csv.extend_from_slice(b"u1,2019-11-11T00:00:03+08:00,paid,o\xff\xfe,tmall,10.00,CNY\n"); // invalid UTF-8
    csv.extend_from_slice(b"w1,2019-11-11T00:00:04+08:00,paid,o4,tmall,10.00,CNY");
    csv.extend(std::iter::repeat_n(&b",x"[..], 10_000).flatten()); // 10,000 extra columns
    csv.extend_from_slice(b"\n");
    csv.extend_from_slice(b"e1,2019-11-11T00:00:05+08:00,paid,o5,tmall,1e400,CNY\n");
    csv.extend_from_slice(b"\x00\x00\x00\n"); // a line of NULs
    let csv_path = dir.path().join("odd.csv");
    std::fs::write(&csv_path, &csv).expect("write");

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!(
        r#"{{"event_id":"d1","event_time":"2019-11-11T00:00:06+08:00","event_type":"paid","order_id":"o6","platform":"tmall","amount":"1.00","x":{}1{}}}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let json_lines = [
        r#"{"event_id":"j1","event_time":"2019-11-11T00:00:07+08:00","event_type":"paid","order_id":"o7","platform":"tmall","amount":12.5}"#.to_string(),
        deep,
        deep_obj,
        "42".into(),
        r#""a string""#.into(),
        "null".into(),
        r#"{"event_id":"big1","event_time":"2019-11-11T00:00:08+08:00","event_type":"paid","order_id":"o8","platform":"tmall","amount":1e400}"#.into(),
        r#"{"event_id":"big2","event_time":"2019-11-11T00:00:09+08:00","event_type":"paid","order_id":"o9","platform":"tmall","amount":"1.00","buyer_id":18446744073709551616}"#.into(),
        r#"{"event_id":"big3","event_time":"2019-11-11T00:00:10+08:00","event_type":"paid","order_id":"o10","platform":"tmall","amount":"1.00","seller_id":99999999999999999999999999999999999999999}"#.into(),
        r#"{"event_id":"ok53","event_time":"2019-11-11T00:00:11+08:00","event_type":"paid","order_id":"o11","platform":"tmall","amount":"1.00","buyer_id":9007199254740993}"#.into(),
        r#"{"event_id":"nul\u0000"}"#.into(),
    ];
    let json_path = dir.path().join("odd.jsonl");
    let mut json = json_lines.join("\n").into_bytes();
    json.extend_from_slice(b"\n\xc3\x28\n"); // invalid UTF-8
    std::fs::write(&json_path, &json).expect("write");

    let wh = dir.path().join("wh");
    let run = observe(
        &ingest_args(&wh, &[&csv_path, &json_path]),
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let accepted = common::sql(
        &wh,
        "SELECT event_id, buyer_id FROM transactions ORDER BY event_id",
    );
    let ids: Vec<&str> = accepted[1..].iter().map(|r| r[0].as_str()).collect();
    // NUL is a character like any other in an id, and a deeply nested value under an
    // unknown key is ignored as the contract says; everything else odd is rejected.
    assert_eq!(ids, ["d1", "g1", "j1", "n1", "ok53"], "{accepted:?}");
    assert_eq!(
        accepted[5][1], "9007199254740993",
        "an id past 2^53 keeps its digits"
    );
    let rejects = common::sql(
        &wh,
        "SELECT file, line, kind FROM rejects ORDER BY file, line",
    );
    let got: Vec<(String, String, String)> = rejects[1..]
        .iter()
        .map(|r| {
            let file = Path::new(&r[0])
                .file_name()
                .map(|f| f.to_string_lossy().into_owned());
            (file.unwrap_or_default(), r[1].clone(), r[2].clone())
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("odd.csv", "4", "bad_encoding"),
        ("odd.csv", "5", "csv_field_count"),
        ("odd.csv", "6", "bad_amount"),
        ("odd.csv", "7", "csv_field_count"),
        ("odd.jsonl", "2", "invalid_json"),
        ("odd.jsonl", "4", "invalid_json"),
        ("odd.jsonl", "5", "invalid_json"),
        ("odd.jsonl", "6", "invalid_json"),
        ("odd.jsonl", "7", "bad_amount"),
        ("odd.jsonl", "8", "bad_field"),
        ("odd.jsonl", "9", "bad_field"),
        ("odd.jsonl", "11", "missing_field"),
        ("odd.jsonl", "12", "bad_encoding"),
    ]
    .iter()
    .map(|(f, l, k)| (f.to_string(), l.to_string(), k.to_string()))
    .collect();
    assert_eq!(got, want);
    let totals = &common::manifest(&wh)["runs"][0]["totals"];
    assert_eq!(totals["records"], 18, "{totals}");
    assert_eq!(totals["accepted"], 5, "{totals}");
    assert_eq!(totals["rejected"], 13, "{totals}");
}

/// A folder with every kind of thing that cannot be read, beside two good logs.
fn hostile_inbox(dir: &Path) -> PathBuf {
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).expect("mkdir");
    let lines = good_csv_lines(10, "ok");
    std::fs::write(
        inbox.join("a-good.csv"),
        format!("{CSV_HEADER}\n{}\n", lines.join("\n")),
    )
    .expect("write");
    std::fs::copy(
        common::sample_logs().join("2019-11-11-d.ndjson.zst"),
        inbox.join("z-good.ndjson.zst"),
    )
    .expect("copy");
    std::os::unix::fs::symlink(inbox.join("b-loop.csv"), inbox.join("b-loop.csv")).expect("loop");
    std::os::unix::fs::symlink(dir.join("nowhere.csv"), inbox.join("c-dangling.csv"))
        .expect("link");
    std::os::unix::fs::symlink(&inbox, inbox.join("d-folder-loop")).expect("folder loop");
    let fifo = inbox.join("e-fifo.csv");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // Binary garbage named .csv, and a .zst that is not zstd.
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(inbox.join("f-garbage.csv"), &garbage).expect("write");
    std::fs::write(
        inbox.join("g-not.jsonl.zst"),
        b"{\"event_id\":\"plain text\"}\n",
    )
    .expect("write");
    inbox
}

#[test]
fn unreadable_things_in_an_inbox_are_skipped_named_and_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inbox = hostile_inbox(dir.path());
    let wh = dir.path().join("wh");
    let args = [
        "ingest",
        "--warehouse",
        common::path(&wh),
        common::path(&inbox),
    ];
    let run = observe(&args, Duration::from_secs(60));
    assert_eq!(run.code, Some(4), "{}\n{}", run.stdout, run.stderr);
    // The good logs are in.
    let sample_accepted = {
        let wh_d = dir.path().join("wh-d");
        common::ingest(
            &wh_d,
            &[&common::sample_logs().join("2019-11-11-d.ndjson.zst")],
        );
        count(&wh_d, "SELECT count(*) FROM transactions")
    };
    let want: u64 = sample_accepted.parse::<u64>().expect("count") + 10;
    assert_eq!(
        count(&wh, "SELECT count(*) FROM transactions"),
        want.to_string()
    );
    // Each unreadable thing is named with what to do, in the summary and the manifest.
    let m = common::manifest(&wh);
    let inputs = m["runs"][0]["inputs"].as_array().expect("inputs").clone();
    let reason_of = |name: &str| -> String {
        inputs
            .iter()
            .find(|i| i["name"].as_str().is_some_and(|n| n.ends_with(name)))
            .and_then(|i| i["unreadable"].as_str())
            .unwrap_or_else(|| panic!("{name} not listed as unreadable: {inputs:?}"))
            .to_string()
    };
    assert!(
        reason_of("b-loop.csv").contains("symbolic link"),
        "{}",
        reason_of("b-loop.csv")
    );
    assert!(reason_of("c-dangling.csv").contains("symbolic link"));
    assert!(reason_of("d-folder-loop").contains("loop"));
    assert!(reason_of("e-fifo.csv").contains("not a regular file"));
    assert!(reason_of("f-garbage.csv").contains("not a transaction log"));
    assert!(reason_of("g-not.jsonl.zst").contains("not zstd data"));
    for name in [
        "b-loop.csv",
        "c-dangling.csv",
        "e-fifo.csv",
        "f-garbage.csv",
        "g-not.jsonl.zst",
    ] {
        assert!(
            run.stdout.contains(name),
            "summary lacks {name}:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("NOT READ"), "{}", run.stdout);
    assert!(
        run.stdout.contains("could not be read and were skipped"),
        "{}",
        run.stdout
    );

    // Fixed, they are read by the next run; the good logs are not read twice.
    std::fs::remove_file(inbox.join("e-fifo.csv")).expect("rm fifo");
    std::fs::remove_file(inbox.join("g-not.jsonl.zst")).expect("rm");
    let fixed = good_csv_lines(3, "fix");
    std::fs::write(
        inbox.join("e-fifo.csv"),
        format!("{CSV_HEADER}\n{}\n", fixed.join("\n")),
    )
    .expect("write");
    for link in ["b-loop.csv", "c-dangling.csv", "d-folder-loop"] {
        std::fs::remove_file(inbox.join(link)).expect("rm link");
    }
    std::fs::remove_file(inbox.join("f-garbage.csv")).expect("rm");
    let again = observe(&args, Duration::from_secs(60));
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert_eq!(
        count(&wh, "SELECT count(*) FROM transactions"),
        (want + 3).to_string()
    );
    let second = &common::manifest(&wh)["runs"][1];
    assert_eq!(second["totals"]["accepted"], 3, "{second}");
}

#[test]
fn a_named_fifo_or_unreadable_file_does_not_hang_or_stop_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe.csv");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let locked = dir.path().join("locked.csv");
    let lines = good_csv_lines(5, "l");
    std::fs::write(&locked, format!("{CSV_HEADER}\n{}\n", lines.join("\n"))).expect("write");
    let mut perms = std::fs::metadata(&locked).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o000);
    std::fs::set_permissions(&locked, perms).expect("chmod");
    // Root reads a file whatever its mode: then it is simply read.
    let readable = std::fs::File::open(&locked).is_ok();
    let good = dir.path().join("good.csv");
    let lines = good_csv_lines(7, "g");
    std::fs::write(&good, format!("{CSV_HEADER}\n{}\n", lines.join("\n"))).expect("write");

    let wh = dir.path().join("wh");
    let run = observe(
        &ingest_args(&wh, &[&fifo, &locked, &good]),
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(4), "{}", run.stderr);
    assert!(
        run.stderr.contains("pipe.csv") && run.stderr.contains("double11 ingest -"),
        "{}",
        run.stderr
    );
    let want = if readable { 12 } else { 7 };
    assert_eq!(
        count(&wh, "SELECT count(*) FROM transactions"),
        want.to_string()
    );
    if !readable {
        assert!(
            run.stderr.contains("locked.csv") && run.stderr.contains("permission"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_stream_that_breaks_off_keeps_what_was_read_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 40,000 records compressed, then cut in half: the first part decompresses.
    let lines = good_csv_lines(40_000, "t");
    let full = dir.path().join("full.csv.zst");
    write_with_long_line(&full, &lines, 0, &[], zstd_writer(&full));
    let bytes = std::fs::read(&full).expect("read");
    let cut = dir.path().join("cut.csv.zst");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    // A gzip file with bytes flipped in its middle.
    let gz_src = dir.path().join("full.csv.gz");
    write_with_long_line(&gz_src, &lines, 0, &[], gzip_writer(&gz_src));
    let mut gz = std::fs::read(&gz_src).expect("read");
    let middle = gz.len() / 2;
    for b in &mut gz[middle..middle + 64] {
        *b ^= 0x5a;
    }
    let damaged = dir.path().join("damaged.csv.gz");
    std::fs::write(&damaged, &gz).expect("write");

    for (file, name) in [(&cut, "cut.csv.zst"), (&damaged, "damaged.csv.gz")] {
        let wh = dir.path().join(format!("wh-{name}"));
        let run = observe(&ingest_args(&wh, &[file]), Duration::from_secs(60));
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert!(
            run.stderr.contains(name) && run.stderr.contains("cannot be read"),
            "{}",
            run.stderr
        );
        let kept: u64 = count(&wh, "SELECT count(*) FROM transactions")
            .parse()
            .expect("n");
        assert!(kept > 10_000 && kept < 40_000, "{name}: kept {kept}");
        let unreadable = common::sql(
            &wh,
            "SELECT line FROM rejects WHERE kind = 'unreadable_input'",
        );
        assert_eq!(
            unreadable.len(),
            2,
            "{name}: one unreadable_input reject: {unreadable:?}"
        );
        let line: u64 = unreadable[1][0].parse().expect("line");
        assert!(
            line >= kept + 2,
            "{name}: the damage is after the records kept ({line})"
        );
        let totals = &common::manifest(&wh)["runs"][0]["totals"];
        assert_eq!(
            totals["records"],
            totals["accepted"].as_u64().unwrap_or(0) + totals["rejected"].as_u64().unwrap_or(0)
        );
        if name.ends_with(".zst") {
            // A cut stream gives exactly the file's first records, then the reject.
            let last = count(
                &wh,
                "SELECT max(CAST(substr(event_id, 2) AS BIGINT)) FROM transactions",
            );
            assert_eq!(last, (kept - 1).to_string(), "{name}");
            assert_eq!(line, kept + 2, "{name}");
            assert_eq!(totals["rejected"], 1, "{totals}");
        }
    }
}

/// Text beyond ASCII in a log whose bytes are all valid UTF-8 (read with one check per chunk)
/// is kept byte for byte, in plain fields, quoted ones and ones with doubled quotes; in a log
/// with one invalid byte, only that line is rejected, naming its field, and the rest is kept
/// byte for byte too.
#[test]
fn text_beyond_ascii_is_kept_and_a_bad_byte_rejects_only_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header = "event_id,event_time,event_type,order_id,platform,amount,currency,buyer_id,\
                  seller_id,category,province,device,quantity";
    let line = |id: &str, category: &str, province: &str, device: &str| {
        format!(
            "{id},2019-11-11T10:00:00.000+08:00,paid,o-{id},tmall,9.90,CNY,1,2,\
             {category},{province},{device},1"
        )
    };
    let lines = [
        line("a1", "鞋包", "Zhèjiāng", "📱"),
        line("a2", "\"鞋, 包\"", "上海", "手机"),
        line("a3", "\"say \"\"好\"\"\"", "Ελλάδα", "pc"),
    ];
    let valid = dir.path().join("valid.csv");
    std::fs::write(&valid, format!("{header}\n{}\n", lines.join("\n"))).expect("write");
    let mut mixed = format!("{header}\n{}\n", line("b1", "鞋包", "Zhèjiāng", "📱")).into_bytes();
    mixed.extend_from_slice(b"b2,2019-11-11T10:00:00.000+08:00,paid,o-b2,tmall,9.90,CNY,1,2,");
    mixed.extend_from_slice(b"\xe9\x9e,Shanghai,pc,1\n"); // a character cut short
    mixed.extend_from_slice(
        format!("{}\n", line("b3", "\"say \"\"好\"\"\"", "上海", "手机")).as_bytes(),
    );
    let mixed_path = dir.path().join("mixed.csv");
    std::fs::write(&mixed_path, &mixed).expect("write");

    let wh = dir.path().join("wh");
    common::ingest(&wh, &[&valid, &mixed_path]);
    let rows = common::sql(
        &wh,
        "SELECT event_id, category, province, device FROM transactions ORDER BY event_id",
    );
    let got: Vec<Vec<&str>> = rows[1..]
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        got,
        [
            ["a1", "鞋包", "Zhèjiāng", "📱"],
            ["a2", "鞋, 包", "上海", "手机"],
            ["a3", "say \"好\"", "Ελλάδα", "pc"],
            ["b1", "鞋包", "Zhèjiāng", "📱"],
            ["b3", "say \"好\"", "上海", "手机"],
        ]
    );
    let rejects = common::sql(&wh, "SELECT file, line, kind, reason FROM rejects");
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert!(rejects[1][0].ends_with("mixed.csv"), "{rejects:?}");
    assert_eq!(rejects[1][1..3], ["3", "bad_encoding"], "{rejects:?}");
    assert!(rejects[1][3].contains("category"), "{rejects:?}");
}
