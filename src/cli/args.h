// args.h: the command line, parsed once at the door.
//
// Each subcommand declares its flags; anything else is a one-line error and exit
// status 2. Flags take their value as the next word or after '=' (--data=DIR).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace ar::cli {

struct FlagSpec {
    std::string name;  // without the leading "--"
    bool takes_value = true;
    bool repeatable = false;
};

class Args {
  public:
    // Parses argv (after the subcommand words) against specs. Positional words are kept in order.
    static Result<Args> parse(const std::vector<std::string>& argv, const std::vector<FlagSpec>& specs);

    bool has(const std::string& flag) const { return values_.count(flag) > 0; }
    std::optional<std::string> get(const std::string& flag) const;
    std::string get_or(const std::string& flag, const std::string& fallback) const;
    std::vector<std::string> all(const std::string& flag) const;
    // The flag's value as a positive number (`fallback` when the flag is not given); anything
    // else is a UsageError ("--limit must be a positive number, got '0'").
    int positive(const std::string& flag, int fallback) const;
    const std::vector<std::string>& positional() const { return positional_; }

  private:
    std::map<std::string, std::vector<std::string>> values_;
    std::vector<std::string> positional_;
};

// Thrown by commands for a usage error: main prints "agentrelay: <message>" and exits 2.
struct UsageError {
    std::string message;
};

}  // namespace ar::cli
