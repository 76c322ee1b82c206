#include "fold.h"

#include <algorithm>

#include <cstdlib>
#include <stdexcept>

namespace embed {

std::vector<uint32_t> decode_utf8(const std::string& bytes) {
  std::vector<uint32_t> out;
  out.reserve(bytes.size());
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    unsigned char b0 = s[i];
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    int extra;
    uint32_t cp;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte (Unicode Table 3-7)
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      extra = 1; cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      extra = 2; cp = b0 & 0x0F;
      if (b0 == 0xE0) low = 0xA0;        // no overlong forms
      else if (b0 == 0xED) high = 0x9F;  // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      extra = 3; cp = b0 & 0x07;
      if (b0 == 0xF0) low = 0x90;
      else if (b0 == 0xF4) high = 0x8F;  // nothing above U+10FFFF
    } else {
      ++i;  // a continuation byte without a lead, or a byte that never occurs in UTF-8
      continue;
    }
    bool ok = true;
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= n) { ok = false; break; }
      unsigned char b = s[i + k];
      unsigned char lo = (k == 1) ? low : 0x80, hi = (k == 1) ? high : 0xBF;
      if (b < lo || b > hi) { ok = false; break; }
      cp = (cp << 6) | (b & 0x3F);
    }
    if (!ok) {
      ++i;  // drop the lead byte; what follows is examined again on its own
      continue;
    }
    out.push_back(cp);
    i += extra + 1;
  }
  return out;
}

FoldTable::FoldTable(const Json& doc, const std::string& alphabet) {
  const std::string& table_alphabet = doc.at("alphabet").as_string("alphabet");
  if (table_alphabet != alphabet) {
    throw std::runtime_error("fold_table.json was made for another alphabet than the model's");
  }
  unsigned long max_cp = std::strtoul(doc.at("max_code_point").as_string("max_code_point").c_str(), nullptr, 16);
  if (max_cp == 0 || max_cp > 0x10FFFF) throw std::runtime_error("fold_table.json: bad max_code_point");
  index_.assign(max_cp + 1, -1);
  space_index_ = static_cast<int64_t>(alphabet.find(' '));
  const Json& table = doc.at("table");
  if (!table.is_object()) throw std::runtime_error("fold_table.json: 'table' should be an object");
  for (const auto& [key, value] : table.object) {
    char* end = nullptr;
    unsigned long cp = std::strtoul(key.c_str(), &end, 16);
    if (key.empty() || *end != '\0' || cp > max_cp) throw std::runtime_error("fold_table.json: bad key '" + key + "'");
    const std::string& folded = value.as_string("table[" + key + "]");
    size_t position = folded.size() == 1 ? alphabet.find(folded[0]) : std::string::npos;
    if (position == std::string::npos) {
      throw std::runtime_error("fold_table.json: table[" + key + "] is not one letter of the alphabet");
    }
    index_[cp] = static_cast<int16_t>(position);
  }
}

std::vector<int64_t> FoldTable::encode(const std::string& utf8_name) const {
  std::vector<int64_t> letters;
  for (uint32_t cp : decode_utf8(utf8_name)) {
    if (cp < index_.size() && index_[cp] >= 0) letters.push_back(index_[cp]);
  }
  // A blank name (only spaces once folded) gets no prediction, as in rnnexport.text.encode_ragged.
  bool blank = std::all_of(letters.begin(), letters.end(), [this](int64_t i) { return i == space_index_; });
  if (blank) letters.clear();
  return letters;
}

}  // namespace embed
