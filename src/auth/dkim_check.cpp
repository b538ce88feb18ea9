#include "auth/dkim_check.h"

namespace ar::auth {

asio::awaitable<std::vector<dkim::Verdict>> check_dkim(Lookup& dns, std::string_view message,
                                                       int64_t now_ms) {
    dkim::Verifier verifier = dkim::Verifier::parse(message);
    std::vector<dkim::Verdict> out;
    for (size_t i = 0; i < verifier.count(); ++i) {
        std::string name = verifier.key_name(i);
        Answer key;
        if (!name.empty()) key = co_await dns.txt(name);
        out.push_back(verifier.verify(i, key.status, key.values, now_ms / 1000));
    }
    co_return out;
}

} // namespace ar::auth
