#!/usr/bin/env bash
# Install the gateways Ember is compared with, beside this script (in .peers/):
# LiteLLM's proxy in its own venv, Portkey's gateway with npm. Both stay out of
# the project's venv. Portkey's streaming needs @hono/node-server 1.13.5 and
# hono 4.9.7 (the versions of its own lockfile; newer ones fail every stream
# with "TypeError: immutable", its issues #1389 and #1550).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p .peers/portkey
if [ ! -x .peers/litellm/bin/litellm ]; then
    uv venv --python 3.11 .peers/litellm
    uv pip install --python .peers/litellm/bin/python 'litellm[proxy]'
fi
if [ ! -d .peers/portkey/node_modules/@portkey-ai/gateway ]; then
    cat > .peers/portkey/package.json <<'JSON'
{
  "name": "ember-bench-portkey",
  "private": true,
  "dependencies": {"@portkey-ai/gateway": "^1.15.2"},
  "overrides": {"@hono/node-server": "1.13.5", "hono": "4.9.7"}
}
JSON
    (cd .peers/portkey && npm install --no-audit --no-fund)
fi
echo "peers ready"
