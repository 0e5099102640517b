"""Readings flow from the emulator container to the API container: every
patient the emulator admits appears in the monitor-service's ward with a
reading. usage: check_flow.py EMULATOR_URL MONITOR_URL TIMEOUT_SECONDS
"""
import json
import sys
import time
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


def main() -> int:
    emulator, monitor, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    emulated = {p["uuid"] for p in get(f"{emulator}/api/v1/patients")["patients"]}
    if not emulated:
        print("the emulator emulates nobody", file=sys.stderr)
        return 1
    deadline = time.time() + timeout
    seen = {}
    while time.time() < deadline:
        ward = get(f"{monitor}/api/v1/patients")["patients"]
        seen = {p["uuid"]: p for p in ward}
        with_reading = {u for u, p in seen.items() if p.get("latest")}
        if emulated <= with_reading:
            print(f"{len(emulated)} emulated patients, all in the API with a reading")
            return 0
        time.sleep(0.5)
    print(f"emulated {sorted(emulated)}, API has {json.dumps(list(seen.values()))[:2000]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
