// sample_data.h: the sample files under tests/data/ (DSNs, MIME messages), as the tests read them.
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

// tests/data/SUBDIR/NAME, bytes as stored (LF line ends).
inline std::string read_sample(const std::string& subdir, const std::string& name) {
    std::ifstream in(std::string(AR_TEST_DATA_DIR) + "/" + subdir + "/" + name, std::ios::binary);
    REQUIRE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// LF line ends as CRLF, as on the wire.
inline std::string to_crlf(const std::string& lf) {
    std::string out;
    for (char c : lf) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}
