#include "auth/dkim_check.h"

#include "core/run_on_pool.h"

namespace ar::auth {

asio::awaitable<std::vector<dkim::Verdict>> check_dkim(Lookup& dns, std::string_view message,
                                                       int64_t now_ms, asio::thread_pool* cpu) {
    // (No co_await inside ?: : GCC 12 miscompiles it.)
    auto parse = [message] { return dkim::Verifier::parse(message); };
    dkim::Verifier verifier;
    if (cpu)
        verifier = co_await run_on_pool(*cpu, parse, "ar-submit");
    else
        verifier = parse();
    std::vector<Answer> keys(verifier.count());
    for (size_t i = 0; i < verifier.count(); ++i) {
        std::string name = verifier.key_name(i);
        if (!name.empty()) keys[i] = co_await dns.txt(name);
    }
    auto verify_all = [&] {
        std::vector<dkim::Verdict> out;
        for (size_t i = 0; i < verifier.count(); ++i)
            out.push_back(verifier.verify(i, keys[i].status, keys[i].values, now_ms / 1000));
        return out;
    };
    if (!cpu || verifier.count() == 0) co_return verify_all();
    co_return co_await run_on_pool(*cpu, verify_all, "ar-submit");
}

} // namespace ar::auth
