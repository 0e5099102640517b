"""Follows one reading through the running ward and the spans an OTLP
receiver got (tests/otel/receiver.py). Run by scripts/stages/20-otel.sh.

    check.py traced --api URL --spans FILE [--logs DIR]
        A reading fetched through the API names its trace; that trace holds
        patient-service's PRODUCER span `send icu.vitals` and data-service's
        CONSUMER span `process icu.vitals`, its child; data-service's batch
        span links to it; monitor-service's request span is a child of the
        traceparent the request sent, answers with a traceparent of its own
        span, and links to the reading's trace (a cached page too). Log lines
        written inside the request span carry its trace_id.

    check.py off --api URL --spans FILE
        With OTEL_TRACES_SAMPLER=always_off the ward still works (readings
        reach the API, each still with the trace id its unsampled traceparent
        named), and the receiver got nothing. Run after the services exited,
        so their exit flush is included.

Exits non-zero with the reason on the first failed expectation.
"""

import argparse
import glob
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
import uuid

PREFIX = "/api/v1"


def fail(message):
    print(f"otel check FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response), response.headers


def wait_for(what, probe, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            found = probe()
        except OSError as e:  # the API not up yet
            found, last = None, e
        if found:
            return found
        time.sleep(0.5)
    fail(f"{what} not seen within {timeout} s" + (f" (last error: {last})" if last else ""))


def spans(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def a_traced_reading(api):
    """A patient whose readings carry trace ids (the data-service stored some)."""
    ward, _ = get(f"{api}{PREFIX}/patients")
    for patient in ward["patients"]:
        latest = patient.get("latest") or {}
        if latest.get("trace_id"):
            return patient["uuid"]
    return None


def traced(args):
    patient = wait_for("a reading with a trace_id in the API", lambda: a_traced_reading(args.api), 90)
    url = f"{args.api}{PREFIX}/patients/{patient}/metrics?limit=5"
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    page, headers = get(url, {"traceparent": f"00-{caller_trace}-{caller_span}-01"})
    readings = [r for r in page["readings"] if r.get("trace_id")]
    if not readings:
        fail(f"no reading of {patient} carries a trace_id: {page}")
    for r in readings:
        if len(r["trace_id"]) != 32 or int(r["trace_id"], 16) == 0:
            fail(f"not a W3C trace id: {r['trace_id']!r}")
    answer = headers.get("traceparent")
    if not answer:
        fail("the API answered without a traceparent header")
    version, answer_trace, answer_span, flags = answer.split("-")
    if answer_trace != caller_trace or answer_span == caller_span or flags != "01":
        fail(f"response traceparent {answer} does not continue the request's trace {caller_trace}")
    # The same page again: most likely served from the page cache; it must link too.
    _, again = get(url, {"traceparent": f"00-{caller_trace}-{caller_span}-01"})
    again_span = again["traceparent"].split("-")[2]

    reading_trace = readings[0]["trace_id"]

    def trace_complete():
        got = spans(args.spans)
        producer = [s for s in got if s["trace_id"] == reading_trace and s["kind"] == "SPAN_KIND_PRODUCER"]
        consumer = [s for s in got if s["trace_id"] == reading_trace and s["kind"] == "SPAN_KIND_CONSUMER"]
        server = {s["span_id"]: s for s in got if s["trace_id"] == caller_trace and s["kind"] == "SPAN_KIND_SERVER"}
        batch = [s for s in got if s["kind"] == "SPAN_KIND_CLIENT" and s["service"] == "data-service"
                 and any(l["trace_id"] == reading_trace for l in s["links"])]
        if producer and consumer and answer_span in server and again_span in server and batch:
            return producer, consumer, server, batch
        return None

    producer, consumer, server, batch = wait_for(f"the spans of trace {reading_trace}", trace_complete, 30)
    send = producer[0]
    expect(send["service"] == "patient-service", f"producer span from {send['service']}")
    expect(send["name"] == "send icu.vitals", f"producer span named {send['name']!r}")
    expect(send["parent_span_id"] == "", "the producer span is the root of the reading's trace")
    a = send["attributes"]
    expect(a.get("messaging.system") == "kafka", f"messaging.system {a.get('messaging.system')!r}")
    expect(a.get("messaging.destination.name") == "icu.vitals", f"destination {a.get('messaging.destination.name')!r}")
    expect(a.get("messaging.kafka.message.key") == patient, f"message key {a.get('messaging.kafka.message.key')!r}")
    expect("messaging.destination.partition.id" in a and "messaging.kafka.offset" in a,
           f"partition and offset once delivered: {a}")
    children = [s for s in consumer if s["parent_span_id"] == send["span_id"]]
    expect(children, f"no CONSUMER span is the child of {send['span_id']}: {consumer}")
    process = children[0]
    expect(process["service"] == "data-service", f"consumer span from {process['service']}")
    expect(process["name"] == "process icu.vitals", f"consumer span named {process['name']!r}")
    expect(process["attributes"].get("messaging.kafka.offset") == a["messaging.kafka.offset"],
           "the consumer span names the offset the producer's delivery reported")
    expect(process["attributes"].get("icu.ingest.fate") == "stored", f"fate {process['attributes']}")
    # No bleeding: every consumer span hangs from the send span of its own
    # message (same partition and offset), never from another reading's.
    got = spans(args.spans)
    sends = {(s["trace_id"], s["span_id"]): s for s in got if s["kind"] == "SPAN_KIND_PRODUCER"}
    pairs = 0
    for c in (s for s in got if s["kind"] == "SPAN_KIND_CONSUMER"):
        origin = sends.get((c["trace_id"], c["parent_span_id"]))
        expect(origin is not None or c["trace_id"] not in {t for t, _ in sends},
               f"consumer span {c['span_id']} in a reading's trace but not under its send span")
        if origin:
            pairs += 1
            for key in ("messaging.destination.partition.id", "messaging.kafka.offset"):
                expect(c["attributes"].get(key) == origin["attributes"].get(key),
                       f"consumer span {c['span_id']} {key} differs from its parent's: bled between readings")
    expect(pairs >= 3, f"only {pairs} send/process pairs seen")
    insert = batch[0]
    expect(insert["attributes"].get("db.system.name") == "postgresql", f"batch span attributes {insert['attributes']}")
    for span_id in (answer_span, again_span):
        request = server[span_id]
        expect(request["service"] == "monitor-service", f"request span from {request['service']}")
        expect(request["parent_span_id"] == caller_span, "the request span is the child of the caller's traceparent")
        expect(request["name"] == f"GET {PREFIX}/patients/{{uuid}}/metrics", f"request span named {request['name']!r}")
        linked = {l["trace_id"] for l in request["links"]}
        expect(reading_trace in linked, f"request span {span_id} links {linked}, not {reading_trace}")
    if args.logs:
        # A refused request logs a line (at debug, which the stage enables
        # for telemetry::http) inside its span.
        refused_trace = secrets.token_hex(16)
        try:
            get(f"{args.api}{PREFIX}/patients/{uuid.uuid4()}", {"traceparent": f"00-{refused_trace}-{secrets.token_hex(8)}-01"})
            fail("an unknown patient was not refused")
        except urllib.error.HTTPError as e:
            expect(e.code == 404, f"an unknown patient answered {e.code}")
        wait_for("a log line of the refused request", lambda: check_logs(args.logs, refused_trace), 10)
    kinds = sorted({(s["service"], s["kind"], s["protocol"]) for s in spans(args.spans)})
    print(f"otel check ok: reading trace {reading_trace}, request trace {caller_trace}; spans seen: {kinds}")


def check_logs(directory, request_trace):
    """Every JSON line that names a trace names it well; whether one names `request_trace`."""
    seen = 0
    for path in glob.glob(os.path.join(directory, "*.log")):
        with open(path) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if "trace_id" in entry:
                    expect(len(entry["trace_id"]) == 32 and len(entry.get("span_id", "")) == 16,
                           f"{path}: trace fields malformed: {line.strip()}")
                    seen += entry["trace_id"] == request_trace
    return seen > 0


def off(args):
    patient = wait_for("a reading in the API", lambda: a_traced_reading(args.api), 90)
    page, headers = get(f"{args.api}{PREFIX}/patients/{patient}/metrics?limit=1")
    answer = headers.get("traceparent", "")
    expect(answer.endswith("-00"), f"an unsampled request answers with sampled flag off, got {answer!r}")
    print(f"otel check (always_off): the ward works, reading trace {page['readings'][0]['trace_id']}")


def nothing_exported(args):
    got = spans(args.spans)
    expect(not got, f"always_off exported {len(got)} spans, e.g. {got[:1]}")
    print("otel check (always_off): nothing exported")


def expect(condition, message):
    if not condition:
        fail(message)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["traced", "off", "nothing-exported"])
    parser.add_argument("--api")
    parser.add_argument("--spans", required=True)
    parser.add_argument("--logs")
    args = parser.parse_args()
    {"traced": traced, "off": off, "nothing-exported": nothing_exported}[args.mode](args)


if __name__ == "__main__":
    main()
