// stdio_transport.h: MCP over stdin/stdout, one JSON-RPC message per line (UTF-8, no embedded
// newlines), the transport an MCP client uses when it launches `agentrelay mcp` itself.
//
// Promise: writes nothing but MCP messages to `out`, one per line, flushed after each; blank
// lines are skipped; a line longer than kMaxStdioLine is answered with an error (id null) and
// skipped without being held in memory. Returns when `in` reaches end of file. Messages are
// handled one at a time, in order.
#pragma once

#include <cstddef>
#include <istream>
#include <ostream>
#include <string>

#include "mcp/server.h"

namespace ar::mcp {

inline constexpr std::size_t kMaxStdioLine = 64 * 1024 * 1024;

void run_stdio(McpServer& server, const std::string& agent, std::istream& in, std::ostream& out);

// As above, with a smaller line limit (for tests).
void run_stdio(McpServer& server, const std::string& agent, std::istream& in, std::ostream& out,
               std::size_t max_line);

} // namespace ar::mcp
