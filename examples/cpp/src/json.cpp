#include "json.h"

#include <cstdlib>

namespace embed {

namespace {

void append_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  Json document() {
    Json value = parse_value(0);
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the JSON value");
    return value;
  }

 private:
  const std::string& s_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& why) const {
    throw JsonError("invalid JSON at byte " + std::to_string(pos_) + ": " + why);
  }

  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  char peek() {
    skip_space();
    if (pos_ >= s_.size()) fail("unexpected end of input");
    return s_[pos_];
  }

  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  void literal(const char* word) {
    for (const char* p = word; *p; ++p, ++pos_) {
      if (pos_ >= s_.size() || s_[pos_] != *p) fail(std::string("expected ") + word);
    }
  }

  Json parse_value(int depth) {
    if (depth > 64) fail("nested too deeply");
    Json v;
    char c = peek();
    if (c == '{') {
      v.type = Json::Type::Object;
      ++pos_;
      if (peek() == '}') { ++pos_; return v; }
      while (true) {
        if (peek() != '"') fail("expected a string key");
        std::string key = parse_string();
        expect(':');
        v.object[key] = parse_value(depth + 1);
        char d = peek();
        ++pos_;
        if (d == '}') break;
        if (d != ',') { --pos_; fail("expected ',' or '}'"); }
      }
    } else if (c == '[') {
      v.type = Json::Type::Array;
      ++pos_;
      if (peek() == ']') { ++pos_; return v; }
      while (true) {
        v.array.push_back(parse_value(depth + 1));
        char d = peek();
        ++pos_;
        if (d == ']') break;
        if (d != ',') { --pos_; fail("expected ',' or ']'"); }
      }
    } else if (c == '"') {
      v.type = Json::Type::String;
      v.string = parse_string();
    } else if (c == 't') {
      literal("true"); v.type = Json::Type::Bool; v.boolean = true;
    } else if (c == 'f') {
      literal("false"); v.type = Json::Type::Bool;
    } else if (c == 'n') {
      literal("null");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t start = pos_;
      while (pos_ < s_.size() && std::string("+-0123456789.eE").find(s_[pos_]) != std::string::npos) ++pos_;
      std::string token = s_.substr(start, pos_ - start);
      char* end = nullptr;
      v.type = Json::Type::Number;
      v.number = std::strtod(token.c_str(), &end);
      if (end != token.c_str() + token.size()) { pos_ = start; fail("bad number"); }
    } else {
      fail("unexpected character");
    }
    return v;
  }

  unsigned hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned value = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      value <<= 4;
      if (h >= '0' && h <= '9') value |= h - '0';
      else if (h >= 'a' && h <= 'f') value |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') value |= h - 'A' + 10;
      else fail("bad \\u escape");
    }
    return value;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) fail("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned long cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF && pos_ + 6 <= s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
            size_t save = pos_;
            pos_ += 2;
            unsigned low = hex4();
            if (low >= 0xDC00 && low <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            else pos_ = save;  // a lone high surrogate: keep it as is, read the next escape separately
          }
          append_utf8(out, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
  }
};

}  // namespace

const Json& Json::at(const std::string& key) const {
  if (!is_object()) throw JsonError("expected a JSON object holding '" + key + "'");
  auto it = object.find(key);
  if (it == object.end()) throw JsonError("missing key '" + key + "'");
  return it->second;
}

const std::string& Json::as_string(const std::string& what) const {
  if (!is_string()) throw JsonError("'" + what + "' should be a string");
  return string;
}

std::vector<std::string> Json::as_string_list(const std::string& what) const {
  if (!is_array()) throw JsonError("'" + what + "' should be a list of strings");
  std::vector<std::string> out;
  for (const Json& item : array) out.push_back(item.as_string(what + "[]"));
  return out;
}

Json parse_json(const std::string& text) { return Parser(text).document(); }

}  // namespace embed
