#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

#include "mime/compose.h"
#include "mime/encoding.h"

using ar::mime::Attachment;
using ar::mime::Draft;
using ar::mime::Mailbox;

namespace {

// Python's email package is an independent RFC 5322/MIME parser: the composed bytes go in, the
// decoded fields come out as JSON.
constexpr const char* kParser = R"PY(
import base64, email, json, sys
from email import policy
raw = open(sys.argv[1], 'rb').read()
# Headers may hold raw UTF-8 (RFC 6532); bodies are ASCII. Reading the whole message as UTF-8
# text lets Python see the header characters rather than escaped bytes.
msg = email.message_from_string(raw.decode('utf-8'), policy=policy.default)
def boxes(name):
    h = msg[name]
    if h is None:
        return None
    return [[a.display_name, a.username, a.domain] for a in h.addresses]
def defects(part):
    out = [type(d).__name__ for d in part.defects]
    for k, v in part.items():
        out += [type(d).__name__ for d in getattr(v, 'defects', [])
                if type(d).__name__ != 'NonASCIILocalPartDefect']
    return out
out = {'subject': str(msg['subject']) if msg['subject'] is not None else None,
       'from': boxes('from'), 'to': boxes('to'), 'cc': boxes('cc'),
       'reply_to': boxes('reply-to'), 'has_bcc': msg['bcc'] is not None,
       'in_reply_to': msg['in-reply-to'], 'references': msg['references'],
       'content_type': msg.get_content_type(), 'defects': [], 'extra': {}}
for k, v in msg.items():
    out['extra'][k.lower()] = str(v)
for part in msg.walk():
    out['defects'] += defects(part)
def text_of(kind):
    p = msg.get_body(preferencelist=(kind,))
    if p is None or p.get_content_type() != 'text/' + kind:
        return None
    return p.get_content().replace('\r\n', '\n')
out['text'] = text_of('plain')
out['html'] = text_of('html')
out['attachments'] = [{'filename': a.get_filename(), 'content_type': a.get_content_type(),
                       'data': base64.b64encode(a.get_payload(decode=True)).decode()}
                      for a in msg.iter_attachments()]
print(json.dumps(out))
)PY";

nlohmann::json python_parse(const std::string& message) {
    char dir[] = "/tmp/ar_compose_XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string script = std::string(dir) + "/parse.py";
    const std::string file = std::string(dir) + "/message.eml";
    std::ofstream(script, std::ios::binary) << kParser;
    std::ofstream(file, std::ios::binary) << message;
    const std::string cmd = "/usr/bin/python3 " + script + " " + file;
    FILE* pipe = popen(cmd.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe))
        output.append(buf, n);
    int status = pclose(pipe);
    std::remove(script.c_str());
    std::remove(file.c_str());
    rmdir(dir);
    INFO(output);
    REQUIRE(status == 0);
    return nlohmann::json::parse(output);
}

Mailbox mbox(const char* s) {
    auto m = ar::mime::parse_mailbox(s);
    REQUIRE(m.ok());
    return *m;
}

Draft basic_draft() {
    Draft d;
    d.from = mbox("Agent Smith <agent@relay.example>");
    d.to = {mbox("bob@example.com")};
    d.subject = "Hello";
    d.text = "Hi Bob,\nsee you.\n";
    d.message_id = "<20261127.abc@relay.example>";
    d.date_ms = 1795815000000; // 2026-11-27 21:30:00 UTC
    return d;
}

std::string composed(const Draft& d) {
    auto r = ar::mime::compose(d);
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.ok());
    return *r;
}

// The message's own structural promises: CRLF only, lines within 998 octets.
void check_lines(const std::string& msg) {
    std::size_t start = 0;
    while (start < msg.size()) {
        std::size_t end = msg.find("\r\n", start);
        REQUIRE(end != std::string::npos); // ends with CRLF
        std::string_view line(msg.data() + start, end - start);
        CHECK(line.size() <= 998);
        CHECK(line.find('\r') == std::string_view::npos);
        CHECK(line.find('\n') == std::string_view::npos);
        start = end + 2;
    }
}

std::string header_block(const std::string& msg) {
    return msg.substr(0, msg.find("\r\n\r\n") + 2);
}

nlohmann::json box(const char* name, const char* user, const char* domain) {
    return nlohmann::json::array({name, user, domain});
}

// A small independent quoted-printable decoder, for the encoder's round trip.
std::string qp_decode(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '=') {
            out += s[i];
            continue;
        }
        if (s.compare(i + 1, 2, "\r\n") == 0) {
            i += 2;
            continue;
        }
        out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
        i += 2;
    }
    return out;
}

} // namespace

TEST_CASE("a plain text message has the RFC 5322 headers and reads back", "[compose]") {
    const std::string msg = composed(basic_draft());
    check_lines(msg);
    CHECK_THAT(msg, Catch::StartsWith("Date: Fri, 27 Nov 2026 21:30:00 +0000\r\n"
                                      "Message-ID: <20261127.abc@relay.example>\r\n"
                                      "From: Agent Smith <agent@relay.example>\r\n"
                                      "To: bob@example.com\r\n"
                                      "Subject: Hello\r\n"
                                      "MIME-Version: 1.0\r\n"
                                      "Content-Type: text/plain; charset=utf-8\r\n"
                                      "Content-Transfer-Encoding: 7bit\r\n"
                                      "\r\n"
                                      "Hi Bob,\r\nsee you.\r\n"));
    CHECK(msg.find("Cc:") == std::string::npos);
    CHECK(msg.find("Reply-To:") == std::string::npos);
    auto j = python_parse(msg);
    CHECK(j["defects"].empty());
    CHECK(j["subject"] == "Hello");
    CHECK(j["from"] == nlohmann::json::array({box("Agent Smith", "agent", "relay.example")}));
    CHECK(j["to"] == nlohmann::json::array({box("", "bob", "example.com")}));
    CHECK(j["text"] == "Hi Bob,\nsee you.\n");
    CHECK(j["html"].is_null());
    CHECK_FALSE(j["has_bcc"].get<bool>());
}

TEST_CASE("a full message with UTF-8, both bodies and attachments round-trips", "[compose]") {
    Draft d = basic_draft();
    d.from = mbox("\"Jöhn Dœ, Agent\" <agent@relay.example>");
    d.to.clear();
    for (int i = 0; i < 25; ++i)
        d.to.push_back(mbox(
            ("\"Smith, Bob " + std::to_string(i) + "\" <bob" + std::to_string(i) + "@example.com>")
                .c_str()));
    d.to.push_back(mbox("山田 太郎 <taro@例子.广告>"));
    d.cc = {mbox("Ann <ann@example.org>"), mbox("\"john doe\"@example.net")};
    d.reply_to = mbox("Replies <replies@relay.example>");
    d.subject =
        "Re: Über die Brücke — 日本語の件名がとても長い場合でも正しく折り返されることを確認する 🚀 "
        "and some ASCII words at the end to make it longer still";
    d.text = "Grüße!\nA long line: " + std::string(2000, 'x') + "\nTrailing space here \nEnd.\n";
    d.html = "<p>Grüße, <b>Bob</b></p>\n";
    std::string binary;
    for (int i = 0; i < 3000; ++i)
        binary += static_cast<char>(i % 256);
    d.attachments = {
        Attachment{"résumé 2026.pdf", "application/pdf", binary},
        Attachment{"data.bin", "", std::string("\0\1\2", 3)},
        Attachment{"notes \"v2\".txt", "Text/Plain", "plain notes\r\n"},
    };
    d.in_reply_to = "<earlier.2@example.com>";
    d.references = {"<first.0@example.com>", "<second.1@example.com>"};
    d.extra_headers = {
        {"X-Campaign", "Frühling 2026 launch"},
        {"List-Unsubscribe", "<mailto:unsub@relay.example>, <https://relay.example/u>"}};

    const std::string msg = composed(d);
    check_lines(msg);
    // Top-level headers fold within 78 characters.
    const std::string headers = header_block(msg);
    for (std::size_t start = 0; start < headers.size();) {
        std::size_t end = headers.find("\r\n", start);
        INFO(headers.substr(start, end - start));
        CHECK(end - start <= 78);
        start = end + 2;
    }
    CHECK(ar::mime::is_ascii(msg.substr(msg.find("\r\n\r\n")))); // bodies are encoded

    auto j = python_parse(msg);
    CHECK(j["defects"].empty());
    CHECK(j["content_type"] == "multipart/mixed");
    CHECK(j["subject"] == d.subject);
    CHECK(j["from"] == nlohmann::json::array({box("Jöhn Dœ, Agent", "agent", "relay.example")}));
    REQUIRE(j["to"].size() == 26);
    CHECK(j["to"][7] == box("Smith, Bob 7", "bob7", "example.com"));
    CHECK(j["to"][25] == box("山田 太郎", "taro", "例子.广告"));
    CHECK(j["cc"] == nlohmann::json::array(
                         {box("Ann", "ann", "example.org"), box("", "john doe", "example.net")}));
    CHECK(j["reply_to"] == nlohmann::json::array({box("Replies", "replies", "relay.example")}));
    CHECK(j["in_reply_to"] == "<earlier.2@example.com>");
    CHECK(j["references"] ==
          "<first.0@example.com> <second.1@example.com> <earlier.2@example.com>");
    CHECK(j["extra"]["x-campaign"] == "Frühling 2026 launch");
    CHECK(j["extra"]["list-unsubscribe"] ==
          "<mailto:unsub@relay.example>, <https://relay.example/u>");
    CHECK(j["text"] == *d.text);
    CHECK(j["html"] == *d.html);
    REQUIRE(j["attachments"].size() == 3);
    CHECK(j["attachments"][0]["filename"] == "résumé 2026.pdf");
    CHECK(j["attachments"][0]["content_type"] == "application/pdf");
    CHECK(j["attachments"][0]["data"] == ar::mime::base64_encode(binary));
    CHECK(j["attachments"][1]["filename"] == "data.bin");
    CHECK(j["attachments"][1]["content_type"] == "application/octet-stream");
    CHECK(j["attachments"][1]["data"] == "AAEC");
    CHECK(j["attachments"][2]["filename"] == "notes \"v2\".txt");
    CHECK(j["attachments"][2]["content_type"] == "text/plain");
    CHECK(j["attachments"][2]["data"] == ar::mime::base64_encode("plain notes\r\n"));
    CHECK_FALSE(j["has_bcc"].get<bool>());
}

TEST_CASE("body shapes: html only, both, attachments only", "[compose]") {
    Draft d = basic_draft();
    d.text.reset();
    d.html = "<p>hi</p>\n";
    std::string msg = composed(d);
    CHECK_THAT(msg, Catch::Contains("\r\nContent-Type: text/html; charset=utf-8\r\n"));
    auto j = python_parse(msg);
    CHECK(j["content_type"] == "text/html");
    CHECK(j["html"] == "<p>hi</p>\n");

    d.text = "hi\n";
    msg = composed(d);
    j = python_parse(msg);
    CHECK(j["content_type"] == "multipart/alternative");
    CHECK(j["text"] == "hi\n");
    CHECK(j["html"] == "<p>hi</p>\n");
    CHECK(j["attachments"].empty());

    d.text.reset();
    d.html.reset();
    d.attachments = {Attachment{"a.txt", "text/plain", "abc"}};
    msg = composed(d);
    check_lines(msg);
    j = python_parse(msg);
    CHECK(j["defects"].empty());
    CHECK(j["content_type"] == "multipart/mixed");
    REQUIRE(j["attachments"].size() == 1);
    CHECK(j["attachments"][0]["data"] == "YWJj");

    d.attachments.clear();
    auto none = ar::mime::compose(d);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().code == ar::kErrInvalid);
    CHECK_THAT(none.error().message, Catch::Contains("no body"));
}

TEST_CASE("subjects: encoded only when needed, folded, and read back exactly", "[compose]") {
    const std::string subjects[] = {
        "",
        "Plain ASCII subject",
        "Grüße aus Köln",
        "A literal =?utf-8?q?encoded?= word stays literal",
        std::string(3000, 'z'),
        "Über " + std::string(120, 'u') + " ende",
        "word " + std::string(200, 'a') + " — " + std::string(100, 'b'),
        "emoji 🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀",
        "ü ü  ü and spaces",
        "tab\tinside",
    };
    for (const std::string& s : subjects) {
        INFO(s);
        Draft d = basic_draft();
        d.subject = s;
        const std::string msg = composed(d);
        check_lines(msg);
        auto j = python_parse(msg);
        CHECK(j["defects"].empty());
        CHECK(j["subject"] == s);
    }
    Draft d = basic_draft();
    d.subject = "Grüße";
    CHECK_THAT(composed(d), Catch::Contains("\r\nSubject: =?UTF-8?"));
    d.subject = "Plain";
    CHECK_THAT(composed(d), Catch::Contains("\r\nSubject: Plain\r\n"));
}

TEST_CASE("header injection is refused everywhere", "[compose]") {
    auto refused = [](const Draft& d, const char* field) {
        auto r = ar::mime::compose(d);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ar::kErrInvalid);
        CHECK(r.error().field == field);
    };
    Draft d = basic_draft();
    d.subject = "Hi\r\nBcc: x@y.z";
    refused(d, "subject");
    d.subject = "Hi\nBcc: x@y.z";
    refused(d, "subject");
    d.subject = std::string("Hi\0there", 8);
    refused(d, "subject");
    d.subject = "bad \xff utf8";
    refused(d, "subject");

    d = basic_draft();
    d.to.push_back(Mailbox{"Evil\r\nBcc: x@y.z", "bob", "example.com"});
    refused(d, "to[1]");
    d = basic_draft();
    d.cc = {Mailbox{"", "bob", "example.com\r\nBcc: x@y.z"}};
    refused(d, "cc[0]");
    d = basic_draft();
    d.from.local_part = "a\nb";
    refused(d, "from");
    d = basic_draft();
    d.reply_to = Mailbox{"", "", "example.com"};
    refused(d, "reply_to");

    d = basic_draft();
    d.extra_headers = {{"X-Ok", "fine"}, {"X-Bad", "a\r\nBcc: x@y.z"}};
    refused(d, "extra_headers[1]");
    d.extra_headers = {{"Bcc", "x@y.z"}};
    refused(d, "extra_headers[0]");

    d = basic_draft();
    d.attachments = {Attachment{"a.txt\r\nBcc: x@y.z", "text/plain", "x"}};
    refused(d, "attachments[0].filename");
    d.attachments = {Attachment{"../../etc/passwd", "text/plain", "x"}};
    refused(d, "attachments[0].filename");
    d.attachments = {Attachment{"a.txt", "text/plain\r\nBcc: x@y.z", "x"}};
    refused(d, "attachments[0].content_type");
    d.attachments = {Attachment{"a.txt", "text/plain; charset=\"x\"", "x"}};
    refused(d, "attachments[0].content_type");
    d.attachments = {Attachment{"a.txt", "textplain", "x"}};
    refused(d, "attachments[0].content_type");

    d = basic_draft();
    d.message_id = "<no spaces@allowed here>";
    refused(d, "message_id");
    d = basic_draft();
    d.in_reply_to = "<x@y>\r\nBcc: x@y.z";
    refused(d, "in_reply_to");
    d = basic_draft();
    d.references = {"<a@b>", "nope"};
    refused(d, "references[1]");
    d = basic_draft();
    d.text = "bad \xc3 utf8";
    refused(d, "text");
}

TEST_CASE("bodies use 7bit or quoted-printable, with CRLF line ends", "[compose]") {
    Draft d = basic_draft();
    d.text = "line one\nline two\rline three\r\nend";
    std::string msg = composed(d);
    check_lines(msg);
    CHECK_THAT(msg, Catch::Contains("7bit\r\n\r\nline one\r\nline two\r\nline three\r\nend\r\n"));
    CHECK(python_parse(msg)["text"] == "line one\nline two\nline three\nend\n");

    d.text = std::string(1500, 'a') + "\n"; // too long for 7bit
    msg = composed(d);
    check_lines(msg);
    CHECK_THAT(msg, Catch::Contains("quoted-printable"));
    CHECK(python_parse(msg)["text"] == *d.text);

    const char raw[] = "nul \0 and esc \x1b inside\n";
    d.text = std::string(raw, sizeof raw - 1);
    msg = composed(d);
    CHECK_THAT(msg, Catch::Contains("quoted-printable"));
    CHECK(python_parse(msg)["text"] == *d.text);

    // A body line that looks like a boundary cannot break the structure.
    d.text = "--=_ar_00000000000000000000000000000000\n--\n";
    d.html = "<p>x</p>";
    msg = composed(d);
    auto j = python_parse(msg);
    CHECK(j["text"] == *d.text);
    CHECK(j["html"] == "<p>x</p>");
}

TEST_CASE("Bcc never appears in a composed message", "[compose]") {
    Draft d = basic_draft();
    d.to = {mbox("bcc@example.com")};
    d.subject = "about Bcc";
    d.text = "Bcc\n";
    d.extra_headers = {{"X-Note", "not a bcc header"}};
    const std::string msg = composed(d);
    std::string lower = msg;
    for (char& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(lower.find("\r\nbcc:") == std::string::npos);
    CHECK(lower.rfind("bcc:", 0) == std::string::npos);
    CHECK_FALSE(ar::mime::check_extra_header("Bcc", "x@y.z").ok());
    CHECK_FALSE(ar::mime::check_extra_header("BCC", "x@y.z").ok());
}

TEST_CASE("check_extra_header allows X-* and the safe list only", "[compose]") {
    for (const char* name : {"X-Campaign", "x-lower", "List-Unsubscribe", "list-unsubscribe-post",
                             "List-Id", "List-Help", "Auto-Submitted", "Precedence", "Keywords",
                             "Comments", "Importance", "Priority", "Sensitivity", "Organization",
                             "Thread-Topic", "Thread-Index", "Feedback-ID"}) {
        INFO(name);
        CHECK(ar::mime::check_extra_header(name, "value").ok());
    }
    for (const char* name : {"From",
                             "Sender",
                             "To",
                             "Cc",
                             "Bcc",
                             "Received",
                             "DKIM-Signature",
                             "Return-Path",
                             "Date",
                             "Message-ID",
                             "Subject",
                             "MIME-Version",
                             "Content-Type",
                             "content-transfer-encoding",
                             "Reply-To",
                             "In-Reply-To",
                             "References",
                             "Foo",
                             "X-",
                             "",
                             "X Foo",
                             "X-Foo:",
                             "X-Ü"}) {
        INFO(name);
        auto st = ar::mime::check_extra_header(name, "value");
        REQUIRE_FALSE(st.ok());
        CHECK(st.error().code == ar::kErrInvalid);
        CHECK_THAT(st.error().message, Catch::Contains("X-") && Catch::Contains("Feedback-ID"));
    }
    CHECK_THAT(ar::mime::check_extra_header("From", "x").error().message,
               Catch::Contains("written by agentrelay"));
    CHECK_FALSE(ar::mime::check_extra_header("X-A", "a\rb").ok());
    CHECK_FALSE(ar::mime::check_extra_header("X-A", "a\nb").ok());
    CHECK_FALSE(ar::mime::check_extra_header("X-A", std::string("a\0b", 3)).ok());
    CHECK_FALSE(ar::mime::check_extra_header("X-A", "\xff").ok());
    CHECK(ar::mime::check_extra_header("X-A", "tab\tok").ok());
    CHECK(ar::mime::check_extra_header("X-A", std::string(993, 'v')).ok());
    CHECK_THAT(ar::mime::check_extra_header("X-A", std::string(994, 'v')).error().message,
               Catch::Contains("at most 998"));

    // A long value without spaces still fits one line; with spaces it folds.
    Draft d = basic_draft();
    d.extra_headers = {{"X-A", std::string(993, 'v')},
                       {"X-B", std::string(100, 'w') + " " + std::string(100, 'w')}};
    const std::string msg = composed(d);
    check_lines(msg);
    auto j = python_parse(msg);
    CHECK(j["extra"]["x-a"] == std::string(993, 'v'));
    CHECK(j["extra"]["x-b"] == std::string(100, 'w') + " " + std::string(100, 'w'));
}

TEST_CASE("dates and message ids", "[compose]") {
    CHECK(ar::mime::format_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
    CHECK(ar::mime::format_date(1795815000999) == "Fri, 27 Nov 2026 21:30:00 +0000");
    CHECK(ar::mime::format_date(-1) == "Wed, 31 Dec 1969 23:59:59 +0000");
    CHECK(ar::mime::format_date(951782400000) == "Tue, 29 Feb 2000 00:00:00 +0000");

    for (const char* id : {"<a@b>", "<a.b.c@d.e>", "<x!#$%&'*+-/=?^_`{|}~@host.example>",
                           "<abc@[192.0.2.1]>", "<abc@[any.dtext!]>"})
        CHECK(ar::mime::is_msg_id(id));
    for (const char* id :
         {"", "<>", "a@b", "<a@b", "a@b>", "<@b>", "<a@>", "<a b@c>", "<a@b c>", "<a..b@c>",
          "<.a@c>", "<a@b@c>", "<a@b>\r\n", "<a\r\n@b>", "<\"q\"@b>", "<a@[x]y>", "<ü@b>"})
        CHECK_FALSE(ar::mime::is_msg_id(id));
    CHECK(ar::mime::is_msg_id("<" + std::string(880, 'a') + "@b.c>"));
    CHECK_FALSE(ar::mime::is_msg_id("<" + std::string(900, 'a') + "@b.c>"));
}

TEST_CASE("base64 encodes per RFC 4648 and decodes strictly", "[compose][encoding]") {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        CHECK(ar::mime::base64_encode(plain) == encoded);
        auto back = ar::mime::base64_decode(encoded);
        REQUIRE(back.ok());
        CHECK(*back == plain);
    }
    auto wrapped = ar::mime::base64_decode("Zm9v\r\nYmFy\n");
    REQUIRE(wrapped.ok());
    CHECK(*wrapped == "foobar");

    auto err = [](const char* s) {
        auto r = ar::mime::base64_decode(s);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ar::kErrInvalid);
        return r.error().message;
    };
    CHECK_THAT(err("Zg="), Catch::Contains("multiple of 4"));
    CHECK_THAT(err("Zm9"), Catch::Contains("multiple of 4"));
    CHECK_THAT(err("Zm9v!A=="), Catch::Contains("not base64"));
    CHECK_THAT(err("Zm-v"), Catch::Contains("URL-safe"));
    CHECK_THAT(err("Zg==Zg=="), Catch::Contains("padding before its end"));
    CHECK_THAT(err("Z==="), Catch::Contains("at most 2"));
    CHECK_THAT(err("===="), Catch::Contains("at most 2"));

    // Large data crosses the internal block size both ways.
    std::mt19937 rng(42);
    std::string data(200001, '\0');
    for (char& c : data)
        c = static_cast<char>(rng());
    auto back = ar::mime::base64_decode(ar::mime::base64_lines(data));
    REQUIRE(back.ok());
    CHECK(*back == data);

    const std::string lines = ar::mime::base64_lines(std::string(100, 'x'));
    CHECK(lines.substr(76, 2) == "\r\n");
    CHECK(lines.size() == 76 + 2 + 60 + 2);
    CHECK(ar::mime::base64_lines("").empty());
}

TEST_CASE("quoted-printable keeps lines short and decodes back", "[compose][encoding]") {
    CHECK(ar::mime::quoted_printable("héllo") == "h=C3=A9llo");
    CHECK(ar::mime::quoted_printable("a \r\nb\t\nc=d") == "a=20\r\nb=09\r\nc=3Dd");
    CHECK(ar::mime::quoted_printable("end ") == "end=20");

    std::mt19937 rng(7);
    const std::string alphabet = "ab =\t\xc3\xa9\r\n.xyz\x01";
    for (int round = 0; round < 200; ++round) {
        std::string text;
        std::size_t len = rng() % 400;
        for (std::size_t i = 0; i < len; ++i)
            text += alphabet[rng() % alphabet.size()];
        const std::string qp = ar::mime::quoted_printable(text);
        INFO(text);
        // Hard line breaks become CRLF; everything else survives exactly.
        std::string expect;
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
            if (text[i] == '\n')
                expect += "\r\n";
            else
                expect += text[i];
        }
        CHECK(qp_decode(qp) == expect);
        std::size_t start = 0;
        while (start <= qp.size()) {
            std::size_t end = qp.find("\r\n", start);
            if (end == std::string::npos) end = qp.size();
            std::string_view line(qp.data() + start, end - start);
            CHECK(line.size() <= 76);
            if (!line.empty()) CHECK((line.back() != ' ' && line.back() != '\t'));
            CHECK(ar::mime::is_ascii(line));
            start = end + 2;
        }
    }
}

TEST_CASE("RFC 2047 encoded words stay within 75 characters and whole characters",
          "[compose][encoding]") {
    CHECK(ar::mime::encode_words("plain ascii") == "plain ascii");
    CHECK(ar::mime::encode_words("Grüße") == "=?UTF-8?B?R3LDvMOfZQ==?=");
    std::string long_text;
    for (int i = 0; i < 60; ++i)
        long_text += "日本語";
    const std::string words = ar::mime::encode_words(long_text);
    std::string decoded;
    std::size_t start = 0;
    while (start < words.size()) {
        std::size_t end = words.find(' ', start);
        if (end == std::string::npos) end = words.size();
        std::string word = words.substr(start, end - start);
        CHECK(word.size() <= 75);
        REQUIRE_THAT(word, Catch::StartsWith("=?UTF-8?B?") && Catch::EndsWith("?="));
        auto bytes = ar::mime::base64_decode(word.substr(10, word.size() - 12));
        REQUIRE(bytes.ok());
        CHECK(ar::mime::is_valid_utf8(*bytes)); // no character split across words
        decoded += *bytes;
        start = end + 1;
    }
    CHECK(decoded == long_text);
    CHECK(ar::mime::encode_words_always("x", 20) == "=?UTF-8?Q?x?=");
    CHECK(ar::mime::encode_words("caf\xc3\xa9 au lait") == "=?UTF-8?Q?caf=C3=A9_au_lait?=");
}

TEST_CASE("UTF-8 validation is strict", "[compose][encoding]") {
    CHECK(ar::mime::is_valid_utf8("plain"));
    CHECK(ar::mime::is_valid_utf8("ü日本🚀"));
    CHECK_FALSE(ar::mime::is_valid_utf8("\xc0\xaf"));         // overlong
    CHECK_FALSE(ar::mime::is_valid_utf8("\xe0\x80\xaf"));     // overlong
    CHECK_FALSE(ar::mime::is_valid_utf8("\xed\xa0\x80"));     // surrogate
    CHECK_FALSE(ar::mime::is_valid_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
    CHECK_FALSE(ar::mime::is_valid_utf8("\xe6\x97"));         // cut short
    CHECK_FALSE(ar::mime::is_valid_utf8("\x80"));
    CHECK(ar::mime::has_control_char("a\tb"));
    CHECK(ar::mime::has_control_char("a\xc2\x9f"));
    CHECK_FALSE(ar::mime::has_control_char("a b ü"));
}
