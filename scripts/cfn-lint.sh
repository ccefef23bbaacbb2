#!/usr/bin/env bash
# Synthesizes the CDK app offline (cdk-nag runs as part of synth) and lints
# every synthesized CloudFormation template with cfn-lint. Fails on any
# cfn-lint error or warning; a warning that is harmless is acknowledged on its
# resource, with the reason, in the resource's cfn-lint Metadata
# (lib/cfn-lint-acknowledgements.ts).
#
# Besides the default configuration in cdk.out, a variant (apiKey + WAF +
# CORS, shared tenancy, no reserved concurrency, no account-level API Gateway
# role, and the GitHub deploy role stack) is synthesized into a temporary
# directory and linted too, so both auth modes, both tenancy modes and both
# stacks are covered.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! command -v cfn-lint >/dev/null 2>&1; then
  echo "cfn-lint is not installed or not on PATH: install it with 'python3 -m pip install cfn-lint' and run this script again." >&2
  exit 127
fi

# No telemetry or notices: synth must work offline and contact nothing.
export CDK_DISABLE_CLI_TELEMETRY=true
# The project's own CLI by default; CDK_CLI overrides it (for example
# CDK_CLI="npx -y aws-cdk@2.1148.1") when the installed CLI cannot read the
# cloud assembly version this aws-cdk-lib writes.
read -r -a cdk <<< "${CDK_CLI:-npx --no-install cdk}"
cdk+=(--no-notices)

variant_dir="$(mktemp -d)"
trap 'rm -rf "$variant_dir"' EXIT

echo "cdk synth (default configuration) -> cdk.out"
"${cdk[@]}" synth --quiet
echo "cdk synth (authMode=apiKey, enableWaf=true, corsAllowOrigin, tenancy=shared, reservedConcurrency=0, apiGatewayCloudWatchRole=false, deploy role) -> $variant_dir"
"${cdk[@]}" synth --quiet --output "$variant_dir" \
  -c authMode=apiKey -c enableWaf=true -c corsAllowOrigin=https://app.example.com -c namePrefix=lint -c tenancy=shared \
  -c reservedConcurrency=0 -c apiGatewayCloudWatchRole=false -c githubOwner=acme-corp -c githubRepo=python-runner

shopt -s nullglob
templates=(cdk.out/*.template.json "$variant_dir"/*.template.json)
if [ "${#templates[@]}" -eq 0 ]; then
  echo "cdk synth produced no *.template.json: check the output above." >&2
  exit 1
fi

status=0
for template in "${templates[@]}"; do
  echo "cfn-lint $template"
  set +e
  cfn-lint --format parseable -- "$template"
  rc=$?
  set -e
  # cfn-lint's exit code is a bit mask: 1 fatal, 2 error, 4 warning, 8 informational.
  if (( rc & 7 )); then
    echo "cfn-lint reported errors or warnings in $template (exit code $rc)." >&2
    status=1
  fi
done

if (( status == 0 )); then
  echo "cfn-lint: no errors or warnings in ${#templates[@]} template(s)."
fi
exit "$status"
