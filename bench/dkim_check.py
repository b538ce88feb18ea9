#!/usr/bin/python3
"""dkim_check.py: checks that a message agentrelay delivered carries both DKIM signatures
(ed25519-sha256 and rsa-sha256) and that each verifies with dkimpy, an independent
implementation. Public keys come from `agentrelay init`'s zone-file lines; no DNS is used.

    dkim_check.py INIT_OUTPUT_FILE MESSAGE_FILE

Prints one line "dkim check: ..." and exits 0 only if both algorithms verify.
"""
import re
import sys

import dkim


def records(init_output):
    out = {}
    for line in init_output.splitlines():
        m = re.match(r"^(\S+)\._domainkey\.\S+\s+IN\s+TXT\s+\((.*)\)", line)
        if m:
            out[m.group(1)] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    return out


def main():
    keys = records(open(sys.argv[1]).read())
    msg = open(sys.argv[2], "rb").read()

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        return keys.get(name.split("._domainkey.")[0], "").encode()

    d = dkim.DKIM(msg)
    verified = set()
    parts = []
    for i in range(len(re.findall(rb"(?mi)^DKIM-Signature:", msg))):
        ok = d.verify(idx=i, dnsfunc=dnsfunc)
        fields = dict(d.signature_fields)
        alg = fields.get(b"a", b"?").decode()
        parts.append(f"{alg} s={fields.get(b's', b'?').decode()} {'verifies' if ok else 'FAILS'}")
        if ok:
            verified.add(alg)
    good = {"ed25519-sha256", "rsa-sha256"} <= verified
    print("dkim check: " + ("; ".join(parts) if parts else "no DKIM-Signature") +
          (" -> both signatures good" if good else " -> NOT both signatures good"))
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
