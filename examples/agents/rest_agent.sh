#!/usr/bin/env bash
# rest_agent.sh: the same as stdio_agent.py over the REST API, with curl.
#
#   AGENTRELAY_API_KEY=ar_... examples/agents/rest_agent.sh other@agents.localhost [http://127.0.0.1:8025]
set -euo pipefail
to=${1:?usage: rest_agent.sh TO [BASE_URL]}
base=${2:-http://127.0.0.1:8025}
key=${AGENTRELAY_API_KEY:?set AGENTRELAY_API_KEY to the agent\'s key}
auth=(-H "Authorization: Bearer $key")

body=$(printf '{"to": "%s", "subject": "Hello over REST", "text": "Sent with curl."}' "$to")
sent=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d "$body" "$base/v1/messages")
echo "sent: $sent"
id=$(printf '%s' "$sent" | sed -n 's/.*"message_id":"\([^"]*\)".*/\1/p')

for _ in $(seq 60); do
  status=$(curl -fsS "${auth[@]}" "$base/v1/messages/$id")
  state=$(printf '%s' "$status" | sed -n 's/.*"status":"\([a-z_]*\)","subject".*/\1/p')
  echo "status: $state"
  case $state in queued|deferred) sleep 1 ;; delivered) exit 0 ;; *) echo "$status"; exit 1 ;; esac
done
exit 1
