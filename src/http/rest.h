// rest.h: the REST door (interface.md, "REST") and the operational endpoints.
//
//   POST /v1/messages          send_email            → 202
//   GET  /v1/messages/{id}     check_status
//   GET  /v1/bounces           list_bounces (?since=&limit=&cursor=)
//   GET  /v1/inbox             list_messages (?unread_only=&limit=&cursor=)
//   GET  /v1/inbox/{id}        read_message (?include_attachments=)
//   GET  /v1/events            list_events (?after=&types=&limit=)
//   GET  /v1/events/stream     the same events as they happen (SSE; ?after= or Last-Event-ID, ?types=)
//   POST /v1/webhooks          {url} → 201 {id, url, agent, secret}: the agent's own webhook
//   GET  /v1/webhooks          {webhooks: [...]} the agent's webhooks and their progress
//   DELETE /v1/webhooks/{id}   removes one of them
//   GET  /healthz              no key
//   GET  /metrics              Prometheus text format, no key
//
// Every route but the last two needs `Authorization: Bearer <api key>`. Bodies
// and query values are validated against the same tool schemas the MCP door
// uses, and answered by the same ToolApi functions. Errors are JSON
// {"error": {"code", "message", "field"?}} with the fitting status.
#pragma once

#include "http/door.h"

#include "relay/relay.h"
#include "tools/handlers.h"
#include "tools/registry.h"

namespace ar::http {

struct RestOptions {
    // Webhooks an agent registers (POST /v1/webhooks) may target private addresses: for relays
    // whose agents' platforms live on the operator's own network (and for tests).
    bool webhook_allow_private = false;
};

void mount_rest(Door& server, Relay& relay, tools::ToolApi& api, const tools::ToolRegistry& registry,
                RestOptions options = {});

// The HTTP status for an ar::Error code.
int status_for(const Error& e);

}  // namespace ar::http
