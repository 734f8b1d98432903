//! One SQLite database per study: runs, checkpoints (with validation loss) and
//! evaluations (checkpoint × task × metric, with standard error and n).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OpenFlags, Params};

pub struct Store {
    conn: Connection,
    /// Named in every error, so a locked or read-only database says which file it is.
    path: PathBuf,
    read_only: bool,
}

/// A run of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub run: String,
    pub size: String,
    pub params: u64,
    pub non_embedding_params: u64,
    pub token_budget: u64,
    pub spec_hash: String,
}

/// A checkpoint with its validation loss.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointRow {
    pub checkpoint: String,
    pub run: String,
    pub step: u64,
    pub tokens: u64,
    pub flops: f64,
    pub val_loss: f64,
    pub path: String,
}

/// One metric of one task on one checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRow {
    pub checkpoint: String,
    pub task: String,
    pub task_hash: String,
    pub shots: u32,
    pub metric: String,
    pub value: f64,
    pub stderr: f64,
    pub n: u64,
    pub baseline: f64,
}

/// An evaluation joined with its checkpoint and run: one point of a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub run: String,
    pub size: String,
    pub params: u64,
    pub non_embedding_params: u64,
    pub checkpoint: String,
    pub step: u64,
    pub tokens: u64,
    pub flops: f64,
    pub val_loss: f64,
    pub task: String,
    pub shots: u32,
    pub metric: String,
    pub value: f64,
    pub stderr: f64,
    pub n: u64,
    pub baseline: f64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    run TEXT PRIMARY KEY, size TEXT NOT NULL, params INTEGER NOT NULL,
    non_embedding_params INTEGER NOT NULL, token_budget INTEGER NOT NULL, spec_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    checkpoint TEXT PRIMARY KEY, run TEXT NOT NULL REFERENCES runs(run), step INTEGER NOT NULL,
    tokens INTEGER NOT NULL, flops REAL NOT NULL, val_loss REAL NOT NULL, path TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
    checkpoint TEXT NOT NULL REFERENCES checkpoints(checkpoint), task TEXT NOT NULL,
    task_hash TEXT NOT NULL, shots INTEGER NOT NULL, metric TEXT NOT NULL, value REAL,
    stderr REAL, n INTEGER NOT NULL, baseline REAL NOT NULL,
    PRIMARY KEY (checkpoint, task, shots, metric));
CREATE TABLE IF NOT EXISTS domain_losses (
    checkpoint TEXT NOT NULL REFERENCES checkpoints(checkpoint), domain TEXT NOT NULL,
    loss REAL NOT NULL, PRIMARY KEY (checkpoint, domain));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// The loss column's value for a checkpoint whose validation text is not scored yet (a
/// study of existing checkpoints registers them first; the column takes no NaN).
pub const UNSCORED_LOSS: f64 = -1.0;

/// A stored validation loss, or none where it is [`UNSCORED_LOSS`].
pub fn scored_loss(val_loss: f64) -> Option<f64> {
    (val_loss > 0.0).then_some(val_loss)
}

impl Store {
    /// Opens (or creates) the database. A file without write permission is opened read
    /// only, so a study with nothing left to do still reads its results; anything that
    /// would change it is then an error naming the file.
    pub fn open(path: &Path) -> Result<Store> {
        let read_only = std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly());
        let opening = || format!("opening results database {}", path.display());
        let conn = if read_only {
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        } else {
            Connection::open(path)
        }
        .with_context(opening)?;
        conn.execute_batch("PRAGMA busy_timeout=10000;")
            .with_context(opening)?;
        if !read_only {
            // Switching a new file to WAL takes an exclusive lock, and SQLite answers a
            // process that opens it at the same moment as another "locked" without
            // waiting: try again for as long as the busy timeout would have waited.
            let t0 = std::time::Instant::now();
            loop {
                match conn.execute_batch("PRAGMA journal_mode=WAL;") {
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::DatabaseBusy
                            && t0.elapsed().as_secs() < 10 =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    r => break r.with_context(opening)?,
                }
            }
            conn.execute_batch(SCHEMA)
                .with_context(|| format!("{}: creating tables", path.display()))?;
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            read_only,
        })
    }

    /// Whether a row matching `sql` (a `SELECT COUNT(*)`) is stored already: writes of
    /// rows that are there unchanged are skipped, so re-running a finished study writes
    /// nothing.
    fn stored<P: Params>(&self, sql: &str, p: P) -> rusqlite::Result<bool> {
        self.conn
            .query_row(sql, p, |r| r.get::<_, i64>(0))
            .map(|n| n > 0)
    }

    /// The error for a write that a read-only database cannot take.
    fn writable(&self, what: &str) -> Result<()> {
        if self.read_only {
            anyhow::bail!(
                "results database {} is read-only, and {what} must be written to it (give it write permission, or use another --out)",
                self.path.display()
            );
        }
        Ok(())
    }

    pub fn put_run(&self, r: &RunRow) -> Result<()> {
        let path = self.path.clone();
        (|| -> Result<()> {
            let row = params![
                r.run,
                r.size,
                r.params as i64,
                r.non_embedding_params as i64,
                r.token_budget as i64,
                r.spec_hash
            ];
            if self.stored(
                "SELECT COUNT(*) FROM runs WHERE run = ?1 AND size = ?2 AND params = ?3 \
                 AND non_embedding_params = ?4 AND token_budget = ?5 AND spec_hash = ?6",
                row,
            )? {
                return Ok(());
            }
            self.writable(&format!("run {}", r.run))?;
            self.conn.execute(
                "INSERT OR REPLACE INTO runs VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                row,
            )?;
            Ok(())
        })()
        .with_context(|| format!("results database {}", path.display()))
    }

    pub fn put_checkpoint(&self, c: &CheckpointRow) -> Result<()> {
        let path = self.path.clone();
        (|| -> Result<()> {
            let row = params![
                c.checkpoint,
                c.run,
                c.step as i64,
                c.tokens as i64,
                c.flops,
                c.val_loss,
                c.path
            ];
            if self.stored(
                "SELECT COUNT(*) FROM checkpoints WHERE checkpoint = ?1 AND run = ?2 AND step = ?3 \
                 AND tokens = ?4 AND flops = ?5 AND val_loss = ?6 AND path = ?7",
                row,
            )? {
                return Ok(());
            }
            self.writable(&format!("checkpoint {}", c.checkpoint))?;
            self.conn.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                row,
            )?;
            Ok(())
        })()
        .with_context(|| format!("results database {}", path.display()))
    }

    /// A checkpoint's validation loss per domain of the corpus (genre, source file, …).
    pub fn put_domain_losses(&self, checkpoint: &str, losses: &[(String, f64)]) -> Result<()> {
        let path = self.path.clone();
        (|| -> Result<()> {
            let mut unchanged = true;
            for (domain, loss) in losses {
                unchanged &= self.stored(
                    "SELECT COUNT(*) FROM domain_losses WHERE checkpoint = ?1 AND domain = ?2 AND loss = ?3",
                    params![checkpoint, domain, loss],
                )?;
            }
            if unchanged {
                return Ok(());
            }
            self.writable(&format!("the domain losses of {checkpoint}"))?;
            let tx = self.conn.unchecked_transaction()?;
            for (domain, loss) in losses {
                tx.execute(
                    "INSERT OR REPLACE INTO domain_losses VALUES (?1, ?2, ?3)",
                    params![checkpoint, domain, loss],
                )?;
            }
            tx.commit()?;
            Ok(())
        })()
        .with_context(|| format!("results database {}", path.display()))
    }

    /// Every checkpoint's validation loss per domain.
    pub fn domain_losses(
        &self,
    ) -> Result<std::collections::HashMap<String, std::collections::BTreeMap<String, f64>>> {
        let path = self.path.clone();
        (|| -> Result<std::collections::HashMap<String, std::collections::BTreeMap<String, f64>>> {
            let mut st = self
                .conn
                .prepare("SELECT checkpoint, domain, loss FROM domain_losses")?;
            let mut out: std::collections::HashMap<String, std::collections::BTreeMap<String, f64>> =
                Default::default();
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, f64>(2)?,
                ))
            })?;
            for row in rows {
                let (c, d, l) = row?;
                out.entry(c).or_default().insert(d, l);
            }
            Ok(out)
        })()
        .with_context(|| format!("results database {}", path.display()))
    }

    /// Stores all metrics of one task on one checkpoint in a single transaction.
    pub fn put_evaluations(&mut self, rows: &[EvalRow]) -> Result<()> {
        let path = self.path.clone();
        (|| -> Result<()> {
            if let Some(e) = rows.first() {
                self.writable(&format!("the evaluation of {} on {}", e.task, e.checkpoint))?;
            }
            let tx = self.conn.transaction()?;
            for e in rows {
                tx.execute(
                    "INSERT OR REPLACE INTO evaluations VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        e.checkpoint,
                        e.task,
                        e.task_hash,
                        e.shots,
                        e.metric,
                        finite(e.value),
                        finite(e.stderr),
                        e.n as i64,
                        e.baseline
                    ],
                )?;
            }
            tx.commit()?;
            Ok(())
        })()
        .with_context(|| format!("results database {}", path.display()))
    }

    /// A fact about the whole study (`loss_unit`), kept beside its rows.
    pub fn put_meta(&self, key: &str, value: &str) -> Result<()> {
        let path = self.path.clone();
        (|| -> Result<()> {
            if self.stored(
                "SELECT COUNT(*) FROM meta WHERE key = ?1 AND value = ?2",
                params![key, value],
            )? {
                return Ok(());
            }
            self.writable(&format!("`{key}`"))?;
            self.conn.execute(
                "INSERT OR REPLACE INTO meta VALUES (?1, ?2)",
                params![key, value],
            )?;
            Ok(())
        })()
        .with_context(|| format!("results database {}", path.display()))
    }

    /// The value `put_meta` stored under `key`, if any (none in a database made before
    /// the table was).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        let got = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get::<_, String>(0)
            });
        match got {
            Ok(v) => Ok(Some(v)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("no such table") => {
                Ok(None)
            }
            Err(e) => Err(e).with_context(|| format!("results database {}", self.path.display())),
        }
    }

    /// Whether `task` (with this exact spec hash) was already scored on `checkpoint`.
    pub fn has_evaluation(&self, checkpoint: &str, task: &str, task_hash: &str) -> Result<bool> {
        let path = self.path.clone();
        (|| -> Result<bool> {
            let n: i64 = self.conn.query_row(
                "SELECT COUNT(*) FROM evaluations WHERE checkpoint = ?1 AND task = ?2 AND task_hash = ?3",
                params![checkpoint, task, task_hash],
                |r| r.get(0),
            )?;
            Ok(n > 0)
        })()
        .with_context(|| format!("results database {}", path.display()))
    }

    /// Copies in every row of `other` (a run's own database, written by a job of a job
    /// array) that this database lacks or holds otherwise; returns how many. Rows already
    /// here unchanged are not written, so a read-only database takes a merge it holds.
    pub fn merge_from(&mut self, other: &Path) -> Result<usize> {
        let path = self.path.clone();
        let name = other.to_string_lossy().into_owned();
        self.conn
            .execute("ATTACH DATABASE ?1 AS other", params![name])
            .with_context(|| format!("results database {}: attaching {name}", path.display()))?;
        let merged = (|| -> Result<usize> {
            let mut n = 0usize;
            let has_meta: i64 = self.conn.query_row(
                "SELECT COUNT(*) FROM other.sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get(0),
            )?;
            let tables = [
                "runs",
                "checkpoints",
                "domain_losses",
                "evaluations",
                "meta",
            ];
            for t in tables.iter().filter(|&&t| t != "meta" || has_meta > 0) {
                let new = format!("SELECT * FROM other.{t} EXCEPT SELECT * FROM main.{t}");
                let k: i64 =
                    self.conn
                        .query_row(&format!("SELECT COUNT(*) FROM ({new})"), [], |r| r.get(0))?;
                if k > 0 {
                    self.writable("rows of a run's database")?;
                    self.conn
                        .execute(&format!("INSERT OR REPLACE INTO main.{t} {new}"), [])?;
                    n += k as usize;
                }
            }
            Ok(n)
        })()
        .with_context(|| format!("results database {}: merging {name}", path.display()));
        self.conn
            .execute("DETACH DATABASE other", [])
            .with_context(|| format!("results database {}: detaching {name}", path.display()))?;
        merged
    }

    /// Every (checkpoint, task) pair with a stored evaluation.
    pub fn evaluated(&self) -> Result<Vec<(String, String)>> {
        let path = self.path.clone();
        (|| -> Result<Vec<(String, String)>> {
            let mut st = self.conn.prepare(
                "SELECT DISTINCT checkpoint, task FROM evaluations ORDER BY checkpoint, task",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })()
        .with_context(|| format!("results database {}", path.display()))
    }

    pub fn runs(&self) -> Result<Vec<RunRow>> {
        let path = self.path.clone();
        (|| -> Result<Vec<RunRow>> {
            let mut st = self.conn.prepare(
                "SELECT run, size, params, non_embedding_params, token_budget, spec_hash FROM runs ORDER BY params, run",
            )?;
            let rows = st.query_map([], |r| {
                Ok(RunRow {
                    run: r.get(0)?,
                    size: r.get(1)?,
                    params: r.get::<_, i64>(2)? as u64,
                    non_embedding_params: r.get::<_, i64>(3)? as u64,
                    token_budget: r.get::<_, i64>(4)? as u64,
                    spec_hash: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })()
        .with_context(|| format!("results database {}", path.display()))
    }

    /// One checkpoint's validation loss, once scored (see [`scored_loss`]).
    pub fn checkpoint_loss(&self, checkpoint: &str) -> Result<Option<f64>> {
        let got = self.conn.query_row(
            "SELECT val_loss FROM checkpoints WHERE checkpoint = ?1",
            params![checkpoint],
            |r| r.get::<_, f64>(0),
        );
        match got {
            Ok(v) => Ok(scored_loss(v)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("results database {}", self.path.display())),
        }
    }

    pub fn checkpoints(&self) -> Result<Vec<CheckpointRow>> {
        let path = self.path.clone();
        (|| -> Result<Vec<CheckpointRow>> {
            let mut st = self.conn.prepare("SELECT checkpoint, run, step, tokens, flops, val_loss, path FROM checkpoints ORDER BY run, step")?;
            let rows = st.query_map([], |r| {
                Ok(CheckpointRow {
                    checkpoint: r.get(0)?,
                    run: r.get(1)?,
                    step: r.get::<_, i64>(2)? as u64,
                    tokens: r.get::<_, i64>(3)? as u64,
                    flops: r.get(4)?,
                    val_loss: r.get(5)?,
                    path: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })()
        .with_context(|| format!("results database {}", path.display()))
    }

    /// Every evaluation joined with its checkpoint and run.
    pub fn points(&self) -> Result<Vec<Point>> {
        let path = self.path.clone();
        (|| -> Result<Vec<Point>> {
            let mut st = self.conn.prepare(
                "SELECT r.run, r.size, r.params, r.non_embedding_params, c.checkpoint, c.step, c.tokens, c.flops,
                        c.val_loss, e.task, e.shots, e.metric, e.value, e.stderr, e.n, e.baseline
                 FROM evaluations e JOIN checkpoints c ON e.checkpoint = c.checkpoint JOIN runs r ON c.run = r.run
                 ORDER BY e.task, e.metric, r.params, c.step",
            )?;
            let rows = st.query_map([], |r| {
                Ok(Point {
                    run: r.get(0)?,
                    size: r.get(1)?,
                    params: r.get::<_, i64>(2)? as u64,
                    non_embedding_params: r.get::<_, i64>(3)? as u64,
                    checkpoint: r.get(4)?,
                    step: r.get::<_, i64>(5)? as u64,
                    tokens: r.get::<_, i64>(6)? as u64,
                    flops: r.get(7)?,
                    val_loss: r.get(8)?,
                    task: r.get(9)?,
                    shots: r.get(10)?,
                    metric: r.get(11)?,
                    value: r.get::<_, Option<f64>>(12)?.unwrap_or(f64::NAN),
                    stderr: r.get::<_, Option<f64>>(13)?.unwrap_or(f64::NAN),
                    n: r.get::<_, i64>(14)? as u64,
                    baseline: r.get(15)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })()
        .with_context(|| format!("results database {}", path.display()))
    }
}

/// SQLite has no NaN: store it as NULL.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("results.sqlite");
        std::fs::write(&garbage, vec![7u8; 4096]).unwrap();
        let e = format!("{:#}", Store::open(&garbage).err().unwrap());
        assert!(e.contains("results.sqlite"), "{e}");
        let good = dir.path().join("good.sqlite");
        let s = Store::open(&good).unwrap();
        s.conn.execute_batch("DROP TABLE runs").unwrap();
        let e = format!("{:#}", s.runs().unwrap_err());
        assert!(e.contains("good.sqlite") && e.contains("runs"), "{e}");
    }

    #[test]
    fn round_trip_and_skip_logic() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("r.sqlite")).unwrap();
        s.put_run(&RunRow {
            run: "d32-l1-tok10K".into(),
            size: "d32-l1".into(),
            params: 100,
            non_embedding_params: 50,
            token_budget: 10000,
            spec_hash: "h".into(),
        })
        .unwrap();
        s.put_checkpoint(&CheckpointRow {
            checkpoint: "d32-l1-tok10K/step-0000010".into(),
            run: "d32-l1-tok10K".into(),
            step: 10,
            tokens: 640,
            flops: 1e6,
            val_loss: 3.5,
            path: "p".into(),
        })
        .unwrap();
        let row = EvalRow {
            checkpoint: "d32-l1-tok10K/step-0000010".into(),
            task: "t".into(),
            task_hash: "x".into(),
            shots: 0,
            metric: "acc".into(),
            value: 0.25,
            stderr: f64::NAN,
            n: 4,
            baseline: 0.25,
        };
        s.put_evaluations(std::slice::from_ref(&row)).unwrap();
        assert!(s.has_evaluation(&row.checkpoint, "t", "x").unwrap());
        assert!(!s.has_evaluation(&row.checkpoint, "t", "y").unwrap());
        let p = s.points().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].val_loss, p[0].value, p[0].size.as_str()),
            (3.5, 0.25, "d32-l1")
        );
        assert!(p[0].stderr.is_nan());
    }

    #[test]
    fn a_runs_database_merges_in_once() {
        let dir = tempfile::tempdir().unwrap();
        let run = |name: &str| RunRow {
            run: name.into(),
            size: "s".into(),
            params: 1,
            non_embedding_params: 1,
            token_budget: 1,
            spec_hash: "h".into(),
        };
        let main = dir.path().join("results.sqlite");
        let part = dir.path().join("part.sqlite");
        let mut s = Store::open(&main).unwrap();
        s.put_run(&run("a")).unwrap();
        {
            let p = Store::open(&part).unwrap();
            p.put_run(&run("a")).unwrap();
            p.put_run(&run("b")).unwrap();
            p.put_checkpoint(&CheckpointRow {
                checkpoint: "b/step-1".into(),
                run: "b".into(),
                step: 1,
                tokens: 1,
                flops: 1.0,
                val_loss: 2.5,
                path: "p".into(),
            })
            .unwrap();
        }
        assert_eq!(s.merge_from(&part).unwrap(), 2, "run b and its checkpoint");
        assert_eq!(s.merge_from(&part).unwrap(), 0, "nothing twice");
        assert_eq!(s.runs().unwrap().len(), 2);
        assert_eq!(s.checkpoints().unwrap().len(), 1);
    }

    #[test]
    fn a_read_only_database_serves_a_finished_study() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.sqlite");
        let run = RunRow {
            run: "r".into(),
            size: "s".into(),
            params: 1,
            non_embedding_params: 1,
            token_budget: 1,
            spec_hash: "h".into(),
        };
        let ckpt = CheckpointRow {
            checkpoint: "r/step-1".into(),
            run: "r".into(),
            step: 1,
            tokens: 1,
            flops: 1.0,
            val_loss: 2.5,
            path: "p".into(),
        };
        let losses = vec![("wiki".to_string(), 2.25)];
        {
            let s = Store::open(&path).unwrap();
            s.put_run(&run).unwrap();
            s.put_checkpoint(&ckpt).unwrap();
            s.put_domain_losses(&ckpt.checkpoint, &losses).unwrap();
        }
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&path, perms).unwrap();
        let mut s = Store::open(&path).unwrap();
        s.put_run(&run).unwrap();
        s.put_checkpoint(&ckpt).unwrap();
        s.put_domain_losses(&ckpt.checkpoint, &losses).unwrap();
        assert_eq!(s.runs().unwrap(), vec![run.clone()]);
        let changed = RunRow {
            spec_hash: "other".into(),
            ..run
        };
        let e = format!("{:#}", s.put_run(&changed).unwrap_err());
        assert!(
            e.contains("read-only") && e.contains("results.sqlite"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            s.put_evaluations(&[EvalRow {
                checkpoint: ckpt.checkpoint.clone(),
                task: "t".into(),
                task_hash: "x".into(),
                shots: 0,
                metric: "acc".into(),
                value: 0.5,
                stderr: 0.1,
                n: 2,
                baseline: 0.25,
            }])
            .unwrap_err()
        );
        assert!(
            e.contains("read-only") && e.contains("evaluation of t"),
            "{e}"
        );
    }
}
