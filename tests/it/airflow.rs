//! jobs/airflow/lakehound_daily.py run by the real Apache Airflow
//! (jobs/airflow/requirements.txt, installed by .ci/run): `airflow dags
//! test` against a fresh sqlite metadata DB per test, the DAG file copied
//! into its own dags folder as a platform engineer would deploy it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{code, provided};

const DAG_ID: &str = "lakehound_daily";

/// The venv's `bin` folder. Missing is a failure, not a skip.
fn airflow_bin() -> PathBuf {
    let dir = provided(
        "LAKEHOUND_TEST_AIRFLOW",
        "Apache Airflow (jobs/airflow/requirements.txt) into ~/.cache/lakehound-airflow",
    );
    assert!(
        dir.join("airflow").is_file(),
        "{} has no airflow: run .ci/run, or install jobs/airflow/requirements.txt there",
        dir.display()
    );
    dir
}

/// A fresh AIRFLOW_HOME with a migrated sqlite DB and the DAG file deployed.
struct Airflow {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Airflow {
    fn new() -> Airflow {
        let bin = airflow_bin();
        let home = tempfile::tempdir().unwrap();
        let dags = home.path().join("dags");
        std::fs::create_dir(&dags).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/airflow/lakehound_daily.py"),
            dags.join("lakehound_daily.py"),
        )
        .unwrap();
        let airflow = Airflow { bin, home };
        let o = airflow
            .command(&[])
            .args(["db", "migrate"])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "airflow db migrate: {}", text(&o));
        airflow
    }

    fn path(&self) -> &Path {
        self.home.path()
    }

    /// `airflow` in this home, with the DAG's configuration `env`.
    fn command(&self, env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(self.bin.join("airflow"));
        // What the machine may have set must not reach the DAG or lakehound.
        for k in [
            "LAKEHOUND_LAKE",
            "LAKEHOUND_OUT",
            "LAKEHOUND_START",
            "LAKEHOUND_DAG_ID",
            "LAKEHOUND_BIN",
            "LAKEHOUND_ARGS",
            "LAKEHOUND_RETRIES",
            "LAKEHOUND_RETRY_DELAY",
            "LAKEHOUND_MODELS",
            "LAKEHOUND_S3_ENDPOINT",
            "LAKEHOUND_S3_ATTEMPTS",
            "LAKEHOUND_S3_TIMEOUT",
            "AWS_ENDPOINT_URL",
            "AWS_PROFILE",
        ] {
            c.env_remove(k);
        }
        c.env("AIRFLOW_HOME", self.path())
            .env("AIRFLOW__CORE__DAGS_FOLDER", self.path().join("dags"))
            .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null());
        c
    }

    /// `airflow dags test lakehound_daily DATE`: one DAG run, its tasks
    /// (and their retries) run in this process, their logs on its output.
    fn dags_test(&self, env: &[(&str, &str)], logical_date: &str) -> Output {
        self.command(env)
            .args(["dags", "test", DAG_ID, logical_date])
            .output()
            .unwrap()
    }

    /// Rows of a query on the metadata DB, one JSON array each.
    fn query(&self, sql: &str) -> Vec<Vec<Value>> {
        let script = "import json, sqlite3, sys\n\
                      db = sqlite3.connect(sys.argv[1])\n\
                      print(json.dumps(db.execute(sys.argv[2]).fetchall()))";
        let o = Command::new(self.bin.join("python"))
            .args(["-c", script])
            .arg(self.path().join("airflow.db"))
            .arg(sql)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{sql}: {}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// (state, try_number) of the task, and how many earlier tries it had.
    fn task(&self) -> (String, i64, i64) {
        let ti = self.query("SELECT state, try_number FROM task_instance");
        assert_eq!(ti.len(), 1, "one task instance: {ti:?}");
        let history = self.query("SELECT count(*) FROM task_instance_history");
        (
            ti[0][0].as_str().unwrap().to_owned(),
            ti[0][1].as_i64().unwrap(),
            history[0][0].as_i64().unwrap(),
        )
    }

    fn run_state(&self) -> String {
        let runs = self.query("SELECT state FROM dag_run");
        assert_eq!(runs.len(), 1, "one DAG run: {runs:?}");
        runs[0][0].as_str().unwrap().to_owned()
    }

    /// A stand-in for the binary that notes each start, then runs lakehound.
    fn counting_bin(&self) -> PathBuf {
        let path = self.path().join("lakehound-counted");
        let script = format!(
            "#!/bin/sh\necho started >> '{}'\nexec '{}' \"$@\"\n",
            self.path().join("starts").display(),
            env!("CARGO_BIN_EXE_lakehound")
        );
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn starts(&self) -> usize {
        std::fs::read_to_string(self.path().join("starts"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

/// Both streams of a command: `dags test` writes the task log to them.
fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// lakehound's own JSON log lines, as they appear inside the task log.
fn lakehound_json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| {
            let at = line.find(r#"{"timestamp":"#)?;
            serde_json::Deserializer::from_str(&line[at..])
                .into_iter::<Value>()
                .next()?
                .ok()
        })
        .collect()
}

fn messages(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect()
}

#[test]
fn airflow_scores_each_closed_utc_day_one_run_at_a_time_and_logs_lakehound_json_lines() {
    let airflow = Airflow::new();
    let lake = lakehound::app::sample_lake();
    let out = airflow.path().join("findings");
    let env = [
        ("LAKEHOUND_LAKE", lake.to_str().unwrap()),
        ("LAKEHOUND_OUT", out.to_str().unwrap()),
        ("LAKEHOUND_START", "2026-11-04"),
        ("LAKEHOUND_BIN", env!("CARGO_BIN_EXE_lakehound")),
    ];
    // A manual run at 2026-11-05 00:00Z is the day that closed then.
    let o = airflow.dags_test(&env, "2026-11-05");
    let log = text(&o);
    assert_eq!(code(&o), 0, "{log}");
    let window = out.join("window=20261104T000000Z_20261105T000000Z");
    assert!(window.join("findings.parquet").is_file(), "{log}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(window.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["window_start"], "2026-11-04T00:00:00Z");
    assert_eq!(manifest["window_end"], "2026-11-05T00:00:00Z");

    // lakehound's stderr reached the task log as JSON lines, line by line.
    let lines = lakehound_json_lines(&log);
    let said = messages(&lines);
    assert_eq!(said.first(), Some(&"Starting run."), "{log}");
    assert!(said.contains(&"Wrote findings."), "{said:?}");
    assert_eq!(lines[0]["fields"]["window_start"], "2026-11-04T00:00:00Z");
    assert_eq!(lines[0]["fields"]["window_end"], "2026-11-05T00:00:00Z");
    // Logged as it came, not at the end: Airflow logged lakehound's first
    // line before lakehound wrote its last one.
    let logged_at = |message: &str| {
        let line = log
            .lines()
            .find(|l| l.contains(&format!(r#""message":"{message}""#)))
            .unwrap();
        line.split_whitespace().next().unwrap().to_owned()
    };
    let last = lines
        .iter()
        .rfind(|l| l["fields"]["message"] == "Wrote findings.");
    let written = last.unwrap()["timestamp"].as_str().unwrap();
    let first_logged = logged_at("Starting run.");
    assert_eq!(
        first_logged.len(),
        written.len(),
        "{first_logged} vs {written}"
    );
    assert!(
        first_logged.as_str() < written,
        "{first_logged} vs {written}"
    );
    // and its stdout, the summary, too.
    assert!(log.contains("5 findings from"), "{log}");
    assert!(log.contains("lakehound exited 0"), "{log}");
    assert_eq!(airflow.run_state(), "success");
    assert_eq!(airflow.task(), ("success".to_owned(), 1, 0));

    // What the scheduler will do: its first run (catching up from
    // LAKEHOUND_START) has logical date 2026-11-04 and scores all of that
    // day, not the empty interval of Airflow 3's `schedule="@daily"`.
    let next = airflow.query(
        "SELECT next_dagrun, next_dagrun_data_interval_start, next_dagrun_data_interval_end, \
         next_dagrun_create_after, max_active_runs, timetable_type FROM dag",
    );
    assert_eq!(
        next,
        vec![vec![
            Value::from("2026-11-04 00:00:00.000000"),
            Value::from("2026-11-04 00:00:00.000000"),
            Value::from("2026-11-05 00:00:00.000000"),
            Value::from("2026-11-05 00:00:00.000000"),
            Value::from(1),
            Value::from("CronDataIntervalTimetable"),
        ]]
    );
    let serialized = airflow.query("SELECT data FROM serialized_dag");
    let dag: Value = serde_json::from_str(serialized[0][0].as_str().unwrap()).unwrap();
    assert_eq!(dag["dag"]["catchup"], true, "catchup backfills missed days");
}

#[test]
fn airflow_runs_a_second_lake_from_the_factory_and_passes_its_partial_run_with_a_warning() {
    let airflow = Airflow::new();
    // A second lake, with no events in the day: lakehound finishes, but
    // partial (exit 1). Its DAG comes from lakehound_dag in a DAG file of
    // its own, beside the default DAG (configured too) as the docs say.
    let lake = airflow.path().join("lake");
    std::fs::create_dir_all(lake.join("events")).unwrap();
    let out = airflow.path().join("findings");
    let second = format!(
        "# Airflow DAGs: lakehound on a second lake\n\
         from lakehound_daily import lakehound_dag\n\
         lakehound_dag({:?}, lake={:?}, out={:?}, start=\"2026-11-04\", binary={:?})\n",
        "lakehound_second",
        lake.to_str().unwrap(),
        out.to_str().unwrap(),
        env!("CARGO_BIN_EXE_lakehound"),
    );
    std::fs::write(airflow.path().join("dags/lakehound_second.py"), second).unwrap();
    let sample = lakehound::app::sample_lake();
    let default_out = airflow.path().join("default-findings");
    let o = airflow
        .command(&[
            ("LAKEHOUND_LAKE", sample.to_str().unwrap()),
            ("LAKEHOUND_OUT", default_out.to_str().unwrap()),
            ("LAKEHOUND_START", "2026-11-04"),
        ])
        .args(["dags", "test", "lakehound_second", "2026-11-05"])
        .output()
        .unwrap();
    let log = text(&o);
    assert_eq!(code(&o), 0, "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("warning") && l.contains("lakehound exited 1")),
        "{log}"
    );
    let lines = lakehound_json_lines(&log);
    assert!(messages(&lines).contains(&"Run is partial."), "{log}");
    assert!(out
        .join("window=20261104T000000Z_20261105T000000Z/run.json")
        .is_file());
    assert!(!default_out.exists(), "only the DAG tested ran");
    assert_eq!(airflow.run_state(), "success");
    assert_eq!(airflow.task(), ("success".to_owned(), 1, 0));

    // Both DAGs parsed, each from its own file, neither an import error.
    let dags = airflow.query("SELECT dag_id, relative_fileloc FROM dag ORDER BY dag_id");
    assert_eq!(
        dags,
        vec![
            vec![
                Value::from("lakehound_daily"),
                Value::from("lakehound_daily.py")
            ],
            vec![
                Value::from("lakehound_second"),
                Value::from("lakehound_second.py")
            ],
        ]
    );
    assert_eq!(
        airflow.query("SELECT count(*) FROM import_error"),
        vec![vec![Value::from(0)]]
    );
}

#[test]
fn airflow_fails_exit_2_at_once_and_never_retries_it() {
    let airflow = Airflow::new();
    let bin = airflow.counting_bin();
    let missing = airflow.path().join("no-such-lake");
    let out = airflow.path().join("findings");
    // Retries allowed, quickly: exit 2 must still not use them.
    let o = airflow.dags_test(
        &[
            ("LAKEHOUND_LAKE", missing.to_str().unwrap()),
            ("LAKEHOUND_OUT", out.to_str().unwrap()),
            ("LAKEHOUND_START", "2026-11-04"),
            ("LAKEHOUND_BIN", bin.to_str().unwrap()),
            ("LAKEHOUND_RETRIES", "2"),
            ("LAKEHOUND_RETRY_DELAY", "0.1"),
        ],
        "2026-11-05",
    );
    let log = text(&o);
    assert_ne!(code(&o), 0, "{log}");
    assert_eq!(airflow.starts(), 1, "lakehound ran once: {log}");
    assert_eq!(airflow.run_state(), "failed");
    assert_eq!(airflow.task(), ("failed".to_owned(), 1, 0));
    assert!(log.contains("lakehound exited 2"), "{log}");
    assert!(log.contains("does not exist"), "lakehound's error: {log}");
    assert!(log.contains("AirflowFailException"), "{log}");
}

#[test]
fn airflow_retries_exit_3_then_fails() {
    let airflow = Airflow::new();
    let bin = airflow.counting_bin();
    let out = airflow.path().join("findings");
    // An S3 lake behind a port nobody listens on: lakehound exits 3.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let args = format!("--s3-endpoint http://127.0.0.1:{port} --s3-attempts 1");
    let o = airflow.dags_test(
        &[
            ("LAKEHOUND_LAKE", "s3://lakehound-test/lake"),
            ("LAKEHOUND_OUT", out.to_str().unwrap()),
            ("LAKEHOUND_START", "2026-11-04"),
            ("LAKEHOUND_BIN", bin.to_str().unwrap()),
            ("LAKEHOUND_ARGS", &args),
            ("LAKEHOUND_RETRIES", "2"),
            ("LAKEHOUND_RETRY_DELAY", "0.1"),
            ("AWS_ACCESS_KEY_ID", "lakehound-test"),
            ("AWS_SECRET_ACCESS_KEY", "lakehound-test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        "2026-11-05",
    );
    let log = text(&o);
    assert_ne!(code(&o), 0, "{log}");
    assert_eq!(airflow.starts(), 3, "lakehound ran 1 + 2 retries: {log}");
    assert_eq!(airflow.run_state(), "failed");
    assert_eq!(airflow.task(), ("failed".to_owned(), 3, 2));
    assert!(log.contains("lakehound exited 3"), "{log}");
}
