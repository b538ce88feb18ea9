// Fuzzes the SMTP server's door: parse_command on arbitrary lines, and the SASL decoders on
// arbitrary client responses. Checks the promises of smtp/command.h, not just the absence of
// crashes: a parsed path is free of the bytes that would break a reply or a queue file, and
// base64 round-trips.
#include "smtp/command.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

void check_path(std::string_view path) {
    bool quoted = false;
    for (char ch : path) {
        auto c = static_cast<unsigned char>(ch);
        check(c >= 32 && c != 127);
        if (c == '"') quoted = !quoted;
        if (!quoted) check(c != ' ' && c != '<' && c != '>');
    }
    check(path.size() <= 256);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);

    auto cmd = ar::smtp::parse_command(input);
    if (cmd) {
        using V = ar::smtp::Command::Verb;
        check_path(cmd->path);
        if (cmd->verb == V::Rcpt) check(!cmd->path.empty());
        for (const auto& [key, value] : cmd->params) {
            check(!key.empty());
            for (char c : key)
                check(c != ' ' && c != '=' && !(c >= 'a' && c <= 'z'));
            for (char c : value)
                check(c != ' ' && static_cast<unsigned char>(c) >= 33);
        }
        if (cmd->verb == V::Auth) check(!cmd->mechanism.empty());
    } else {
        check(!cmd.error().message.empty());
    }

    auto plain = ar::smtp::decode_auth_plain(input);
    if (plain) check(!plain->authcid.empty() && !plain->password.empty());

    auto decoded = ar::smtp::decode_base64(input);
    if (decoded) check(ar::smtp::encode_base64(*decoded).size() == input.size());
    check(ar::smtp::decode_base64(ar::smtp::encode_base64(input)).value() == input);
    return 0;
}
