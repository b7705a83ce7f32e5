#!/usr/bin/env bash
# Deploy a Pacer release to Kubernetes in the one safe order: the migration Job
# first, the rollout only once it has completed.
#
#   deploy/kubernetes/deploy.sh deploy/kubernetes/overlays/production
#
# 1. builds the overlay (kubectl kustomize) into one file, so both steps apply
#    exactly the same release;
# 2. deletes the previous release's Job (a Job's pod template cannot change);
# 3. applies everything but the four Deployments: settings, Services, network
#    policies, budgets, autoscalers, (on one node) Postgres and Redis, and the Job;
# 4. waits for the Job: on failure prints its log and stops here, so no pod of
#    the new release starts and the old ones keep serving;
# 5. applies the rest (the Deployments roll out; each new pod is ready only once
#    its schema is there) and waits for every rollout.
set -euo pipefail

overlay=${1:?usage: deploy.sh OVERLAY_DIR}
namespace=${PACER_NAMESPACE:-pacer}
# The Job's own limit (activeDeadlineSeconds) is 15 minutes; wait a little more.
job_timeout=${PACER_MIGRATION_TIMEOUT:-16m}
rollout_timeout=${PACER_ROLLOUT_TIMEOUT:-15m}
manifests=$(mktemp --suffix=.yaml)
trap 'rm -f "$manifests"' EXIT

kubectl kustomize "$overlay" >"$manifests"

kubectl -n "$namespace" delete job pacer-migrate --ignore-not-found --wait=true
kubectl apply -f "$manifests" -l 'app.kubernetes.io/component notin (api,chat,worker,edge)'

echo "waiting for the migration Job (at most $job_timeout)"
kubectl -n "$namespace" wait job/pacer-migrate --for=condition=complete --timeout="$job_timeout" &
complete=$!
kubectl -n "$namespace" wait job/pacer-migrate --for=condition=failed --timeout="$job_timeout" &
failed=$!
set +e
wait -n "$complete" "$failed"
set -e
if ! kubectl -n "$namespace" get job/pacer-migrate \
    -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}' | grep -q True; then
    kill "$complete" "$failed" 2>/dev/null || true
    echo "the migration Job did not complete: nothing was rolled out" >&2
    kubectl -n "$namespace" logs job/pacer-migrate --all-containers --tail=100 >&2 || true
    exit 1
fi
kill "$complete" "$failed" 2>/dev/null || true

kubectl apply -f "$manifests"
for deployment in core-api coach briefing-worker caddy; do
    kubectl -n "$namespace" rollout status "deployment/$deployment" --timeout="$rollout_timeout"
done
echo "deployed: $(kubectl -n "$namespace" get deployment/core-api -o jsonpath='{.spec.template.spec.containers[0].image}')"
