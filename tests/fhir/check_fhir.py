#!/usr/bin/env python3
"""The ward's FHIR R4 output, checked by an external validator and by what
the vital-signs profile asks.

Against a running `icu demo` (stage scripts/stages/70-fhir.sh): gives the
emulator's patients one condition each (every condition the emulator has),
waits for readings in them, then for every patient parses each page of
`/patients/{uuid}/fhir/Observation` (following `next` links) and
`/fhir/Patient/{uuid}` with the FHIR 4.0.1 models of fhir.resources, checks
category, LOINC codes, UCUM units, blood pressure components, subject and
effectiveDateTime, and compares every value with the REST API's own
readings. The validator itself is shown to refuse broken resources first,
so that a pass means something.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import fhir.resources
from fhir.resources.bundle import Bundle
from fhir.resources.observation import Observation
from fhir.resources.patient import Patient
from pydantic import ValidationError

CONDITIONS = ["stable", "tachycardia", "bradycardia", "hypotension", "hypoxia", "fever", "sepsis"]
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# First LOINC code -> (every code, UCUM code, the REST reading's field).
VITALS = {
    "8867-4": (["8867-4"], "/min", "pulse"),
    "9279-1": (["9279-1"], "/min", "resp_rate"),
    "85354-9": (["85354-9"], None, None),
    "2708-6": (["2708-6", "59408-5"], "%", "spo2"),
    "8310-5": (["8310-5"], "Cel", "temperature"),
}
ORDER = list(VITALS)
BP = {"8480-6": "bp_systolic", "8462-4": "bp_diastolic"}


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def request(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers.get("content-type"), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type"), e.read()


def get_json(url, content_type="application/json"):
    status, ctype, body = request(url)
    check(status == 200, f"GET {url}: {status} {body[:300]!r}")
    check(ctype == content_type, f"GET {url}: content-type {ctype}, expected {content_type}")
    return json.loads(body)


def wait_for(what, probe, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    fail(f"timed out waiting for {what}")


def instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def validator_refuses_broken_resources(sample):
    """fhir.resources must reject what FHIR R4 forbids, or a pass proves nothing.
    (It checks structure, cardinality and types, not value sets: a status of
    `done` passes it, which is why check_observation checks codes itself.)"""
    broken = {
        "no status": {k: v for k, v in sample.items() if k != "status"},
        "no code": {k: v for k, v in sample.items() if k != "code"},
        "an id FHIR does not allow": dict(sample, id="not an id!"),
        "two values": dict(sample, valueString="72"),
        "value not a number": dict(sample, valueQuantity=dict(sample["valueQuantity"], value="fast")),
        "unknown element": dict(sample, heartRate=72),
        "bad dateTime": dict(sample, effectiveDateTime="29/11/2026 08:00"),
    }
    for why, resource in broken.items():
        try:
            Observation.parse_obj(resource)
        except ValidationError:
            continue
        fail(f"the validator accepted an Observation with {why}: {resource}")


def check_observation(o, patient):
    code = o["code"]["coding"][0]["code"]
    check(code in VITALS, f"unexpected code {code}")
    codes, unit, _ = VITALS[code]
    check(o["status"] == "final", f"status {o['status']}")
    check([c["system"] for c in o["code"]["coding"]] == [LOINC] * len(codes), f"{code}: coding systems")
    check([c["code"] for c in o["code"]["coding"]] == codes, f"{code}: codes {o['code']['coding']}")
    cat = [c for cc in o["category"] for c in cc["coding"]]
    check({"system": CATEGORY, "code": "vital-signs"}.items() <= cat[0].items(), f"{code}: category {cat}")
    check(o["subject"] == {"reference": f"Patient/{patient}"}, f"{code}: subject {o['subject']}")
    check(o["effectiveDateTime"].endswith("Z"), f"{code}: effectiveDateTime {o['effectiveDateTime']}")
    check(len(o["meta"]["profile"]) == 1 and o["meta"]["profile"][0].startswith("http://hl7.org/fhir/StructureDefinition/"), "profile")
    if code == "85354-9":
        check("valueQuantity" not in o, "a blood pressure panel has no value of its own")
        comps = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in o["component"]}
        check(set(comps) == set(BP), f"blood pressure components {list(comps)}")
        for q in comps.values():
            check(q["system"] == UCUM and q["code"] == "mm[Hg]", f"blood pressure unit {q}")
        return {BP[k]: q["value"] for k, q in comps.items()}
    q = o["valueQuantity"]
    check(q["system"] == UCUM and q["code"] == unit, f"{code}: unit {q}")
    check("component" not in o, f"{code}: no components")
    return {VITALS[code][2]: q["value"]}


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--api", required=True, help="monitor-service base URL")
    args.add_argument("--emulator", required=True, help="patient-service base URL")
    args.add_argument("--prefix", default="/api/v1")
    a = args.parse_args()
    check(fhir.resources.__fhir_version__ == "4.0.1", f"fhir.resources models FHIR {fhir.resources.__fhir_version__}, not R4")
    api, emulator = a.api + a.prefix, a.emulator + a.prefix

    wait_for("the emulator's patients", lambda: len(get_json(f"{emulator}/patients")["patients"]) == len(CONDITIONS))
    patients = get_json(f"{emulator}/patients")["patients"]
    started = datetime.now(timezone.utc)
    for p, condition in zip(patients, CONDITIONS):
        status, _, body = request(f"{emulator}/patients/{p['uuid']}/condition", "PUT", {"condition": condition})
        check(status == 200, f"setting {condition}: {status} {body!r}")
    since = urllib.parse.quote(started.isoformat().replace("+00:00", "Z"))

    def readings_since(uuid):
        status, _, body = request(f"{api}/patients/{uuid}/metrics?from={since}")
        return len(json.loads(body)["readings"]) if status == 200 else 0  # 404: not landed yet

    def enough_readings():
        return all(readings_since(p["uuid"]) >= 8 for p in patients)

    wait_for("8 readings of each patient in their condition", enough_readings)
    # A fixed end, so the REST readings and the FHIR pages are the same set.
    end = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    end_q = urllib.parse.quote(end)

    validated = pages = 0
    bands = set()
    for p, condition in zip(patients, CONDITIONS):
        uuid = p["uuid"]
        readings = get_json(f"{api}/patients/{uuid}/metrics?to={end_q}&limit=1000")["readings"]
        check(len(readings) >= 5, f"{condition}: {len(readings)} readings before {end}")
        bands.update(r["news2"]["band"] for r in readings)
        url = f"{api}/patients/{uuid}/fhir/Observation?_count=7&date=lt{end_q}"
        observations = []
        while url:
            page = get_json(url, "application/fhir+json")
            if validated == 0:
                validator_refuses_broken_resources(page["entry"][0]["resource"])
            try:
                Bundle.parse_obj(page)
                for entry in page["entry"]:
                    Observation.parse_obj(entry["resource"])
            except ValidationError as e:
                fail(f"{condition}: FHIR R4 refuses the page {url}:\n{e}")
            check(page["type"] == "searchset" and len(page["entry"]) <= 7, f"{url}: a searchset of at most 7")
            observations.extend(e["resource"] for e in page["entry"])
            nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
            url = a.api + nxt[0] if nxt else None
            validated += len(page["entry"])
            pages += 1
        check(len(observations) == 5 * len(readings), f"{condition}: {len(observations)} Observations for {len(readings)} readings")
        check(len({o["id"] for o in observations}) == len(observations), f"{condition}: ids repeat")
        # Five per reading, in the fixed order, newest reading first, each value the REST API's.
        for i, r in enumerate(readings):
            five = observations[5 * i : 5 * i + 5]
            check([o["code"]["coding"][0]["code"] for o in five] == ORDER, f"{condition}: order {five}")
            values = {}
            for o in five:
                check(instant(o["effectiveDateTime"]) == instant(r["timestamp"]), f"{condition}: {o['effectiveDateTime']} != {r['timestamp']}")
                values.update(check_observation(o, uuid))
            for field, value in values.items():
                check(value == r[field], f"{condition}: {field} {value} in FHIR, {r[field]} in the API")
        resource = get_json(f"{api}/fhir/Patient/{uuid}", "application/fhir+json")
        try:
            Patient.parse_obj(resource)
        except ValidationError as e:
            fail(f"{condition}: FHIR R4 refuses the Patient:\n{e}")
        check(resource["id"] == uuid and resource["name"][0]["text"] == p["name"], f"Patient {resource}")

    check(bands & {"low-medium", "medium", "high"}, f"no abnormal reading among the conditions: bands {bands}")
    status, ctype, body = request(f"{api}/patients/{patients[0]['uuid']}/fhir/Observation?date=eq2026-11-29")
    check(status == 400 and ctype == "application/problem+json", f"a bad date: {status} {ctype}")
    check(json.loads(body)["parameter"] == "date", f"the problem names date: {body!r}")
    print(
        f"fhir: {validated} Observations on {pages} pages and {len(patients)} Patients valid FHIR R4 "
        f"(fhir.resources {fhir.resources.__version__}), conditions {', '.join(CONDITIONS)}, bands {sorted(bands)}"
    )


if __name__ == "__main__":
    main()
