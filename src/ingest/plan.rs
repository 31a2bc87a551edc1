//! What to do with each input, decided before it is read: skip it, resume it, read it
//! whole, and whether to hold back its unfinished last line.
//!
//! [`plan`] is a pure function of the manifest's records of earlier runs, the input's
//! checksums, what this run already read, and whether the file may still be growing; the
//! checksums and the settle check (file system work) are the caller's.

use std::collections::{HashMap, HashSet};

use crate::ingest::input::Checksums;
use crate::warehouse::manifest::{Manifest, TextPosition};

/// What to do with one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The same bytes were already ingested, by this run (an earlier input) or the run named.
    Skip { by: String },
    /// Read it: from `resume` on when an earlier run read its start (it grew since), and
    /// leaving an unfinished last line for later when `hold_back`.
    Read {
        resume: Option<TextPosition>,
        hold_back: bool,
    },
}

/// The files this run has read so far, by (size, BLAKE3): a second copy is skipped.
pub type ReadInRun = HashMap<(u64, String), String>;

/// How many leading bytes of the file at `path` (absolute) an earlier run read, when one did:
/// the checksums must then cover that prefix too, to tell a grown file from another one.
pub fn read_before(manifest: &Manifest, path: &str) -> Option<u64> {
    manifest.last_read_of(path).and_then(|p| p.size)
}

/// Decides what to do with the input file at `path` (absolute) with checksums `sums`,
/// given the `manifest` of earlier runs, the files `read_in_run` so far, and whether the
/// file is `settling` (modified within the settle window).
pub fn plan(
    manifest: &Manifest,
    read_in_run: &ReadInRun,
    path: &str,
    sums: &Checksums,
    settling: bool,
) -> Plan {
    let key = (sums.size, sums.blake3.clone());
    if let Some(by) = manifest
        .ingested_by(sums.size, &sums.blake3)
        .map(str::to_string)
        .or_else(|| read_in_run.get(&key).cloned())
    {
        return Plan::Skip { by };
    }
    // A file that starts with exactly the bytes an earlier run read has grown (or its
    // unfinished last line was completed): read on from where that run stopped.
    let resume = manifest
        .last_read_of(path)
        .filter(|p| p.blake3.is_some() && p.blake3 == sums.prefix_blake3)
        .and_then(|p| p.read_to)
        .filter(|at| at.offset > 0);
    Plan::Read {
        resume,
        hold_back: settling,
    }
}

/// Which of the input files (each its absolute path and size, `None` when either is not
/// known) [`plan`] would read whole whatever their checksums: no earlier run read a file at
/// that path (there is nothing to resume), and no file in the manifest and no other input of
/// this run has that size (there is nothing to be a copy of). Their checksums can be taken
/// while they are read instead of before ([`crate::ingest::input::RunningChecksum`]).
///
/// The sizes are those of now. A file that grows after this to exactly the size and bytes of
/// another is then read instead of skipped, and de-duplication drops its events as
/// re-deliveries: the warehouse and its figures are the same either way.
pub fn unseen(manifest: &Manifest, files: &[Option<(String, u64)>]) -> Vec<bool> {
    let ingested: HashSet<u64> = manifest
        .runs
        .iter()
        .flat_map(|run| &run.inputs)
        .filter(|i| i.blake3.is_some())
        .filter_map(|i| i.size)
        .collect();
    let mut in_run: HashMap<u64, usize> = HashMap::new();
    for (_, size) in files.iter().flatten() {
        *in_run.entry(*size).or_default() += 1;
    }
    files
        .iter()
        .map(|file| {
            file.as_ref().is_some_and(|(path, size)| {
                in_run.get(size) == Some(&1)
                    && !ingested.contains(size)
                    && manifest.last_read_of(path).is_none()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::manifest::{Counts, InputRecord, RunRecord};

    const PATH: &str = "/logs/a.csv";

    fn sums(size: u64, blake3: &str, prefix: Option<&str>) -> Checksums {
        Checksums {
            size,
            blake3: blake3.into(),
            prefix_blake3: prefix.map(str::to_string),
        }
    }

    fn read(size: u64, blake3: &str, read_to: u64, held_back: u64) -> InputRecord {
        InputRecord {
            name: "a.csv".into(),
            path: Some(PATH.into()),
            size: Some(size),
            blake3: Some(blake3.into()),
            skipped_as_ingested_by: None,
            resumed_from: None,
            read_to: Some(TextPosition {
                offset: read_to,
                lines: 10,
            }),
            held_back,
            counts: Counts::default(),
            unreadable: None,
        }
    }

    fn manifest(inputs: Vec<InputRecord>) -> Manifest {
        let mut m = Manifest::empty();
        m.runs.push(RunRecord {
            run_id: "r000001".into(),
            started_at: String::new(),
            finished_at: String::new(),
            double11_version: String::new(),
            inputs,
            totals: Counts::default(),
            rows_by_date: Default::default(),
        });
        m
    }

    #[test]
    fn a_new_file_is_read_whole() {
        let m = manifest(vec![]);
        let p = plan(&m, &ReadInRun::new(), PATH, &sums(100, "x", None), false);
        assert_eq!(
            p,
            Plan::Read {
                resume: None,
                hold_back: false
            }
        );
    }

    #[test]
    fn the_same_bytes_are_skipped_whether_ingested_before_or_in_this_run() {
        let m = manifest(vec![read(100, "x", 100, 0)]);
        let s = sums(100, "x", Some("x"));
        let by = |p| match p {
            Plan::Skip { by } => by,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            by(plan(&m, &ReadInRun::new(), "/other", &s, false)),
            "r000001"
        );
        let mut this_run = ReadInRun::new();
        this_run.insert((7, "y".into()), "r000002".into());
        let empty = manifest(vec![]);
        let p = plan(&empty, &this_run, PATH, &sums(7, "y", None), true);
        assert_eq!(by(p), "r000002");
    }

    #[test]
    fn a_grown_file_resumes_where_the_last_read_stopped() {
        let m = manifest(vec![read(100, "x", 90, 10)]);
        assert_eq!(read_before(&m, PATH), Some(100));
        let p = plan(
            &m,
            &ReadInRun::new(),
            PATH,
            &sums(150, "z", Some("x")),
            true,
        );
        assert_eq!(
            p,
            Plan::Read {
                resume: Some(TextPosition {
                    offset: 90,
                    lines: 10
                }),
                hold_back: true
            }
        );
    }

    #[test]
    fn a_file_whose_start_changed_is_read_whole() {
        let m = manifest(vec![read(100, "x", 90, 10)]);
        let p = plan(
            &m,
            &ReadInRun::new(),
            PATH,
            &sums(150, "z", Some("w")),
            false,
        );
        assert_eq!(
            p,
            Plan::Read {
                resume: None,
                hold_back: false
            }
        );
    }

    #[test]
    fn a_file_held_back_whole_is_read_again_from_its_start() {
        // The earlier run read nothing (it held back the only, unfinished line).
        let m = manifest(vec![read(100, "x", 0, 100)]);
        let p = plan(
            &m,
            &ReadInRun::new(),
            PATH,
            &sums(120, "z", Some("x")),
            false,
        );
        assert_eq!(
            p,
            Plan::Read {
                resume: None,
                hold_back: false
            }
        );
    }

    #[test]
    fn only_a_file_no_run_read_and_of_a_size_no_other_file_has_is_unseen() {
        let m = manifest(vec![read(100, "x", 100, 0)]);
        let file = |path: &str, size| Some((path.to_string(), size));
        let got = unseen(
            &m,
            &[
                file("/new.csv", 50),    // unseen
                file(PATH, 120),         // read before at this path: may resume
                file("/copy.csv", 100),  // the size of an ingested file: may be a copy
                file("/twin-a.csv", 70), // two inputs of one size: the second may be
                file("/twin-b.csv", 70), // a copy of the first
                None,                    // standard input, or no size
                file("/other.csv", 80),  // unseen
            ],
        );
        assert_eq!(got, [true, false, false, false, false, false, true]);
        // Every unseen file is read whole by `plan`, whatever its checksums.
        for (size, blake3) in [(50, "x"), (80, "x"), (80, "z")] {
            assert_eq!(
                plan(
                    &m,
                    &ReadInRun::new(),
                    "/new.csv",
                    &sums(size, blake3, None),
                    false
                ),
                Plan::Read {
                    resume: None,
                    hold_back: false
                }
            );
        }
    }
}
