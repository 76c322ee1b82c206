// A small JSON reader: enough for manifest.json, fold_table.json and the TorchScript metadata.json.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace embed {

class JsonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0.0;
  std::string string;               // UTF-8
  std::vector<Json> array;
  std::map<std::string, Json> object;

  bool is_object() const { return type == Type::Object; }
  bool is_array() const { return type == Type::Array; }
  bool is_string() const { return type == Type::String; }
  bool is_number() const { return type == Type::Number; }
  bool has(const std::string& key) const { return is_object() && object.count(key) > 0; }

  // Member access that throws JsonError naming the key when it is absent or of the wrong type.
  const Json& at(const std::string& key) const;
  const std::string& as_string(const std::string& what) const;
  std::vector<std::string> as_string_list(const std::string& what) const;
};

// Parses a whole document; throws JsonError with the byte offset of the problem.
Json parse_json(const std::string& text);

}  // namespace embed
