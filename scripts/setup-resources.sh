#!/usr/bin/env bash
# Creates what the worker needs in an AWS emulator (moto):
#   - the dead-letter queue "invalidations-dlq"
#   - the queue "invalidations" with a RedrivePolicy to it (maxReceiveCount 5)
#   - a CloudFront distribution (moto generates its id)
# and prints them as KEY=VALUE lines on stdout:
#   QUEUE_URL=…  DLQ_URL=…  DISTRIBUTION_ID=…
#
# Usage: scripts/setup-resources.sh ENDPOINT_URL
#
# Used by scripts/demo.sh and by the "setup" service of docker-compose.yml
# (amazon/aws-cli image), so it needs only bash, coreutils and the aws cli
# (v1 or v2). Credentials and region come from the environment.
set -euo pipefail

endpoint=${1:?usage: $0 ENDPOINT_URL}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

awse() { aws --endpoint-url "$endpoint" "$@"; }

dlq_url=$(awse sqs create-queue --queue-name invalidations-dlq --query QueueUrl --output text)
dlq_arn=$(awse sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn \
  --query Attributes.QueueArn --output text)
# RedrivePolicy is a JSON document inside a string attribute.
printf '{"RedrivePolicy": "{\\"deadLetterTargetArn\\":\\"%s\\",\\"maxReceiveCount\\":\\"5\\"}", "VisibilityTimeout": "30"}\n' \
  "$dlq_arn" >"$tmp/queue-attributes.json"
queue_url=$(awse sqs create-queue --queue-name invalidations \
  --attributes "file://$tmp/queue-attributes.json" --query QueueUrl --output text)

# The smallest distribution moto accepts: one custom origin and a default
# cache behavior (the same shape as internal/cfsim/conformance_test.go).
cat >"$tmp/distribution.json" <<JSON
{
  "CallerReference": "cf-invalidator-$(date +%s)-$$",
  "Comment": "cf-invalidator local",
  "Enabled": true,
  "Origins": {"Quantity": 1, "Items": [{
    "Id": "origin",
    "DomainName": "origin.example.com",
    "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}
  }]},
  "DefaultCacheBehavior": {"TargetOriginId": "origin", "ViewerProtocolPolicy": "redirect-to-https"}
}
JSON
dist=$(awse cloudfront create-distribution --distribution-config "file://$tmp/distribution.json" \
  --query Distribution.Id --output text)
if [[ ! $dist =~ ^[A-Z0-9]+$ ]]; then
  echo "setup-resources: unexpected distribution id: $dist" >&2
  exit 1
fi

printf 'QUEUE_URL=%s\nDLQ_URL=%s\nDISTRIBUTION_ID=%s\n' "$queue_url" "$dlq_url" "$dist"
