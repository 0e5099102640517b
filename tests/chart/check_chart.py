#!/usr/bin/env python3
"""Checks of the Helm chart charts/icu-monitor and the kustomize base k8s/strimzi
with real tools, offline (run by scripts/stages/40-chart.sh):

- `helm lint --strict`, and `helm template` of several value sets;
- every rendered object validated strictly: built-in kinds with
  kubernetes-validate (Kubernetes' own schemas, two versions), custom kinds with
  the strict CRD schemas in tests/chart/schemas/; a kind with no schema fails;
- assertions on the objects themselves: bed count, hardening of every
  container, no Secret value in a plain env value, the env the services read,
  Strimzi topics, monitoring gating, and which pod may reach which over the
  NetworkPolicies (evaluated here, as a CNI would);
- bad values files (wrong type, unknown key, missing issuer) fail
  `helm install --dry-run=client` and `helm template` with a message naming them;
- `kubectl kustomize k8s/strimzi` output validated and tied to the chart's defaults.

usage: check_chart.py --helm PATH --kubectl PATH [--checkov PATH] [--out DIR]
"""
from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "icu-monitor"
KUSTOMIZE = ROOT / "k8s" / "strimzi"
HERE = Path(__file__).resolve().parent
SCHEMAS = HERE / "schemas"
FIXTURES = HERE / "fixtures"

# Kubernetes versions the rendered objects must be valid for: the chart's
# kubeVersion floor and the newest schemas kubernetes-validate ships.
K8S_VERSIONS = ["1.30.0", "1.37.0"]
CRD_SCHEMAS = {
    ("kafka.strimzi.io/v1", "KafkaTopic"): "kafkatopic-v1-strict.json",
    ("kafka.strimzi.io/v1", "Kafka"): "kafka-v1-strict.json",
    ("kafka.strimzi.io/v1", "KafkaNodePool"): "kafkanodepool-v1-strict.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-v1-strict.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor-v1-strict.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-v1-strict.json",
}
MONITORING_APIS = ["monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"]
NS = "icu"
RELEASE = "icu"
ISSUER = "https://idp.example.test/realms/icu"
JWKS = ISSUER + "/protocol/openid-connect/certs"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"}
COMPONENTS = {"patients": 8000, "data-service": 8001, "monitor": 8002}


def deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.passed = 0

    def check(self, condition: bool, what: str) -> bool:
        if condition:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"FAIL {what}", flush=True)
        return condition


class Tools:
    def __init__(self, helm: str, kubectl: str, workdir: Path) -> None:
        self.helm, self.kubectl, self.workdir = helm, kubectl, workdir
        self.env = dict(os.environ, HOME=str(workdir / "home"))
        (workdir / "home").mkdir(exist_ok=True)

    def values_file(self, name: str, values: dict) -> Path:
        path = self.workdir / f"values-{name}.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), capture_output=True, text=True, env=self.env)

    def template(self, name: str, values: dict, api_versions=(), chart: Path = CHART):
        args = [self.helm, "template", RELEASE, str(chart), "-n", NS, "-f", str(self.values_file(name, values))]
        for api in api_versions:
            args += ["--api-versions", api]
        result = self.run(*args)
        if result.returncode != 0:
            return None, result.stderr
        (self.workdir / f"rendered-{name}.yaml").write_text(result.stdout)
        return [d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict)], result.stdout


# ---------------------------------------------------------------- validation

_validators: dict[str, jsonschema.Draft7Validator] = {}


def crd_errors(doc: dict) -> list[str] | None:
    name = CRD_SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
    if name is None:
        return None
    if name not in _validators:
        schema = json.loads((SCHEMAS / name).read_text())
        _validators[name] = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
            for e in _validators[name].iter_errors(doc)]


def validate_all(report: Report, label: str, docs: list[dict]) -> None:
    """Every object against a strict schema; an object of a kind with no schema fails."""
    for doc in docs:
        what = f"{label}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        errors = crd_errors(doc)
        if errors is not None:
            report.check(not errors, f"{what} invalid against {CRD_SCHEMAS[(doc['apiVersion'], doc['kind'])]}: {errors}")
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                report.check(True, what)
            except kubernetes_validate.SchemaNotFoundError:
                report.check(False, f"{what}: no schema for {doc.get('apiVersion')} {doc.get('kind')} (Kubernetes {version} or tests/chart/schemas)")
                break
            except kubernetes_validate.ValidationError as error:
                report.check(False, f"{what} invalid for Kubernetes {version}: {error.message} at {list(error.path)}")


# ------------------------------------------------------------ object helpers

def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def named(docs, kind, name):
    found = [d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name]
    return found[0] if found else None


def pod_specs(docs):
    """(workload doc, pod metadata, pod spec) of every pod the objects would create."""
    for doc in docs:
        if doc.get("kind") == "Pod":
            yield doc, doc["metadata"], doc["spec"]
        elif doc.get("kind") in WORKLOAD_KINDS:
            template = doc["spec"]["template"]
            yield doc, template.get("metadata", {}), template["spec"]


def containers(spec):
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def env_of(container) -> dict:
    return {e["name"]: e for e in container.get("env", [])}


def component(meta) -> str | None:
    return meta.get("labels", {}).get("app.kubernetes.io/component")


def workload(docs, comp):
    for doc, meta, spec in pod_specs(docs):
        if component(meta) == comp and doc["kind"] != "Pod":
            return doc, spec
    return None, None


# ------------------------------------------------------------ common asserts

REQUIRED_LABELS = ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                   "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "app.kubernetes.io/component",
                   "helm.sh/chart"]


def check_common(report: Report, label: str, docs: list[dict], values: dict) -> None:
    for doc in docs:
        meta = doc["metadata"]
        what = f"{label}: {doc['kind']}/{meta['name']}"
        labels = meta.get("labels", {})
        missing = [k for k in REQUIRED_LABELS if k not in labels and not (k.endswith("component") and doc["kind"] == "NetworkPolicy")]
        report.check(not missing, f"{what} lacks labels {missing}")
        report.check(meta.get("namespace") == NS, f"{what} has namespace {meta.get('namespace')!r}, not the release's")
        report.check("helm.sh/hook" not in meta.get("annotations", {}) or doc["kind"] == "Pod",
                     f"{what} is a hook (only the test pod may be)")

    secrets = set()
    for secret in of_kind(docs, "Secret"):
        for value in (secret.get("data") or {}).values():
            secrets.add(base64.b64decode(value).decode())
        secrets.update((secret.get("stringData") or {}).values())
    secrets = {s for s in secrets if len(s) >= 8}

    for doc, meta, spec in pod_specs(docs):
        what = f"{label}: {doc['kind']}/{doc['metadata']['name']}"
        comp = component(meta)
        report.check(comp is not None, f"{what}: pod template without app.kubernetes.io/component")
        psc = spec.get("securityContext", {})
        report.check(psc.get("runAsNonRoot") is True, f"{what}: pod runAsNonRoot not true")
        report.check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{what}: pod seccompProfile not RuntimeDefault")
        report.check(not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), f"{what}: shares a host namespace")
        report.check(not any("hostPath" in v for v in spec.get("volumes", [])), f"{what}: mounts a hostPath")
        # Only the beds watch their own Pod; every other pod gets no API token.
        want_token = comp == "patients" and values.get("patients", {}).get("watchPod", True)
        report.check(spec.get("automountServiceAccountToken") is want_token,
                     f"{what}: automountServiceAccountToken is {spec.get('automountServiceAccountToken')}, want {want_token}")
        for c in containers(spec):
            cwhat = f"{what} container {c['name']}"
            sc = c.get("securityContext", {})
            report.check(sc.get("allowPrivilegeEscalation") is False, f"{cwhat}: allowPrivilegeEscalation not false")
            report.check(sc.get("readOnlyRootFilesystem") is True, f"{cwhat}: root filesystem writable")
            report.check(sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc.get("capabilities", {}).get("add"),
                         f"{cwhat}: capabilities not exactly drop ALL")
            report.check(sc.get("privileged") is not True, f"{cwhat}: privileged")
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            report.check(isinstance(uid, int) and uid > 0, f"{cwhat}: runs as uid {uid}")
            res = c.get("resources", {})
            report.check(all(res.get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory")),
                         f"{cwhat}: cpu/memory requests and limits not all set")
            image = c.get("image", "")
            report.check(("@sha256:" in image or re.search(r":[^/:]+$", image) is not None) and not image.endswith(":latest"),
                         f"{cwhat}: image {image!r} without a pinned tag or digest")
            for e in c.get("env", []):
                value = e.get("value")
                if value is None:
                    continue
                report.check(not any(s in value for s in secrets), f"{cwhat}: env {e['name']} holds a Secret's value in plain text")
                report.check(not re.search(r"PASSWORD|SECRET|TOKEN|DATABASE_URL", e["name"]),
                             f"{cwhat}: env {e['name']} is a plain value (must come from a Secret)")
            if comp in COMPONENTS:
                probes = {k: c.get(k, {}).get("httpGet", {}) for k in ("livenessProbe", "readinessProbe")}
                report.check(probes["livenessProbe"].get("path") == "/healthz" and probes["readinessProbe"].get("path") == "/readyz",
                             f"{cwhat}: probes not on /healthz and /readyz: {probes}")
                port = [p for p in c.get("ports", []) if p.get("name") == "http"]
                report.check(bool(port) and port[0]["containerPort"] == COMPONENTS[comp], f"{cwhat}: no named http port {COMPONENTS[comp]}")
                env = env_of(c)
                for name in ("POD_NAME", "POD_NAMESPACE", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
                             "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "PORT"):
                    report.check(name in env, f"{cwhat}: env {name} missing")
                report.check(env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
                             f"{cwhat}: POD_NAME not from the downward API")
                report.check(env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace",
                             f"{cwhat}: POD_NAMESPACE not from the downward API")
                endpoint = values.get("otel", {}).get("endpoint")
                report.check(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", {}).get("value") == (endpoint or None),
                             f"{cwhat}: OTEL_EXPORTER_OTLP_ENDPOINT is not the otel.endpoint value")
        for ref in [e for c in containers(spec) for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]:
            key = ref["valueFrom"]["secretKeyRef"]
            secret = named(docs, "Secret", key["name"])
            external = key["name"] in {values.get("postgresql", {}).get("auth", {}).get("existingSecret"),
                                       values.get("postgresql", {}).get("external", {}).get("existingSecret")}
            report.check(external or (secret is not None and key["key"] in secret.get("data", {})),
                         f"{what}: env {ref['name']} refers to {key['name']}/{key['key']}, which the chart does not render")

    # Disruption budgets and spreading for the replicated services.
    for comp in ("data-service", "monitor"):
        doc, spec = workload(docs, comp)
        if doc is None:
            report.check(False, f"{label}: no {comp} workload")
            continue
        pdbs = [p for p in of_kind(docs, "PodDisruptionBudget")
                if p["spec"]["selector"]["matchLabels"].items() <= doc["spec"]["template"]["metadata"]["labels"].items()]
        report.check(len(pdbs) == 1, f"{label}: {comp} has {len(pdbs)} PodDisruptionBudgets")
        report.check(bool(spec.get("topologySpreadConstraints")), f"{label}: {comp} has no topology spread")


# ------------------------------------------------------ NetworkPolicy reachability

class Endpoint:
    def __init__(self, name, namespace=None, labels=None, ip="10.244.0.1", ports=None):
        self.name, self.namespace, self.labels, self.ip = name, namespace, labels or {}, ipaddress.ip_address(ip)
        self.ports = ports or {}  # named container ports


def selector_matches(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, vals = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and labels.get(key) in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def peer_matches(peer: dict, policy_ns: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        inside = other.ip in ipaddress.ip_network(block["cidr"])
        return inside and not any(other.ip in ipaddress.ip_network(c) for c in block.get("except", []))
    if other.namespace is None:  # an address outside the cluster matches ipBlocks only
        return False
    if "namespaceSelector" in peer:
        ns_ok = selector_matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace})
    else:
        ns_ok = other.namespace == policy_ns
    pod_ok = selector_matches(peer["podSelector"], other.labels) if "podSelector" in peer else True
    return ns_ok and pod_ok


def port_matches(ports: list | None, dst: Endpoint, port: int) -> bool:
    if not ports:
        return True
    for p in ports:
        want = p.get("port")
        if want is None:
            return True
        if isinstance(want, str):
            want = dst.ports.get(want)
        if want is not None and (want == port or (p.get("endPort") and want <= port <= p["endPort"])):
            return True
    return False


def egress_allowed(policies: list[dict], src: Endpoint, dst: Endpoint, port: int) -> bool:
    return _direction(policies, src, "Egress", "egress", "to", dst, dst, port)


def ingress_allowed(policies: list[dict], src: Endpoint, dst: Endpoint, port: int) -> bool:
    return _direction(policies, dst, "Ingress", "ingress", "from", src, dst, port)


def _direction(policies, ep: Endpoint, kind: str, rules_key: str, peers_key: str, other: Endpoint, dst: Endpoint, port: int) -> bool:
    if ep.namespace is None:
        return True  # outside the cluster: no policy of ours applies
    selecting = [p for p in policies if p["metadata"]["namespace"] == ep.namespace
                 and selector_matches(p["spec"]["podSelector"], ep.labels)
                 and kind in p["spec"].get("policyTypes", ["Ingress"])]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers)) \
                    and port_matches(rule.get("ports"), dst, port):
                return True
    return False


def allowed(policies: list[dict], src: Endpoint, dst: Endpoint, port: int) -> bool:
    """As a CNI decides: the source's egress and the destination's ingress must both allow."""
    return egress_allowed(policies, src, dst, port) and ingress_allowed(policies, src, dst, port)


def endpoints_of(docs) -> dict[str, Endpoint]:
    eps = {}
    for i, (doc, meta, spec) in enumerate(pod_specs(docs)):
        ports = {p["name"]: p["containerPort"] for c in containers(spec) for p in c.get("ports", []) if "name" in p}
        eps[component(meta)] = Endpoint(component(meta), NS, meta.get("labels", {}), f"10.244.1.{i + 1}", ports)
    eps["kafka"] = Endpoint("kafka", NS, {"strimzi.io/cluster": "icu-kafka", "strimzi.io/kind": "Kafka",
                                          "strimzi.io/name": "icu-kafka-kafka"}, "10.244.2.1")
    eps["stranger"] = Endpoint("stranger", NS, {"app": "something-else"}, "10.244.2.2")
    eps["elsewhere"] = Endpoint("elsewhere", "other", {"app.kubernetes.io/component": "data-service"}, "10.244.3.1")
    eps["prometheus"] = Endpoint("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}, "10.244.4.1")
    eps["dns"] = Endpoint("dns", "kube-system", {"k8s-app": "kube-dns"}, "10.244.5.1")
    eps["apiserver"] = Endpoint("apiserver", None, {}, "172.18.0.2")
    eps["internet"] = Endpoint("internet", None, {}, "93.184.215.14")
    eps["external-db"] = Endpoint("external-db", None, {}, "203.0.113.10")
    eps["external-kafka"] = Endpoint("external-kafka", None, {}, "203.0.113.20")
    return eps


def check_reachability(report: Report, label: str, docs: list[dict], expect: list[tuple[str, str, int, bool]]) -> None:
    policies = of_kind(docs, "NetworkPolicy")
    eps = endpoints_of(docs)
    for src, dst, port, want in expect:
        if src not in eps or dst not in eps:
            report.check(False, f"{label}: no pod {src if src not in eps else dst} to test reachability with")
            continue
        got = allowed(policies, eps[src], eps[dst], port)
        report.check(got == want, f"{label}: {src} -> {dst}:{port} is {'allowed' if got else 'denied'}, want {'allowed' if want else 'denied'}")
    if "postgresql" in eps:
        # PostgreSQL's own policy, alone, admits the data-service and the monitor and nobody else
        # (not relying on the other pods' egress rules).
        for name, ep in eps.items():
            got = ingress_allowed(policies, ep, eps["postgresql"], 5432)
            want = name in {"data-service", "monitor"}
            report.check(got == want, f"{label}: PostgreSQL's ingress policy {'admits' if got else 'refuses'} {name}, want {'admits' if want else 'refuses'}")


IN_CLUSTER_PATHS = [
    # what must talk
    ("patients", "kafka", 9092, True), ("data-service", "kafka", 9092, True),
    ("data-service", "postgresql", 5432, True), ("monitor", "postgresql", 5432, True),
    ("patients", "apiserver", 443, True), ("test", "monitor", 8002, True), ("stranger", "monitor", 8002, True),
    ("prometheus", "patients", 8000, True), ("prometheus", "data-service", 8001, True), ("prometheus", "monitor", 8002, True),
    ("patients", "dns", 53, True), ("postgresql", "dns", 53, True),
    # nothing else into PostgreSQL
    ("patients", "postgresql", 5432, False), ("test", "postgresql", 5432, False), ("stranger", "postgresql", 5432, False),
    ("elsewhere", "postgresql", 5432, False), ("prometheus", "postgresql", 5432, False), ("kafka", "postgresql", 5432, False),
    # and nothing else out of the components
    ("monitor", "kafka", 9092, False), ("postgresql", "kafka", 9092, False), ("postgresql", "internet", 443, False),
    ("patients", "monitor", 8002, False), ("data-service", "monitor", 8002, False), ("patients", "internet", 80, False),
    ("data-service", "internet", 443, False), ("test", "postgresql", 5432, False), ("stranger", "data-service", 9999, False),
    ("data-service", "apiserver", 443, False),
]


# ------------------------------------------------------------- set asserts

def check_patients(report: Report, label: str, docs: list[dict], replicas: int, beds: int, mix: str | None = None) -> None:
    sts, spec = workload(docs, "patients")
    if not report.check(sts is not None and sts["kind"] == "StatefulSet", f"{label}: no patients StatefulSet"):
        return
    report.check(sts["metadata"]["name"] == f"{RELEASE}-patients", f"{label}: beds are {sts['metadata']['name']}-N, not {RELEASE}-patients-N")
    report.check(sts["spec"]["replicas"] == replicas, f"{label}: {sts['spec']['replicas']} bed pods, want {replicas}")
    env = env_of(spec["containers"][0])
    report.check(env.get("BEDS_PER_POD", {}).get("value") == str(beds), f"{label}: BEDS_PER_POD {env.get('BEDS_PER_POD')}, want {beds}")
    report.check(env.get("CONDITION_MIX", {}).get("value") == mix, f"{label}: CONDITION_MIX {env.get('CONDITION_MIX')}, want {mix}")
    for name in ("METRICS_INTERVAL", "KAFKA_BOOTSTRAP_SERVERS", "SEED"):
        report.check(name in env, f"{label}: patients env {name} missing")
    sa_name = spec.get("serviceAccountName")
    sa = named(docs, "ServiceAccount", sa_name)
    report.check(sa is not None, f"{label}: patients ServiceAccount {sa_name} not rendered")
    role = named(docs, "Role", sa_name)
    if report.check(role is not None, f"{label}: no Role for the beds"):
        rules = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
        want = {("", "pods", v) for v in ("get", "list", "watch")} | {("", "events", "create"), ("events.k8s.io", "events", "create"), ("events.k8s.io", "events", "patch")}
        report.check(rules == want, f"{label}: the beds' Role grants {sorted(rules)}, want {sorted(want)}")
    binding = named(docs, "RoleBinding", sa_name)
    report.check(binding is not None and binding["roleRef"]["name"] == sa_name
                 and binding["subjects"] == [{"kind": "ServiceAccount", "name": sa_name, "namespace": NS}],
                 f"{label}: the Role is not bound to the beds' ServiceAccount alone")
    report.check(not of_kind(docs, "ClusterRole") and not of_kind(docs, "ClusterRoleBinding"), f"{label}: cluster-wide RBAC rendered")


def check_strimzi_topics(report: Report, label: str, docs: list[dict], cluster="icu-kafka") -> None:
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic")}
    report.check(set(topics) == {"icu.vitals", "icu.patients"}, f"{label}: KafkaTopics {sorted(topics)}")
    for name, topic in topics.items():
        meta = topic["metadata"]
        report.check(meta["labels"].get("strimzi.io/cluster") == cluster, f"{label}: topic {name} not labelled for cluster {cluster}")
        report.check(meta.get("annotations", {}).get("helm.sh/resource-policy") == "keep", f"{label}: topic {name} deleted on uninstall")
        report.check(topic["apiVersion"] == "kafka.strimzi.io/v1", f"{label}: topic {name} is {topic['apiVersion']}")
    if "icu.vitals" in topics:
        report.check(topics["icu.vitals"]["spec"].get("config", {}).get("message.timestamp.type") == "LogAppendTime",
                     f"{label}: icu.vitals not LogAppendTime")
    if "icu.patients" in topics:
        report.check(topics["icu.patients"]["spec"].get("config", {}).get("cleanup.policy") == "compact",
                     f"{label}: icu.patients not compacted")
    for comp in ("patients", "data-service"):
        _, spec = workload(docs, comp)
        env = env_of(spec["containers"][0])
        report.check(env["KAFKA_BOOTSTRAP_SERVERS"].get("value") == f"{cluster}-kafka-bootstrap:9092",
                     f"{label}: {comp} bootstrap {env['KAFKA_BOOTSTRAP_SERVERS']}")


def check_monitoring(report: Report, label: str, docs: list[dict], chart: Path, release_label: str) -> None:
    monitors = of_kind(docs, "ServiceMonitor")
    report.check(len(monitors) == 3, f"{label}: {len(monitors)} ServiceMonitors, want 3")
    services = of_kind(docs, "Service")
    jobs: list[str] = []
    for sm in monitors:
        what = f"{label}: ServiceMonitor/{sm['metadata']['name']}"
        report.check(sm["metadata"]["labels"].get("release") == release_label, f"{what} release label {sm['metadata']['labels'].get('release')}")
        selected = [s for s in services if selector_matches(sm["spec"]["selector"], s["metadata"]["labels"])]
        if report.check(len(selected) == 1, f"{what} selects {len(selected)} Services"):
            names = {p.get("name") for p in selected[0]["spec"]["ports"]}
            report.check(all(e["port"] in names for e in sm["spec"]["endpoints"]), f"{what}: port not a port name of {selected[0]['metadata']['name']}")
            job = selected[0]["metadata"]["labels"].get(sm["spec"].get("jobLabel", ""), selected[0]["metadata"]["name"])
            jobs.append(job)
    rules_file = chart / "rules" / "icu-monitor.rules.yaml"
    rules = of_kind(docs, "PrometheusRule")
    if rules_file.exists():
        want = yaml.safe_load(rules_file.read_text())["groups"]
        # Every job selector of the rules must match the job of some ServiceMonitor, and each
        # service-wide rule (up{job=~...}) must see all three jobs, or an alert can never fire.
        for group in want:
            for rule in group["rules"]:
                for pattern in re.findall(r'job=~"([^"]+)"', rule["expr"]):
                    matching = [j for j in jobs if re.fullmatch(pattern, j)]
                    report.check(bool(matching), f"{label}: rule {rule.get('alert') or rule.get('record')} selects job=~{pattern!r}, "
                                                 f"no ServiceMonitor job ({jobs}) matches")
        report.check(len(rules) == 1 and rules[0]["spec"]["groups"] == want, f"{label}: PrometheusRule groups differ from {rules_file.name}")
        if rules:
            report.check(rules[0]["metadata"]["labels"].get("release") == release_label, f"{label}: PrometheusRule release label")
    else:
        report.check(not rules, f"{label}: a PrometheusRule without a rules file")
    files = sorted((chart / "dashboards").glob("*.json")) if (chart / "dashboards").is_dir() else []
    maps = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1"]
    report.check(len(maps) == len(files), f"{label}: {len(maps)} dashboard ConfigMaps for {len(files)} dashboards/*.json")
    contents = {k: v for c in maps for k, v in c["data"].items()}
    for f in files:
        report.check(contents.get(f.name) == f.read_text(), f"{label}: dashboard {f.name} not embedded verbatim")


# --------------------------------------------------------------------- main

def value_sets() -> list[tuple[str, dict, list[str]]]:
    auth = {"monitor": {"auth": {"issuer": ISSUER, "jwksUrl": JWKS}}}
    return [
        ("defaults", auth, []),
        ("auth-none", {"monitor": {"auth": {"mode": "none"}}}, []),
        ("external", deep_merge(auth, {
            "postgresql": {"external": {"enabled": True, "url": "postgres://icu:s3cret-passw0rd@db.example.test:5432/icu"}},
            "kafka": {"external": {"enabled": True, "bootstrapServers": "kafka-0.example.test:9093,kafka-1.example.test:9093",
                                   "ports": [9093]}}}), []),
        ("external-secret", deep_merge(auth, {"postgresql": {"external": {"enabled": True, "existingSecret": "ward-db",
                                                                          "existingSecretKey": "url"}}}), []),
        ("beds-200", deep_merge(auth, {"patients": {"replicas": 200}}), []),
        ("big-ward", deep_merge(auth, {"patients": {"replicas": 50, "bedsPerPod": 20,
                                                    "conditionMix": "stable=2,tachycardia=1,sepsis=1"}}), []),
        ("monitoring", deep_merge(auth, {"monitoring": {"enabled": True, "release": "kps"},
                                         "otel": {"endpoint": "http://otel-collector.observability:4317"}}), MONITORING_APIS),
        ("monitoring-no-crds", deep_merge(auth, {"monitoring": {"enabled": True}}), []),
        ("ingress", deep_merge(auth, {"monitor": {"ingress": {
            "enabled": True, "className": "nginx", "tls": [{"secretName": "icu-tls", "hosts": ["icu.example.test"]}]}}}), []),
    ]


BAD_VALUES = [
    ("unknown key", {"patients": {"replica": 3}}, "replica"),
    ("unknown top-level key", {"patient": {"replicas": 3}}, "patient"),
    ("wrong type", {"patients": {"replicas": "many"}}, "replicas"),
    ("wrong type (string for bool)", {"monitoring": {"enabled": "yes"}}, "enabled"),
    ("bad enum", {"monitor": {"auth": {"mode": "basic", "issuer": ISSUER, "jwksUrl": JWKS}}}, "mode"),
    ("jwt without issuer", {}, "monitor.auth.issuer"),
    ("scopes without openid", {"monitor": {"auth": {"issuer": ISSUER, "jwksUrl": JWKS, "scopes": "profile email"}}}, "scopes"),
    ("jwt without JWKS URL", {"monitor": {"auth": {"issuer": ISSUER}}}, "monitor.auth.jwksUrl"),
    ("external PostgreSQL without address", {"monitor": {"auth": {"issuer": ISSUER, "jwksUrl": JWKS}}, "postgresql": {"external": {"enabled": True}}},
     "postgresql.external.url"),
    ("external Kafka without brokers", {"monitor": {"auth": {"issuer": ISSUER, "jwksUrl": JWKS}}, "kafka": {"external": {"enabled": True}}},
     "kafka.external.bootstrapServers"),
]


def chart_with_fixtures(workdir: Path) -> Path:
    """A copy of the chart with a fixture dashboard and (if the chart has none
    yet) a fixture rules file, so the .Files embedding is exercised either way."""
    copy = workdir / "chart-with-fixtures"
    shutil.copytree(CHART, copy)
    (copy / "dashboards").mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "fixture-dashboard.json", copy / "dashboards" / "zz-fixture.json")
    (copy / "rules").mkdir(exist_ok=True)
    if not (copy / "rules" / "icu-monitor.rules.yaml").exists():
        shutil.copy(FIXTURES / "icu-monitor.rules.yaml", copy / "rules" / "icu-monitor.rules.yaml")
    return copy


def run_checkov(report: Report, checkov: str, files: list[Path], workdir: Path) -> None:
    scan = workdir / "checkov"
    scan.mkdir()
    for f in files:
        shutil.copy(f, scan / f.name)
    result = subprocess.run([checkov, "-d", str(scan), "--framework", "kubernetes", "--config-file", str(HERE / "checkov.yaml"),
                             "-o", "json", "--compact"], capture_output=True, text=True)
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        report.check(False, f"checkov gave no JSON (exit {result.returncode}): {result.stderr[-2000:]}")
        return
    data = data if isinstance(data, list) else [data]
    failed = [c for d in data for c in d.get("results", {}).get("failed_checks", [])]
    passed = sum(d.get("summary", {}).get("passed", 0) for d in data)
    for c in failed:
        report.check(False, f"checkov {c['check_id']} ({c['check_name']}) failed on {c['resource']} in {Path(c['file_path']).name}")
    report.check(passed > 0, "checkov checked nothing")
    print(f"checkov: {passed} passed, {len(failed)} failed over {len(files)} rendered files", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--helm", required=True)
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--checkov")
    parser.add_argument("--out", help="keep rendered manifests here")
    args = parser.parse_args()
    report = Report()
    workdir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="icu-chart-"))
    workdir.mkdir(parents=True, exist_ok=True)
    tools = Tools(args.helm, args.kubectl, workdir)

    lint = tools.run(args.helm, "lint", "--strict", str(CHART), "-f", str(tools.values_file("lint", {"monitor": {"auth": {"issuer": ISSUER, "jwksUrl": JWKS}}})))
    report.check(lint.returncode == 0, f"helm lint --strict: {lint.stdout[-1500:]} {lint.stderr[-1500:]}")

    rendered: dict[str, list[dict]] = {}
    for name, values, apis in value_sets():
        docs, out = tools.template(name, values, apis)
        if not report.check(docs is not None, f"helm template ({name}) failed: {out[-1500:] if out else ''}"):
            continue
        rendered[name] = docs
        validate_all(report, name, docs)
        check_common(report, name, docs, values)
        print(f"{name}: {len(docs)} objects: " + ", ".join(sorted({d['kind'] for d in docs})), flush=True)

    if "defaults" in rendered:
        d = rendered["defaults"]
        check_patients(report, "defaults", d, 12, 1)
        check_strimzi_topics(report, "defaults", d)
        check_reachability(report, "defaults", d, IN_CLUSTER_PATHS + [("monitor", "internet", 443, True)])  # JWKS with jwt
        report.check(not of_kind(d, "ServiceMonitor") and not of_kind(d, "Ingress"), "defaults: monitoring or Ingress rendered")
        _, spec = workload(d, "monitor")
        env = env_of(spec["containers"][0])
        report.check(env["AUTH_MODE"]["value"] == "jwt" and env["AUTH_ISSUER"]["value"] == ISSUER
                     and env["AUTH_JWKS_URL"]["value"] == JWKS and env["AUTH_AUDIENCE"]["value"] == "icu-monitor"
                     and "AUTH_CLIENT_ID" in env and env["AUTH_SCOPES"]["value"] == "openid profile",
                     f"defaults: monitor AUTH_* env {sorted(env)}")
        sts = [s for s in of_kind(d, "StatefulSet") if s["metadata"]["name"] == f"{RELEASE}-postgresql"]
        report.check(len(sts) == 1 and sts[0]["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "8Gi",
                     "defaults: no PostgreSQL StatefulSet with a volume claim")
        secret = named(d, "Secret", f"{RELEASE}-postgresql")
        if report.check(secret is not None, "defaults: no generated PostgreSQL Secret"):
            password = base64.b64decode(secret["data"]["password"]).decode()
            url = base64.b64decode(secret["data"]["database-url"]).decode()
            report.check(len(password) >= 24 and url == f"postgres://icu:{password}@{RELEASE}-postgresql:5432/icu",
                         "defaults: generated password and URL do not agree")
            report.check(secret["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep",
                         "defaults: the generated Secret would be deleted on uninstall while the volume stays")
        headless = named(d, "Service", f"{RELEASE}-postgresql")
        report.check(headless is not None and headless["spec"].get("clusterIP") == "None", "defaults: PostgreSQL Service not headless")
    if "auth-none" in rendered:
        d = rendered["auth-none"]
        env = env_of(workload(d, "monitor")[1]["containers"][0])
        report.check(env["AUTH_MODE"]["value"] == "none" and "AUTH_ISSUER" not in env, "auth-none: AUTH env")
        check_reachability(report, "auth-none", d, IN_CLUSTER_PATHS + [("monitor", "internet", 443, False)])
    if "external" in rendered:
        d = rendered["external"]
        report.check(not of_kind(d, "KafkaTopic"), "external: KafkaTopics rendered for an external Kafka")
        report.check(not [s for s in of_kind(d, "StatefulSet") if "postgresql" in s["metadata"]["name"]], "external: PostgreSQL StatefulSet rendered")
        for comp in ("patients", "data-service"):
            env = env_of(workload(d, comp)[1]["containers"][0])
            report.check(env["KAFKA_BOOTSTRAP_SERVERS"]["value"] == "kafka-0.example.test:9093,kafka-1.example.test:9093", f"external: {comp} brokers")
        check_reachability(report, "external", d, [
            ("data-service", "external-db", 5432, True), ("monitor", "external-db", 5432, True),
            ("patients", "external-db", 5432, False), ("data-service", "external-kafka", 9093, True),
            ("patients", "external-kafka", 9093, True), ("monitor", "external-kafka", 9093, False),
            ("patients", "internet", 80, False)])
    if "external-secret" in rendered:
        d = rendered["external-secret"]
        env = env_of(workload(d, "data-service")[1]["containers"][0])
        report.check(env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "ward-db", "key": "url"}, "external-secret: DATABASE_URL ref")
        report.check(not of_kind(d, "Secret"), "external-secret: a Secret rendered although an existing one is named")
    if "beds-200" in rendered:
        check_patients(report, "beds-200", rendered["beds-200"], 200, 1)
    if "big-ward" in rendered:
        check_patients(report, "big-ward", rendered["big-ward"], 50, 20, "stable=2,tachycardia=1,sepsis=1")
    if "monitoring" in rendered:
        check_monitoring(report, "monitoring", rendered["monitoring"], CHART, "kps")
        d = rendered["monitoring"]
        check_reachability(report, "monitoring", d, [("data-service", "internet", 4317, True), ("postgresql", "internet", 4317, False)])
    if "monitoring-no-crds" in rendered:
        d = rendered["monitoring-no-crds"]
        report.check(not of_kind(d, "ServiceMonitor") and not of_kind(d, "PrometheusRule"),
                     "monitoring-no-crds: Prometheus Operator kinds rendered for a cluster without monitoring.coreos.com/v1")
    if "ingress" in rendered:
        ing = of_kind(rendered["ingress"], "Ingress")
        if report.check(len(ing) == 1, "ingress: no Ingress"):
            backend = ing[0]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
            svc = named(rendered["ingress"], "Service", backend["name"])
            report.check(svc is not None and backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}, "ingress: backend is no Service port")
            report.check(ing[0]["spec"].get("tls") == [{"secretName": "icu-tls", "hosts": ["icu.example.test"]}], "ingress: tls")

    # The .Files embedding of dashboards and rules, with files present whether or not the chart has them yet.
    fixture_chart = chart_with_fixtures(workdir)
    values = {"monitor": {"auth": {"issuer": ISSUER, "jwksUrl": JWKS}}, "monitoring": {"enabled": True}}
    docs, out = tools.template("fixtures", values, MONITORING_APIS, chart=fixture_chart)
    if report.check(docs is not None, f"helm template with fixture dashboards/rules failed: {(out or '')[-1500:]}"):
        validate_all(report, "fixtures", docs)
        check_monitoring(report, "fixtures", docs, fixture_chart, "kube-prometheus-stack")
        lint = tools.run(args.helm, "lint", "--strict", str(fixture_chart), "-f", str(tools.values_file("fixtures", values)))
        report.check(lint.returncode == 0, f"helm lint --strict with dashboards and rules: {lint.stdout[-1500:]}")

    # And without any dashboards or rules file: nothing of them rendered, nothing broken.
    bare = workdir / "chart-without-files"
    shutil.copytree(CHART, bare, ignore=shutil.ignore_patterns("dashboards", "rules"))
    docs, out = tools.template("bare", values, MONITORING_APIS, chart=bare)
    if report.check(docs is not None, f"helm template without dashboards/ and rules/ failed: {(out or '')[-1500:]}"):
        report.check(len(of_kind(docs, "ServiceMonitor")) == 3 and not of_kind(docs, "PrometheusRule")
                     and not [c for c in of_kind(docs, "ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]],
                     "without dashboards/ and rules/: want the ServiceMonitors only")

    # Bad values must stop an install, naming what is wrong.
    for what, values, needle in BAD_VALUES:
        path = tools.values_file("bad", values)
        for cmd in (["install", RELEASE, str(CHART), "-n", NS, "--dry-run=client"], ["template", RELEASE, str(CHART), "-n", NS]):
            result = tools.run(args.helm, *cmd, "-f", str(path))
            report.check(result.returncode != 0 and needle in result.stderr,
                         f"helm {cmd[0]} with a bad values file ({what}) exited {result.returncode}: {result.stderr[-600:]}")

    # The kustomize base: valid, and the chart's defaults point at it.
    kz = tools.run(args.kubectl, "kustomize", str(KUSTOMIZE))
    if report.check(kz.returncode == 0, f"kubectl kustomize k8s/strimzi: {kz.stderr}"):
        (workdir / "rendered-kustomize.yaml").write_text(kz.stdout)
        docs = [d for d in yaml.safe_load_all(kz.stdout) if isinstance(d, dict)]
        validate_all(report, "kustomize", docs)
        kafka = of_kind(docs, "Kafka")
        pools = of_kind(docs, "KafkaNodePool")
        if report.check(len(kafka) == 1 and len(pools) == 1, "kustomize: want one Kafka and one KafkaNodePool"):
            k, pool = kafka[0], pools[0]
            report.check(k["metadata"]["name"] == "icu-kafka", "kustomize: Kafka is not the chart's default cluster icu-kafka")
            report.check(any(l["name"] == "plain" and l["port"] == 9092 and not l["tls"] for l in k["spec"]["kafka"]["listeners"]),
                         "kustomize: no plain listener on 9092 (the chart's default bootstrap)")
            report.check(k["spec"].get("entityOperator", {}).get("topicOperator") is not None, "kustomize: Topic Operator off")
            report.check(k["spec"]["kafka"]["config"].get("auto.create.topics.enable") is False, "kustomize: topics may be auto-created")
            report.check(pool["metadata"]["labels"].get("strimzi.io/cluster") == "icu-kafka", "kustomize: node pool not in icu-kafka")
            report.check(sorted(pool["spec"]["roles"]) == ["broker", "controller"] and pool["spec"]["replicas"] == 1,
                         "kustomize: not a single KRaft node with both roles")

    if args.checkov:
        scanned = [workdir / f"rendered-{n}.yaml" for n in ("defaults", "external", "monitoring", "ingress") if n in rendered]
        scanned.append(workdir / "rendered-kustomize.yaml")
        run_checkov(report, args.checkov, [f for f in scanned if f.exists()], workdir)

    if report.failures or args.out:
        print(f"chart checks: {report.passed} passed, {len(report.failures)} failed (rendered manifests in {workdir})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"chart checks: {report.passed} passed, 0 failed")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
