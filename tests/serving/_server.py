"""Servers for the serving tests (not a test module): `python -m tf_simcse.serve` in a subprocess, or an app
from `create_app` on uvicorn in a thread of the test process; both on a free 127.0.0.1 port."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time

from tests.conftest import REPO_ROOT

_STARTED = re.compile(r"^serving .* at (http://127\.0\.0\.1:\d+) ")


class ServeProcess:
    """`python -m tf_simcse.serve ARGS --port 0`, its stderr in `log_path`."""

    def __init__(self, args, log_path):
        self.log_path = log_path
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
        env.pop("TF_SIMCSE_API_KEY", None)
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (the server's stderr while it runs)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tf_simcse.serve", *map(str, args), "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log, cwd=REPO_ROOT, env=env,
        )
        self.url = None
        self._interrupted = False

    def lines(self):
        return self.log_path.read_text(encoding="utf-8").splitlines()

    def wait_ready(self, timeout=240):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                match = _STARTED.match(line)
                if match:
                    self.url = match.group(1)
                    return self.url
            if self.process.poll() is not None:
                tail = "\n".join(self.lines()[-30:])
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{tail}")
            time.sleep(0.2)
        raise AssertionError("the server did not start in time:\n" + "\n".join(self.lines()[-30:]))

    def interrupt(self):
        """Ctrl+C, as a user stops it (once: a second one forces uvicorn to quit without its shutdown)."""
        if self.process.poll() is None and not self._interrupted:
            self.process.send_signal(signal.SIGINT)
            self._interrupted = True

    def stop(self):
        """Interrupts the server and waits for it; returns the exit code."""
        if self.process.poll() is None:
            self.interrupt()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@contextlib.contextmanager
def thread_server(app):
    """Serves `app` (from `create_app`) in a thread; yields its URL."""
    from tf_simcse.serving.server import bind_socket, make_server, url_of

    sock = bind_socket("127.0.0.1", 0)
    server = make_server(app, sock)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the in-thread server did not start")
        time.sleep(0.02)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


class Background:
    """A subprocess started early (its TensorFlow import overlaps others'); `result()` waits for it."""

    def __init__(self, args, **kwargs):
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
        self._result = None

    def result(self, timeout=300):
        if self._result is None:
            stdout, stderr = self.process.communicate(timeout=timeout)
            self._result = subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)
        return self._result


# saved_model_cli with the TF Text ops registered first (the export's model card shows this command).
SAVED_MODEL_CLI = (
    "import sys, tensorflow_text; from tensorflow.python.tools import saved_model_cli; "
    "sys.argv[0] = 'saved_model_cli'; saved_model_cli.main()"
)
TF_SERVING_SENTENCES = [
    "A man is playing a guitar.", "", "한국어 문장 임베딩을 학습합니다.", 'Mixed 한국어 English 😀 "quoted"'
]
