//! Exactly once: re-runs, overlapping files and standard input add nothing twice.

use crate::common;

use std::io::Write;
use std::process::Stdio;

#[test]
fn ingesting_the_same_files_again_adds_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    common::ingest(&wh, &[&common::sample_logs()]);
    let before = common::snapshot(&wh.join("transactions"));
    let figures = common::day_totals(&wh);
    let summary = common::ingest(&wh, &[&common::sample_logs()]);
    assert!(summary.is_empty(), "-q prints no summary");
    assert_eq!(common::snapshot(&wh.join("transactions")), before);
    assert_eq!(common::day_totals(&wh), figures);
    let manifest = common::manifest(&wh);
    let second = &manifest["runs"][1];
    for input in second["inputs"].as_array().expect("inputs") {
        assert_eq!(input["skipped_as_ingested_by"], "r000001", "{input}");
    }
    assert_eq!(second["totals"]["accepted"], 0);
}

/// Every input's size and checksum in the manifest are those of its whole file, however much
/// of it was read (the checksums of files no run has seen are taken while they are read), so
/// a second run skips each file that was ingested and reads again the one that was not a log.
#[test]
fn the_manifest_checksums_each_whole_file_however_much_of_it_was_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let plain = logs.join("a.csv");
    common::write_volume_csv(&plain, 20_000, "a-");
    // Not a log: its first line names none of the contract's columns, so nothing after it
    // is read.
    let other = logs.join("b.csv");
    let mut table = String::from("city,population\n");
    for i in 0..100_000 {
        table += &format!("town{i},{i}\n");
    }
    std::fs::write(&other, table).expect("other");
    // Gzip damaged in its middle: its records are read up to the damage.
    let damaged = logs.join("c.csv.gz");
    let c = dir.path().join("c.csv");
    common::write_volume_csv(&c, 20_000, "c-");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&std::fs::read(&c).expect("read"))
        .expect("gzip");
    let mut gz = enc.finish().expect("gzip");
    let middle = gz.len() / 2;
    for b in &mut gz[middle..middle + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&damaged, &gz).expect("gz");
    let wh = dir.path().join("wh");
    // Some lines are rejected (the damaged gzip): the exit code says so; the ledger is checked.
    let ingest = || {
        common::run(&[
            "ingest",
            common::path(&logs),
            "--warehouse",
            common::path(&wh),
            "-q",
        ])
    };
    ingest();
    let m = common::manifest(&wh);
    let inputs = m["runs"][0]["inputs"].as_array().expect("inputs").clone();
    assert_eq!(inputs.len(), 3, "{inputs:?}");
    for (input, file) in inputs.iter().zip([&plain, &other, &damaged]) {
        let bytes = std::fs::read(file).expect("read");
        assert_eq!(input["size"], bytes.len() as u64, "{input}");
        assert_eq!(
            input["blake3"],
            blake3::hash(&bytes).to_hex().to_string(),
            "{input}"
        );
    }
    assert!(inputs[1]["unreadable"].is_string(), "{}", inputs[1]);
    assert!(inputs[2]["rejected"].as_u64() > Some(0), "{}", inputs[2]);
    ingest();
    let m = common::manifest(&wh);
    let second = m["runs"][1]["inputs"].as_array().expect("inputs");
    assert_eq!(
        second[0]["skipped_as_ingested_by"], "r000001",
        "{}",
        second[0]
    );
    assert!(second[1]["unreadable"].is_string(), "{}", second[1]);
}

#[test]
fn overlapping_files_across_runs_count_each_event_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let first = dir.path().join("first.csv");
    let both = dir.path().join("both.csv");
    let (orders_a, gmv_a) = common::write_volume_csv(&first, 3000, "a-");
    common::ingest(&wh, &[&first]);
    // A second delivery repeats the first file's events and adds new ones.
    let (_, _) = common::write_volume_csv(&both, 3000, "a-");
    let extra = dir.path().join("extra.csv");
    let (orders_b, gmv_b) = common::write_volume_csv(&extra, 1000, "b-");
    let mut text = std::fs::read_to_string(&both).expect("read");
    let extra_text = std::fs::read_to_string(&extra).expect("read");
    text.push_str(extra_text.split_once('\n').expect("header").1);
    std::fs::write(&both, text).expect("write");
    common::ingest(&wh, &[&both]);
    let m = common::manifest(&wh);
    let counts = &m["runs"][1]["totals"];
    assert_eq!(counts["records"], 4000);
    assert_eq!(counts["duplicates"], 3000);
    assert_eq!(counts["accepted"], 1000);
    let (orders, gmv) = common::day_totals(&wh);
    assert_eq!(orders, (orders_a + orders_b).to_string());
    assert_eq!(gmv, common::fen_text(gmv_a + gmv_b));
}

#[test]
fn standard_input_is_ingested_like_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh_file = dir.path().join("wh1");
    let wh_pipe = dir.path().join("wh2");
    let log = common::sample_logs().join("2019-11-11-c.jsonl");
    common::ingest(&wh_file, &[&log]);
    let mut child = common::double11()
        .args(["-q", "ingest", "-", "--warehouse", common::path(&wh_pipe)])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn");
    let bytes = std::fs::read(&log).expect("read log");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&bytes)
        .expect("pipe");
    assert!(child.wait().expect("wait").success());
    let by_file = common::manifest(&wh_file)["runs"][0]["totals"].clone();
    let by_pipe = common::manifest(&wh_pipe)["runs"][0]["totals"].clone();
    assert_eq!(by_file, by_pipe);
    assert_eq!(common::day_totals(&wh_file), common::day_totals(&wh_pipe));
    // The same rows, so the same Parquet bytes (file names and sort order are deterministic).
    assert_eq!(
        common::snapshot(&wh_file.join("transactions")),
        common::snapshot(&wh_pipe.join("transactions"))
    );
}

#[test]
fn compressed_and_plain_copies_give_the_same_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("day.csv");
    common::write_volume_csv(&plain, 2000, "z-");
    let bytes = std::fs::read(&plain).expect("read");
    let gz = dir.path().join("day.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&bytes).expect("gzip");
    std::fs::write(&gz, enc.finish().expect("gzip")).expect("write");
    let zst = dir.path().join("day.csv.zst");
    std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).expect("zstd")).expect("write");
    let mut results = Vec::new();
    for (i, input) in [&plain, &gz, &zst].iter().enumerate() {
        let wh = dir.path().join(format!("wh{i}"));
        common::ingest(&wh, &[input]);
        results.push(common::snapshot(&wh.join("transactions")));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);
}

#[test]
fn spilling_seen_ids_to_disk_changes_nothing() {
    // With room for only 50 ids in memory, de-duplication spills minutes to disk and reads
    // them back; the result must be the same, byte for byte, as with the default budget.
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = common::sample_logs();
    let extra = dir.path().join("later.csv");
    common::write_volume_csv(&extra, 5000, "s-");
    let mut results = Vec::new();
    for budget in ["50", "8000000"] {
        let wh = dir.path().join(format!("wh-{budget}"));
        for inputs in [vec![&logs], vec![&extra, &logs]] {
            let mut args = vec![
                "-q",
                "ingest",
                "--warehouse",
                common::path(&wh),
                "--ids-in-memory",
                budget,
                "--fx-rates",
            ];
            let rates = common::sample_rates();
            args.push(common::path(&rates));
            args.extend(inputs.iter().map(|p| common::path(p)));
            common::ok(&args);
        }
        let m = common::manifest(&wh);
        results.push((
            m["runs"][1]["totals"].clone(),
            common::snapshot(&wh.join("transactions")),
        ));
    }
    assert_eq!(results[0].0, results[1].0);
    assert_eq!(
        results[0].0["accepted"], 5000,
        "only the new file's events are new"
    );
    assert!(results[0].1 == results[1].1, "the same Parquet files");
}

/// Files written through the page cache (`--cached-writes`, or its variable) or around it
/// (the default, `O_DIRECT`) are the same, byte for byte, in every table.
#[test]
fn cached_or_direct_writes_give_the_same_warehouse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    common::generate_dirty_day(&logs, "0.0003");
    let ingest = |name: &str, flag: Option<&str>, env: &[(&str, &str)]| {
        // 200,000 rows per file: `transactions` files of more than two 4 MiB windows.
        let mut args = vec!["ingest", common::path(&logs), "--rows-per-file", "200000"];
        args.extend(flag);
        common::parquet_files_after(&dir.path().join(name), &args, env)
    };
    let direct = ingest("direct", None, &[]);
    assert!(
        direct
            .iter()
            .any(|(name, bytes)| name.starts_with("transactions/") && bytes.len() > 8 << 20),
        "a transactions file of several windows: {:?}",
        direct.iter().map(|(n, b)| (n, b.len())).collect::<Vec<_>>()
    );
    assert!(
        direct.iter().any(|(name, _)| name.starts_with("rejects/")),
        "a dirty day"
    );
    assert!(
        direct == ingest("flag", Some("--cached-writes"), &[]),
        "the files differ between direct and cached writes (--cached-writes)"
    );
    assert!(
        direct == ingest("variable", None, &[("DOUBLE11_CACHED_WRITES", "true")]),
        "the files differ between direct and cached writes (DOUBLE11_CACHED_WRITES=true)"
    );
}

/// The number of threads changes how fast, never what: a dirty generated day (re-deliveries
/// across chunks and files, bad lines) ingested on one thread and on four gives the same
/// files, byte for byte, in every table.
#[test]
fn one_thread_or_four_write_the_same_warehouse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    common::generate_dirty_day(&logs, "0.0002");
    let ingest = |threads: &str| {
        let wh = dir.path().join(format!("wh{threads}"));
        let args = ["ingest", common::path(&logs), "--threads", threads];
        common::parquet_files_after(&wh, &args, &[])
    };
    let one = ingest("1");
    assert!(
        one.iter().any(|(name, _)| name.starts_with("rejects/")),
        "a dirty day"
    );
    assert!(one.len() >= 5, "{} files", one.len());
    assert!(
        one == ingest("4"),
        "the files differ between 1 and 4 threads"
    );
}
