// schema_validator.h: checks a JSON value against a JSON Schema (2020-12), the subset the tool
// schemas in tools-schema/ use.
//
// Supported keywords: type (a name or an array of names), properties, required,
// additionalProperties (bool or schema), items, enum, const, minLength, maxLength (in Unicode
// code points), minimum, maximum, minItems, maxItems, pattern (ECMAScript, via std::regex, on
// strings of at most kMaxPatternSubject bytes), format "date-time" (RFC 3339), oneOf, anyOf,
// $ref to "#" or "#/$defs/NAME". Annotation keywords (title, description, default, examples...)
// are ignored; an unknown keyword is ignored too, as JSON Schema says.
//
// Promise: validate() never throws and never recurses deeper than the value does (bounded by
// kMaxDepth). It returns the first error found as an ar::Error with code kErrInvalid, `field`
// set to the path of the offending value ("to[2]", "attachments[0].filename", "" for the root)
// and a message that names the field, says what was wrong and what is allowed.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace ar::tools {

inline constexpr std::size_t kMaxPatternSubject = 4096;
inline constexpr int kMaxDepth = 64;

// `root_name` names the value itself in messages about the root ("arguments: expected an object").
ar::Status validate(const nlohmann::json& schema, const nlohmann::json& value,
                    const std::string& root_name = "value");

// A short English name for the JSON type of `value`: "a string", "an integer", "null"...
std::string describe_type(const nlohmann::json& value);

} // namespace ar::tools
