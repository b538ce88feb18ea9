// dkim_check.h: every DKIM signature of a received message checked, its key fetched through a
// Lookup (dkim/verify.h does the rest, without I/O).
#pragma once

#include <asio.hpp>
#include <cstdint>
#include <string_view>
#include <vector>

#include "auth/lookup.h"
#include "dkim/verify.h"

namespace ar::auth {

// One verdict per DKIM-Signature field (at most dkim::kMaxSignatures), in header order.
// `message` (as received, CRLF line ends) must stay alive until the coroutine ends. The key
// records are fetched on the caller's executor (the Lookup's thread); the hashing and
// public-key work, linear in the message's size, runs on `cpu` when given (a 25 MB body
// would otherwise hold an event loop for a tenth of a second), else inline.
asio::awaitable<std::vector<dkim::Verdict>> check_dkim(Lookup& dns, std::string_view message,
                                                       int64_t now_ms,
                                                       asio::thread_pool* cpu = nullptr);

} // namespace ar::auth
