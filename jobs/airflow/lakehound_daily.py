"""Daily lakehound run for Apache Airflow 3: scores each day (UTC) that
closes against the days before it, one run at a time per lake, and backfills
missed days (catchup).

Deploy: copy this file into the dags folder (every Airflow component that
parses DAGs, the DAG processor and the workers, must see it and the same
environment), put the `lakehound` binary on the workers' PATH, set the
environment below and unpause the DAG. Written for Airflow 3.3 (the
version jobs/airflow/requirements.txt pins; tests/it/airflow.rs runs this
DAG in it for real).

Configuration (environment of the DAG processor and the workers):
  LAKEHOUND_LAKE     lake folder or s3://BUCKET/PREFIX        (required)
  LAKEHOUND_OUT      results folder or s3://BUCKET/PREFIX     (required)
  LAKEHOUND_START    first day to score, YYYY-MM-DD (UTC); catchup runs
                     every day from it that has not run yet   (required)
  LAKEHOUND_DAG_ID   the DAG's id               (default: lakehound_daily)
  LAKEHOUND_BIN      the binary                 (default: lakehound on PATH)
  LAKEHOUND_ARGS     more `run` arguments, e.g. "--models /etc/lakehound/models"
  LAKEHOUND_RETRIES  retries after exit 3       (default: 3)
  LAKEHOUND_RETRY_DELAY  seconds before the first retry; each next one
                     waits about twice as long, at most an hour (Airflow
                     adds jitter: with 600, about 10-20, 20-40, 40-60
                     minutes)                  (default: 600)
Without LAKEHOUND_LAKE this file defines no DAG (and says so in the DAG
processor's log). Further lakes: one DAG per lake, from a DAG file of your
own beside this one (Airflow parses only files that say "airflow" and "dag"):

    # Airflow DAGs: lakehound on the EU lake
    from lakehound_daily import lakehound_dag
    lakehound_dag("lakehound_eu", lake="s3://lake-eu/sec", out="s3://finds-eu/sec",
                  start="2026-11-01")

The day: each run scores its data interval, data_interval_start ..
data_interval_end, as `lakehound run --from START --to END` with RFC 3339
instants (END exclusive), i.e. the whole UTC day 00:00Z .. 00:00Z. The
schedule is an explicit CronDataIntervalTimetable: in Airflow 3
`schedule="@daily"` is a CronTriggerTimetable whose data interval is empty
(start == end), which would score nothing. A scheduled run of day D starts
just after D closes (its logical date is D 00:00Z); a manual run (Trigger,
or `airflow dags test DAG_ID D`) scores the whole day before D.

lakehound's stderr, JSON lines (--log-format json), goes into the task log
line by line as it is written, each at its own level; its stdout (a summary
of the top findings) goes there too.

What each exit code does is written once, in EXIT_CODES below.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import shlex
import subprocess
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, CronDataIntervalTimetable, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

log = logging.getLogger("lakehound")


class LakehoundRetry(AirflowException):
    """lakehound exited 3: the environment failed; Airflow retries the task."""


# lakehound's exit code -> what the task does. The only place this lives.
SUCCEED = "succeed"  # the task succeeds
WARN = "warn"  # the task succeeds, and logs a warning
FAIL = "fail"  # the task fails at once, never retried (AirflowFailException)
RETRY = "retry"  # the task fails and is retried: `retries`, with backoff
EXIT_CODES = {
    0: (SUCCEED, "done: findings and run.json written"),
    1: (WARN, "done, but partial: something was skipped or failed; see problems in run.json"),
    2: (FAIL, "configuration or data error: fix it, a retry cannot help"),
    3: (RETRY, "the environment failed (I/O that may pass, a busy lake): retrying"),
}
# Any other exit (a crash, a kill by a signal) and a binary that does not
# start: FAIL, not retried, like 2.
OTHER = (FAIL, "lakehound ended unexpectedly: not retried")

_LEVELS = {
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": logging.DEBUG,
}


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _log_stderr_line(line: str) -> None:
    """One line of lakehound's stderr, verbatim, at the level it carries."""
    # Not JSON: a panic, or a line an older lakehound wrote as text.
    level = logging.ERROR if line.startswith(("error", "thread")) else logging.WARNING
    try:
        level = _LEVELS.get(str(json.loads(line).get("level", "")).upper(), logging.INFO)
    except (ValueError, AttributeError):
        pass
    log.log(level, "%s", line)


def _log_stdout_line(line: str) -> None:
    if line.strip():
        log.info("%s", line)


def _stream(proc: subprocess.Popen) -> None:
    """Log stdout and stderr line by line while lakehound runs."""
    sel = selectors.DefaultSelector()
    pending = {}
    for pipe, emit in ((proc.stdout, _log_stdout_line), (proc.stderr, _log_stderr_line)):
        sel.register(pipe, selectors.EVENT_READ, emit)
        pending[pipe.fileno()] = b""
    while sel.get_map():
        for key, _ in sel.select():
            fd, emit = key.fd, key.data
            chunk = os.read(fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                if pending[fd]:
                    emit(pending[fd].decode("utf-8", "replace").rstrip("\r"))
                continue
            *lines, pending[fd] = (pending[fd] + chunk).split(b"\n")
            for line in lines:
                emit(line.decode("utf-8", "replace").rstrip("\r"))
    sel.close()


def run_lakehound(binary: str, lake: str, out: str, args: list[str], start: datetime, end: datetime) -> int:
    """`lakehound run` over start .. end (end exclusive), logged as it goes;
    returns its exit code, or raises what EXIT_CODES says."""
    cmd = [
        binary, "--log-format", "json", "run",
        "--lake", lake, "--out", out,
        "--from", _rfc3339(start), "--to", _rfc3339(end),
        *args,
    ]  # fmt: skip
    log.info("Running %s", shlex.join(cmd))
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        raise AirflowFailException(f"{binary} does not start ({e}): set LAKEHOUND_BIN or PATH") from e
    try:
        _stream(proc)
        code = proc.wait()
    finally:  # the task was stopped (timeout, marked failed): stop lakehound too
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    action, meaning = EXIT_CODES.get(code, OTHER)
    message = f"lakehound exited {code}: {meaning}"
    if action == SUCCEED:
        log.info("%s", message)
    elif action == WARN:
        log.warning("%s", message)
    elif action == RETRY:
        raise LakehoundRetry(message)
    else:
        raise AirflowFailException(message)
    return code


def lakehound_dag(
    dag_id: str,
    lake: str,
    out: str,
    start: str | datetime,
    *,
    binary: str = "lakehound",
    args: str | list[str] = (),
    retries: int = 3,
    retry_delay: timedelta = timedelta(minutes=10),
    max_retry_delay: timedelta = timedelta(hours=1),
    execution_timeout: timedelta | None = None,
) -> DAG:
    """One lake's daily DAG: `lakehound run` over each closed UTC day, one
    run at a time, missed days caught up. `start` is the first day scored."""
    if isinstance(start, str):
        start = datetime.strptime(start, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    extra = shlex.split(args) if isinstance(args, str) else list(args)
    with DAG(
        dag_id=dag_id,
        description=f"lakehound run over each UTC day of {lake}",
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        start_date=start,
        catchup=True,
        max_active_runs=1,
        tags=["lakehound"],
        default_args={
            "retries": retries,
            "retry_delay": retry_delay,
            "retry_exponential_backoff": 2,
            "max_retry_delay": max_retry_delay,
            "execution_timeout": execution_timeout,
        },
        doc_md=__doc__,
    ) as dag:

        @task(task_id="lakehound_run")
        def lakehound_run() -> int:
            context = get_current_context()
            start, end = context["data_interval_start"], context["data_interval_end"]
            if start is None or end is None or end <= start:
                raise AirflowFailException(f"data interval {start} .. {end} is empty: the schedule has no days")
            try:
                return run_lakehound(binary, lake, out, extra, start, end)
            except (LakehoundRetry, AirflowFailException):
                raise
            except Exception as e:  # a fault here is no exit 3: not retried
                raise AirflowFailException(f"running lakehound failed: {e!r}") from e

        lakehound_run()
    return dag


def _default_dag() -> DAG | None:
    env = os.environ
    if not env.get("LAKEHOUND_LAKE"):
        log.warning("LAKEHOUND_LAKE is not set: no lakehound DAG (see %s)", __file__)
        return None
    missing = [k for k in ("LAKEHOUND_OUT", "LAKEHOUND_START") if not env.get(k)]
    if missing:
        raise ValueError(f"lakehound_daily: set {' and '.join(missing)} (see the top of {__file__})")
    return lakehound_dag(
        env.get("LAKEHOUND_DAG_ID", "lakehound_daily"),
        lake=env["LAKEHOUND_LAKE"],
        out=env["LAKEHOUND_OUT"],
        start=env["LAKEHOUND_START"],
        binary=env.get("LAKEHOUND_BIN", "lakehound"),
        args=env.get("LAKEHOUND_ARGS", ""),
        retries=int(env.get("LAKEHOUND_RETRIES", "3")),
        retry_delay=timedelta(seconds=float(env.get("LAKEHOUND_RETRY_DELAY", "600"))),
    )


# Airflow loads a DAG file under a module name of its own; imported as
# `lakehound_daily` from another DAG file (for lakehound_dag), this file adds
# no DAG of its own there.
if __name__ != "lakehound_daily":
    dag = _default_dag()
