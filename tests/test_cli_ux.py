"""What a person sees using ``l0-monitoring``: progress, pipes, paths, file kinds, wording."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest
from tqdm import tqdm

from l0_monitoring import MonitoringConfig
from l0_monitoring.cli import PRESETS, PROGRESS_REDRAWS_PER_SECOND

from .test_cli import ROOT, cli


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("ux") / "out"
    r = cli("demo", "--simulate", "--streams", "80", "--seed", "4", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SENTRY_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


# -- progress ------------------------------------------------------------------------------


def test_progress_is_silent_when_stderr_is_not_a_terminal(tmp_path):
    r = cli("demo", "--simulate", "--streams", "300", "--out", str(tmp_path / "o"))
    assert r.returncode == 0 and r.stderr == ""


def test_progress_on_a_terminal_shows_rate_and_eta_and_redraws_at_most_10_times_a_second(
    tmp_path,
):
    master, slave = pty.openpty()
    # A terminal 120 columns wide (a fresh pty reports 0 x 0).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "l0_monitoring", "demo", "--simulate", "--streams", "3000",
         "--out", str(tmp_path / "o")],
        stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL, env=_env(),
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0
    elapsed = time.monotonic() - started
    os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "stream/s" in text  # the rate
    assert re.search(r"\d\d:\d\d<\d\d:\d\d", text)  # elapsed < remaining (ETA)
    assert "3000/3000" in text
    # Review of #17, finding 8: the bar stays up while files and the report are
    # written, and says so (it went quiet for ~9 s at 100%).
    assert "drawing report.html" in text and "writing metrics.prom" in text
    assert text.rindex("done") > text.rindex("drawing report.html")
    redraws = text.count("\r")
    # An upper bound from the test's own clock: tqdm's mininterval caps the rate.
    assert redraws <= PROGRESS_REDRAWS_PER_SECOND * elapsed + 3, (redraws, elapsed)
    assert len(text) < 20_000  # was 255 KB for 5000 streams: one redraw per stream


# -- pipes and paths ----------------------------------------------------------------------


def test_replay_into_a_closed_pipe_ends_quietly_at_once(demo_out):
    # `replay - | head -1`, with the log still arriving on standard input: the
    # command must stop when its reader goes away, not read the rest first.
    lines = (demo_out / "events.jsonl").read_bytes().splitlines(keepends=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "l0_monitoring", "replay", "-", "--format", "jsonl"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
    )  # fmt: skip
    fed = {"lines": 0, "stopped_early": False}

    def feed() -> None:
        try:
            for _ in range(200):  # the log, again and again: far more than one pipe buffer
                for line in lines:
                    proc.stdin.write(line)
                    fed["lines"] += 1
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            fed["stopped_early"] = True

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    first = proc.stdout.readline()
    assert first.startswith(b"{")
    proc.stdout.close()  # what `head -1` does after its line
    assert proc.wait(timeout=120) == 0  # the documented status of a closed pipe
    writer.join(timeout=120)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    with contextlib.suppress(OSError):
        proc.stdin.close()
    assert stderr == ""
    assert fed["stopped_early"] and fed["lines"] < 200 * len(lines)


def test_replay_of_a_directory_says_it_is_a_directory(tmp_path):
    r = cli("replay", str(tmp_path))
    assert r.returncode == 2
    assert "is a directory" in r.stderr and "no such file" not in r.stderr


def test_replay_reads_standard_input_when_given_dash(demo_out):
    events = (demo_out / "events.jsonl").read_text()
    from_file = cli("replay", str(demo_out / "events.jsonl"), "--format", "jsonl")
    r = subprocess.run(
        [sys.executable, "-m", "l0_monitoring", "replay", "-", "--format", "jsonl"],
        input=events, capture_output=True, text=True, env=_env(), timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout == from_file.stdout and r.stdout.count("\n") == 80


def test_demo_out_etc_passwd_is_refused_before_any_work(tmp_path):
    r = cli("demo", "--streams", "5000", "--simulate", "--out", "/etc/passwd")
    assert r.returncode == 2
    assert r.stderr.strip() == "l0-monitoring: error: --out /etc/passwd: not a directory"


def test_demo_out_an_unwritable_folder_is_refused_before_any_work():
    r = cli("demo", "--streams", "5000", "--simulate", "--out", "/proc")
    assert r.returncode == 2
    assert "--out /proc: cannot write there" in r.stderr and r.stdout == ""


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("telemetry.jsonl", "telemetry records"),
        ("telemetry.csv", "a CSV export"),
        ("metrics.prom", "a Prometheus exposition"),
    ],
)
def test_replaying_a_telemetry_file_says_what_kind_of_file_it_is(demo_out, name, kind):
    r = cli("replay", str(demo_out / name))
    assert r.returncode == 2
    assert f"is {kind}" in r.stderr and "not an event log" in r.stderr
    assert "no finished streams" not in r.stdout


# -- wording --------------------------------------------------------------------------------


def test_one_stream_is_singular(tmp_path):
    r = cli("demo", "--simulate", "--streams", "1", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert "1 stream through" in r.stdout and "1 streams" not in r.stdout
    rep = cli("report", str(tmp_path / "o" / "telemetry.jsonl"), "--html", str(tmp_path / "r.html"))
    assert rep.returncode == 0 and "(1 stream)" in rep.stdout


@pytest.mark.parametrize("command", ["replay", "check"])
def test_a_truncated_logs_warning_is_printed_once(demo_out, tmp_path, command):
    # Review of #17, finding 5: check printed the logger's line and its own.
    text = (demo_out / "events.jsonl").read_text()
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[: len(text) // 2])  # ends in the middle of a line
    r = cli(command, str(cut))
    assert r.returncode in (0, 1), r.stderr
    mentions = [line for line in r.stderr.splitlines() if "malformed" in line]
    assert len(mentions) == 1, r.stderr
    assert mentions[0].startswith("l0-monitoring: skipped 1 malformed line; first: line ")


def test_replay_of_a_cut_log_says_how_many_streams_were_still_in_flight(demo_out, tmp_path):
    # Review of #17, finding 10: check said "16 more still in flight", replay nothing.
    text = (demo_out / "events.jsonl").read_text()
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[: len(text) // 2])
    checked, replayed = cli("check", str(cut)), cli("replay", str(cut))
    n = int(re.search(r"; (\d+) more still in flight at the end of the log", checked.stdout)[1])
    assert n > 0
    streams = f"{n} stream" + ("s" if n != 1 else "")
    assert f"l0-monitoring: {streams} still in flight at the end of the log" in replayed.stderr
    whole = cli("replay", str(demo_out / "events.jsonl"))
    assert "in flight" not in whole.stderr


@pytest.mark.parametrize("command", ["demo", "replay"])
def test_with_a_sampling_preset_tables_say_n_streams_m_kept_by_sampling(
    demo_out, tmp_path, command
):
    if command == "demo":
        r = cli("demo", "--simulate", "--streams", "80", "--seed", "4", "--config", "production",
                "--out", str(tmp_path / "o"))  # fmt: skip
    else:
        r = cli("replay", str(demo_out / "events.jsonl"), "--config", "production")
    assert r.returncode == 0, r.stderr
    m = re.search(r"^80 streams, (\d+) kept by sampling; the table shows the kept records:$",
                  r.stdout, re.M)  # fmt: skip
    assert m and 0 < int(m.group(1)) < 80, r.stdout


# -- start-up -------------------------------------------------------------------------------


def _loaded_after(code: str) -> set[str]:
    probe = (
        f"import sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       env=_env(), timeout=60, check=True)  # fmt: skip
    return set(r.stdout.strip().splitlines()[-1].split())


def test_help_builds_the_parser_without_pydantic_or_the_models():
    loaded = _loaded_after("from l0_monitoring.cli import main; main(['--help'])")
    heavy = {"pydantic", "pydantic_settings", "l0_monitoring.telemetry", "l0_monitoring.monitor",
             "opentelemetry", "sentry_sdk", "matplotlib", "tqdm", "asyncio"}  # fmt: skip
    assert not heavy & loaded, heavy & loaded


def test_the_typical_import_loads_no_integration_settings_or_plotting():
    loaded = _loaded_after("from l0_monitoring import Monitor, MonitoringConfig, Telemetry")
    assert "l0_monitoring.monitor" in loaded
    for name in loaded:
        assert not name.startswith(("pydantic_settings", "opentelemetry", "sentry_sdk",
                                    "matplotlib", "l0_monitoring.integrations",
                                    "l0_monitoring.settings", "l0_monitoring.otel",
                                    "l0_monitoring.sentry", "prometheus_client")), name  # fmt: skip


def test_cli_presets_are_the_monitoring_config_presets():
    for name in PRESETS:
        assert isinstance(getattr(MonitoringConfig, name)(), MonitoringConfig)


def test_report_without_matplotlib_names_the_extra(tmp_path, demo_out):
    # A process where matplotlib cannot be imported (a None entry in sys.modules).
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from l0_monitoring.cli import main\n"
        f"sys.exit(main(['report', {str(demo_out / 'telemetry.jsonl')!r}, '--html', "
        f"{str(tmp_path / 'r.html')!r}]))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=_env(), timeout=60, check=False)  # fmt: skip
    assert r.returncode == 2
    assert "pip install 'l0-monitoring[report]'" in r.stderr and "Traceback" not in r.stderr


def test_replay_reads_a_pipe_given_as_a_path(demo_out):
    # What `replay <(zcat events.jsonl.gz)` passes: /dev/fd/N, a pipe, not a regular file.
    r = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m l0_monitoring replay <(cat {demo_out}/events.jsonl)"
         " --format jsonl"],
        capture_output=True, text=True, env=_env(), timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 80


def test_with_every_record_sampled_out_the_table_says_so(demo_out):
    # minimal keeps only errored streams: a log of clean streams keeps none.
    events = [line for line in (demo_out / "events.jsonl").read_text().splitlines()
              if '"demo-000001"' in line]  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-m", "l0_monitoring", "replay", "-", "--config", "minimal"],
        input="\n".join(events) + "\n", capture_output=True, text=True, env=_env(),
        timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1 stream, 0 kept by sampling: no records to show", r.stdout


def test_undecodable_input_is_one_line_and_exit_2_not_a_traceback(tmp_path):
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b'{"type": "SESSION_START"}\n\xff\xfe\x00garbage\n')
    r = cli("replay", str(binary))
    assert "Traceback" not in r.stderr
    assert r.returncode in (0, 2)  # skipped as malformed, or refused as not text
    if r.returncode == 2:
        assert r.stderr.strip().splitlines()[-1].startswith("l0-monitoring: error:")


def test_replay_on_a_terminal_shows_events_read_and_the_rate(demo_out):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "l0_monitoring", "replay", str(demo_out / "events.jsonl")],
        stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL, env=_env(),
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    # Review of #17, finding 8: a file's size is known, so the bar shows its bytes
    # read, a percentage and an ETA (elapsed<remaining), not only a count.
    size = (demo_out / "events.jsonl").stat().st_size
    assert "100%|" in text and re.search(r"\d\d:\d\d<\d\d:\d\d", text), text[-300:]
    shown = tqdm.format_sizeof(size, divisor=1024)
    assert f"{shown}/{shown}" in text, text[-300:]
    assert "B/s" in text


# -- review of #17 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minimal_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("ux-min") / "out"
    r = cli("demo", "--simulate", "--streams", "80", "--seed", "4", "--config", "minimal",
            "--out", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out, r.stdout


@pytest.fixture(scope="module")
def sampled_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("ux-prod") / "out"
    r = cli("demo", "--simulate", "--streams", "200", "--seed", "4", "--config", "production",
            "--out", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    return out


def slo_verdicts(page: str) -> dict[str, tuple[str, str]]:
    """objective -> (value, verdict) from the report's SLO table."""
    rows = re.findall(r'<tr><td>([^<]*)</td><td class="text">[^<]*</td><td class="text">'
                      r'[^<]*</td><td>([^<]*)</td><td><span class="\w+">([^<]*)</span>',
                      page)  # fmt: skip
    return {name: (value, verdict) for name, value, verdict in rows}


def test_targets_the_config_did_not_collect_are_not_collected_never_met(minimal_out, tmp_path):
    # Review of #17, finding 2: with --config minimal the report said "retry rate 0.0%
    # met", the table "retries 0", and "TTFT over time" was empty axes dated 1970.
    out, stdout = minimal_out
    page = (out / "report.html").read_text()
    verdicts = slo_verdicts(page)
    assert verdicts["retry rate"] == ("not collected", "not collected")
    assert verdicts["guardrail violation rate"] == ("not collected", "not collected")
    assert verdicts["time to first token (p90)"][1] in ("not collected", "no data")
    assert "met" not in {v for _, v in verdicts.values()}
    assert "1970" not in page and "No data: no stream has a time to first token" in page
    table = stdout.split("all streams:")[0]
    assert re.search(r"^all\s+\d+\s+[\d.]+%\s+\d+\s+-\s", table, re.M), table
    assert "retries not collected" in stdout
    # check and report, told the preset, agree: not collected is not a pass
    r = cli("check", str(out / "aggregates.json"), "--config", "minimal")
    row = next(line for line in r.stdout.splitlines() if line.startswith("retry rate"))
    assert "not collected" in row and "pass" not in row
    r = cli("report", str(out / "telemetry.jsonl"), "--html", str(tmp_path / "m.html"),
            "--config", "minimal")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert slo_verdicts((tmp_path / "m.html").read_text())["retry rate"][1] == "not collected"
    # Without --config the records cannot tell: the page says the zeros may mean that.
    r = cli("report", str(out / "telemetry.jsonl"), "--html", str(tmp_path / "u.html"))
    assert "No record shows a retry or a guardrail check" in (tmp_path / "u.html").read_text()


def test_report_of_sampled_records_says_how_many_were_kept_and_judges_every_stream(
    sampled_out, tmp_path
):
    # Review of #17, finding 3: "20 streams" and an error rate of 70% from the kept
    # records, with 60 sampled out and nothing said.
    page_file = tmp_path / "r.html"
    r = cli("report", str(sampled_out / "telemetry.jsonl"), "--html", str(page_file))
    assert r.returncode == 0, r.stderr
    kept = len((sampled_out / "telemetry.jsonl").read_text().splitlines())
    assert 0 < kept < 200
    assert f"(200 streams, {kept} kept by sampling; every stream counted in" in r.stdout
    page = page_file.read_text()
    assert f"200 streams, {kept} kept by sampling" in page
    # the error rate and its verdict are check's on the aggregates of every stream
    check = cli("check", str(sampled_out / "aggregates.json"))
    row = re.split(r"\s{2,}", next(x for x in check.stdout.splitlines() if x.startswith("error")))
    value, verdict = slo_verdicts(page)["error rate"]
    assert float(value.rstrip("%")) == pytest.approx(float(row[1].rstrip("%")), abs=0.051)
    assert verdict == {"pass": "met", "FAIL": "missed"}[row[3]]
    assert "error rate (failed + abandoned)" in page
    assert "failed + abandoned streams / streams (all 200 streams)" in page


def test_report_of_sampled_records_without_aggregates_warns_loudly(sampled_out, tmp_path):
    copy = tmp_path / "prod"
    copy.mkdir()
    for name in ("telemetry.jsonl", "metrics.prom"):  # no aggregates.json
        (copy / name).write_bytes((sampled_out / name).read_bytes())
    r = cli("report", str(copy / "telemetry.jsonl"), "--html", str(tmp_path / "r.html"))
    assert r.returncode == 0
    assert "Warning:" in r.stderr and "overstates" in r.stderr
    page = (tmp_path / "r.html").read_text()
    assert 'class="warn">Warning:' in page and "200 streams" in page


@pytest.mark.parametrize(
    ("command", "name", "kind", "use"),
    [
        ("replay", "aggregates.json", "is saved aggregates", "l0-monitoring check"),
        ("replay", "report.html", "is an HTML page", "open it in a browser"),
        ("replay", "metrics.prom", "is a Prometheus exposition", "Prometheus"),
        ("replay", "telemetry.jsonl", "is telemetry records", "l0-monitoring report"),
        ("report", "events.jsonl", "is an event log", "l0-monitoring replay"),
        ("report", "telemetry.csv", "is a CSV export", "telemetry.jsonl"),
        ("report", "aggregates.json", "is saved aggregates", "l0-monitoring check"),
        ("report", "metrics.prom", "is a Prometheus exposition", "Prometheus"),
        ("check", "report.html", "is an HTML page", "open it in a browser"),
        ("check", "telemetry.csv", "is a CSV export", "telemetry.jsonl"),
    ],
)
def test_every_command_names_the_kind_of_file_it_was_given_and_the_right_command(
    demo_out, tmp_path, command, name, kind, use
):
    # Review of #17, finding 6: "skipped 30 malformed lines ... no finished streams"
    # (exit 0), "line 1: session_id: Field required", "invalid JSON".
    extra = ["--html", str(tmp_path / "x.html")] if command == "report" else []
    r = cli(command, str(demo_out / name), *extra)
    assert r.returncode == 2, r.stdout + r.stderr
    assert kind in r.stderr and use in r.stderr, r.stderr
    assert "malformed" not in r.stderr and "Field required" not in r.stderr
    assert r.stderr.count("\n") == 1


def test_standard_input_of_the_wrong_kind_is_named_too(demo_out):
    for command, name, extra in (("replay", "telemetry.jsonl", []),
                                 ("report", "events.jsonl", ["--html", "-"])):  # fmt: skip
        r = subprocess.run(
            [sys.executable, "-m", "l0_monitoring", command, "-", *extra],
            input=(demo_out / name).read_text(), capture_output=True, text=True, env=_env(),
            timeout=120, check=False,
        )  # fmt: skip
        assert r.returncode == 2 and "standard input is " in r.stderr, r.stderr


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv", "log", "prometheus"])
def test_a_closed_pipe_ends_every_format_quietly_with_status_0(demo_out, fmt):
    # Review of #17, finding 7: json/jsonl/csv/log exited 1, table/prometheus 0.
    big = demo_out.parent / "big.jsonl"
    if not big.exists():  # far more output than a pipe buffer holds, in every format
        text = (demo_out / "events.jsonl").read_text()
        big.write_text("".join(text.replace('"demo-', f'"r{i}-') for i in range(30)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "l0_monitoring", "replay", str(big), "--format", fmt],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(),
    )  # fmt: skip
    assert proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""
    proc.stderr.close()


def test_report_reads_standard_input_and_writes_standard_output(demo_out, tmp_path):
    # Review of #17, finding 9: `-` was not read, `--html -` wrote a file named "-".
    r = subprocess.run(
        [sys.executable, "-m", "l0_monitoring", "report", "-", "--html", "-"],
        input=(demo_out / "telemetry.jsonl").read_text(), capture_output=True, text=True,
        env=_env(), cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("<!DOCTYPE html>") and r.stdout.rstrip().endswith("</html>")
    assert "wrote the report to standard output (80 streams)" in r.stderr
    assert not (tmp_path / "-").exists()


def test_report_help_describes_the_page_and_slo_cells_are_escaped(demo_out):
    # Review of #17, finding 11: stale --help; a raw "<" in the SLO target cells.
    r = cli("report", "--help")
    assert "retries over time" not in r.stdout
    for words in ("SLO targets", "ECDF", "rates over time", "slowest", "--slo", "--config"):
        assert words in r.stdout, words
    page = (demo_out / "report.html").read_text()
    slo = page[page.index('id="slo"') : page.index('id="models"')]
    assert "&lt; 1 s" in slo and "&gt; 20 tokens/s" in slo
    assert not re.search(r">[<>] ", slo)


def test_a_one_stream_histogram_is_one_bar(tmp_path):
    # Review of #17, finding 12: one bar and seven empty "0" rows.
    out = tmp_path / "o"
    assert cli("demo", "--simulate", "--streams", "1", "--out", str(out)).returncode == 0
    r = cli("replay", str(out / "events.jsonl"))
    lines = r.stdout.split("Time to first token, all models:\n")[1].strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("# 1"), lines
