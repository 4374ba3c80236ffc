"""What every ``gnt-*`` command shares: options, LUXI access, job progress, tables, errors.

Conventions follow Ganeti's CLI so that operators' habits and scripts keep working:
``--submit`` prints the job id and returns; otherwise the job's log streams as it runs
and the command exits non-zero when the job fails.  List commands take ``-o`` field
lists (``+field`` appends to the defaults), ``--no-headers``, ``--separator`` and
``--units``.  Errors go to stderr; the exit code is 1 for failures and 2 for usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ganeti import errors
from ganeti.luxi.client import LuxiClient
from ganeti.paths import Paths, default_root

EXIT_SUCCESS = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

FINALIZED = frozenset({"success", "error", "canceled"})
WFJC_TIMEOUT = 60.0

# Field kinds that are printed right-aligned (numbers) in tables.
_NUMERIC_KINDS = frozenset({"number", "float", "unit"})
_PAIR_TIMESTAMPS = frozenset({"received_ts", "start_ts", "end_ts"})


class UsageError(errors.GanetiError):
    """Bad command-line usage (exit code 2)."""


def paths_from_env() -> Paths:
    return Paths(default_root())


def get_client() -> LuxiClient:
    return LuxiClient(os.environ.get("GANETI_LUXI_SOCKET") or paths_from_env().luxi_socket)


# --- options --------------------------------------------------------------------------


def add_submit_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--submit", action="store_true", help="submit the job and print its id, don't wait"
    )
    p.add_argument(
        "--priority",
        choices=sorted(priorities()),
        default=None,
        help="job priority (low, normal, high)",
    )
    p.add_argument("--dry-run", action="store_true", help="only check the parameters")
    p.add_argument("--reason", default=None, help="reason for the change (kept in the job)")


def priorities() -> dict[str, int]:
    return {"low": 10, "normal": 0, "high": -10}


def add_list_opts(p: argparse.ArgumentParser, default_fields: Sequence[str]) -> None:
    p.add_argument(
        "-o",
        "--output",
        dest="output",
        default=None,
        help=f"comma-separated fields; '+f1,f2' adds to the default ({','.join(default_fields)})",
    )
    p.add_argument("--no-headers", action="store_true", help="don't print the header line")
    p.add_argument("--separator", default=None, help="separator instead of aligned columns")
    p.add_argument(
        "--units",
        default=None,
        choices=["h", "m", "g", "t"],
        help="units for sizes: h(uman), m(ebibytes), g, t",
    )
    p.add_argument("-F", "--filter", dest="qfilter", default=None, help="query filter (JSON)")


def select_fields(output: str | None, default: Sequence[str]) -> list[str]:
    if not output:
        return list(default)
    if output.startswith("+"):
        return [*default, *[f for f in output[1:].split(",") if f]]
    return [f for f in output.split(",") if f]


def apply_common_op_opts(op: dict[str, Any], opts: argparse.Namespace) -> dict[str, Any]:
    prio = getattr(opts, "priority", None)
    if prio is not None:
        op["priority"] = priorities()[prio]
    if getattr(opts, "dry_run", False):
        op["dry_run"] = True
    reason = getattr(opts, "reason", None)
    trail = [["gnt:client:" + os.path.basename(sys.argv[0] or "gnt"), reason or "", time.time_ns()]]
    op.setdefault("reason", trail)
    return op


# --- formatting ---------------------------------------------------------------------


def format_unit(value: Any, units: str | None) -> str:
    """Sizes are MiB; 'h' picks M/G/T like Ganeti."""
    if not isinstance(value, int | float):
        return str(value)
    if units in (None, "h"):
        if value >= 1024 * 1024:
            return f"{value / 1024 / 1024:.1f}T"
        if value >= 1024:
            return f"{value / 1024:.1f}G"
        return f"{int(value)}M"
    div = {"m": 1, "g": 1024, "t": 1024 * 1024}[units]
    return f"{value / div:.1f}" if div > 1 else str(int(value))


def format_value(value: Any, kind: str, units: str | None) -> str:
    if value is None:
        return "-"
    if kind == "unit":
        return format_unit(value, units)
    if kind == "timestamp" and isinstance(value, list | tuple) and value:
        return format_timestamp(value)
    if kind == "timestamp" and isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def format_timestamp(ts: Sequence[Any]) -> str:
    sec = float(ts[0])
    usec = int(ts[1]) if len(ts) > 1 else 0
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec)) + f".{usec:06d}"


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Sequence[bool] | None = None,
    separator: str | None = None,
    no_headers: bool = False,
) -> list[str]:
    """Ganeti-style table: aligned columns (numbers right-aligned) or separated values."""
    all_rows = ([] if no_headers else [list(headers)]) + [list(r) for r in rows]
    if separator is not None:
        return [separator.join(r) for r in all_rows]
    if not all_rows:
        return []
    numeric = numeric or [False] * len(headers)
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(headers))]
    lines = []
    for row in all_rows:
        cells = []
        for i, cell in enumerate(row):
            last = i == len(row) - 1
            if numeric[i]:
                cells.append(cell.rjust(widths[i]))
            else:
                cells.append(cell if last else cell.ljust(widths[i]))
        lines.append(" ".join(cells).rstrip())
    return lines


def print_query_table(result: dict[str, Any], opts: argparse.Namespace) -> int:
    """Print a Query2 result; unknown fields are an error, missing data prints '?'."""
    fields = result["fields"]
    unknown = [f["name"] for f in fields if f.get("kind") == "unknown"]
    if unknown:
        raise UsageError(f"unknown output field(s): {', '.join(unknown)}")
    headers = [f["title"] for f in fields]
    # Job timestamps are [sec, usec] pairs of kind "other"; print them as times.
    kinds = ["timestamp" if f["name"] in _PAIR_TIMESTAMPS else f["kind"] for f in fields]
    rows = []
    for item in result["data"]:
        row = []
        for (status, value), kind in zip(item, kinds, strict=False):
            if status == 0:
                row.append(format_value(value, kind, opts.units))
            elif status == 4:
                row.append("*")
            else:
                row.append("?")
        rows.append(row)
    for line in format_table(
        headers,
        rows,
        numeric=[k in _NUMERIC_KINDS for k in kinds],
        separator=opts.separator,
        no_headers=opts.no_headers,
    ):
        print(line)
    return EXIT_SUCCESS


def parse_qfilter(text: str | None) -> Any:
    if not text:
        return None
    import json

    try:
        return json.loads(text)
    except ValueError:
        raise UsageError('--filter must be a JSON query filter, e.g. ["=", "name", "x"]') from None


# --- jobs ---------------------------------------------------------------------------


def format_log_entry(entry: Sequence[Any]) -> str:
    _serial, ts, _kind, message = entry
    when = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(float(ts[0])))
    return f"{when} {message}"


def wait_job(
    client: LuxiClient, job_id: int, feedback: Callable[[str], None] | None = None
) -> list[Any]:
    """Follow a job until it is finalized, printing its log; return its opcode results.

    Raises OpExecError-like GanetiErrors describing the failure when the job failed.
    """
    show = feedback or (lambda line: print(line, flush=True))
    prev_info: Any = None
    prev_serial = -1
    while True:
        change = client.wait_for_job_change(
            job_id, ["status"], prev_info, prev_serial, WFJC_TIMEOUT
        )
        if change is None or change == "nochange":
            continue
        job_info, log_entries = change
        for entry in log_entries:
            prev_serial = max(prev_serial, int(entry[0]))
            show(format_log_entry(entry))
        prev_info = job_info
        if job_info and job_info[0] in FINALIZED:
            break
    [row] = client.query_jobs([job_id], ["status", "opstatus", "opresult"])
    if row is None:
        raise errors.JobLost(f"job {job_id} disappeared")
    status, opstatus, opresult = row
    if status == "success":
        results: list[Any] = opresult
        return results
    if status == "canceled":
        raise errors.OpExecError(f"job {job_id} was canceled")
    for st, res in zip(opstatus, opresult, strict=False):
        if st == "error":
            raise describe_op_error(res)
    raise errors.OpExecError(f"job {job_id} failed with status {status}")


def follow_jobs(
    client: LuxiClient, submitted: Sequence[Sequence[Any]], *, announce: bool = False
) -> list[list[Any] | None]:
    """Follow the ``[ok, job_id | message]`` entries of a fan-out (a JobIdListOnly
    result or SubmitManyJobs) in turn, printing each job's log; per entry, the job's
    opcode results, or None when it was not submitted or failed (said on stderr)."""
    if announce and submitted:
        listed = ", ".join(str(v) if ok else "(failed)" for ok, v in submitted)
        print(f"Submitted jobs {listed}", flush=True)
    ids = [int(value) for ok, value in submitted if ok]
    summaries: dict[int, str] = {}
    if ids:
        for job_id, row in zip(ids, client.query_jobs(ids, ["summary"]), strict=True):
            if row is not None and row[0]:
                summaries[job_id] = ", ".join(str(s) for s in row[0])
    outcomes: list[list[Any] | None] = []
    for ok, value in submitted:
        if not ok:
            print(f"Job submission failed: {value}", file=sys.stderr)
            outcomes.append(None)
            continue
        job_id = int(value)
        label = f" ({summaries[job_id]})" if job_id in summaries else ""
        print(f"Waiting for job {job_id}{label} ...", flush=True)
        try:
            outcomes.append(wait_job(client, job_id))
        except errors.GanetiError as exc:
            print(f"Job {job_id}{label} failed: {format_error(exc)}", file=sys.stderr)
            outcomes.append(None)
    return outcomes


def describe_op_error(result: Any) -> errors.GanetiError:
    from ganeti.luxi.protocol import decode_exception

    return decode_exception(result)


def submit_or_wait(ops: list[dict[str, Any]], opts: argparse.Namespace) -> int:
    """Submit one job; with --submit print its id, else follow it.  Returns exit code."""
    with get_client() as client:
        job_id = client.submit_job(ops)
        if getattr(opts, "submit", False):
            print(f"JobID: {job_id}")
            return EXIT_SUCCESS
        wait_job(client, job_id)
    return EXIT_SUCCESS


# --- entry points ---------------------------------------------------------------------


def format_error(exc: BaseException) -> str:
    if isinstance(exc, errors.OpPrereqError):
        return (
            "Failure: prerequisites not met for this operation:\n"
            f"error type: {exc.ecode}, error details:\n{exc}"
        )
    if isinstance(exc, errors.JobQueueDrainError):
        return "Failure: the job queue is drained, no new jobs are accepted"
    if isinstance(exc, errors.LuxiError):
        return f"Cannot communicate with the master daemon: {exc}"
    return f"Failure: {exc}"


def run_command(
    prog: str, build: Callable[[], argparse.ArgumentParser], argv: list[str] | None
) -> NoReturn:
    """Parse, run the selected ``func(opts) -> int`` and exit with its code."""
    parser = build()
    opts = parser.parse_args(sys.argv[1:] if argv is None else argv)
    func = getattr(opts, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        sys.exit(EXIT_USAGE)
    try:
        code = func(opts)
    except UsageError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except errors.GanetiError as exc:
        print(format_error(exc), file=sys.stderr)
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:
        print("Interrupted", file=sys.stderr)
        sys.exit(EXIT_FAILURE)
    except BrokenPipeError:
        # The reader went away (``gnt-... | head``): stop quietly, as Unix tools do.
        # stdout is pointed at /dev/null so the interpreter's final flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_FAILURE)
    sys.exit(code)


def parse_job_ids(values: Sequence[str]) -> list[int]:
    out = []
    for v in values:
        try:
            out.append(int(v))
        except ValueError:
            raise UsageError(f"invalid job id {v!r}") from None
    return out


def parse_age(text: str) -> int:
    """'1d', '6h', '30m', '45s' or plain seconds; 'all' is -1 (everything)."""
    if text == "all":
        return -1
    mult = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        if text and text[-1] in mult:
            return int(text[:-1]) * mult[text[-1]]
        return int(text)
    except ValueError:
        raise UsageError(f"invalid age {text!r}; use e.g. 30m, 6h, 1d or 'all'") from None


def die(message: str) -> NoReturn:
    raise UsageError(message)
