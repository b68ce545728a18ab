"""``az://`` inputs through the real CLI: one task per blob, staged by the nodes themselves."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.azure.conftest import EmulatedStack, timings_shape
from tests.runner.conftest import cli_env, job_id_of, superbatch

IMAGE = "docker.io/library/busybox:1.36"


def data_container(stack: EmulatedStack, blobs: dict[str, bytes]) -> str:
    """A container the stack does not own, filled (test-side, dev key), and declared in the
    stack outputs as `pulumi up` with dataContainers would; returns its az:// root."""
    from azure.storage.blob import BlobServiceClient

    name = f"data-{uuid.uuid4().hex[:8]}"
    service = BlobServiceClient.from_connection_string(
        stack.azurite.connection_string, **stack.azurite.blob_client_kwargs()
    )
    container = service.create_container(name)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda item: container.upload_blob(item[0], item[1]), blobs.items()))
    declare(stack, name)
    return f"az://devstoreaccount1/{name}"


def declare(stack: EmulatedStack, name: str) -> None:
    values = json.loads(stack.outputs_file.read_text())
    declared = values.setdefault("data_containers", {})
    declared[f"devstoreaccount1/{name}"] = f"{stack.azurite.blob_endpoint}/{name}"
    stack.outputs_file.write_text(json.dumps(values))


def write_spec(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    spec = root / "job.toml"
    spec.write_text(f'image = "{IMAGE}"\n' + text)
    return spec


def blob_names(container: Any, prefix: str = "") -> list[str]:
    return [blob.name for blob in container.list_blobs(name_starts_with=prefix or None)]


def test_a_thousand_blobs_make_a_thousand_tasks_and_nothing_is_uploaded(
    tmp_path: Path, wide_stack: EmulatedStack
) -> None:
    """Every request the runner sends to storage goes through a proxy (its HTTPS_PROXY) that
    counts them: the listing takes several pages (the proxy caps them at 300 blobs), nothing
    is written and no blob is read: the nodes read them, straight from storage."""
    from tests.support.request_proxy import RequestProxy
    from tests.support.tls import tls_material

    stack = wide_stack
    blobs = {f"in/{i // 100:02d}/{i:04d}.csv": f"{i}\n".encode() for i in range(1000)}
    blobs["in/00/notes.txt"] = b"not a csv"
    root = data_container(stack, blobs)
    container = root.split("/")[-1]
    proxy = RequestProxy(stack.azurite.port, tls_material(), max_results=300)
    spec = write_spec(
        tmp_path / "spec",
        f'name = "many"\ncommand = "test -s {{input}}"\ninputs = "{root}/in/**/*.csv"\n',
    )

    try:
        args = ["run", str(spec), "--outputs", str(stack.outputs_file), "--json"]
        run = superbatch(
            *args,
            cwd=tmp_path,
            env=cli_env({"HTTPS_PROXY": f"http://127.0.0.1:{proxy.connect_port}"}),
        )
    finally:
        proxy.close()

    assert run.code == 0, run.stderr
    job_id = job_id_of(run)
    assert run.json()["counts"]["succeeded"] == 1000
    tasks = stack.emulator.tasks(job_id)
    assert len(tasks) == 1000
    urls = sorted(f["httpUrl"] for t in tasks for f in t["resourceFiles"])
    csvs = sorted(n for n in blobs if n.endswith(".csv"))
    assert urls == [f"{stack.azurite.blob_endpoint}/{container}/{n}" for n in csvs]
    seen = list(proxy.requests)
    writes = [(method, target) for method, target in seen if method not in ("GET", "HEAD")]
    assert writes == []  # the runner uploaded nothing, anywhere
    pages = [
        t for m, t in seen if t.startswith(f"/devstoreaccount1/{container}?") and "comp=list" in t
    ]
    assert len(pages) >= 4  # 1,001 blobs at 300 a page
    data = f"/devstoreaccount1/{container}/"
    assert [t for m, t in seen if t.startswith(data)] == []  # no input blob read or touched
    assert writes == [] and len(seen) > len(pages)  # (the proxy saw the results download)


def test_a_blob_whose_name_extends_another_stays_apart(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    root = data_container(stack, {"p/a.csv": b"A", "p/a.csv.d/b.csv": b"B", "p/a.csvx": b"X"})
    spec = write_spec(
        tmp_path / "spec",
        f'name = "apart"\ncommand = "find . -type f | sort > ../files.txt && mv ../files.txt ."\n'
        f'inputs = ["{root}/p/**/*.csv", "{root}/p/a.csv"]\noutputs = ["files.txt"]\n',
    )
    run = superbatch("run", str(spec), "--outputs", str(stack.outputs_file), "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    results = tmp_path / "results" / job_id_of(run)
    assert (results / "0" / "files.txt").read_text() == "./p/a.csv\n"
    assert (results / "1" / "files.txt").read_text() == "./p/a.csv.d/b.csv\n"
    assert not (results / "2").exists()  # the exact name and the glob's match are one task


def test_a_container_the_stack_cannot_read_is_refused_before_anything_is_created(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    spec = write_spec(
        tmp_path / "spec",
        'name = "refused"\ncommand = "true"\ninputs = "az://devstoreaccount1/elsewhere/*.csv"\n',
    )
    jobs_before = set(stack.emulator.account.jobs)
    run = superbatch("run", str(spec), "--outputs", str(stack.outputs_file), cwd=tmp_path)
    assert run.code == 3
    assert "dataContainers" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert set(stack.emulator.account.jobs) == jobs_before
    assert blob_names(stack.container(stack.outputs.inputs_container)) == []


def test_the_same_spec_runs_locally_with_your_identity_and_gives_the_same_results(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    root = data_container(stack, {"d/x.txt": b"one two", "d/y.txt": b"three"})
    spec = write_spec(
        tmp_path / "spec",
        f'name = "parity"\ncommand = "mkdir -p out && wc -w < {{input}} > out/{{stem}}.n"\n'
        f'inputs = "{root}/d/*.txt"\noutputs = ["out/*"]\n',
    )
    endpoint = f"{stack.azurite.blob_endpoint.rsplit('/', 1)[0]}/{{account}}"
    env = cli_env({"SUPERBATCH_BLOB_ENDPOINT": endpoint})
    local = superbatch(
        "run",
        str(spec),
        "--local",
        "--no-container",
        "--json",
        "--results",
        "local",
        cwd=tmp_path,
        env=env,
    )
    azure = superbatch(
        "run",
        str(spec),
        "--outputs",
        str(stack.outputs_file),
        "--json",
        "--results",
        "azure",
        cwd=tmp_path,
    )
    assert local.code == 0, local.stderr
    assert azure.code == 0, azure.stderr
    job_id = job_id_of(azure)
    assert job_id_of(local) == job_id

    def tree(where: str) -> dict[str, bytes]:
        base = tmp_path / where / job_id
        return {
            p.relative_to(base).as_posix(): p.read_bytes()
            for p in base.rglob("*")
            if p.is_file() and p.name not in ("manifest.json", "timings.json")
        }

    assert tree("local") == tree("azure")
    timings = [
        (tmp_path / where / job_id / "timings.json").read_bytes() for where in ("local", "azure")
    ]
    assert timings_shape(timings[0]) == timings_shape(timings[1])
    assert tree("azure")["0/out/x.n"].strip() == b"2"


def test_a_csv_with_a_local_and_a_blob_file_column(tmp_path: Path, stack: EmulatedStack) -> None:
    root = data_container(stack, {"refs/r.txt": b"R\n", "refs/r.txt.old": b"OLD\n"})
    spec = write_spec(
        tmp_path / "spec",
        'name = "pairs"\ncommand = "cat {left} {right} > joined.txt && ls > ls.txt"\n'
        'tasks = "pairs.csv"\nfiles = ["left", "right"]\noutputs = ["joined.txt", "ls.txt"]\n',
    )
    (tmp_path / "spec" / "a.txt").write_text("A\n")
    (tmp_path / "spec" / "pairs.csv").write_text(f"left,right\na.txt,{root}/refs/r.txt\n")
    run = superbatch("run", str(spec), "--outputs", str(stack.outputs_file), "--json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    results = tmp_path / "results" / job_id_of(run) / "0"
    assert (results / "joined.txt").read_text() == "A\nR\n"
    assert (results / "ls.txt").read_text() == "a.txt\njoined.txt\nls.txt\nr.txt\n"
    endpoint = f"{stack.azurite.blob_endpoint.rsplit('/', 1)[0]}/{{account}}"
    local = superbatch(
        "run",
        str(spec),
        "--local",
        "--no-container",
        "--json",
        "--results",
        "local",
        cwd=tmp_path,
        env=cli_env({"SUPERBATCH_BLOB_ENDPOINT": endpoint}),
    )
    assert local.code == 0, local.stderr
    assert job_id_of(local) == job_id_of(run)  # same blob names and ETags, same job
    here = tmp_path / "local" / job_id_of(run) / "0"
    for name in ("joined.txt", "ls.txt"):
        assert (here / name).read_bytes() == (results / name).read_bytes()

    missing = tmp_path / "spec" / "pairs.csv"
    missing.write_text(f"left,right\na.txt,{root}/refs/none.txt\n")
    refused = superbatch("run", str(spec), "--outputs", str(stack.outputs_file), cwd=tmp_path)
    assert refused.code == 2
    assert "row 1, column right" in refused.stderr and "refs/none.txt" in refused.stderr


def test_clean_local_releases_the_blobs_only_its_job_used(
    tmp_path: Path, stack: EmulatedStack
) -> None:
    """Two local jobs share one cached blob: cleaning the first keeps what the second still
    stages from (its tasks could run again), cleaning the second leaves no blob cache."""
    from superbatch.local.state import JobStore
    from superbatch.model import InputFile

    root = data_container(stack, {"d/shared.txt": b"both", "d/a.txt": b"a", "d/b.txt": b"b"})
    endpoint = f"{stack.azurite.blob_endpoint.rsplit('/', 1)[0]}/{{account}}"
    env = cli_env({"SUPERBATCH_BLOB_ENDPOINT": endpoint})
    home = tmp_path / ".superbatch"
    cache = home / "blobs"

    def run(name: str, *blobs: str) -> str:
        inputs = ", ".join(f'"{root}/d/{blob}"' for blob in blobs)
        spec = write_spec(
            tmp_path / name,
            f'name = "{name}"\ncommand = "cat {{input}} > got.txt"\n'
            f'inputs = [{inputs}]\noutputs = ["got.txt"]\n',
        )
        args = ["run", str(spec), "--local", "--no-container", "--json"]
        done = superbatch(*args, cwd=tmp_path, env=env)
        assert done.code == 0, done.stderr
        return job_id_of(done)

    def clean(job_id: str) -> None:
        done = superbatch("clean", job_id, "--local", "--yes", cwd=tmp_path, env=env)
        assert done.code == 0, done.stderr

    def staged_from(job_id: str) -> list[bytes]:
        job = JobStore(home, job_id).load()
        sources = [f.source for t in job.tasks for f in t.inputs if isinstance(f, InputFile)]
        return sorted(source.read_bytes() for source in sources)

    first = run("first", "shared.txt", "a.txt")
    second = run("second", "shared.txt", "b.txt")
    assert len(list(cache.iterdir())) == 3  # shared.txt fetched once

    clean(first)
    assert sorted(p.read_bytes() for p in cache.iterdir()) == [b"b", b"both"]
    assert staged_from(second) == [b"b", b"both"]

    clean(second)
    assert not cache.exists()
