// schemas.h: the tool schemas of tools-schema/, embedded at build time.
#pragma once

#include <string>
#include <vector>

namespace ar::tools {

struct EmbeddedSchema {
    const char* name;  // file name without .json, which is the tool's name
    const char* json;  // the whole file
};

const std::vector<EmbeddedSchema>& embedded_schemas();

}  // namespace ar::tools
