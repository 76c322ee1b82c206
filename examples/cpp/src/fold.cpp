#include "fold.h"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

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

namespace {

// The alphabet's symbols as UTF-8 strings: a symbol starts at every byte that is not a continuation byte.
std::vector<std::string> split_symbols(const std::string& alphabet) {
  std::vector<std::string> symbols;
  for (char byte : alphabet) {
    if ((static_cast<unsigned char>(byte) & 0xC0) != 0x80 || symbols.empty()) symbols.emplace_back();
    symbols.back() += byte;
  }
  return symbols;
}

bool is_upper_hex(unsigned char c) { return std::isdigit(c) || (c >= 'A' && c <= 'F'); }

// "00E9" -> 0xE9: 4 to 6 uppercase hex digits, as fold_table.json writes its keys; nullopt otherwise.
std::optional<uint32_t> parse_code_point(const std::string& key, uint32_t max_code_point) {
  bool hex = key.size() >= 4 && key.size() <= 6 && std::all_of(key.begin(), key.end(), is_upper_hex);
  unsigned long code_point = hex ? std::stoul(key, nullptr, 16) : 0;
  if (!hex || code_point > max_code_point) return std::nullopt;
  return static_cast<uint32_t>(code_point);
}

// "'source'" followed by what (" is not ...", ": bad entry ...").
std::runtime_error bad_table(const std::string& source, const std::string& what) {
  return std::runtime_error("'" + source + "'" + what);
}

}  // namespace

void FoldTable::add_alphabet(const std::string& alphabet) {
  symbols_ = split_symbols(alphabet);
  for (const auto& symbol : symbols_) {
    std::vector<uint32_t> code_points = decode_utf8(symbol);
    if (code_points.size() != 1) throw std::runtime_error("the model's alphabet is not valid UTF-8");
    alphabet_.push_back(code_points[0]);
  }
}

std::pair<uint32_t, std::vector<int64_t>> FoldTable::parse_entry(const std::string& key, const nlohmann::json& value,
                                                                 uint32_t max_code_point,
                                                                 const std::string& source) const {
  std::optional<uint32_t> code_point = parse_code_point(key, max_code_point);
  std::vector<int64_t> letters;
  if (code_point && value.is_string()) {
    for (uint32_t symbol : decode_utf8(value.get<std::string>())) {
      int64_t index = std::find(alphabet_.begin(), alphabet_.end(), symbol) - alphabet_.begin();
      letters.push_back(index);
    }
  }
  bool valid = code_point && !letters.empty() &&
               std::all_of(letters.begin(), letters.end(), [this](int64_t i) { return i < alphabet_size(); });
  if (!valid) {
    throw bad_table(source, ": bad entry \"" + key + "\": " + value.dump() +
                                " (keys: 4-6 uppercase hex digits up to max_code_point; values: alphabet letters)");
  }
  return {*code_point, std::move(letters)};
}

FoldTable::FoldTable(const nlohmann::json& doc, const std::string& alphabet, const std::string& source) {
  const auto field = [&](const char* name) -> const nlohmann::json& {
    if (!doc.is_object() || !doc.contains(name)) {
      throw bad_table(source, std::string(" is not a fold table (a JSON object with alphabet, max_code_point, "
                                          "table): no '") + name + "'");
    }
    return doc[name];
  };
  if (!field("alphabet").is_string() || field("alphabet").get<std::string>() != alphabet) {
    throw bad_table(source, " was made for another alphabet than the model's");
  }
  const nlohmann::json& max_text = field("max_code_point");
  std::optional<uint32_t> max = max_text.is_string() ? parse_code_point(max_text.get<std::string>(), 0x10FFFF) : std::nullopt;
  if (!max || !field("table").is_object()) throw bad_table(source, " lacks a valid max_code_point/table");
  const uint32_t max_code_point = *max;
  add_alphabet(alphabet);
  space_index_ = std::find(alphabet_.begin(), alphabet_.end(), ' ') - alphabet_.begin();
  if (space_index_ >= alphabet_size()) space_index_ = -1;
  // Each code point's letters, then the counts turned into offsets, then letters_ filled (a CSR layout: one
  // array lookup per code point, 4.4 MB for the whole Unicode range).
  std::vector<std::pair<uint32_t, std::vector<int64_t>>> entries;
  for (const auto& [key, value] : field("table").items()) {
    entries.push_back(parse_entry(key, value, max_code_point, source));
  }
  offsets_.assign(static_cast<size_t>(max_code_point) + 2, 0);
  for (const auto& [code_point, letters] : entries) offsets_[code_point + 1] = static_cast<uint32_t>(letters.size());
  std::partial_sum(offsets_.begin(), offsets_.end(), offsets_.begin());
  letters_.resize(offsets_.back());
  for (const auto& [code_point, letters] : entries) {
    std::copy(letters.begin(), letters.end(), letters_.begin() + offsets_[code_point]);
  }
}

std::vector<int64_t> FoldTable::encode(const std::string& utf8_name) const {
  std::vector<int64_t> letters;
  for (uint32_t code_point : decode_utf8(utf8_name)) {
    if (code_point + 1 >= offsets_.size()) continue;  // above max_code_point: folds to nothing
    letters.insert(letters.end(), letters_.begin() + offsets_[code_point], letters_.begin() + offsets_[code_point + 1]);
  }
  // A blank name (only spaces once folded) gets no prediction, as in rnnexport.text.encode.encode_ragged.
  bool blank = std::all_of(letters.begin(), letters.end(), [this](int64_t i) { return i == space_index_; });
  if (blank) letters.clear();
  return letters;
}

std::string FoldTable::fold(const std::string& utf8_name) const {
  std::string text;
  for (uint32_t code_point : decode_utf8(utf8_name)) {
    if (code_point + 1 >= offsets_.size()) continue;
    for (uint32_t i = offsets_[code_point]; i < offsets_[code_point + 1]; ++i) text += symbols_[letters_[i]];
  }
  return text;
}

}  // namespace embed
