#!/usr/bin/env bash
# Validates the deployment files offline (called by scripts/test.sh):
# - deploy/kubernetes/*.yaml against the Kubernetes schemas that kubernetes-validate ships
#   (PyPI; no download at run time), strictly (unknown fields are errors);
# - docker-compose.yml with `docker-compose config` (Debian package; no engine needed);
# - scripts/lint_deploy.py: the usual mistakes (selectors that match nothing, missing probes,
#   resources or security contexts, unpinned images, a grace period shorter than the worker's
#   shutdown, a Dockerfile running as root).
# Which environment variables they set is checked by `cargo test` (shared/tests/deploy_env.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

export PATH="$HOME/.local/bin:$PATH"
if ! command -v kubernetes-validate >/dev/null; then
    log "installing kubernetes-validate (PyPI)"
    python3 -m pip install --quiet --user "kubernetes-validate==1.37.*" \
        || python3 -m pip install --quiet --user --break-system-packages "kubernetes-validate==1.37.*"
fi
command -v docker-compose >/dev/null || apt_install docker-compose

log "kubernetes manifests: schemas (the newest kubernetes-validate ships, strict)"
manifests=()
for f in deploy/kubernetes/*.yaml; do
    [[ "$(basename "$f")" == kustomization.yaml ]] || manifests+=("$f")
done
kubernetes-validate --strict --quiet "${manifests[@]}"

log "docker-compose.yml: docker-compose config"
docker-compose -f docker-compose.yml config --quiet

log "deployment lint"
python3 scripts/lint_deploy.py
