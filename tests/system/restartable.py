"""A `kuledger serve` process that can be SIGKILLed and started again on the
same port and database, for crash-safety tests."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.server import KULEDGER, Cli, database_env, free_port


class RestartableServer:
    def __init__(self, database_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.env = database_env(database_url, workdir)
        self.env.update(env)
        self.cli = Cli(self.env)
        self.cli.run("init")
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 30) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*KULEDGER, "serve", "--port", str(self.port), "--workers", "1"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kuledger serve exited:\n{self.log()[-3000:]}")
            try:
                url = self.base_url + "/api/v1/timestamp"
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"kuledger serve did not start:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, open transactions are cut off."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill_repeatedly(
        self,
        kills: int,
        rng: random.Random,
        pause: tuple[float, float],
        down: float,
        problems: list[str],
        done: threading.Event,
        before_kill: Callable[[], None] | None = None,
    ) -> None:
        """SIGKILL the server `kills` times, `pause` (uniform) seconds apart,
        starting it again after up to `down` seconds each time (clients see
        refused connections meanwhile); a failure goes to `problems`, and
        `done` is set at the end, the clients' signal to stop. `before_kill`
        runs just before each kill (to look at the server about to die)."""
        try:
            for _ in range(kills):
                time.sleep(rng.uniform(*pause))
                if before_kill is not None:
                    before_kill()
                self.kill()
                time.sleep(rng.uniform(0, down))
                self.start()
        except Exception as exc:
            problems.append(f"killer: {exc!r}")
        finally:
            done.set()
