// Folding UTF-8 names to the model's alphabet with fold_table.json: fold(name) = concatenation, over the name's
// code points, of table[code point] ("" when absent). The alphabet, the table and its range all come from the file.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace embed {

// Decodes UTF-8 into code points. Ill-formed bytes (stray continuation bytes, overlong forms, surrogates,
// values above U+10FFFF, truncated sequences) are dropped one byte at a time, which gives the same code
// points as Python's bytes.decode("utf-8", errors="ignore").
std::vector<uint32_t> decode_utf8(const std::string& bytes);

class FoldTable {
 public:
  // doc: the parsed fold_table.json; alphabet: the model's alphabet (the table's must be identical); source:
  // the file's path, for messages. Throws std::runtime_error naming the file and the first bad entry.
  FoldTable(const nlohmann::json& doc, const std::string& alphabet, const std::string& source = "fold_table.json");

  // Alphabet indices of the folded name (values may have several letters); empty when nothing survives
  // folding or only spaces do (a blank name gets no prediction).
  std::vector<int64_t> encode(const std::string& utf8_name) const;

  // The folded name as UTF-8 text (what encode() returns, spelled with the alphabet's symbols).
  std::string fold(const std::string& utf8_name) const;

  int64_t alphabet_size() const { return static_cast<int64_t>(alphabet_.size()); }

 private:
  void add_alphabet(const std::string& alphabet);
  // The alphabet indices of one table entry; throws std::runtime_error naming it when key or value is bad.
  std::pair<uint32_t, std::vector<int64_t>> parse_entry(const std::string& key, const nlohmann::json& value,
                                                          uint32_t max_code_point, const std::string& source) const;

  std::vector<uint32_t> alphabet_;   // code point of each alphabet index
  std::vector<std::string> symbols_; // UTF-8 text of each alphabet index
  std::vector<uint32_t> offsets_;    // code point c folds to letters_[offsets_[c] .. offsets_[c + 1])
  std::vector<int64_t> letters_;     // alphabet indices of every value, laid end to end
  int64_t space_index_ = -1;         // a name made only of this letter is blank
};

}  // namespace embed
