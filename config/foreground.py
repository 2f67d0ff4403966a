"""Run the development server for ``make run``: print where it listens, then run it as the
terminal's foreground job, so Ctrl-C reaches the server alone.

Ctrl-C makes the terminal send SIGINT to its whole foreground process group: ``make``, the shell
of its recipe and daphne. daphne drains and exits 0, but make, hit by the same signal, reports
``make: *** [Makefile: run] Interrupt`` and exits 130, whatever daphne did. Giving daphne a
process group of its own and making that group the terminal's foreground (what a shell's job
control does) sends the signal to daphne only; make then sees daphne's status, 0. Without a
terminal (CI, a pipe) the command simply runs.

Usage: ``python -m config.foreground --url http://127.0.0.1:8000/ -- daphne ...``.
Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys


def terminal() -> int | None:
    """The controlling terminal's descriptor when this process is in its foreground, else None."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return fd
        except OSError:
            continue
    return None


def hand_terminal_to(fd: int, pgid: int) -> None:
    # A background group that changes the foreground gets SIGTTOU; this one must not stop.
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgid)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def run(command: list[str]) -> int:
    fd = terminal()
    if fd is None:
        return subprocess.call(command)  # noqa: S603 - the Makefile's own command line
    ours = os.getpgrp()
    child = subprocess.Popen(command, process_group=0)  # noqa: S603
    with contextlib.suppress(OSError):  # the child already exited: wait() reports it
        hand_terminal_to(fd, child.pid)
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # a signal sent to us by name, not by the terminal
                child.send_signal(signal.SIGINT)
    finally:
        hand_terminal_to(fd, ours)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="printed before the server starts")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the server's command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    if args.url:
        print(f"\n  Serving on {args.url}  (Ctrl-C stops the server)\n", flush=True)
    code = run(command)
    # A server killed by a signal: the shell's convention, 128 + the signal's number.
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
