#!/usr/bin/env python3
"""demo-config.py: the reference configuration adapted to the local AWS of tests/env (data plane, state, short polls).

Usage: demo-config.py conf/dr-agent.conf STATE_DIR > demo.conf (inside `drenv start`'s environment).
"""
import os
import re
import sys


def resource_groups(text):
    """(start, end, type) of each { ... } group inside `resources = ( ... );`."""
    start = text.index("resources")
    depth, i, groups, open_at = 0, text.index("(", start), [], None
    while i < len(text):
        c = text[i]
        if c == "#":
            i = text.index("\n", i)
            continue
        if c == '"':
            i = text.index('"', i + 1)
        elif c == "{":
            depth += 1
            if depth == 1:
                open_at = i
        elif c == "}":
            depth -= 1
            if depth == 0:
                body = text[open_at:i]
                groups.append((open_at, i, re.search(r'type\s*=\s*"([a-z0-9_]+)"', body).group(1)))
        elif c == ")" and depth == 0:
            break
        i += 1
    return groups


def main(argv):
    src, state_dir = argv[1], argv[2]
    e = os.environ
    with open(src) as f:
        text = f.read()
    extra = {
        # failover writes and reads back a canary item in the DR region
        "dynamodb": 'canary_key = "pk=dr-agent-canary"; poll_interval = "1s";',
        # the data plane: the PostgreSQL pair behind the emulated clusters (loopback, no TLS)
        "aurora": (f'pg_primary_host = "{e["DR_TEST_PG_PRIMARY_HOST"]}"; pg_primary_port = {e["DR_TEST_PG_PRIMARY_PORT"]}; '
                   f'pg_dr_host = "{e["DR_TEST_PG_STANDBY_HOST"]}"; pg_dr_port = {e["DR_TEST_PG_STANDBY_PORT"]}; '
                   f'pg_database = "{e["DR_TEST_PG_DBNAME"]}"; pg_user = "{e["DR_TEST_PG_USER"]}"; '
                   f'pg_password_file = "{e["DR_TEST_PG_PASSWORD_FILE"]}"; pg_sslmode = "disable"; '
                   'poll_interval = "1s";'),
        # a real replication round trip of a small object on every verify
        "s3": 'canary_prefix = "dr-canary/"; canary_deadline = "30s";',
        "route53": 'change_timeout = "2m";',
    }
    out, last = [], 0
    for start, end, typ in resource_groups(text):
        out.append(text[last:end])
        if typ in extra:
            out.append(" " + extra[typ] + " ")
        last = end
    out.append(text[last:])
    text = "".join(out)
    text = re.sub(r'state_dir\s*=\s*"[^"]*";', f'state_dir = "{state_dir}";', text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv)
