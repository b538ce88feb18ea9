// fuzz_submission: the rules a submitted message must meet (relay/submission.h) and the Date
// parser (mime/date.h) on arbitrary bytes. Beyond not crashing, checks their promises: a
// message that passes has exactly one From, which is the sender's, and CRLF lines of at most
// 998 octets; a Date that parses reads the same after format_date.
#include "core/text.h"
#include "mime/compose.h"
#include "mime/date.h"
#include "mime/parse.h"
#include "relay/submission.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);
    if (auto ms = ar::mime::parse_date(in)) {
        // What we write, we read back as the same instant.
        auto again = ar::mime::parse_date(ar::mime::format_date(*ms));
        if (!again || *again != *ms - (*ms % 1000)) std::abort();
    }
    ar::mime::Mailbox sender;
    sender.local_part = "alice";
    sender.domain = "agents.test";
    auto checked = ar::check_submission(in, sender);
    if (checked.ok()) {
        if (!ar::check_lines(checked->raw).ok()) std::abort();
        auto e = ar::mime::split_entity(checked->raw);
        size_t froms = 0;
        for (const auto& h : e.headers) {
            if (!ar::iequals(h.name, "From")) continue;
            ++froms;
            auto list = ar::mime::parse_mailbox_list(h.value);
            if (!list || list->size() != 1 || !ar::mime::same_address(list->front(), sender)) std::abort();
        }
        if (froms != 1) std::abort();
    }
    return 0;
}
