#!/usr/bin/python3
"""wait_sink.py FILE COUNT TIMEOUT_S: waits until smtp-sink's counter in FILE reaches COUNT.

smtp-sink -c rewrites one status line ("... mesg=N ...") with carriage returns; the last
mesg=N in the file is its count. Polls every 10 ms from one process: a shell loop forking
tail/grep 50 times a second would itself take a good share of a 2-core machine from the
relay being measured. Prints the time COUNT was seen (epoch seconds) and exits 0; on timeout
prints the count reached to stderr and exits 1.
"""
import re
import sys
import time


def count(path):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 200))
            found = re.findall(rb"mesg=(\d+)", f.read())
    except OSError:
        return 0
    return int(found[-1]) if found else 0


def main():
    path, want, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    deadline = time.time() + timeout
    while True:
        n = count(path)
        if n >= want:
            print(f"{time.time():.6f}")
            return 0
        if time.time() > deadline:
            print(n, file=sys.stderr)
            return 1
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main())
