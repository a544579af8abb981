"""hoststate's long-running commands as real processes, for tests of a
whole cloud on one machine: ``hoststate scheduler``, ``conductor`` and
``compute``, each with a nova.conf of its own and a log file."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

#: the command, as the installed entry point runs it
LAUNCH = ("import sys; from hoststate.cli.main import main; "
          "sys.exit(main(sys.argv[1:]))")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


#: what every service's configuration says unless a test says otherwise
DEFAULTS = {"report_interval": 1, "service_down_time": 5,
            "update_resources_interval": 1, "rpc_response_timeout": 10}


class Service:
    """One ``hoststate --config-file FILE <command> ...`` process."""

    def __init__(self, tmp_path, name, transport_url, argv,
                 database_url=None, env=None, sections=None, **defaults):
        self.name = name
        self.conf_path = tmp_path / f"{name}.conf"
        self.log_path = tmp_path / f"{name}.log"
        self.stderr_path = tmp_path / f"{name}.err"
        options = {"transport_url": transport_url, "log_file": self.log_path,
                   **DEFAULTS, **defaults}
        text = "[DEFAULT]\n" + "".join(f"{k} = {v}\n"
                                       for k, v in options.items())
        if database_url:
            text += f"[database]\nconnection = {database_url}\n"
        else:   # a database-less agent must not make one in state_path
            (tmp_path / f"{name}-state").mkdir(exist_ok=True)
            text += f"state_path = {tmp_path / f'{name}-state'}\n"
        for group, values in (sections or {}).items():
            text += f"[{group}]\n" + "".join(f"{k} = {v}\n"
                                             for k, v in values.items())
        self.conf_path.write_text(textwrap.dedent(text))
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, "--config-file",
                 str(self.conf_path), *argv], cwd=tmp_path,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, env={**os.environ, **(env or {})})

    @property
    def log(self):
        text = self.log_path.read_text() if self.log_path.exists() else ""
        return text + self.stderr_path.read_text()

    def wait_for_log(self, text):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if text in self.log:
                return
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited with "
                            f"{self.process.returncode} before logging "
                            f"{text!r}:\n{self.log}")
            time.sleep(0.1)
        pytest.fail(f"{self.name} did not log {text!r}:\n{self.log}")

    def stop(self, signum=signal.SIGTERM):
        self.process.send_signal(signum)
        return self.process.wait(STOP_TIMEOUT_S)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def services(tmp_path):
    """``services(name, transport_url, argv, database_url=None, env=None,
    sections=None, **conf)`` starts one (``env``: variables added to its
    environment; ``sections``: {group: {option: value}} beyond
    ``[DEFAULT]`` and ``[database]``); every one still running is killed
    at the end."""
    started = []

    def start(name, transport_url, argv, database_url=None, env=None,
              sections=None, **defaults):
        started.append(Service(tmp_path, name, transport_url, argv,
                               database_url, env, sections, **defaults))
        return started[-1]

    yield start
    for service in started:
        service.kill()
