"""Start vLLM's OpenAI-compatible server for lab 02, and stop it with nothing left behind.

    python labs/lab02_serve_many_loras/tools/server.py --max-loras 2 [--fix] [--step-log FILE]
        starts the server on the tiny model and its three adapters, prints its URL, and serves
        until Ctrl-C (then stops it and checks that none of its processes survived)

    from server import Server                     # with tools/ on sys.path
    with Server(max_loras=2, fix=True) as srv:    # srv.url, srv.load_adapter(...), srv.log_tail()
        ...

Everything the field notes found necessary is set here, so a measurement means something:
one OpenMP thread (two spin against each other on a 2-core machine, about 10x slower), the
worker inside the engine core (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), prefix caching off (prefill
costs as lab 04 models them), ``--max-num-seqs`` given (the CPU default is 128), a fixed hash seed
(vLLM orders a step's adapters by a hash), ``--stream-interval 8`` (a Python client keeps up),
runtime adapter loading on, and no network to a model hub.

Before anything starts, the launcher checks what the server would only find out late or
never: the model folder, each adapter folder (given as an absolute path: relative paths would
resolve against the server's working directory), each adapter's rank against
``--max-lora-rank``, and the port. The server runs in a process group of its own, dies with the
process that started it, and ``stop()`` ends the whole group, then looks for survivors.
"""
from __future__ import annotations

import argparse
import atexit
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAB = HERE.parent
MODEL = LAB / "model"
ADAPTERS = ("shout", "count", "define")
FIX_DIR = HERE / "cpu_lora_fix"
STEP_LOG_DIR = HERE / "step_log"
SERVED_NAME = "tiny"
STOP_S = 15.0            # SIGTERM, then this long before SIGKILL


class ServerError(RuntimeError):
    """The server could not be started or used; the message says why (and shows its log's end)."""


def default_adapters(model: Path = MODEL) -> dict[str, Path]:
    return {name: model / "adapters" / name for name in ADAPTERS}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def adapter_rank(path: Path) -> int:
    config = path / "adapter_config.json"
    try:
        return int(json.loads(config.read_text())["r"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ServerError(f"cannot read the LoRA rank from {config}: {type(e).__name__}: {e}") from None


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid`` (zombies excluded)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()        # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry))
    return out


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started the server dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)      # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    """One vLLM OpenAI-compatible server on the tiny model (or ``model`` / ``adapters`` given)."""

    def __init__(self, *, max_loras: int = 2, max_lora_rank: int = 8, max_cpu_loras: int = 4,
                 max_num_seqs: int = 32, fix: bool = False, step_log: Path | None = None,
                 model: Path = MODEL, adapters: dict[str, Path] | None = None, port: int | None = None,
                 host: str = "127.0.0.1", start_timeout_s: float = 300.0, python: str = sys.executable,
                 extra_args: tuple[str, ...] = ()):
        self.max_loras, self.max_lora_rank, self.max_cpu_loras = max_loras, max_lora_rank, max_cpu_loras
        self.max_num_seqs, self.fix, self.host = max_num_seqs, fix, host
        self.step_log = Path(step_log).resolve() if step_log else None
        self.model = Path(model)
        self.adapters = dict(adapters) if adapters is not None else default_adapters(self.model)
        self.port, self.start_timeout_s, self.python = port, start_timeout_s, python
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen | None = None
        self.pgid: int | None = None
        self.survivors: list[int] = []
        self._dir = Path(tempfile.mkdtemp(prefix="phase11-server-"))
        self.log = self._dir / "server.log"
        self.started_s: float | None = None

    # --- before anything starts ----------------------------------------------------------------
    def check(self) -> None:
        """Everything that can be known before the server starts; ServerError naming the first problem."""
        if importlib.util.find_spec("vllm") is None and self.python == sys.executable:
            raise ServerError("vLLM is not installed in this environment: run `make lab02-setup`")
        for n, what in ((self.max_loras, "max_loras"), (self.max_lora_rank, "max_lora_rank"),
                        (self.max_num_seqs, "max_num_seqs")):
            if type(n) is not int or n < 1:
                raise ServerError(f"{what} must be an int >= 1, got {n!r}")
        if self.max_cpu_loras < self.max_loras:
            raise ServerError(f"max_cpu_loras ({self.max_cpu_loras}) must be at least max_loras ({self.max_loras})")
        if not (self.model / "base" / "config.json").is_file() and not (self.model / "config.json").is_file():
            raise ServerError(f"no model at {self.model}: run `make lab02-model`")
        for name, path in self.adapters.items():
            if not name or any(c in name for c in "= \t\n"):
                raise ServerError(f"adapter name {name!r}: use letters, digits, - or _")
            path = Path(path)
            if not path.is_absolute():
                raise ServerError(f"adapter {name!r}: give an absolute path, not {str(path)!r} (the server "
                                  "would resolve it against its own working directory)")
            if not (path / "adapter_config.json").is_file():
                raise ServerError(f"adapter {name!r}: no adapter_config.json in {path}")
            rank = adapter_rank(path)
            if rank > self.max_lora_rank:
                raise ServerError(f"adapter {name!r} has rank {rank}, above --max-lora-rank {self.max_lora_rank}: "
                                  "the engine would refuse it when it is first used")
        if self.port is not None and port_in_use(self.port, self.host):
            raise ServerError(f"port {self.port} is in use on {self.host}: stop what holds it, or leave the port "
                              "out to get a free one")

    def command(self) -> list[str]:
        base = self.model / "base" if (self.model / "base" / "config.json").is_file() else self.model
        modules = [f"{name}={Path(path)}" for name, path in self.adapters.items()]
        return [self.python, "-m", "vllm.entrypoints.openai.api_server", "--host", self.host,
                "--port", str(self.port), "--model", str(base), "--served-model-name", SERVED_NAME,
                "--dtype", "float32", "--max-model-len", "512", "--seed", "0",
                "--max-num-seqs", str(self.max_num_seqs), "--no-enable-prefix-caching", "--enable-lora",
                "--max-loras", str(self.max_loras), "--max-lora-rank", str(self.max_lora_rank),
                "--max-cpu-loras", str(self.max_cpu_loras), *(["--lora-modules", *modules] if modules else []),
                "--uvicorn-log-level", "warning", "--stream-interval", "8", *self.extra_args]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VLLM_", "PHASE11_"))}
        plugins = [str(d) for d, on in ((FIX_DIR, self.fix), (STEP_LOG_DIR, self.step_log)) if on]
        env.update(VLLM_ENABLE_V1_MULTIPROCESSING="0", OMP_NUM_THREADS="1", VLLM_CPU_KVCACHE_SPACE="1",
                   HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VLLM_NO_USAGE_STATS="1", PYTHONHASHSEED="0",
                   VLLM_ALLOW_RUNTIME_LORA_UPDATING="1", PYTHONPATH=os.pathsep.join(plugins))
        if self.step_log:
            env["PHASE11_STEP_LOG"] = str(self.step_log)
        return env

    # --- life ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "Server":
        self.check()
        if self.port is None:
            self.port = free_port(self.host)
        t0 = time.monotonic()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.command(), env=self.environment(), cwd=self._dir, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        self.pgid = self.proc.pid                       # a new session: its leader's pid is the group id
        atexit.register(self.stop)
        deadline = t0 + self.start_timeout_s
        while True:
            code = self.proc.poll()
            if code is not None:
                self._fail(f"the server exited with code {code} before it was ready")
            if self._healthy():
                self.started_s = round(time.monotonic() - t0, 1)
                return self
            if time.monotonic() > deadline:
                self._fail(f"the server was not ready after {self.start_timeout_s:g} s (a busy machine? pass a "
                           "longer start_timeout_s)")
            time.sleep(0.5)

    def _fail(self, why: str) -> None:
        """A start that failed: its log's end into the message, then nothing left (processes, files)."""
        tail = self.log_tail()
        self.stop()
        self.close()
        raise ServerError(f"{why}; its log ends:\n{tail}")

    def close(self) -> None:
        """Remove the server's scratch folder (its log); call after stop()."""
        shutil.rmtree(self._dir, ignore_errors=True)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> list[int]:
        """End the server's whole process group; returns (and keeps) the pids that outlived SIGKILL."""
        if self.proc is None:
            return self.survivors
        for sig, wait in ((signal.SIGTERM, STOP_S), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + wait
            while time.monotonic() < end and group_members(self.pgid):
                if self.proc.poll() is None:
                    try:
                        self.proc.wait(timeout=0.1)
                    except subprocess.TimeoutExpired:
                        pass
                else:
                    time.sleep(0.1)
            if not group_members(self.pgid):
                break
        if self.proc.poll() is None:
            self.proc.wait()
        self.survivors = group_members(self.pgid)
        self.proc = None
        atexit.unregister(self.stop)
        return self.survivors

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- runtime adapters ----------------------------------------------------------------------
    def _post(self, path: str, body: dict) -> tuple[int, str]:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except OSError as e:
            raise ServerError(f"the server at {self.url} did not answer {path}: {e}"
                              + ("" if self.alive() else "; it is no longer running, its log ends:\n"
                                 + self.log_tail())) from None

    def load_adapter(self, name: str, path: Path) -> None:
        """POST /v1/load_lora_adapter; ServerError with the server's reason unless it answers 200."""
        path = Path(path)
        if not path.is_absolute():
            raise ServerError(f"adapter {name!r}: give an absolute path, not {str(path)!r}")
        status, text = self._post("/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(path)})
        if status != 200:
            raise ServerError(f"loading adapter {name!r} from {path}: HTTP {status}: {text[:300]}")

    def unload_adapter(self, name: str) -> None:
        """POST /v1/unload_lora_adapter. The name leaves the API's table; the engine keeps the
        adapter's weights until its own LRU evicts them (unloading frees nothing in the engine)."""
        status, text = self._post("/v1/unload_lora_adapter", {"lora_name": name})
        if status != 200:
            raise ServerError(f"unloading adapter {name!r}: HTTP {status}: {text[:300]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-loras", type=int, default=2)
    ap.add_argument("--max-cpu-loras", type=int, default=4)
    ap.add_argument("--max-lora-rank", type=int, default=8)
    ap.add_argument("--max-num-seqs", type=int, default=32)
    ap.add_argument("--fix", action="store_true", help="load the course's fix for the CPU -1 bug (tools/cpu_lora_fix)")
    ap.add_argument("--step-log", type=Path, help="write one JSON line per engine step to this file")
    ap.add_argument("--port", type=int)
    args = ap.parse_args(argv)
    server = Server(max_loras=args.max_loras, max_cpu_loras=args.max_cpu_loras, max_lora_rank=args.max_lora_rank,
                    max_num_seqs=args.max_num_seqs, fix=args.fix, step_log=args.step_log, port=args.port)
    try:
        server.start()
    except ServerError as e:
        print(f"server: {e}", file=sys.stderr)
        return 1
    print(f"serving {SERVED_NAME} and {', '.join(server.adapters)} at {server.url}/v1 (ready in {server.started_s} s); "
          f"log: {server.log}; Ctrl-C stops it", flush=True)
    try:
        while server.alive():
            time.sleep(1)
        print("server: it stopped by itself; its log ends:\n" + server.log_tail(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        left = server.stop()
        server.close()
        print("stopped" + (f"; still running: {left}" if left else ", nothing left running"), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
