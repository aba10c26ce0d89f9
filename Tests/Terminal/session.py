#!/usr/bin/env python3
"""Runs a program on a pseudo-terminal and holds a conversation with it, for the end-to-end
tests of cairn's questions and key prompts (Sources/CairnTesting/TerminalSession.swift).

Reads a JSON document on standard input:
  {"argv": [...], "cwd": DIR, "env": {...}, "timeout": SECONDS,
   "steps": [{"expect": TEXT}, {"send": TEXT}, ...]}
The program runs as the leader of a new session whose controlling terminal is the pty (so it
can open /dev/tty). Each expect waits until TEXT appears in the output after what the previous
expect matched; each send types TEXT (only then: what is typed before a prompt turns echo off
would be echoed). After the last step, the output is read until the program exits. Prints
{"status": CODE or null, "signal": N or null, "output": TEXT, "failure": null or why,
"echo": whether the terminal echoes once the program ended} as JSON.
"""
import json
import os
import pty
import select
import signal
import sys
import termios
import time


def main():
    spec = json.load(sys.stdin)
    deadline = time.monotonic() + spec.get("timeout", 60)
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.chdir(spec["cwd"])
            os.execve(spec["argv"][0], spec["argv"], spec["env"])
        finally:
            os._exit(127)

    output = bytearray()
    position = 0
    failure = None
    ended = False

    def read_some(wait):
        nonlocal ended
        if ended:
            return False
        ready, _, _ = select.select([master], [], [], wait)
        if not ready:
            return True
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the program closed the terminal
            data = b""
        if not data:
            ended = True
            return False
        output.extend(data)
        return True

    for step in spec["steps"]:
        if "expect" in step:
            wanted = step["expect"].encode()
            while True:
                found = output.find(wanted, position)
                if found >= 0:
                    position = found + len(wanted)
                    break
                if time.monotonic() > deadline:
                    failure = "timed out waiting for %r" % step["expect"]
                    break
                if not read_some(0.1) and output.find(wanted, position) < 0:
                    failure = "the program ended before %r" % step["expect"]
                    break
            if failure:
                break
        elif "send" in step:
            os.write(master, step["send"].encode())

    while failure is None and read_some(0.1):
        if time.monotonic() > deadline:
            failure = "timed out waiting for the program to end"
    if failure:
        os.kill(pid, signal.SIGKILL)
        drained = time.monotonic() + 2
        while read_some(0.1) and time.monotonic() < drained:
            pass
    _, status = os.waitpid(pid, 0)
    try:
        echo = bool(termios.tcgetattr(master)[3] & termios.ECHO)
    except termios.error:
        echo = None
    os.close(master)
    print(json.dumps({
        "status": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "output": output.decode("utf-8", "replace"),
        "failure": failure,
        "echo": echo,
    }))


if __name__ == "__main__":
    main()
