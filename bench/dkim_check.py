#!/usr/bin/python3
"""dkim_check.py: checks that a message agentrelay delivered carries both DKIM signatures
(ed25519-sha256 and rsa-sha256) and that each verifies with dkimpy, an independent
implementation. Public keys come from `agentrelay init`'s zone-file lines; no DNS is used.

    dkim_check.py INIT_OUTPUT_FILE MESSAGE_FILE

Prints one line "dkim check: ..." and exits 0 only if both algorithms verify. The record
parsing and the verification are the integration tests' own (tests/integration/harness.py).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from harness import dkim_records, dkim_verify_all  # noqa: E402


def main():
    keys = dkim_records(open(sys.argv[1]).read())
    results = dkim_verify_all(open(sys.argv[2], "rb").read(), keys)
    parts = [f"{alg or '?'} s={sel or '?'} {'verifies' if ok else 'FAILS'}" for sel, alg, ok in results]
    good = {"ed25519-sha256", "rsa-sha256"} <= {alg for _, alg, ok in results if ok}
    print("dkim check: " + ("; ".join(parts) if parts else "no DKIM-Signature") +
          (" -> both signatures good" if good else " -> NOT both signatures good"))
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
