#!/usr/bin/env python3
"""The usual deployment mistakes, checked in deploy/kubernetes/, docker-compose.yml and the
Dockerfile (run by scripts/check-deploy.sh). Prints every problem and exits 1 if any; when
there are none, it breaks a copy of the files once per rule and fails if a rule stays silent."""

import copy
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"


def load_manifests():
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def containers(pod):
    return [("init", c) for c in pod.get("initContainers", [])] + [
        ("main", c) for c in pod.get("containers", [])
    ]


def lint_kubernetes(docs, config):
    problems = []
    deployments = {n: d for (k, n), d in docs.items() if k == "Deployment"}
    kinds = {k for k, _ in docs}
    for name, dep in deployments.items():
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"].get("labels", {})
        annotations = spec["template"]["metadata"].get("annotations", {})
        if not matches(spec["selector"].get("matchLabels"), labels):
            problems.append(f"{name}: selector does not match the pod template's labels")
        if spec.get("replicas", 1) < 2:
            problems.append(f"{name}: fewer than 2 replicas (no availability during a rollout)")
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
            problems.append(f"{name}: pod does not run as a non-root user")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a Kubernetes API token it does not need")
        if annotations.get("prometheus.io/scrape") != "true" or "prometheus.io/port" not in annotations:
            problems.append(f"{name}: no Prometheus scrape annotations")
        for role, c in containers(pod):
            where = f"{name}/{c['name']}"
            image = c.get("image", "")
            if image.endswith(":latest"):
                problems.append(f"{where}: image pinned to :latest")
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in res.get(part, {}):
                        problems.append(f"{where}: no {resource} {part[:-1]}")
            csc = c.get("securityContext", {})
            if csc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation not disabled")
            if csc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem writable")
            if "ALL" not in csc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities not dropped")
            for ref in c.get("envFrom", []):
                if "configMapRef" in ref and ("ConfigMap", ref["configMapRef"]["name"]) not in docs:
                    problems.append(f"{where}: envFrom names a missing ConfigMap")
                if "secretRef" in ref and ("Secret", ref["secretRef"]["name"]) not in docs:
                    problems.append(f"{where}: envFrom names a Secret without a template")
            if role != "main":
                continue
            ports = {p.get("name") for p in c.get("ports", [])} | {
                p["containerPort"] for p in c.get("ports", [])
            }
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in c:
                    problems.append(f"{where}: no {probe}")
                elif c[probe].get("httpGet", {}).get("port") not in ports:
                    problems.append(f"{where}: {probe} port is not a container port")
        is_worker = any(
            "orderflow-worker" in (c.get("command") or [""])[0] for c in pod["containers"]
        )
        if is_worker:
            shutdown = int(config.get("WORKER_SHUTDOWN_TIMEOUT_SECONDS", 30))
            grace = pod.get("terminationGracePeriodSeconds", 30)
            if grace < shutdown + 10:
                problems.append(
                    f"{name}: terminationGracePeriodSeconds {grace} does not cover the worker's "
                    f"{shutdown} s shutdown (+10 s)"
                )
    for (kind, name), doc in docs.items():
        if kind == "Service":
            targets = [
                d for d in deployments.values()
                if matches(doc["spec"].get("selector"), d["spec"]["template"]["metadata"]["labels"])
            ]
            if not targets:
                problems.append(f"Service {name}: selector matches no Deployment")
            for port in doc["spec"].get("ports", []):
                target = port.get("targetPort")
                names = {
                    p.get("name")
                    for d in targets
                    for c in d["spec"]["template"]["spec"]["containers"]
                    for p in c.get("ports", [])
                }
                if isinstance(target, str) and target not in names:
                    problems.append(f"Service {name}: targetPort {target} is no container port")
        if kind == "PodDisruptionBudget":
            selector = doc["spec"]["selector"].get("matchLabels")
            if not any(
                matches(selector, d["spec"]["template"]["metadata"]["labels"])
                for d in deployments.values()
            ):
                problems.append(f"PodDisruptionBudget {name}: selector matches no Deployment")
        if kind == "HorizontalPodAutoscaler":
            ref = doc["spec"]["scaleTargetRef"]
            if ref["kind"] != "Deployment" or ref["name"] not in deployments:
                problems.append(f"HorizontalPodAutoscaler {name}: scales a missing Deployment")
            if doc["spec"].get("minReplicas", 1) < 2:
                problems.append(f"HorizontalPodAutoscaler {name}: minReplicas below 2")
    for required in ("Namespace", "ConfigMap", "Secret", "Service", "PodDisruptionBudget",
                     "HorizontalPodAutoscaler"):
        if required not in kinds:
            problems.append(f"no {required}")
    if config.get("APP_ENV") != "production":
        problems.append("ConfigMap: APP_ENV is not production")
    if "WORKER_NAME" in config:
        problems.append("ConfigMap: WORKER_NAME set for every worker (names must be unique)")
    return problems


def lint_kustomization(docs):
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization.get("resources", []))
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    problems = [f"kustomization.yaml does not list {f}" for f in sorted(present - listed)]
    problems += [f"kustomization.yaml lists missing {f}" for f in sorted(listed - present)]
    return problems


def lint_compose(compose):
    problems = []
    services = compose.get("services", {})
    for name, svc in services.items():
        image = svc.get("image")
        if image and (":" not in image or image.endswith(":latest")):
            problems.append(f"compose {name}: image {image} is not pinned to a version")
        depends = svc.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {dep: None for dep in depends}
        for dep, cond in depends.items():
            if not isinstance(cond, dict) or "condition" not in cond:
                problems.append(f"compose {name}: depends_on {dep} without a condition")
    for name in ("api", "worker", "postgres", "redis"):
        if "test" not in services.get(name, {}).get("healthcheck", {}):
            problems.append(f"compose {name}: no healthcheck")
    api_deps = services.get("api", {}).get("depends_on") or {}
    if isinstance(api_deps, list):
        api_deps = {dep: None for dep in api_deps}
    migrated = any(
        cond.get("condition") == "service_completed_successfully"
        and "migrate" in " ".join(services.get(dep, {}).get("command", []))
        for dep, cond in api_deps.items()
        if isinstance(cond, dict)
    )
    if not migrated:
        problems.append("compose api: does not wait for a completed migration")
    worker = services.get("worker", {})
    if worker.get("ports") or worker.get("container_name"):
        problems.append("compose worker: host ports or a container name stop --scale worker=3")
    return problems


def lint_dockerfile(text):
    problems = []
    for image in re.findall(r"^FROM\s+(\S+)", text, re.M):
        if ":" not in image or image.endswith(":latest") or re.search(r":\d+(-|$)", image):
            problems.append(f"Dockerfile: base image {image} is not pinned to an exact version")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("Dockerfile: the final image runs as root")
    if not re.search(r"^HEALTHCHECK\s", text, re.M):
        problems.append("Dockerfile: no HEALTHCHECK")
    if not re.search(r"COPY Cargo\.toml Cargo\.lock", text):
        problems.append("Dockerfile: no dependency layer before the sources")
    # The dependency layer builds the workspace from its manifests alone: a member whose
    # Cargo.toml it does not copy makes that `cargo build` fail.
    workspace = (ROOT / "Cargo.toml").read_text()
    members = re.search(r"members\s*=\s*\[([^\]]*)\]", workspace)
    for member in re.findall(r'"([^"]+)"', members.group(1) if members else ""):
        if f"COPY {member}/Cargo.toml {member}/Cargo.toml" not in text:
            problems.append(f"Dockerfile: the dependency layer does not copy {member}/Cargo.toml")
    return problems


def lint_all(docs, compose, dockerfile):
    config = docs.get(("ConfigMap", "orderflow-config"), {}).get("data", {})
    return (
        lint_kubernetes(docs, config)
        + lint_kustomization(docs)
        + lint_compose(compose)
        + lint_dockerfile(dockerfile)
    )


def self_test(docs, compose, dockerfile):
    """Each broken copy must be caught: a lint that cannot fail is worth nothing."""
    def broken(mutate):
        d, c, f = copy.deepcopy(docs), copy.deepcopy(compose), dockerfile
        result = mutate(d, c, f)
        if isinstance(result, str):
            f = result
        return lint_all(d, c, f)

    def worker(d):
        return d[("Deployment", "orderflow-worker")]["spec"]["template"]["spec"]

    cases = {
        "selector": lambda d, c, f: d[("Deployment", "orderflow-api")]["spec"]["selector"]
        ["matchLabels"].update({"app.kubernetes.io/name": "other"}),
        "limits": lambda d, c, f: worker(d)["containers"][0]["resources"].pop("limits"),
        "probe": lambda d, c, f: worker(d)["containers"][0].pop("readinessProbe"),
        "root": lambda d, c, f: worker(d)["securityContext"].pop("runAsNonRoot"),
        "grace": lambda d, c, f: worker(d).update({"terminationGracePeriodSeconds": 10}),
        "service": lambda d, c, f: d[("Service", "orderflow-api")]["spec"].update(
            {"selector": {"app": "nothing"}}),
        "hpa": lambda d, c, f: d[("HorizontalPodAutoscaler", "orderflow-api")]["spec"]
        ["scaleTargetRef"].update({"name": "missing"}),
        "compose image": lambda d, c, f: c["services"]["redis"].update({"image": "redis:latest"}),
        "compose depends": lambda d, c, f: c["services"]["api"].update({"depends_on": ["redis"]}),
        "dockerfile user": lambda d, c, f: re.sub(r"^USER .*$", "USER root", f, flags=re.M),
        "dockerfile base": lambda d, c, f: f.replace("debian:bookworm-20251117-slim", "debian:12"),
        "dockerfile member": lambda d, c, f: f.replace(
            "COPY chaos/Cargo.toml chaos/Cargo.toml\n", ""),
    }
    failed = [name for name, mutate in cases.items() if not broken(mutate)]
    for name in failed:
        print(f"self-test: breaking '{name}' went unnoticed")
    return failed


def main():
    docs = load_manifests()
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    dockerfile = (ROOT / "Dockerfile").read_text()
    problems = lint_all(docs, compose, dockerfile)
    for p in problems:
        print(f"lint: {p}")
    failed = self_test(docs, compose, dockerfile) if not problems else []
    if problems or failed:
        sys.exit(1)
    print(f"lint: {len(docs)} manifests, {len(compose['services'])} compose services and the "
          "Dockerfile are clean; every rule fired on its broken copy")


if __name__ == "__main__":
    main()
