"""Polls a URL until it answers 200 and prints the seconds since a given
container start time (podman's StartedAt, RFC 3339 with nanoseconds).

usage: wait_ready.py URL STARTED_AT TIMEOUT_SECONDS
"""
import datetime
import sys
import time
import urllib.request


def parse_started(text: str) -> float:
    # podman prints e.g. "2026-11-29 17:02:03.123456789 +0000 UTC"
    date, clock, offset = text.split()[:3]
    whole, _, frac = clock.partition(".")
    stamp = datetime.datetime.strptime(f"{date} {whole} {offset}", "%Y-%m-%d %H:%M:%S %z")
    return stamp.timestamp() + float("0." + (frac or "0"))


def main() -> int:
    url, started, timeout = sys.argv[1], parse_started(sys.argv[2]), float(sys.argv[3])
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    print(f"{time.time() - started:.3f}")
                    return 0
        except Exception as error:  # not listening yet, or 503 until its dependencies answer
            last = error
        time.sleep(0.005)
    print(f"{url} not ready after {timeout}s: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
