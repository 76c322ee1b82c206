// Folding UTF-8 names to the model's alphabet with fold_table.json (the same result as rnnexport.text.fold).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "json.h"

namespace embed {

// Decodes UTF-8 into code points. Ill-formed bytes (stray continuation bytes, overlong forms, surrogates,
// values above U+10FFFF, truncated sequences) are dropped one byte at a time, which gives the same code
// points as Python's bytes.decode("utf-8", errors="ignore").
std::vector<uint32_t> decode_utf8(const std::string& bytes);

class FoldTable {
 public:
  // table: the parsed fold_table.json; alphabet: the model's alphabet (the table's must be identical).
  FoldTable(const Json& table, const std::string& alphabet);

  // Alphabet indices of the folded name; empty when nothing survives folding.
  std::vector<int64_t> encode(const std::string& utf8_name) const;

 private:
  std::vector<int16_t> index_;  // code point (<= max_code_point) -> alphabet index, -1 = dropped
  int64_t space_index_ = -1;     // a name made only of this letter is blank
};

}  // namespace embed
