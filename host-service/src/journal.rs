//! The delivery journal: which QoS 1/2 messages were recently written, so a redelivery
//! (the broker resends an unacknowledged message with DUP set after a reconnect or a
//! restart of this service) is acknowledged without writing the row a second time.
//!
//! A message is identified by its packet id plus a hash of topic and payload; only
//! messages flagged DUP are looked up, so a new message is never dropped because an
//! older one looked the same. The file holds one `pkid hash` line per message, is
//! appended after the CSV rows are flushed and before the acks go out, and is compacted
//! to the last [`KEEP`] entries (far more than any broker's in-flight window).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::sink::SinkError;

/// How many recent messages are remembered. mosquitto 2.0.11 with persistence was seen
/// resending ~2500 already-acknowledged messages (DUP set) after a restart, so this is
/// generous: 64 Ki entries cost 512 KiB of memory and 1.5 MB of file.
pub const KEEP: usize = 65_536;

/// FNV-1a 64: stable across runs and Rust versions (unlike `DefaultHasher`).
pub fn message_hash(topic: &str, payload: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic
        .as_bytes()
        .iter()
        .chain([0xffu8].iter())
        .chain(payload)
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Folds the packet id into the payload hash (idempotent for already-folded keys
/// read back with packet id 0).
fn key(pkid: u16, hash: u64) -> u64 {
    hash ^ (u64::from(pkid) << 48)
}

/// The journal (in memory and on disk).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Packet id folded into the hash: 8 bytes per entry. Looked up only for DUP
    /// messages, so a linear scan is fine and costs no memory for an index.
    recent: VecDeque<u64>,
    pending: String,
    lines_in_file: usize,
}

impl Journal {
    /// Opens the journal at `path`, loading its last [`KEEP`] entries.
    pub fn open(path: &Path) -> Result<Journal, SinkError> {
        let open_err = |source| SinkError::Open {
            path: path.to_owned(),
            source,
        };
        let mut recent = VecDeque::with_capacity(KEEP);
        match File::open(path) {
            Ok(f) => {
                for line in BufReader::new(f).lines() {
                    let line = line.map_err(open_err)?;
                    // A torn last line (SIGKILL mid-write) simply fails to parse.
                    if let Some((pkid, hash)) = line.split_once(' ') {
                        if let (Ok(pkid), Ok(hash)) =
                            (pkid.parse::<u16>(), u64::from_str_radix(hash, 16))
                        {
                            if recent.len() == KEEP {
                                recent.pop_front();
                            }
                            recent.push_back(key(pkid, hash));
                        }
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(open_err(e)),
        }
        let file = Self::rewrite(path, &recent)?;
        let lines_in_file = recent.len();
        Ok(Journal {
            path: path.to_owned(),
            file,
            recent,
            pending: String::new(),
            lines_in_file,
        })
    }

    /// Writes `entries` to a fresh file that replaces `path` atomically: a new hidden
    /// file `.NAME.PID.compact` next to it (created only if no such file exists, so a
    /// user's file is never overwritten), renamed over `path`. Where that isn't possible
    /// (a directory we may not create files in) the journal is rewritten in place; a
    /// crash during that rewrite loses only the duplicate detection of recent messages.
    fn rewrite(path: &Path, entries: &VecDeque<u64>) -> Result<File, SinkError> {
        let err = |source| SinkError::Write {
            path: path.to_owned(),
            source,
        };
        let mut text = String::with_capacity(entries.len() * 24);
        for k in entries {
            // Stored as "0 KEY": the packet id is already folded into the key.
            let _ = writeln!(text, "0 {k:016x}");
        }
        let tmp = Self::temp_path(path);
        let atomic = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|_| std::fs::rename(&tmp, path));
        if atomic.is_err() {
            if tmp.is_file() {
                let _ = std::fs::remove_file(&tmp);
            }
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()))
                .map_err(err)?;
        }
        OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|source| SinkError::Open {
                path: path.to_owned(),
                source,
            })
    }

    /// `DIR/.NAME.PID.compact` for the journal at `DIR/NAME`.
    pub fn temp_path(path: &Path) -> PathBuf {
        let mut name = std::ffi::OsString::from(".");
        name.push(path.file_name().unwrap_or_default());
        name.push(format!(".{}.compact", std::process::id()));
        path.with_file_name(name)
    }

    /// True if this (DUP-flagged) message was already written.
    pub fn seen(&self, pkid: u16, hash: u64) -> bool {
        let k = key(pkid, hash);
        self.recent.iter().rev().any(|e| *e == k)
    }

    /// Records a message as written (buffered until [`Journal::flush`]).
    pub fn record(&mut self, pkid: u16, hash: u64) {
        if self.recent.len() == KEEP {
            self.recent.pop_front();
        }
        self.recent.push_back(key(pkid, hash));
        let _ = writeln!(self.pending, "{pkid} {hash:016x}");
    }

    /// Writes the recorded entries to disk; call after the CSV flush, before acking.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let n = self.pending.bytes().filter(|b| *b == b'\n').count();
        self.file
            .write_all(self.pending.as_bytes())
            .map_err(|source| SinkError::Write {
                path: self.path.clone(),
                source,
            })?;
        self.pending.clear();
        self.lines_in_file += n;
        if self.lines_in_file > 2 * KEEP {
            self.file = Self::rewrite(&self.path, &self.recent)?;
            self.lines_in_file = self.recent.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_never_touches_other_files_and_works_in_place() {
        let dir = std::env::temp_dir().join(format!("hs-journal2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.csv.acklog");
        let _ = std::fs::remove_file(&path);
        // The user's files next to the CSV, including the name the journal once used.
        std::fs::write(dir.join("test.csv.tmp"), "mine").unwrap();
        // Its temp name taken (as by a directory we can't replace): compaction in place.
        std::fs::create_dir_all(Journal::temp_path(&path)).unwrap();
        let mut j = Journal::open(&path).unwrap();
        for i in 0..(2 * KEEP + 10) {
            j.record(1, i as u64);
        }
        j.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("test.csv.tmp")).unwrap(),
            "mine"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().lines().count(),
            KEEP
        );
        drop(j);
        let j = Journal::open(&path).unwrap();
        assert!(j.seen(1, (2 * KEEP + 9) as u64));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn survives_reopen_and_compacts() {
        let dir = std::env::temp_dir().join(format!("hs-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.acklog");
        let _ = std::fs::remove_file(&path);
        let mut j = Journal::open(&path).unwrap();
        for i in 0..(3 * KEEP) {
            j.record((i % 65535) as u16, i as u64);
            if i % 100 == 0 {
                j.flush().unwrap();
            }
        }
        j.flush().unwrap();
        drop(j);
        let j = Journal::open(&path).unwrap();
        let last = 3 * KEEP - 1;
        assert!(j.seen((last % 65535) as u16, last as u64));
        assert!(!j.seen(0, 0));
        assert!(j.seen(((2 * KEEP) % 65535) as u16, (2 * KEEP) as u64));
        assert!(!j.seen(((2 * KEEP - 1) % 65535) as u16, (2 * KEEP - 1) as u64));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().lines().count(),
            KEEP
        );
    }
}
