"""Every code block in the README runs: Python blocks are executed, shell and JS blocks run
with the real tools (install lines are syntax-checked, not run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import missing_tool

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w+)\n(.*?)```", README, re.S)]
PYTHON = [code for lang, code in BLOCKS if lang == "python"]


def test_the_readme_starts_with_the_two_commands():
    lang, first = BLOCKS[0]
    lines = first.strip().splitlines()
    assert lang == "bash" and len(lines) == 2
    # A regular install: the build users get (the hot path compiled where it can be).
    assert lines[0].endswith("pip install '.[all]' && l0-monitoring demo")
    assert lines[1].endswith("pip install -e '.[dev]' && python -m pytest -q")
    assert "python -m pytest -q" in (ROOT / ".ci" / "run").read_text()
    for line in lines:
        assert subprocess.run(["bash", "-n", "-c", line], check=False).returncode == 0


@pytest.fixture
def readme_env(env, tmp_path, monkeypatch):
    from .otlp_receiver import Receiver

    receiver = Receiver().start()
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    env.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2000")
    monkeypatch.chdir(tmp_path)
    yield receiver
    receiver.stop()
    import sentry_sdk

    sentry_sdk.init(default_integrations=False)


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_python_block_runs(index, readme_env):
    code = PYTHON[index]
    # Compiled as a module file is: a top-level await is a SyntaxError here, as it
    # is for a reader who saves the block and runs it.
    compiled = compile(code, f"README.md python block {index}", "exec")
    namespace: dict = {"__name__": f"readme_block_{index}"}
    exec(compiled, namespace)  # noqa: S102 - the README's own code
    for value in namespace.values():  # close what the block left open
        close = getattr(value, "close", None)
        if callable(close) and type(value).__module__.startswith("l0_monitoring"):
            close()


def test_quick_start_runs_when_saved_as_a_file(tmp_path):
    script = tmp_path / "quickstart.py"
    script.write_text(PYTHON[0])
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    tokens, ttft, tps = r.stdout.splitlines()[0].split()
    assert int(tokens) == 3 and float(ttft) > 0 and float(tps) > 0


def test_no_python_block_uses_top_level_await():
    for index, code in enumerate(PYTHON):
        try:
            compile(code, f"block {index}", "exec")
        except SyntaxError as exc:  # pragma: no cover - the failure being tested
            raise AssertionError(f"README python block {index}: {exc}") from None


FILE_HEADER = re.compile(r"^// (l0-consumer/\S+)\n")


def test_shell_js_ts_and_go_blocks_run_with_the_real_tools(tmp_path):
    """The README's other-language snippets run as written, from a fresh copy of the repo root.

    Blocks whose first line is ``// l0-consumer/<file>`` are written to that file;
    bash blocks run line by line. The one install line (``npm install --prefix
    l0-consumer <name@version>...``) must pin exactly the versions of
    tests/consumers/package-lock.json, and is
    served from its node_modules (installed by ``npm ci`` in .ci/run), since the
    tests do not install from the registry.
    """
    node = shutil.which("node")
    consumers = ROOT / "tests" / "consumers"
    if node is None or not (consumers / "node_modules").exists():
        missing_tool("node and tests/consumers/node_modules (npm ci --prefix tests/consumers)")
    if shutil.which("go") is None:
        missing_tool("go (Debian golang-go; .ci/run installs it)")
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    demo = subprocess.run([sys.executable, "-m", "l0_monitoring", "demo", "--simulate",
                           "--streams", "20", "--out", "l0-telemetry"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local",
           "GOPATH": str(tmp_path / "gopath")}  # fmt: skip
    declared = json.loads((consumers / "package.json").read_text())["devDependencies"]
    lock = json.loads((consumers / "package-lock.json").read_text())["packages"]
    locked = {name: lock[f"node_modules/{name}"]["version"] for name in declared}
    outputs: dict[str, str] = {}
    written = []
    for lang, code in BLOCKS[1:]:
        if lang == "python":
            continue  # test_python_block_runs
        if lang == "console":
            continue  # a transcript of commands and their output, not a script
        header = FILE_HEADER.match(code)
        if header:
            path = tmp_path / header.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code)
            written.append(header.group(1))
            continue
        assert lang == "bash", f"a {lang} block without a '// l0-consumer/<file>' first line"
        for line in code.strip().splitlines():
            if line.startswith("npm install --prefix l0-consumer "):
                assert subprocess.run(["bash", "-n", "-c", line], check=False).returncode == 0
                specs = line.split("npm install --prefix l0-consumer ", 1)[1].split()
                # Pinned to exactly what the suite runs (unpinned, npm installs new
                # majors whose defaults break the snippets: TS2591 on node:fs).
                unpinned = [spec for spec in specs if "@" not in spec.lstrip("@")]
                assert not unpinned, f"install line without versions: {unpinned}"
                pinned = dict(spec.rsplit("@", 1) for spec in specs)
                assert pinned == locked, (pinned, locked)
                installed = {name: json.loads((consumers / "node_modules" / name /
                                               "package.json").read_text())["version"]
                             for name in pinned}  # fmt: skip
                assert installed == pinned, "npm ci --prefix tests/consumers is stale"
                (tmp_path / "l0-consumer").mkdir(exist_ok=True)
                (tmp_path / "l0-consumer" / "node_modules").symlink_to(consumers / "node_modules")
                continue
            r = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True,
                               text=True, timeout=240, check=False, env=env)  # fmt: skip
            assert r.returncode == 0, (line, r.stdout[-2000:], r.stderr[-2000:])
            outputs[line] = r.stdout
    assert written == ["l0-consumer/validate.mjs", "l0-consumer/read.ts", "l0-consumer/go/main.go"]
    records = (tmp_path / "l0-telemetry" / "telemetry.jsonl").read_text().splitlines()
    events = (tmp_path / "l0-telemetry" / "events.jsonl").read_text().splitlines()
    validated = [out.strip() for line, out in outputs.items() if "validate.mjs" in line]
    assert validated == [f"{len(records)} valid, 0 invalid", f"{len(events)} valid, 0 invalid",
                         "1 valid, 0 invalid"]  # fmt: skip
    (ts_out,) = [out for line, out in outputs.items() if line.startswith("node l0-consumer/out")]
    (go_out,) = [out for line, out in outputs.items() if "go run" in line]
    assert len(ts_out.splitlines()) == len(records) == 20
    # Both languages read the same values from the same records.
    assert go_out.splitlines() == ts_out.splitlines()
    first = json.loads(records[0])
    assert ts_out.split()[:3] == [
        first["stream_id"],
        first["outcome"],
        str(first["metrics"]["token_count"]),
    ]
