"""manage.py: the Flask-Script-NG commands, called in-process and as a real server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_script_ng.commands import InvalidCommand

from app.devserver import DevServer
from manage import build_manager

ROOT = Path(__file__).resolve().parent.parent


def run_command(*args: str) -> None:
    build_manager().handle("manage.py", list(args))


class TestCommandLine:
    @pytest.mark.parametrize("args", [["-h"], ["-?"], ["--help"], ["-c", "testing", "-h"]])
    def test_help_lists_the_commands(self, capsys, args: list[str]) -> None:
        """-h (like -? and --help) prints a usage line built from the options and the commands."""
        with pytest.raises(SystemExit) as exit_info:
            run_command(*args)
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: manage.py [-c CONFIG_NAME] [-?] {runserver,shell,routes,")
        assert "Run and inspect the hookwatch app." in out and "-?, -h, --help" in out

    @pytest.mark.parametrize("args", [[], ["-c", "testing"]])
    def test_no_command_lists_the_commands(self, capsys, args: list[str]) -> None:
        """Without a command: the same help, not "too few arguments"; exit 2, nothing ran."""
        with pytest.raises(SystemExit) as exit_info:
            run_command(*args)
        assert exit_info.value.code == 2
        captured = capsys.readouterr()
        assert captured.out.startswith("usage: manage.py ") and "traffic" in captured.out
        assert captured.err == ""

    def test_unknown_arguments_are_named(self, capsys) -> None:
        """An argument no command takes is named (Flask-Script-NG said "too many arguments")."""
        with pytest.raises(SystemExit) as exit_info:
            run_command("traffic", "-d", "5")
        assert exit_info.value.code == 2
        assert "manage.py: error: unrecognized arguments: -d 5" in capsys.readouterr().err

    def test_h_is_help_for_the_other_commands(self, capsys) -> None:
        """traffic -h is its help; runserver -h stays the host (test_options_reach_the_server)."""
        with pytest.raises(SystemExit) as exit_info:
            run_command("traffic", "-h")
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.startswith("usage: manage.py traffic [-?]")

    def test_help_as_a_real_process(self) -> None:
        """python manage.py -h: the help on stdout, exit 0."""
        result = subprocess.run([sys.executable, "manage.py", "-h"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: manage.py ") and result.stderr == ""


class TestRunserverOptions:
    def test_help_lists_the_classic_options(self, capsys) -> None:
        """runserver -? shows every classic Flask-Script option."""
        with pytest.raises(SystemExit) as exit_info:
            run_command("runserver", "-?")
        assert exit_info.value.code == 0
        help_text = capsys.readouterr().out
        for option in ("-h HOST, --host HOST", "-p PORT, --port PORT", "--threaded",
                       "--processes PROCESSES", "--passthrough-errors", "-d, --debug",
                       "-D, --no-debug", "-r, --reload", "-R, --no-reload",
                       "--ssl-crt SSL_CRT", "--ssl-key SSL_KEY", "-?, --help"):
            assert option in help_text

    def test_every_option_says_what_it_does(self, capsys) -> None:
        """No runserver option is listed without a help text; defaults are filled in."""
        parser = DevServer().create_parser("runserver")
        assert [action.option_strings for action in parser._actions if not action.help] == []
        with pytest.raises(SystemExit):
            run_command("runserver", "-?")
        help_text = " ".join(capsys.readouterr().out.split())
        assert "-p PORT, --port PORT the port to listen on, 0 to pick a free one (default: 5000)" \
            in help_text

    @pytest.fixture
    def runs(self, monkeypatch) -> list[dict[str, Any]]:
        """Record Flask.run calls instead of serving."""
        calls: list[dict[str, Any]] = []
        monkeypatch.setattr(Flask, "run", lambda app, **kwargs: calls.append(kwargs))
        return calls

    def test_defaults(self, runs) -> None:
        """Without options: 127.0.0.1:5000, no debugger, no reloader, quiet access log."""
        run_command("-c", "testing", "runserver")
        [call] = runs
        assert (call["host"], call["port"]) == ("127.0.0.1", 5000)
        assert call["use_debugger"] is False and call["use_reloader"] is False
        assert call["request_handler"].__name__ == "QuietRequestHandler"

    def test_options_reach_the_server(self, runs) -> None:
        """Each classic option is passed on to app.run."""
        run_command("-c", "testing", "runserver", "-h", "127.0.0.2", "-p", "8123", "--threaded",
                    "--passthrough-errors", "-d", "-R", "--ssl-crt", "c.pem", "--ssl-key", "k.pem")
        [call] = runs
        assert call["host"] == "127.0.0.2" and call["port"] == 8123
        assert call["threaded"] is True and call["passthrough_errors"] is True
        assert call["use_debugger"] is True and call["use_reloader"] is False
        assert call["ssl_context"] == ("c.pem", "k.pem")

    @pytest.mark.parametrize(
        ("args", "message"),
        [(["-p", "99999"], "--port must be 0 to 65535 (0 picks a free port), got 99999"),
         (["-p", "65536"], "got 65536"),
         (["-p", "-1"], "got -1"),
         (["--processes", "0"], "--processes must be 1 or more, got 0"),
         (["--processes", "-2"], "got -2")],
    )
    def test_out_of_range_values_are_refused(self, runs, args: list[str], message: str) -> None:
        """A port outside 0-65535 or fewer than one process is refused before serving."""
        with pytest.raises(InvalidCommand) as refusal:
            run_command("-c", "testing", "runserver", *args)
        assert message in str(refusal.value)
        assert runs == []

    def test_edge_values_are_served(self, runs) -> None:
        """Port 0 (a free one), port 65535 and one process are valid."""
        for args in (["-p", "0"], ["-p", "65535"], ["--processes", "1"]):
            run_command("-c", "testing", "runserver", *args)
        served = [(call["port"], call["processes"]) for call in runs]
        assert served == [(0, 1), (65535, 1), (5000, 1)]

    def test_debugger_on_public_host_warns(self, runs, capsys) -> None:
        """-d with a non-loopback host prints that the debugger allows code execution."""
        run_command("-c", "testing", "runserver", "-d", "-R", "-h", "0.0.0.0")
        assert "Anyone who can reach this server can run arbitrary code" in capsys.readouterr().err
        run_command("-c", "testing", "runserver", "-d", "-R", "-h", "localhost")
        assert "arbitrary code" not in capsys.readouterr().err

    def test_production_refuses_the_debugger(self, runs, monkeypatch, capsys) -> None:
        """The production configuration will not run with -d."""
        monkeypatch.setenv("SECRET_KEY", "k")
        with pytest.raises(InvalidCommand, match="refuses the Werkzeug debugger"):
            run_command("-c", "production", "runserver", "-d")
        assert runs == []


class TestRoutesAndShell:
    def test_routes_lists_every_rule(self, capsys) -> None:
        """routes prints endpoint, methods and rule for every URL rule."""
        run_command("-c", "testing", "routes")
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split() == ["Endpoint", "Methods", "Rule"]
        rows = {line.split()[-1]: line for line in lines[1:]}
        assert {"/", "/user/<name>", "/users/<int:user_id>", "/metrics", "/slow"} <= set(rows)
        assert rows["/user/<name>"].startswith("main.user ")
        assert "GET, HEAD, OPTIONS" in rows["/metrics"]

    def test_shell_context(self) -> None:
        """The shell context has app, g, current_app and the metrics registry."""
        from manage import make_shell_context

        from app import create_app

        app = create_app("testing")
        with app.app_context():
            context = make_shell_context()
        assert context["app"] is app
        assert context["registry"] is app.extensions["hookwatch"].metrics.registry
        assert {"g", "current_app", "metrics"} <= set(context)

    def test_shell_runs_in_the_app_context(self) -> None:
        """python manage.py shell evaluates input with the names ready."""
        result = subprocess.run(
            [sys.executable, "manage.py", "-c", "testing", "shell"],
            input="print('APP', current_app.name, type(registry).__name__)\n",
            capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
        )
        assert "APP app CollectorRegistry" in result.stdout, result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TestRealServer:
    def test_runserver_serves_and_logs_once_per_request(self) -> None:
        """A real runserver on 127.0.0.1: JSON lines, one per request, no access line."""
        port = free_port()
        env = {**os.environ, "SECRET_KEY": "k", "PYTHONUNBUFFERED": "1"}
        server = subprocess.Popen(
            [sys.executable, "manage.py", "-c", "production", "runserver", "-p", str(port),
             "--threaded"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/user/ada", timeout=2) as reply:
                        assert reply.status == 200
                        request_id = reply.headers["X-Request-ID"]
                    break
                except OSError:
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.1)
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=20)
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        finished = [line for line in lines if line["event"] == "request_finished"]
        assert [line["request_id"] for line in finished] == [request_id]
        assert finished[0]["route"] == "/user/<name>" and finished[0]["client_ip"] == "127.0.0.1"
        assert "GET /user/ada HTTP/1.1" not in output  # werkzeug's access line is dropped
        assert any("Running on" in line["event"] for line in lines)


class TestRefusals:
    @pytest.mark.parametrize(
        ("args", "message"),
        [(["-c", "production", "routes"], "needs SECRET_KEY"),
         (["-c", "nonsense", "routes"], "unknown configuration 'nonsense'"),
         (["-c", "testing", "runserver", "-p", "99999"], "--port must be 0 to 65535"),
         (["-c", "testing", "runserver", "--processes", "0"], "--processes must be 1 or more")],
    )
    def test_refused_settings_are_one_line(self, args: list[str], message: str) -> None:
        """A configuration or option value the app refuses ends the command with one line and
        status 2."""
        env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("manage.py: ") and message in line
