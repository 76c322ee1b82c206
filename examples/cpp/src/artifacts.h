// Locating the exported files and checking them against manifest.json (nlohmann/json, OpenSSL SHA-256).
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace embed {

class ArtifactError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string read_file(const std::string& path);

// The parsed JSON file; throws ArtifactError naming the file when it is unreadable or not JSON.
nlohmann::json read_json(const std::string& path);

// The parsed JSON text read from `source`; throws ArtifactError naming source when it is not JSON.
nlohmann::json parse_json(const std::string& text, const std::string& source);

// Lowercase hex SHA-256 of bytes (OpenSSL EVP).
std::string sha256_hex(const std::string& bytes);

// Lowercase hex SHA-256 of a file's bytes; throws ArtifactError if it cannot be read.
std::string sha256_file(const std::string& path);

struct Artifact {
  std::string path;   // model_dir/name
  std::string bytes;  // its content, read once: what was hashed is what gets loaded
};

// model_dir/name read into memory after checking that the directory and the file exist and, when verify_hash
// is set, that the bytes' SHA-256 equals artifacts[name].sha256 in model_dir/manifest.json. Throws ArtifactError.
Artifact read_checked_artifact(const std::string& model_dir, const std::string& name, bool verify_hash);

}  // namespace embed
