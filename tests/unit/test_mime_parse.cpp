#include <catch2/catch.hpp>

#include "mime/decode.h"
#include "mime/parse.h"

#include <string>

#include "sample_data.h"

using namespace ar::mime;

namespace {

std::string read_mime_sample(const std::string& name) { return read_sample("mime", name); }

// Each sample is read with LF line ends as stored and again with CRLF, as on the wire.
ParsedMessage parse_sample(const std::string& name, bool crlf) {
    std::string raw = read_mime_sample(name);
    auto r = parse_message(crlf ? to_crlf(raw) : raw);
    INFO(name << (r ? "" : ": " + r.error().message));
    REQUIRE(r.ok());
    return std::move(r).value();
}

const ParsedAttachment* find_attachment(const ParsedMessage& m, const std::string& filename) {
    for (const auto& a : m.attachments)
        if (a.filename == filename) return &a;
    return nullptr;
}

} // namespace

TEST_CASE("base64 decoding tolerates line breaks, junk and missing padding", "[mime_parse]") {
    CHECK(decode::base64("aGVsbG8gd29ybGQ=") == "hello world");
    CHECK(decode::base64("aGVs\r\nbG8g\r\nd29y bGQ=\r\n") == "hello world");
    CHECK(decode::base64("aGVsbG8gd29ybGQ") == "hello world"); // no padding
    CHECK(decode::base64("aGVs*bG8!") == "hello");
    CHECK(decode::base64("aGk=aGk=") == "hihi"); // concatenated encodings
    CHECK(decode::base64("") == "");
    CHECK(decode::base64("====") == "");
    CHECK(decode::base64("QQ") == "A");
    CHECK(decode::base64("Q") == ""); // a lone sextet carries no byte
    std::string big(200000, 'A');     // more than one internal chunk
    CHECK(decode::base64(big).size() == 150000);
}

TEST_CASE("quoted-printable decoding", "[mime_parse]") {
    CHECK(decode::quoted_printable("caf=C3=A9") == "caf\xC3\xA9");
    CHECK(decode::quoted_printable("caf=c3=a9") == "caf\xC3\xA9"); // lowercase hex
    CHECK(decode::quoted_printable("long =\r\nline\r\nnext") == "long line\r\nnext");
    CHECK(decode::quoted_printable("soft=  \nbreak") == "softbreak");
    CHECK(decode::quoted_printable("trailing   \nblanks") == "trailing\nblanks");
    CHECK(decode::quoted_printable("1+1=2 and =ZZ and =") == "1+1=2 and =ZZ and ");
    CHECK(decode::quoted_printable("a=3D=3Db") == "a==b");
}

TEST_CASE("RFC 2047 encoded words decode to UTF-8", "[mime_parse]") {
    CHECK(decode::rfc2047("=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=") == "Jörg Müller");
    CHECK(decode::rfc2047("=?utf-8?b?SsO2cmc=?= <j@example.org>") == "Jörg <j@example.org>");
    // Whitespace between adjacent encoded words goes, text next to them stays.
    CHECK(decode::rfc2047("=?UTF-8?Q?a?= =?UTF-8?Q?b?=") == "ab");
    CHECK(decode::rfc2047("=?UTF-8?Q?a?=\r\n =?UTF-8?Q?b?= c") == "ab c");
    CHECK(decode::rfc2047("Re: =?UTF-8?Q?caf=C3=A9?= time") == "Re: café time");
    // A character split across two words survives the join.
    CHECK(decode::rfc2047("=?UTF-8?B?ww==?= =?UTF-8?B?pA==?=") == "\xC3\xA4");
    CHECK(decode::rfc2047("=?UTF-8?Q?=C3?= =?UTF-8?Q?=A4?=") == "ä");
    CHECK(decode::rfc2047("=?ISO-8859-1?Q?Ren=E9?=") == "René");
    CHECK(decode::rfc2047("=?windows-1252?Q?=93hi=94?=") == "“hi”");
    CHECK(decode::rfc2047("=?utf-8*en?q?hello?=") == "hello"); // RFC 2231 language
    CHECK(decode::rfc2047("\"=?utf-8?q?Smith=2C_J?=\" <j@x>") == "\"Smith, J\" <j@x>");
    // Malformed words stay as written.
    CHECK(decode::rfc2047("=?utf-8?x?abc?=") == "=?utf-8?x?abc?=");
    CHECK(decode::rfc2047("=?utf-8?q?no end") == "=?utf-8?q?no end");
    CHECK(decode::rfc2047("=?utf-8?q?has space?=") == "=?utf-8?q?has space?=");
    CHECK(decode::rfc2047("a =? b ?= c") == "a =? b ?= c");
    CHECK(decode::rfc2047("plain \xFF bytes") == "plain \xEF\xBF\xBD bytes");
}

TEST_CASE("charsets convert to UTF-8", "[mime_parse]") {
    CHECK(decode::to_utf8("Cr\xE8me", "iso-8859-1") == "Crème");
    CHECK(decode::to_utf8("\x80 \x93x\x94", "windows-1252") == "€ “x”");
    CHECK(decode::to_utf8("\x80", "ISO-8859-1") == "€"); // read as windows-1252
    CHECK(decode::to_utf8("Gr\xC3\xBC\xC3\x9F", "UTF-8") == "Grüß");
    CHECK(decode::to_utf8("ok \xC3", "utf-8") == "ok \xEF\xBF\xBD");
    CHECK(decode::to_utf8("\xF0\xD2", "koi8-r") == "\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(decode::to_utf8("plain", "x-unknown") == "plain");
    // Overlong forms, surrogates and truncated sequences are replaced.
    CHECK(decode::sanitize_utf8("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(decode::sanitize_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(decode::sanitize_utf8("\xE2\x82") == "\xEF\xBF\xBD");
    CHECK(decode::sanitize_utf8("\xF0\x9F\x98\x80") == "\xF0\x9F\x98\x80");
}

TEST_CASE("Content-Type parameters: quoting, comments, RFC 2231", "[mime_parse]") {
    ContentType ct = parse_content_type("Text/Plain; charset=\"UTF-8\"; format=flowed");
    CHECK(ct.value == "text/plain");
    CHECK(ct.param("charset") == "UTF-8");
    CHECK(ct.param("FORMAT") == "flowed");
    CHECK(ct.param("missing") == "");

    ct = parse_content_type("text/plain; charset=us-ascii (Plain text)");
    CHECK(ct.param("charset") == "us-ascii");

    ct = parse_content_type(R"(attachment; filename="a \"quoted\" name.txt")");
    CHECK(ct.value == "attachment");
    CHECK(ct.param("filename") == "a \"quoted\" name.txt");

    ct = parse_content_type("attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf");
    CHECK(ct.param("filename") == "€ rates.pdf");

    ct = parse_content_type("attachment; filename*=iso-8859-1'de'M%FCller.txt");
    CHECK(ct.param("filename") == "Müller.txt");

    // Continuations, out of order, mixing encoded and plain sections; *= wins over plain.
    ct = parse_content_type("attachment; filename=\"fallback.txt\"; filename*1=\"two\"; "
                            "filename*0*=utf-8''one%20; filename*2*=%C3%A9.txt");
    CHECK(ct.param("filename") == "one twoé.txt");

    ct = parse_content_type("image/png; name=\"=?UTF-8?B?QmlsZC5wbmc=?=\"");
    CHECK(ct.param("name") == "Bild.png");

    ct = parse_content_type("");
    CHECK(ct.value.empty());
    ct = parse_content_type(";;;=;x=\"unterminated");
    CHECK(ct.param("x") == "unterminated");
}

TEST_CASE("message ids", "[mime_parse]") {
    using V = std::vector<std::string>;
    CHECK(parse_msg_ids("<a@b> <c@d>") == V{"<a@b>", "<c@d>"});
    CHECK(parse_msg_ids("<a@b>\r\n\t<c@d>") == V{"<a@b>", "<c@d>"});
    CHECK(parse_msg_ids("<a@b> (was <x@y>) <c@d>") == V{"<a@b>", "<c@d>"});
    CHECK(parse_msg_ids("lone@host.example") == V{"<lone@host.example>"});
    CHECK(parse_msg_ids("<<a@b>") == V{"<a@b>"});
    CHECK(parse_msg_ids("<> <a@b") == V{});
    CHECK(parse_msg_ids("(unclosed <a@b>") == V{"<a@b>"});
    CHECK(parse_msg_ids("") == V{});
    CHECK(parse_msg_ids("two words") == V{});
}

TEST_CASE("a quoted-printable UTF-8 message with folded headers", "[mime_parse]") {
    for (bool crlf : {false, true}) {
        ParsedMessage m = parse_sample("plain_qp_utf8.eml", crlf);
        CHECK(m.from == "Jörg Müller <joerg@example.org>");
        CHECK(m.to == "Scout <scout@agents.example>");
        CHECK(m.cc == "\"Alice\" <alice@example.org>, bob@example.org");
        CHECK(m.reply_to == "team@example.org");
        CHECK(m.subject == "Re: Grüße aus München");
        CHECK(m.date == "Tue, 10 Mar 2026 10:13:58 +0100");
        CHECK(m.message_id == "<20260310091358.GA1234@mail.example.org>");
        CHECK(m.in_reply_to == "<a1b2c3.scout@agents.example>");
        CHECK(m.references ==
              std::vector<std::string>{"<root.1@example.org>", "<a1b2c3.scout@agents.example>"});
        CHECK(m.content_type == "text/plain");
        CHECK(m.text == "Hallo Scout,\n\ndanke für die Nachricht. Grüße aus München, und hier "
                        "ist eine lange Zeile, die weich umbrochen wurde.\n\nJörg\n");
        CHECK(m.html.empty());
        CHECK(m.attachments.empty());
        CHECK_FALSE(m.auto_submitted);
        // Raw header values are unfolded but not decoded; header() decodes.
        CHECK(m.header("received").find("by mx.agents.example") != std::string::npos);
        CHECK(m.header("received").find('\n') == std::string::npos);
        CHECK(m.header("SUBJECT") == m.subject);
        CHECK(m.header("X-Missing") == "");
        REQUIRE(m.headers.size() > 3);
        CHECK(m.headers[0].name == "Return-Path");
        CHECK(m.headers[0].value == "<alice@example.org>");
    }
}

TEST_CASE("multipart/alternative with base64 text and HTML", "[mime_parse]") {
    for (bool crlf : {false, true}) {
        ParsedMessage m = parse_sample("alternative_base64.eml", crlf);
        CHECK(m.content_type == "multipart/alternative");
        CHECK(m.text == "Your order #4711 has shipped.\nTrack it: https://shop.example/t/4711\n");
        CHECK(m.html.find("<b>#4711</b>") != std::string::npos);
        CHECK(m.attachments.empty());
    }
}

TEST_CASE("nested multiparts and every kind of attachment", "[mime_parse]") {
    for (bool crlf : {false, true}) {
        ParsedMessage m = parse_sample("nested_attachments.eml", crlf);
        CHECK(m.content_type == "multipart/mixed");
        CHECK(m.text == "See the report attached.");
        CHECK(m.html.find("<p>See the report attached.</p>") == 0);

        // The inline image without a name is part of the HTML, not an attachment.
        REQUIRE(m.attachments.size() == 4);
        const ParsedAttachment* pdf = find_attachment(m, "Quartalsübersicht Q1.pdf");
        REQUIRE(pdf);
        CHECK(pdf->content_type == "application/pdf");
        CHECK(
            pdf->content ==
            std::string("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"));

        const ParsedAttachment* png = find_attachment(m, "Café.png");
        REQUIRE(png);
        CHECK(png->content_type == "image/png");
        CHECK(png->content.substr(0, 8) == "\x89PNG\r\n\x1a\n");

        // A path in the filename is cut to its last component.
        const ParsedAttachment* csv = find_attachment(m, "numbers.csv");
        REQUIRE(csv);
        CHECK(csv->content == (crlf ? "a,b\r\n1,2" : "a,b\n1,2"));

        const ParsedAttachment* eml = find_attachment(m, "message.eml");
        REQUIRE(eml);
        CHECK(eml->content_type == "message/rfc822");
        CHECK(eml->content.find("Message-ID: <inner@example.org>") != std::string::npos);
        CHECK(m.text.find("belongs to the attached message") == std::string::npos);
    }
}

TEST_CASE("ISO-8859-1 and windows-1252 text, unknown charsets", "[mime_parse]") {
    for (bool crlf : {false, true}) {
        ParsedMessage m = parse_sample("latin1_cp1252.eml", crlf);
        CHECK(m.from == "René <rene@example.fr>");
        CHECK(m.subject == "“Café” – menu");
        CHECK(m.text == "Crème brûlée € 5, “quoted”");
        REQUIRE(m.attachments.size() == 1);
        CHECK(m.attachments[0].filename == "other.txt");
        CHECK(m.attachments[0].content == "\xf0\xd2\xc9\xd7\xc5\xd4"); // bytes kept as sent
    }
}

TEST_CASE("an HTML-only message gets its text derived", "[mime_parse]") {
    ParsedMessage m = parse_sample("html_only.eml", true);
    CHECK(m.content_type == "text/html");
    CHECK(m.html.find("<h1>This week</h1>") != std::string::npos);
    CHECK(m.text == "This week\n\nFish & chips — \"great\" value.\n\n- One\n- Two\n\nLine one\n"
                    "Line two\n\nUnsubscribe (https://list.example/unsub?u=1&l=2)");
}

TEST_CASE("vacation replies are marked auto-submitted; format=flowed is joined", "[mime_parse]") {
    for (bool crlf : {false, true}) {
        ParsedMessage m = parse_sample("vacation_autoreply.eml", crlf);
        CHECK(m.auto_submitted);
        CHECK(m.in_reply_to == "<notes-42@agents.example>");
        CHECK(m.text == "I am away until Monday, 23 March and will read your message when I am "
                        "back.\n\nFrom the office,\nCarol\n");
    }
}

TEST_CASE("auto-submitted signals", "[mime_parse]") {
    auto autoflag = [](const std::string& header) {
        auto r = parse_message("From: a@b\r\n" + header + "\r\n\r\nbody");
        REQUIRE(r.ok());
        return r->auto_submitted;
    };
    CHECK(autoflag("Auto-Submitted: auto-replied"));
    CHECK(autoflag("Auto-Submitted: auto-generated"));
    CHECK(autoflag("auto-submitted: Auto-Notified; owner-email=\"x@y\""));
    CHECK_FALSE(autoflag("Auto-Submitted: no"));
    CHECK_FALSE(autoflag("Auto-Submitted: No (a person wrote this)"));
    CHECK(autoflag("X-Autoreply: yes"));
    CHECK(autoflag("X-Autorespond: vacation"));
    CHECK(autoflag("Precedence: auto_reply"));
    CHECK_FALSE(autoflag("Precedence: bulk"));
    CHECK_FALSE(autoflag("Subject: Automatic reply"));
}

TEST_CASE("a missing final boundary still yields the parts read", "[mime_parse]") {
    for (bool crlf : {false, true}) {
        ParsedMessage m = parse_sample("missing_final_boundary.eml", crlf);
        CHECK(m.text == "first part");
        REQUIRE(m.attachments.size() == 1);
        CHECK(m.attachments[0].filename == "data.bin");
        CHECK(m.attachments[0].content == std::string("\0\1\2\3\4\5", 6));
    }
}

TEST_CASE("multipart edge cases", "[mime_parse]") {
    SECTION("a boundary that is a prefix of a longer line is not a delimiter") {
        auto r = parse_message("Content-Type: multipart/mixed; boundary=ab\n\n--ab\n\nx\n--abc\ny"
                               "\n--ab--\n");
        REQUIRE(r.ok());
        CHECK(r->text == "x\n--abc\ny");
    }
    SECTION("transport padding after a delimiter is allowed") {
        auto r = parse_message("Content-Type: multipart/mixed; boundary=b\n\n--b  \n\nx\n--b-- \n");
        REQUIRE(r.ok());
        CHECK(r->text == "x");
    }
    SECTION("a multipart without a boundary reads as text") {
        auto r = parse_message("Content-Type: multipart/mixed\n\nhello");
        REQUIRE(r.ok());
        CHECK(r->text == "hello");
    }
    SECTION("no Content-Type means text/plain; a mbox From line is skipped") {
        auto r = parse_message("From someone@example Tue Mar 10 2026\nSubject: hi\n\nbody\n");
        REQUIRE(r.ok());
        CHECK(r->subject == "hi");
        CHECK(r->content_type == "text/plain");
        CHECK(r->text == "body\n");
    }
    SECTION("headers without a blank line before the body") {
        auto r = parse_message("Subject: x\nthis line is the body\n");
        REQUIRE(r.ok());
        CHECK(r->text == "this line is the body\n");
    }
    SECTION("a message with headers only") {
        auto r = parse_message("Subject: only headers");
        REQUIRE(r.ok());
        CHECK(r->subject == "only headers");
        CHECK(r->text.empty());
    }
    SECTION("a text part with a filename is an attachment, not the body") {
        auto r = parse_message("Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                               "Content-Type: text/html\n\n<p>Hi</p>\n--b\n"
                               "Content-Type: text/plain; name=log.txt\n\nlog line\n--b--\n");
        REQUIRE(r.ok());
        CHECK(r->text == "Hi");
        REQUIRE(r->attachments.size() == 1);
        CHECK(r->attachments[0].filename == "log.txt");
        CHECK(r->attachments[0].content == "log line");
    }
    SECTION("multipart/digest parts default to message/rfc822") {
        auto r = parse_message("Content-Type: multipart/digest; boundary=d\n\n--d\n\n"
                               "Subject: one\n\nfirst\n--d--\n");
        REQUIRE(r.ok());
        REQUIRE(r->attachments.size() == 1);
        CHECK(r->attachments[0].content_type == "message/rfc822");
    }
}

TEST_CASE("html_to_text", "[mime_parse]") {
    CHECK(html_to_text("<p>Hello <b>world</b></p><p>Second</p>") == "Hello world\n\nSecond");
    CHECK(html_to_text("a<br>b<br/><br>c") == "a\nb\n\nc");
    CHECK(html_to_text("<div>one</div><div>two</div>") == "one\ntwo");
    CHECK(html_to_text("<style>x{}</style><script>if (a < b) {}</script>text") == "text");
    CHECK(html_to_text("<SCRIPT type=x>bad()</SCRIPT >ok") == "ok");
    CHECK(html_to_text("<!-- hidden <p>x</p> -->shown") == "shown");
    CHECK(html_to_text("&lt;tag&gt; &amp; &#233; &#x20AC; &unknown; &amp") ==
          "<tag> & é € &unknown; &amp");
    CHECK(html_to_text("  lots   of\n\n  space  ") == "lots of space");
    CHECK(html_to_text("<pre>a  b\n  c</pre>") == "a  b\n  c");
    CHECK(html_to_text("1 < 2 and 3 > 2") == "1 < 2 and 3 > 2");
    CHECK(html_to_text("<a href='https://x.example/?a=1&amp;b=2'>link</a>") ==
          "link (https://x.example/?a=1&b=2)");
    CHECK(html_to_text("<a href=\"https://x.example\">https://x.example</a>") ==
          "https://x.example");
    CHECK(html_to_text("<a href=\"mailto:a@b\">mail me</a>") == "mail me");
    CHECK(html_to_text("<img src=x alt=\"Logo\"> <img src=y>") == "[Logo]");
    CHECK(html_to_text("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>") ==
          "a b\nc");
    CHECK(html_to_text("<p title=\"a>b\">quoted gt</p>") == "quoted gt");
    CHECK(html_to_text("unclosed <b") == "unclosed");
    CHECK(html_to_text("<script>never closed") == "");
    CHECK(html_to_text("") == "");
}

TEST_CASE("bad input yields errors, not crashes", "[mime_parse]") {
    CHECK_FALSE(parse_message("").ok());
    const char junk[] = "\x00\x01\x02 binary junk\n\nmore";
    auto r = parse_message(std::string_view(junk, sizeof junk - 1));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ar::kErrInvalid);
    CHECK(r.error().field == "message");
    CHECK_FALSE(parse_message("no colon here\n\nbody").ok());
    CHECK_FALSE(parse_message(": empty name\n\nbody").ok());
    CHECK_FALSE(parse_message("\n\nbody after blank line").ok());

    SECTION("nesting deeper than the limit") {
        auto nest = [](int levels) {
            std::string s;
            for (int i = 0; i < levels; ++i) {
                std::string b = std::to_string(i);
                s.append("Content-Type: multipart/mixed; boundary=b").append(b);
                s.append("\n\n--b").append(b).append("\n");
            }
            s.append("Content-Type: text/plain\n\ndeep");
            for (int i = levels - 1; i >= 0; --i)
                s.append("\n--b").append(std::to_string(i)).append("--");
            return s;
        };
        auto ok = parse_message(nest(kMaxDepth));
        REQUIRE(ok.ok());
        CHECK(ok->text == "deep");
        auto deep = parse_message(nest(kMaxDepth + 1));
        REQUIRE_FALSE(deep.ok());
        CHECK(deep.error().message.find("deeper") != std::string::npos);
    }
    SECTION("too many parts") {
        auto parts = [](int n) {
            std::string s = "Content-Type: multipart/mixed; boundary=p\n\n";
            for (int i = 0; i < n; ++i)
                s += "--p\n\nx\n";
            return s + "--p--\n";
        };
        CHECK(parse_message(parts(kMaxParts)).ok());
        auto many = parse_message(parts(kMaxParts + 1));
        REQUIRE_FALSE(many.ok());
        CHECK(many.error().message.find("1000") != std::string::npos);
    }
}

TEST_CASE("hostile inputs stay linear", "[mime_parse]") {
    // Each of these would take minutes if some step rescanned the input per token.
    const size_t n = 400000;
    std::string words;
    for (size_t i = 0; i < n / 8; ++i)
        words += "=?a?q?x ";
    words += "?=";
    CHECK(decode::rfc2047(words) == words);

    std::string amps(n, '&');
    amps += ";";
    CHECK(html_to_text(amps).size() == n + 1);

    std::string lts(n, '<');
    CHECK(parse_msg_ids(lts + ">").empty());
    CHECK(parse_msg_ids(std::string(n, '(')).empty());

    std::string folded = "Subject: x";
    for (size_t i = 0; i < n / 4; ++i)
        folded += "\n y";
    auto r = parse_message(folded + "\n\nbody");
    REQUIRE(r.ok());
    CHECK(r->subject.size() == 1 + n / 2);

    std::string params = "Content-Type: text/plain";
    for (size_t i = 0; i < n / 16; ++i)
        params += "; a*" + std::to_string(i % 9999) + "*=x";
    for (size_t i = 0; i < n / 16; ++i)
        params += "; p" + std::to_string(i) + "=x";
    CHECK(parse_message(params + "\n\nbody").ok());

    std::string scripts;
    for (size_t i = 0; i < n / 8; ++i)
        scripts += "<script>";
    CHECK(html_to_text(scripts).empty());
}

TEST_CASE("a headers-only parse reads the header fields and leaves the body alone", "[mime_parse]") {
    std::string raw = "From: Bot <bot@agents.test>\r\nSubject: =?UTF-8?B?w6ljaG8=?=\r\n"
                      "Message-ID: <a1@agents.test>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\n\r\nthe body\r\n";
    auto full = parse_message(raw);
    auto head = parse_message(raw, Depth::Headers);
    REQUIRE(full);
    REQUIRE(head);
    CHECK(head->from == full->from);
    CHECK(head->subject == "\xC3\xA9" "cho");
    CHECK(head->message_id == "<a1@agents.test>");
    CHECK(head->date == full->date);
    CHECK(full->text == "the body\n");
    CHECK(head->text.empty());
    CHECK(head->content_type.empty());
    CHECK_FALSE(parse_message("no header here", Depth::Headers));
}
