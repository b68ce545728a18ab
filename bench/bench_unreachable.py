"""How long `status`, `results` and `run` take to give up when Batch or storage is unreachable.

The emulator and https Azurite run on loopback; the stack outputs file points one endpoint
at a port where nothing listens (``refused``) or at a fault proxy that accepts and never
answers (``hang``). Each command runs as a user would run it (a subprocess of the real
CLI) and is stopped after ``--cap`` seconds. Prints, per case: seconds to give up, the
exit code, how many lines it wrote to stderr, and whether urllib3 internals leaked into
them. Then one transient case per endpoint (the proxy resets the first connections) must
still succeed. The reference line is the same command against the healthy stack, timed in
the same run.

    uv run python -m bench.bench_unreachable [--cap 120] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench._harness import bench_stack
from tests.support.faultproxy import FaultProxy, closed_port_url

ENDPOINTS = {
    "batch": ("batch_account_endpoint",),
    "storage": ("blob_endpoint", "inputs_container_url", "outputs_container_url"),
}
JOB = """\
name = "unreachable"
image = "docker.io/library/busybox:1.36"
inputs = "a.txt"
command = "cp {input} out.txt"
outputs = ["out.txt"]
"""


def superbatch(args: list[str], cwd: Path, cap: float) -> tuple[float, int | None, str]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "superbatch", *args],
            cwd=cwd, capture_output=True, text=True, timeout=cap, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return time.perf_counter() - start, None, stderr
    return time.perf_counter() - start, proc.returncode, proc.stderr


def outputs_with(base: dict[str, str], endpoint: str, url_of: dict[str, str]) -> dict[str, str]:
    values = dict(base)
    for key in ENDPOINTS[endpoint]:
        values[key] = url_of[key]
    return values


def report(label: str, seconds: float, code: int | None, stderr: str, cap: float) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    leaked = any("urllib3" in line or "ConnectionPool" in line for line in lines)
    took = f">{cap:.0f} s (stopped)" if code is None else f"{seconds:6.1f} s"
    first = lines[-1][:110] if lines else ""
    print(f"  {label:<28} {took:>16}  exit {code}  {len(lines)} line(s)"
          f"{'  urllib3 internals!' if leaked else ''}  | {first}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cap", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="status only, and refused only")
    options = parser.parse_args()
    with bench_stack(hold=False) as stack:
        work = stack.workdir / "project"
        work.mkdir()
        (work / "a.txt").write_text("a\n")
        (work / "job.toml").write_text(JOB)
        base = json.loads(stack.outputs_file.read_text())
        healthy = ["--outputs", str(stack.outputs_file)]
        seconds, code, stderr = superbatch(["run", "job.toml", *healthy], work, 300)
        assert code == 0, stderr
        job_id = json.loads(subprocess.run(
            [sys.executable, "-m", "superbatch", "jobs", *healthy, "--json"],
            cwd=work, capture_output=True, text=True, check=True,
        ).stdout)[0]["job_id"]  # fmt: skip
        commands = {
            "status": ["status", job_id],
            "results": ["results", job_id],
            "run": ["run", "job.toml"],
        }
        if options.quick:
            commands = {"status": commands["status"]}
        print(f"healthy stack (reference): run {seconds:.1f} s")
        for name, args in commands.items():
            seconds, code, stderr = superbatch([*args, *healthy], work, options.cap)
            report(f"{name} healthy", seconds, code, stderr, options.cap)
        proxies = {key: FaultProxy(base[key]) for keys in ENDPOINTS.values() for key in keys}
        try:
            modes = ["refused"] if options.quick else ["refused", "hang"]
            for endpoint in ENDPOINTS:
                for mode in modes:
                    if mode == "refused":
                        url_of = {k: closed_port_url(base[k]) for k in base if "://" in base[k]}
                    else:
                        for proxy in proxies.values():
                            proxy.set_mode("hang")
                        url_of = {key: proxy.url(base[key]) for key, proxy in proxies.items()}
                    path = stack.workdir / f"outputs-{endpoint}-{mode}.json"
                    path.write_text(json.dumps(outputs_with(base, endpoint, url_of)))
                    print(f"{endpoint} {mode}:")
                    for name, args in commands.items():
                        seconds, code, stderr = superbatch(
                            [*args, "--outputs", str(path)], work, options.cap
                        )
                        report(name, seconds, code, stderr, options.cap)
            for endpoint in ENDPOINTS:  # transient: the first connections reset, then fine
                for proxy in proxies.values():
                    proxy.set_mode("pass")
                url_of = {key: proxy.url(base[key]) for key, proxy in proxies.items()}
                path = stack.workdir / f"outputs-{endpoint}-transient.json"
                path.write_text(json.dumps(outputs_with(base, endpoint, url_of)))
                print(f"{endpoint} transient (first 2 connections reset):")
                for name, args in commands.items():
                    for key in ENDPOINTS[endpoint]:
                        proxies[key].fail_next(2)
                    seconds, code, stderr = superbatch(
                        [*args, "--outputs", str(path)], work, options.cap
                    )
                    report(name, seconds, code, stderr, options.cap)
        finally:
            for proxy in proxies.values():
                proxy.stop()


if __name__ == "__main__":
    main()
