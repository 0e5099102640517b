"""A real OTLP trace receiver for the tests: OTLP/gRPC and OTLP/HTTP
(protobuf) on 127.0.0.1, every span received appended to a JSON-lines file.

    receiver.py --grpc-port P --http-port Q --out spans.jsonl

Prints "ready" on stdout once both listen. With --count-only (benchmarks)
the file holds only the number of spans received so far. Each line of the output file is one
span: service (resource service.name), trace_id, span_id, parent_span_id
(hex, "" for a root), name, kind (SPAN_KIND_*), attributes, links, protocol.
"""

import argparse
import json
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

LOCK = threading.Lock()
COUNT_ONLY = False
RECEIVED = 0


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind) if kind else None


def attributes(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def record(request, protocol, out):
    global RECEIVED
    if COUNT_ONLY:
        n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with LOCK:
            RECEIVED += n
            with open(out, "w") as f:
                f.write(f"{RECEIVED}\n")
        return
    lines = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                lines.append(json.dumps({
                    "service": resource.get("service.name"),
                    "resource": resource,
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": trace_pb2.Span.SpanKind.Name(span.kind),
                    "attributes": attributes(span.attributes),
                    "links": [{"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex()} for l in span.links],
                    "status": span.status.code,
                    "protocol": protocol,
                }))
    with LOCK, open(out, "a") as f:
        for line in lines:
            f.write(line + "\n")


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, out):
        self.out = out

    def Export(self, request, context):
        record(request, "grpc", self.out)
        return trace_service_pb2.ExportTraceServiceResponse()


def http_handler(out):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Type", "") != "application/x-protobuf":
                self.send_error(415, "only application/x-protobuf")
                return
            record(trace_service_pb2.ExportTraceServiceRequest.FromString(body), "http/protobuf", out)
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--count-only", action="store_true")
    args = parser.parse_args()
    global COUNT_ONLY
    COUNT_ONLY = args.count_only
    open(args.out, "a").close()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(args.out), server)
    if server.add_insecure_port(f"127.0.0.1:{args.grpc_port}") == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{args.grpc_port}")
    server.start()
    http = ThreadingHTTPServer(("127.0.0.1", args.http_port), http_handler(args.out))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
